"""Gradient-flow and activation diagnostics (vanishing/exploding gradients, dead ReLU).

Everything here is a small pure function of the pytrees the manual pass already holds:
the parameter (or gradient) tree, whose dense layers are ``DenseParams`` nodes, and the
forward cache, whose activation layers are ``ActivationCache(z, y)`` (and
``PReLUCache(x, alpha)``) nodes. The functions walk those trees in forward order, so
for ``jaxnn.models.mlp`` entry ``l`` of every per-layer array is hidden layer ``l``
(the output ``dense`` is the last dense entry). Layer structure is static, so all of
them run under ``jax.jit`` and return arrays or NamedTuples of arrays.

Per-layer quantities, with ``W_l`` the weight of dense layer ``l``, ``W_out`` that of
the last (output) dense layer and ``L`` the loss:

- gradient norm ``‖∂L/∂W_l‖_F`` and its ratio to the output layer's, ``‖∂L/∂W_l‖ /
  ‖∂L/∂W_out‖``: far below 1 for the first layer means vanishing gradients, far
  above means exploding ones;
- update-to-parameter ratio ``‖ΔW_l‖ / ‖W_l‖`` of one optimizer step (about 1e-3 is
  the usual healthy order of magnitude);
- activation mean and standard deviation, of the pre-activation ``z`` and the output
  ``y``, over every example and unit of the layer;
- saturation fraction: the share of pre-activations with ``|z| > threshold``, where
  σ and tanh are flat (``σ'(3) ≈ 0.045``, ``tanh'(3) ≈ 0.0099``);
- dead-unit fraction: the share of units whose pre-activation is ``≤ 0`` for every
  example of a whole data set. For the ReLU family such a unit passes no gradient
  (``relu'(z) = 0`` for ``z ≤ 0``) and never learns again.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import backprop as _backprop
from jaxnn._tree import path_str
from jaxnn._typing import Array, Params, PyTree, State
from jaxnn.layers import ActivationCache, DenseParams, Layer, PReLUCache, _positive_int
from jaxnn.optim import _validate

__all__ = [
    "ActivationStats",
    "LayerReport",
    "activation_caches",
    "activation_paths",
    "activation_stats",
    "all_finite",
    "dead_fraction",
    "dead_unit_fraction",
    "dense_layers",
    "dense_paths",
    "first_last_ratio",
    "grad_norm_ratios",
    "jitted_layer_report",
    "layer_grad_norms",
    "layer_norms",
    "layer_report",
    "locate_nonfinite",
    "nonfinite_mask",
    "pre_activations",
    "saturation_fraction",
    "unit_activity",
    "update_ratios",
]

#: Default ``|z|`` beyond which σ and tanh count as saturated.
SATURATION_THRESHOLD = 3.0


# ### non-finite values ##############################################################


def nonfinite_mask(tree: PyTree) -> PyTree:
    """Per leaf, a scalar bool: does the leaf hold a NaN or an Inf? Jit-able."""
    return jax.tree.map(lambda x: ~jnp.all(jnp.isfinite(x)), tree)


def all_finite(tree: PyTree) -> jax.Array:
    """True when no leaf of ``tree`` holds a NaN or an Inf. Jit-able."""
    flags = jax.tree.leaves(nonfinite_mask(tree))
    return ~jnp.any(jnp.stack(flags)) if flags else jnp.array(True)


def locate_nonfinite(tree: PyTree) -> list[str]:
    """Pytree paths (in leaf order) of the leaves of ``tree`` holding NaN or Inf.

    >>> import jax.numpy as jnp
    >>> locate_nonfinite({"a": jnp.ones(2), "b": (jnp.array([1.0, jnp.nan]),)})
    ["['b'][0]"]
    """
    flags = jax.tree_util.tree_leaves_with_path(nonfinite_mask(tree))
    return [path_str(path) for path, bad in flags if bool(np.asarray(bad))]


# ### walking the trees ##############################################################


def _is_dense(node) -> bool:
    return isinstance(node, DenseParams)


def _is_activation(node) -> bool:
    return isinstance(node, ActivationCache | PReLUCache)


def dense_layers(tree: PyTree) -> list[DenseParams]:
    """The ``DenseParams`` nodes of a parameter, gradient or update tree, in order.

    Gradients and optimizer updates have the structure of the parameters, so the
    ``l``-th entry of each belongs to the same dense layer.
    """
    return [n for n in jax.tree.leaves(tree, is_leaf=_is_dense) if _is_dense(n)]


def dense_paths(tree: PyTree) -> list[str]:
    """Pytree paths of the dense layers of ``tree`` (e.g. ``[0][0]``), in order."""
    pairs = jax.tree_util.tree_leaves_with_path(tree, is_leaf=_is_dense)
    return [path_str(path) for path, node in pairs if _is_dense(node)]


def activation_caches(cache: PyTree) -> list[ActivationCache | PReLUCache]:
    """The activation-layer caches of a forward cache, in forward order.

    ``ActivationCache(z, y)`` nodes (every ``jaxnn.layers.activation``) and
    ``PReLUCache(x, alpha)`` nodes (``prelu``, whose pre-activation is ``x``).
    """
    return [
        n for n in jax.tree.leaves(cache, is_leaf=_is_activation) if _is_activation(n)
    ]


def activation_paths(cache: PyTree) -> list[str]:
    """Pytree paths of the activation caches of a forward cache, in forward order."""
    pairs = jax.tree_util.tree_leaves_with_path(cache, is_leaf=_is_activation)
    return [path_str(path) for path, node in pairs if _is_activation(node)]


def pre_activations(cache: PyTree) -> list[Array]:
    """The pre-activation ``z`` of every activation layer, in forward order."""
    return [
        c.z if isinstance(c, ActivationCache) else c.x for c in activation_caches(cache)
    ]


def _outputs(cache: PyTree) -> list[Array]:
    out = []
    for c in activation_caches(cache):
        if isinstance(c, ActivationCache):
            out.append(c.y)
        else:  # PReLU: y = x if x ≥ 0 else α x
            out.append(jnp.where(c.x >= 0, c.x, c.alpha * c.x))
    return out


def _stack(values: list[Array]) -> Array:
    return jnp.stack(values) if values else jnp.zeros((0,), jnp.float32)


def _widen(x: Array) -> Array:
    """``x`` in the dtype its statistics are computed and returned in: float32 for a
    float narrower than 32 bits (bfloat16, float16: ~3 significant digits, and a
    float16 sum of squares overflows above 65504); any other array comes back
    unchanged (not even a no-op cast), so its statistics are computed as before."""
    if jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits < 32:
        return x.astype(jnp.float32)
    return x


# ### gradients and updates ##########################################################


def layer_norms(tree: PyTree, *, include_bias: bool = False) -> Array:
    """Frobenius norm ``‖W_l‖_F`` of every dense layer of ``tree``, shape ``(layers,)``.

    Computed and returned in float32 for bfloat16 and float16 leaves (in float16
    ``Σ W²`` overflows to inf above 65504), in the leaves' dtype otherwise.

    Args:
      tree: parameters, gradients or updates (any tree holding ``DenseParams``).
      include_bias: use ``√(‖W_l‖² + ‖b_l‖²)`` instead of the weight alone.
    """
    norms = []
    for p in dense_layers(tree):
        sq = jnp.sum(jnp.square(_widen(p.w)))
        if include_bias and p.b is not None:
            sq = sq + jnp.sum(jnp.square(_widen(p.b)))
        norms.append(jnp.sqrt(sq))
    return _stack(norms)


def layer_grad_norms(grads: PyTree, *, include_bias: bool = False) -> Array:
    """Per dense layer, the gradient norm ``‖∂L/∂W_l‖_F``, shape ``(layers,)``.

    ``grads`` is the tree ``backprop.value_and_grad`` (or ``jax.grad``) returns; entry
    ``0`` is the first layer, entry ``−1`` the output layer.

    >>> import jax, jax.numpy as jnp
    >>> from jaxnn import backprop, models
    >>> net = models.mlp([8, 8, 2], activation="sigmoid")
    >>> _, params, state = net.init(jax.random.key(0), (4,))
    >>> x, y = jnp.ones((16, 4)), jnp.zeros((16, 2))
    >>> _, grads = backprop.value_and_grad(net, "mse")(params, state, x, y)
    >>> layer_grad_norms(grads).shape
    (3,)
    """
    return layer_norms(grads, include_bias=include_bias)


def grad_norm_ratios(grads: PyTree, *, include_bias: bool = False) -> Array:
    """``‖∂L/∂W_l‖ / ‖∂L/∂W_out‖`` for every dense layer ``l`` (``out`` the last one).

    The last entry is 1 (all entries are 0, or ``inf`` where a layer's norm is not,
    when the output layer's gradient is 0; NaN where either norm is NaN). A first
    entry far below 1 is the vanishing-gradient signature: with σ (``σ' ≤ 1/4``) each
    layer can shrink the gradient by 4, so ten layers by about ``0.25¹⁰ ≈ 10⁻⁶``.

    Raises:
      ValueError: ``grads`` holds no dense layer.
    """
    norms = layer_grad_norms(grads, include_bias=include_bias)
    if norms.shape[0] == 0:
        raise ValueError("grads must hold at least one dense layer; got none.")
    return _ratio(norms, norms[-1])


def _ratio(num: Array, den: Array) -> Array:
    """``num / den`` of norms, with ``0/0 = 0`` and ``x/0 = inf`` for ``x > 0``; a NaN
    norm on either side gives NaN (as the plain quotient does), never 0 or inf."""
    safe = jnp.where(den == 0, 1, den)
    return jnp.where(den == 0, jnp.where(num == 0, 0, num * jnp.inf), num / safe)


def first_last_ratio(grads: PyTree, *, include_bias: bool = False) -> Array:
    """``‖∂L/∂W_1‖ / ‖∂L/∂W_out‖``: first-layer over output-layer gradient norm."""
    return grad_norm_ratios(grads, include_bias=include_bias)[0]


def update_ratios(
    params: Params, updates: PyTree, *, include_bias: bool = False
) -> Array:
    """Update-to-parameter ratio ``‖ΔW_l‖ / ‖W_l‖`` per dense layer, ``(layers,)``.

    ``updates`` is what the optimizer returns (``params + updates`` is the new point).
    A layer with ``‖W_l‖ = 0`` gets ``inf`` if it moves and 0 if it does not; a NaN
    norm on either side gives NaN.

    Raises:
      ValueError: ``updates`` and ``params`` hold different numbers of dense layers.
    """
    up = layer_norms(updates, include_bias=include_bias)
    pn = layer_norms(params, include_bias=include_bias)
    if up.shape != pn.shape:
        raise ValueError(
            f"updates must have the dense layers of params; got {up.shape[0]} "
            f"layer(s) in updates and {pn.shape[0]} in params."
        )
    return _ratio(up, pn)


# ### activations ####################################################################


class ActivationStats(NamedTuple):
    """Per activation layer (forward order), each of shape ``(layers,)``.

    Attributes:
      mean: mean of the output ``y`` over every example and unit.
      std: standard deviation of ``y`` over every example and unit.
      z_mean: mean of the pre-activation ``z``.
      z_std: standard deviation of ``z``.
    """

    mean: Array
    std: Array
    z_mean: Array
    z_std: Array


def activation_stats(cache: PyTree) -> ActivationStats:
    """Mean and standard deviation of every activation layer's input and output.

    ``mean = (1/(N·d)) Σ y``, ``std = √((1/(N·d)) Σ (y − mean)²)`` over the batch of
    ``N`` examples and the layer's ``d`` units. Initialisations such as Xavier and He
    exist to keep ``std`` about the same in every layer. Computed and returned in
    float32 for bfloat16 and float16 activations, in their own dtype otherwise.
    """
    ys = [_widen(y) for y in _outputs(cache)]
    zs = [_widen(z) for z in pre_activations(cache)]
    return ActivationStats(
        _stack([jnp.mean(y) for y in ys]),
        _stack([jnp.std(y) for y in ys]),
        _stack([jnp.mean(z) for z in zs]),
        _stack([jnp.std(z) for z in zs]),
    )


def saturation_fraction(
    cache: PyTree, threshold: float = SATURATION_THRESHOLD
) -> Array:
    """Share of pre-activations with ``|z| > threshold``, per activation layer.

    Meaningful for σ and tanh, which are flat there: ``σ'(z) ≤ e^−|z|`` and
    ``tanh'(z) ≤ 4e^−2|z|``, so a saturated unit passes almost no gradient.

    For bfloat16 and float16 pre-activations ``|z|`` is compared with ``threshold``
    and the fraction computed and returned in float32 (their ~3 significant digits
    would round both the threshold and the fraction: 1001 of 3000 read 0.333984375
    in bfloat16); otherwise in ``z``'s dtype.

    Raises:
      ValueError: ``threshold`` is not a finite number ``>= 0``.
    """
    _validate.non_negative("threshold", threshold)
    return _stack(
        [
            jnp.mean((jnp.abs(z) > threshold).astype(z.dtype))
            for z in map(_widen, pre_activations(cache))
        ]
    )


def unit_activity(cache: PyTree) -> tuple[Array, ...]:
    """Per activation layer, a bool per unit: is ``z > 0`` for some example?

    Combine the activity of several batches with a logical or
    (``jax.tree.map(jnp.logical_or, a, b)``) to cover a whole data set.
    """
    out = []
    for z in pre_activations(cache):
        axes = tuple(range(z.ndim - 1))  # every axis but the units
        out.append(jnp.any(z > 0, axis=axes))
    return tuple(out)


def dead_fraction(activity: tuple[Array, ...]) -> Array:
    """Share of units never active, ``1 − mean(activity)``, per layer, ``(layers,)``."""
    return _stack([jnp.mean(jnp.logical_not(a).astype(jnp.float32)) for a in activity])


def dead_unit_fraction(
    model: Layer,
    params: Params,
    state: State,
    x: Array,
    *,
    batch_size: int | None = None,
    train: bool = False,
) -> Array:
    """Share of dead units per activation layer over a whole data set ``x``.

    A unit is dead when its pre-activation is ``≤ 0`` for every example of ``x``: for
    ReLU it then gets no gradient from any example and cannot recover. With
    ``batch_size`` the forward pass runs over batches in a ``lax.scan``, or-ing their
    ``unit_activity``; the last batch is padded with copies of the first example,
    which changes no "for some example". Jit-able with ``model``, ``batch_size`` and
    ``train`` static (``jax.jit(dead_unit_fraction, static_argnums=0,
    static_argnames=("batch_size", "train"))``).

    Args:
      model: the network (a ``Layer``).
      params: its parameters.
      state: its state (batch-norm running statistics).
      x: the data set, ``(N, ...)``.
      batch_size: examples per forward pass; ``None`` runs them all at once.
      train: the forward mode (``False``: batch norm uses its running statistics).

    Returns:
      ``(layers,)`` fractions in [0, 1], in forward order.
    """

    def activity(xb):
        _, _, cache = model.forward(params, state, xb, train=train)
        return unit_activity(cache)

    n = x.shape[0]
    if n < 1:
        raise ValueError(f"x must hold at least one example; got x.shape={x.shape}.")
    if batch_size is not None:
        _positive_int("batch_size", batch_size)
    if batch_size is None or batch_size >= n:
        return dead_fraction(activity(x))
    num = -(-n // batch_size)
    pad = num * batch_size - n
    padded = jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]) if pad else x
    batches = padded.reshape(num, batch_size, *x.shape[1:])  # (num, batch, ...)
    first = activity(batches[0])

    def body(acc, xb):
        return jax.tree.map(jnp.logical_or, acc, activity(xb)), None

    acc, _ = jax.lax.scan(body, first, batches[1:])
    return dead_fraction(acc)


# ### everything at once #############################################################


class LayerReport(NamedTuple):
    """One forward and backward pass, summarised per layer.

    Attributes:
      loss: the batch loss.
      grad_norms: ``‖∂L/∂W_l‖_F`` per dense layer.
      grad_ratios: ``grad_norms / grad_norms[−1]``.
      activations: ``ActivationStats`` per activation layer.
      saturation: ``saturation_fraction`` per activation layer.
      dead: share of units with ``z ≤ 0`` for every example of this batch.
    """

    loss: Array
    grad_norms: Array
    grad_ratios: Array
    activations: ActivationStats
    saturation: Array
    dead: Array


def layer_report(
    model: Layer,
    loss,
    params: Params,
    state: State,
    x: Array,
    y: Array,
    *,
    train: bool = True,
    key=None,
    threshold: float = SATURATION_THRESHOLD,
) -> LayerReport:
    """Forward pass, manual backward pass, and every per-layer statistic of them.

    The forward cache gives the activation statistics, the gradient tree of the
    hand-written backward pass (``model.backward``, as ``backprop.value_and_grad``)
    gives the gradient norms. Jit-able with ``model``, ``loss``, ``train`` and
    ``threshold`` static.

    Args:
      model: the network.
      loss: a ``jaxnn.losses.Loss`` or its name; ``model`` outputs its input.
      params: parameters.
      state: model state.
      x: a batch of inputs.
      y: its targets.
      train: forward mode (batch statistics and dropout when ``True``).
      key: PRNG key for dropout.
      threshold: the saturation threshold on ``|z|``.

    Returns:
      A ``LayerReport``.
    """
    loss = _backprop._loss(loss)
    pred, _, cache = model.forward(params, state, x, train=train, key=key)
    grads, _ = model.backward(cache, loss.backward(pred, y))
    norms = layer_grad_norms(grads)
    return LayerReport(
        loss.forward(pred, y),
        norms,
        grad_norm_ratios(grads),
        activation_stats(cache),
        saturation_fraction(cache, threshold),
        dead_fraction(unit_activity(cache)),
    )


@functools.lru_cache(maxsize=64)
def jitted_layer_report(
    model: Layer, loss, *, train: bool = True, threshold=SATURATION_THRESHOLD
):
    """``layer_report`` compiled once per ``(model, loss, train, threshold)``.

    Returns:
      ``fn(params, state, x, y, key=None) -> LayerReport``.
    """

    @jax.jit
    def fn(params, state, x, y, key=None):
        return layer_report(
            model, loss, params, state, x, y, train=train, key=key, threshold=threshold
        )

    return fn
