"""Whole-network value-and-grad: the hand-written pass and autodiff, side by side.

The manual pass is the module's backpropagation: run the forward pass once, keeping
every layer's cache; start from the loss gradient ``∂L/∂ŷ``; walk the layers backwards,
each turning ``∂L/∂(output)`` into ``∂L/∂(params)`` and ``∂L/∂(input)``. Each cached value
is used once, so the cost is O(parameters) — against the O(parameters²) of finite
differences (``jaxnn.gradcheck.numerical_grad``).
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero, custom_vjp_primal_tree_values

from jaxnn import losses as _losses
from jaxnn.layers import Layer


def _loss(loss) -> _losses.Loss:
    return loss if isinstance(loss, _losses.Loss) else _losses.get(loss)


def _layer(name: str, layer) -> Layer:
    if not isinstance(layer, Layer):
        raise TypeError(
            f"{name} must be a jaxnn.layers.Layer (init, forward, backward); "
            f"got {name}={layer!r}."
        )
    return layer


def value_and_grad(model: Layer, loss) -> Callable:
    """Loss and parameter gradients by the layers' hand-written backward rules.

    Args:
      model: a ``Layer``.
      loss: a ``jaxnn.losses.Loss`` or its name.

    Returns:
      ``fn(params, state, x, y, *, train=True, key=None) -> ((loss, new_state),
      grads)``, the signature of ``jax.value_and_grad(..., has_aux=True)``; ``grads``
      has the structure of ``params``.
    """
    model = _layer("model", model)
    loss = _loss(loss)

    def fn(params, state, x, y, *, train=True, key=None):
        pred, new_state, cache = model.forward(params, state, x, train=train, key=key)
        value = loss.forward(pred, y)
        # The input gradient returned with the parameter gradients is unused; under
        # jit XLA removes its computation (the first layer's dx = dy wᵀ).
        grads, _ = model.backward(cache, loss.backward(pred, y))
        return (value, new_state), grads

    return fn


def autodiff_value_and_grad(model: Layer, loss) -> Callable:
    """The same function as ``value_and_grad``, differentiated by ``jax.value_and_grad``."""
    model = _layer("model", model)
    loss = _loss(loss)

    def fn(params, state, x, y, *, train=True, key=None):
        def objective(p):
            pred, new_state, _ = model.forward(p, state, x, train=train, key=key)
            return loss.forward(pred, y), new_state

        return jax.value_and_grad(objective, has_aux=True)(params)

    return fn


def custom_vjp(layer: Layer) -> Callable:
    """Wrap a layer so that ``jax.grad`` differentiates it with its own ``backward``.

    Returns:
      ``apply(params, state, x, *, train=False, key=None) -> (y, new_state)``, a
      ``jax.custom_vjp`` function whose VJP with respect to ``(params, x)`` is
      ``layer.backward``. ``new_state`` (running statistics) is returned under
      ``stop_gradient``, as ``autodiff_value_and_grad`` returns it as auxiliary data:
      no gradient flows through it, and it can be passed back into ``apply``.

    Raises:
      TypeError: ``layer`` is not a ``Layer``.
      ValueError: (from ``apply``, when traced) differentiation with respect to
        ``state``, which ``layer.backward`` has no rule for.
    """
    layer = _layer("layer", layer)

    def apply(params, state, x, *, train=False, key=None):
        @jax.custom_vjp
        def f(params, state, x, key):
            y, new_state, _ = layer.forward(params, state, x, train=train, key=key)
            return y, new_state

        def f_fwd(params, state, x, key):
            # symbolic_zeros: every leaf comes as (value, perturbed); a perturbed
            # state leaf is one that jax.grad differentiates with respect to.
            if any(leaf.perturbed for leaf in jax.tree.leaves(state)):
                raise ValueError(
                    "custom_vjp: the layer's backward gives gradients with respect "
                    "to (params, x) only, not state; differentiate with respect to "
                    "params or x, or use autodiff for the state."
                )
            params, state, x, key = custom_vjp_primal_tree_values(
                (params, state, x, key)
            )
            y, new_state, cache = layer.forward(params, state, x, train=train, key=key)
            return (y, new_state), cache

        def f_bwd(cache, cotangents):
            dy, _ = cotangents
            if isinstance(dy, SymbolicZero):  # y unused by the objective
                dy = jnp.zeros(dy.shape, dy.dtype)
            dparams, dx = layer.backward(cache, dy)
            return dparams, None, dx, None

        f.defvjp(f_fwd, f_bwd, symbolic_zeros=True)
        y, new_state = f(params, state, x, key)
        # Truly under stop_gradient: a custom_vjp output carries a tangent, and fed
        # back into apply (a scan over batches, an eval call on the new statistics)
        # it read as differentiation with respect to state.
        return y, jax.lax.stop_gradient(new_state)

    return apply
