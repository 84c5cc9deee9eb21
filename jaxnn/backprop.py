"""Whole-network value-and-grad: the hand-written pass and autodiff, side by side.

The manual pass is the module's backpropagation: run the forward pass once, keeping
every layer's cache; start from the loss gradient ``∂L/∂ŷ``; walk the layers backwards,
each turning ``∂L/∂(output)`` into ``∂L/∂(params)`` and ``∂L/∂(input)``. Each cached value
is used once, so the cost is O(parameters) — against the O(parameters²) of finite
differences (``jaxnn.gradcheck.numerical_grad``).
"""

from collections.abc import Callable

import jax

from jaxnn import losses as _losses
from jaxnn._tree import tree_zeros_like
from jaxnn.layers import Layer


def _loss(loss) -> _losses.Loss:
    return loss if isinstance(loss, _losses.Loss) else _losses.get(loss)


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
      ``layer.backward``. The state output (running statistics) carries no gradient,
      as in autodiff of the plain forward pass.
    """

    def apply(params, state, x, *, train=False, key=None):
        @jax.custom_vjp
        def f(params, state, x, key):
            y, new_state, _ = layer.forward(params, state, x, train=train, key=key)
            return y, new_state

        def f_fwd(params, state, x, key):
            y, new_state, cache = layer.forward(params, state, x, train=train, key=key)
            return (y, new_state), (cache, tree_zeros_like(state))

        def f_bwd(residuals, cotangents):
            cache, zero_state = residuals
            dy, _ = cotangents
            dparams, dx = layer.backward(cache, dy)
            return dparams, zero_state, dx, None

        f.defvjp(f_fwd, f_bwd)
        return f(params, state, x, key)

    return apply
