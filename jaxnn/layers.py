"""Layers with hand-written backward passes, and the Layer protocol they share.

A layer is three pure functions, the shape of ``jax.custom_vjp``'s ``fwd``/``bwd`` pair
plus an initializer::

    init(key, input_shape) -> (output_shape, params, state)
    forward(params, state, x, *, train=False, key=None) -> (y, new_state, cache)
    backward(cache, dy) -> (dparams, dx)

``input_shape`` excludes the batch axis; arrays are batch-first. ``params``, ``state``
and ``cache`` are pytrees (``()`` when empty) and every cache is a NamedTuple with
named fields. ``backward`` is the vector-Jacobian product of ``forward(...)[0]`` with
respect to ``(params, x)``: for every layer here, and for any layer a user writes,
``backward(cache, dy)`` must equal ``jax.vjp(lambda p, x: forward(p, state, x)[0],
params, x)[1](dy)`` — same tree structure, shapes, dtypes and values.
``jaxnn.gradcheck.check_layer`` verifies exactly that, plus finite differences.
As with ``jax.vjp``, ``dy`` must have the shape and dtype of ``y``: the layers here
refuse any other ``dy`` (a ``ValueError`` for the shape, a ``TypeError`` for the
dtype) rather than broadcast or promote it; the exception is ``dropout`` in
evaluation (or at rate 0), an identity whose cache holds nothing to check against,
which passes ``dy`` through.

Backward passes reuse what the forward pass cached (dynamic programming), so one
backward pass costs about as much as one forward pass: O(parameters) per example.
"""

import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import activations as _activations
from jaxnn import initializers as _initializers
from jaxnn._reduce import sum_in_dtype
from jaxnn._typing import Array, PRNGKey, Shape
from jaxnn.optim._validate import flag as _flag


class Layer(NamedTuple):
    """A layer: ``init``, ``forward`` and its hand-written ``backward`` (see module doc)."""

    init: Callable
    forward: Callable
    backward: Callable


# ### Validation helpers ###########################################################


def _is_int(value: Any) -> bool:
    """Whether ``value`` is an integer: a Python or NumPy int, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int(name: str, value: Any) -> int:
    """``value`` if it is an integer (``_is_int``)."""
    if not _is_int(value):
        raise ValueError(f"{name} must be an int; got {name}={value!r}.")
    return value


def _non_negative_int(name: str, value: Any) -> int:
    """``value`` as a Python int if it is an integer (``_is_int``) >= 0."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an int >= 0; got {name}={value!r}.")
    return int(value)


def _positive_int(name: str, value: Any) -> int:
    """``value`` as a Python int if it is an integer (``_is_int``) > 0."""
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive int; got {name}={value!r}.")
    return int(value)


def _real(name: str, value: Any) -> float:
    """``value`` as a float if it is a real number (a Python or NumPy int or float,
    not a bool: ``True`` would silently become 1.0)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {name}={value!r}.")
    return float(value)


def _input_width(layer: str, input_shape: Shape) -> int:
    """The last entry of ``input_shape``, a positive int (the feature width)."""
    if not hasattr(input_shape, "__len__"):  # an int: the shape (4,) meant
        raise TypeError(
            f"{layer}: input_shape must be a tuple of ints ending with the input "
            f"width, e.g. (4,); got input_shape={input_shape!r}."
        )
    if len(input_shape) < 1:
        raise ValueError(
            f"{layer}: input_shape must end with the input width; got "
            f"input_shape={tuple(input_shape)}."
        )
    return _positive_int("input_shape[-1]", input_shape[-1])


def _check_width(layer: str, x: Array, expected: int) -> None:
    if not hasattr(x, "ndim"):  # a list: jax.numpy refuses them too
        raise TypeError(
            f"{layer}: input x must be an array (jnp.asarray it); got "
            f"{type(x).__name__}."
        )
    if x.ndim < 1 or x.shape[-1] != expected:
        raise ValueError(
            f"{layer}: input x must have last axis (width) {expected}, the width the "
            f"layer was initialised with; got x.shape={tuple(x.shape)}."
        )


def _check_params(layer: str, x: Array, vectors: dict, width: int, dtype) -> None:
    """``x`` and every per-feature vector (a bias, ``β``, the running statistics) of
    the parameters' ``dtype`` (the manual backward returns the gradients in it, as
    ``jax.grad`` does), each vector of shape ``(width,)``: nothing is promoted or
    broadcast. (A float32 running variance beside float64 parameters would make
    evaluation float32-accurate and training turn the state into float64.)"""
    if x.dtype != dtype:
        raise TypeError(
            f"{layer}: input x must have the parameters' dtype {jnp.dtype(dtype).name}; "
            f"got x.dtype={x.dtype.name}. Cast one of them."
        )
    for name, v in vectors.items():
        if v is None:
            continue
        if v.shape != (width,):
            raise ValueError(
                f"{layer}: {name} must have shape ({width},); got {name}.shape="
                f"{tuple(v.shape)}."
            )
        if v.dtype != dtype:
            raise TypeError(
                f"{layer}: {name} must have the parameters' dtype "
                f"{jnp.dtype(dtype).name}; got {name}.dtype={v.dtype.name}. Cast the "
                "parameters and the state together."
            )


def _check_dy(layer: str, dy: Array, shape: tuple, dtype) -> None:
    """``dy`` of the layer output's shape and dtype (``activations._check_cotangent``)."""
    _activations._check_cotangent(layer, dy, shape, dtype, output="layer output")


def _batch_axes(x: Array) -> tuple[int, ...]:
    """All axes but the last (feature) one: the axes that parameters are shared over."""
    return tuple(range(x.ndim - 1))


def _resolve_initializer(initializer, default: str) -> Callable:
    if initializer is None:
        return _initializers.get(default)
    if isinstance(initializer, str):
        return _initializers.get(initializer)
    if callable(initializer):
        return initializer
    raise TypeError(
        "initializer must be a name from jaxnn.initializers.NAMES or a function "
        f"init(key, shape, dtype); got initializer={initializer!r}."
    )


# ### dense ##########################################################################


class DenseParams(NamedTuple):
    w: Array  # (in, out)
    b: Array | None  # (out,), or None without bias


class DenseCache(NamedTuple):
    x: Array
    w: Array


def dense(features: int, initializer=None, use_bias: bool = True) -> Layer:
    """Fully connected layer ``y = x @ w + b`` with ``w`` of shape ``(in, out)``.

    Backward (``dy`` of shape ``(batch, out)``)::

        dw = xᵀ dy      db = Σ_batch dy      dx = dy wᵀ

    Args:
      features: output width, a positive int.
      initializer: a name from ``jaxnn.initializers.NAMES`` or an ``init(key, shape,
        dtype)`` function for ``w``; default ``xavier_normal``. The bias starts at 0.
      use_bias: whether to add ``b`` (``params.b`` is ``None`` otherwise).

    Raises:
      ValueError: ``features`` is not a positive int; at run time, ``x`` has another
        width than the one the layer was initialised with, or ``b`` another shape
        than ``(features,)``.
      TypeError: at run time, ``x`` or ``b`` has another dtype than ``w``.
    """
    features = _positive_int("features", features)
    _flag("use_bias", use_bias)  # a truthy "no" would add a bias
    w_init = _resolve_initializer(initializer, "xavier_normal")

    def init(key: PRNGKey, input_shape: Shape):
        d_in = _input_width("dense", input_shape)
        w = w_init(key, (d_in, features))
        b = jnp.zeros((features,), w.dtype) if use_bias else None
        return (*input_shape[:-1], features), DenseParams(w, b), ()

    def forward(params: DenseParams, state, x: Array, *, train=False, key=None):
        del train, key
        _check_width("dense", x, params.w.shape[0])
        if (params.b is not None) != use_bias:  # backward would drop db or invent it
            raise ValueError(
                f"dense(use_bias={use_bias}) needs params.b "
                f"{'of shape (features,)' if use_bias else '= None'}; got "
                f"params.b={'None' if params.b is None else 'an array'}."
            )
        _check_params("dense", x, {"b": params.b}, params.w.shape[1], params.w.dtype)
        y = x @ params.w
        if params.b is not None:
            y = y + params.b
        return y, state, DenseCache(x, params.w)

    def backward(cache: DenseCache, dy: Array):
        out_shape = (*cache.x.shape[:-1], cache.w.shape[1])
        _check_dy("dense", dy, out_shape, cache.x.dtype)
        x2 = cache.x.reshape(-1, cache.x.shape[-1])  # (N, in), N = all batch axes
        dy2 = dy.reshape(-1, dy.shape[-1])  # (N, out)
        dw = x2.T @ dy2
        # One reduce over every batch axis, the one jax.vjp emits for the broadcast
        # of b (summing the reshaped (N, out) rounds differently in bf16/f16).
        db = sum_in_dtype(dy, _batch_axes(dy)) if use_bias else None
        dx = dy @ cache.w.T
        return DenseParams(dw, db), dx

    return Layer(init, forward, backward)


# ### activation #####################################################################


class ActivationCache(NamedTuple):
    z: Array
    y: Array


def activation(name_or_activation, **hparams) -> Layer:
    """Element-wise (or softmax) activation ``y = f(z)``; backward ``dz = f'(z) ⊙ dy``.

    Args:
      name_or_activation: a name from ``jaxnn.activations.NAMES`` or an ``Activation``.
      **hparams: passed to ``jaxnn.activations.get`` (e.g. ``negative_slope=0.1``).
    """
    act = _activations.get(name_or_activation, **hparams)

    def init(key, input_shape):
        del key
        return tuple(input_shape), (), ()

    def forward(params, state, x, *, train=False, key=None):
        del params, train, key
        y = act.forward(x)
        return y, state, ActivationCache(x, y)

    def backward(cache: ActivationCache, dy):
        _check_dy(f"activation {act.name!r}", dy, cache.y.shape, cache.y.dtype)
        return (), act.backward(cache.z, cache.y, dy)

    return Layer(init, forward, backward)


# ### prelu ##########################################################################


class PReLUParams(NamedTuple):
    alpha: Array  # (features,): one learnable slope per unit


class PReLUCache(NamedTuple):
    x: Array
    alpha: Array


def prelu(init_alpha: float = 0.25) -> Layer:
    """Parametric ReLU ``y = x if x ≥ 0 else α x`` with a learnable slope per unit.

    Backward: ``dx = dy ⊙ (1 if x ≥ 0 else α)``, ``dα = Σ_batch dy ⊙ min(x, 0)``.
    At ``x = 0`` the slope is 1, as ``jax.nn.leaky_relu``'s.

    Raises:
      TypeError: ``init_alpha`` is not a real number (a bool included); at run time,
        ``x`` has another dtype than ``α``.
      ValueError: ``init_alpha`` is not finite; at run time, ``x`` has another width
        than ``α``.
    """
    if not math.isfinite(_real("init_alpha", init_alpha)):
        raise ValueError(f"init_alpha must be finite; got init_alpha={init_alpha!r}.")

    def init(key, input_shape):
        del key
        d = _input_width("prelu", input_shape)
        return (
            tuple(input_shape),
            PReLUParams(jnp.full((d,), init_alpha, jnp.float32)),
            (),
        )

    def forward(params: PReLUParams, state, x, *, train=False, key=None):
        del train, key
        d = params.alpha.shape[0]
        _check_width("prelu", x, d)
        _check_params("prelu", x, {"alpha": params.alpha}, d, params.alpha.dtype)
        y = jnp.where(x >= 0, x, params.alpha * x)
        return y, state, PReLUCache(x, params.alpha)

    def backward(cache: PReLUCache, dy):
        _check_dy("prelu", dy, cache.x.shape, cache.x.dtype)
        positive = cache.x >= 0
        dx = jnp.where(positive, dy, cache.alpha * dy)
        dalpha = sum_in_dtype(jnp.where(positive, 0, dy * cache.x), _batch_axes(dy))
        return PReLUParams(dalpha), dx

    return Layer(init, forward, backward)


# ### batch_norm #####################################################################


class BatchNormParams(NamedTuple):
    gamma: Array  # scale, (features,)
    beta: Array  # shift, (features,)


class BatchNormState(NamedTuple):
    mean: Array  # running mean, (features,)
    var: Array  # running variance, (features,)


class BatchNormTrainCache(NamedTuple):
    xhat: Array
    inv_std: Array
    gamma: Array


class BatchNormEvalCache(NamedTuple):
    xhat: Array
    inv_std: Array
    gamma: Array


def batch_norm(
    momentum: float = 0.9, eps: float = 1e-5, unbiased_running_var: bool = False
) -> Layer:
    """Batch normalization over all axes but the last.

    Training (statistics of the batch, N examples)::

        μ = mean(x)   σ² = mean((x − μ)²)   x̂ = (x − μ)/√(σ² + ε)   y = γ x̂ + β
        dγ = Σ dy ⊙ x̂      dβ = Σ dy
        dx = (γ/√(σ² + ε)) · (dy − mean(dy) − x̂ ⊙ mean(dy ⊙ x̂))

    The running statistics in ``state`` follow the flax/TF decay convention
    ``running = momentum·running + (1 − momentum)·batch`` (PyTorch's ``momentum`` is
    ``1 −`` this one); with ``unbiased_running_var`` the batch variance is scaled by
    ``N/(N − 1)`` before it enters the running average, as PyTorch does.
    Evaluation (``train=False``) uses the running statistics: an affine map.

    Raises:
      ValueError: ``momentum`` outside [0, 1] (or NaN), ``eps`` not a finite number
        > 0 (inf would normalise every input to 0); in training, a batch of
        fewer than 2 examples; ``β`` or the running statistics not of shape ``(d,)``.
      TypeError: ``momentum`` or ``eps`` not a real number (a bool included); at run
        time, ``x``, ``β`` or a running statistic has another dtype than ``γ``.
    """
    if not 0.0 <= _real("momentum", momentum) <= 1.0:
        raise ValueError(f"momentum must be in [0, 1]; got momentum={momentum!r}.")
    if not 0.0 < _real("eps", eps) < math.inf:  # NaN fails both comparisons
        raise ValueError(f"eps must be a finite number > 0; got eps={eps!r}.")

    def init(key, input_shape):
        del key
        d = _input_width("batch_norm", input_shape)
        params = BatchNormParams(
            jnp.ones((d,), jnp.float32), jnp.zeros((d,), jnp.float32)
        )
        return (
            tuple(input_shape),
            params,
            BatchNormState(jnp.zeros((d,), jnp.float32), jnp.ones((d,), jnp.float32)),
        )

    def forward(
        params: BatchNormParams, state: BatchNormState, x, *, train=False, key=None
    ):
        del key
        d = params.gamma.shape[0]
        _check_width("batch_norm", x, d)
        vectors = {
            "beta": params.beta,
            "state.mean": state.mean,
            "state.var": state.var,
        }
        _check_params("batch_norm", x, vectors, d, params.gamma.dtype)
        axes = _batch_axes(x)
        _flag("train", train)  # a truthy "no" would train
        if not train:
            inv_std = jax.lax.rsqrt(state.var + eps)
            xhat = (x - state.mean) * inv_std
            y = params.gamma * xhat + params.beta
            return y, state, BatchNormEvalCache(xhat, inv_std, params.gamma)
        n = x.size // x.shape[-1]
        if n < 2:
            raise ValueError(
                "batch_norm in training mode needs at least 2 examples per batch to "
                f"estimate a variance; got x.shape={tuple(x.shape)}."
            )
        mean = jnp.mean(x, axis=axes)
        centred = x - mean
        var = jnp.mean(centred * centred, axis=axes)
        inv_std = jax.lax.rsqrt(var + eps)
        xhat = centred * inv_std
        y = params.gamma * xhat + params.beta
        batch_var = var * (n / (n - 1)) if unbiased_running_var else var
        new_state = BatchNormState(
            momentum * state.mean + (1 - momentum) * mean,
            momentum * state.var + (1 - momentum) * batch_var,
        )
        new_state = jax.tree.map(jax.lax.stop_gradient, new_state)
        # The cache holds x̂ itself: without the barrier XLA:GPU recomputes x̂ in the
        # backward from z, μ and σ², keeping both statistics alive, and the program
        # kept 248 B more temp memory than jax.grad's at 2×256×128 (4.75 KiB in a
        # bfloat16 Adam step). y above is computed from x̂ as before.
        xhat_kept = jax.lax.optimization_barrier(xhat)
        return y, new_state, BatchNormTrainCache(xhat_kept, inv_std, params.gamma)

    def backward(cache, dy):
        _check_dy("batch_norm", dy, cache.xhat.shape, cache.xhat.dtype)
        axes = _batch_axes(dy)
        dgamma = sum_in_dtype(dy * cache.xhat, axes)
        dbeta = sum_in_dtype(dy, axes)
        scale = cache.gamma * cache.inv_std
        if isinstance(cache, BatchNormEvalCache):
            return BatchNormParams(dgamma, dbeta), dy * scale
        n = dy.size // dy.shape[-1]
        dx = scale * (dy - dbeta / n - cache.xhat * (dgamma / n))
        return BatchNormParams(dgamma, dbeta), dx

    return Layer(init, forward, backward)


# ### dropout ########################################################################


class DropoutCache(NamedTuple):
    mask: Array | None  # keep/(1 − rate), or None when nothing was dropped


def dropout(rate: float) -> Layer:
    """Inverted dropout: in training ``y = x ⊙ m / (1 − rate)``, ``m ~ Bernoulli(1 − rate)``.

    Backward ``dx = dy ⊙ m / (1 − rate)``. With ``train=False`` (or ``rate = 0``) it is the
    identity, so no rescaling is needed at evaluation. Training needs an explicit
    ``key``; the same key gives the same mask.

    Raises:
      ValueError: ``rate`` outside [0, 1); at run time, ``train=True`` without ``key``.
      TypeError: ``rate`` not a real number (a bool included); at run time, an
        integer ``x`` with ``train=True``.
    """
    if not 0.0 <= _real("rate", rate) < 1.0:
        raise ValueError(f"rate must be in [0, 1); got rate={rate!r}.")

    def init(key, input_shape):
        del key
        return tuple(input_shape), (), ()

    def forward(params, state, x, *, train=False, key=None):
        del params
        _flag("train", train)
        if not train or rate == 0.0:
            return x, state, DropoutCache(None)
        if key is None:
            raise ValueError(
                "dropout with train=True needs a PRNG key; got key=None. Pass "
                "key=jax.random.key(seed) (split it for every step)."
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            # 1/(1 − rate) in an integer dtype would be 1/0: inf and nan, not x.
            raise TypeError(
                "dropout with train=True needs a floating input x (it scales kept "
                f"units by 1/(1 - rate)); got x.dtype={x.dtype.name}."
            )
        keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
        mask = keep.astype(x.dtype) / jnp.asarray(1.0 - rate, x.dtype)
        return x * mask, state, DropoutCache(mask)

    def backward(cache: DropoutCache, dy):
        if cache.mask is None:  # the identity: the next layer down checks dy
            return (), dy
        _check_dy("dropout", dy, cache.mask.shape, cache.mask.dtype)
        return (), dy * cache.mask

    return Layer(init, forward, backward)


# ### serial and residual ############################################################


class SerialCache(NamedTuple):
    caches: tuple


def _split(key, n: int):
    return (None,) * n if key is None else tuple(jax.random.split(key, n))


def serial(*layers: Layer) -> Layer:
    """Compose layers left to right; backward runs their ``backward`` right to left.

    ``params`` and ``state`` are tuples with one entry per layer. The PRNG key given to
    ``forward`` is split into one key per layer.
    """
    if not layers:
        raise ValueError("serial needs at least one layer; got none.")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise TypeError(f"serial: layers[{i}] must be a Layer; got {layer!r}.")

    def init(key, input_shape):
        params, states = [], []
        shape = tuple(input_shape)
        for layer, k in zip(layers, jax.random.split(key, len(layers)), strict=True):
            shape, p, s = layer.init(k, shape)
            params.append(p)
            states.append(s)
        return shape, tuple(params), tuple(states)

    def forward(params, state, x, *, train=False, key=None):
        _check_per_layer("params", params, len(layers))
        _check_per_layer("state", state, len(layers))
        caches, states = [], []
        keys = _split(key, len(layers))
        for layer, p, s, k in zip(layers, params, state, keys, strict=True):
            x, s, c = layer.forward(p, s, x, train=train, key=k)
            caches.append(c)
            states.append(s)
        return x, tuple(states), SerialCache(tuple(caches))

    def backward(cache: SerialCache, dy):
        dparams = []
        for layer, c in zip(reversed(layers), reversed(cache.caches), strict=True):
            dp, dy = layer.backward(c, dy)
            dparams.append(dp)
        return tuple(reversed(dparams)), dy

    return Layer(init, forward, backward)


def _check_per_layer(name: str, value: Any, n: int) -> None:
    """``value`` a tuple (or list) of one entry per layer of a ``serial`` of ``n``."""
    if not isinstance(value, tuple | list) or len(value) != n:
        got = f"length {len(value)}" if isinstance(value, tuple | list) else repr(value)
        raise ValueError(
            f"serial of {n} layers: {name} must be a tuple of {n} entries, one per "
            f"layer, as init returns it; got {got}."
        )


class ResidualCache(NamedTuple):
    inner: Any


def residual(layer: Layer) -> Layer:
    """Residual connection ``y = F(x) + x``; backward ``dx = dF/dx(dy) + dy``.

    The identity path carries the gradient past ``F`` unchanged, which is why deep
    residual networks do not suffer vanishing gradients.

    Raises:
      TypeError: ``layer`` is not a ``Layer``.
      ValueError: at ``init``, when ``F`` changes the shape of its input.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"residual: layer must be a Layer; got layer={layer!r}.")

    def init(key, input_shape):
        out_shape, params, state = layer.init(key, input_shape)
        if tuple(out_shape) != tuple(input_shape):
            raise ValueError(
                "residual: the wrapped layer must keep the shape of its input; got "
                f"input_shape={tuple(input_shape)} and output shape {tuple(out_shape)}."
            )
        return tuple(out_shape), params, state

    def forward(params, state, x, *, train=False, key=None):
        y, state, cache = layer.forward(params, state, x, train=train, key=key)
        return y + x, state, ResidualCache(cache)

    def backward(cache: ResidualCache, dy):
        dparams, dx = layer.backward(cache.inner, dy)
        return dparams, dx + dy

    return Layer(init, forward, backward)
