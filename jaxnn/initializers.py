"""Weight initializers, called like ``jax.nn.initializers``.

Every name is a factory that captures its configuration and returns
``init(key, shape, dtype=jnp.float32, out_sharding=None) -> Array`` (``zeros()``
included, so all are called the same way; ``out_sharding`` is passed on to
``jax.random``/``jnp``, as jax's initializers do). Weights of a dense layer have shape ``(n_in, n_out)``: the
fan-in is ``shape[-2]`` and the fan-out ``shape[-1]``; for more dimensions (a
convolution kernel ``(..., in, out)``) both are multiplied by the receptive-field size
``prod(shape[:-2])``, as in ``jax.nn.initializers``.

============== ====================================== ==========================
factory        distribution                           variance
============== ====================================== ==========================
zeros()        0                                      0
ones()         1                                      0
constant(v)    v                                      0
normal(s=1)    N(0, s²)                               s²
uniform(s=.01) U[0, s)                                s²/12 (mean s/2)
xavier_normal  N(0, 2/(n_in + n_out))                 2/(n_in + n_out)
xavier_uniform U[−√(6/(n_in + n_out)), +√(...))       2/(n_in + n_out)
he_normal      N(0, 2/n_in)                           2/n_in
he_uniform     U[−√(6/n_in), +√(6/n_in))              2/n_in
lecun_normal   N(0, 1/n_in)                           1/n_in
============== ====================================== ==========================

What the teaching module says about them:

- All zeros (or any constant) never breaks the symmetry between the units of a layer:
  they all receive the same gradient and stay identical, so the network does not learn.
- Too large, ``N(0, 1)``: pre-activations grow with the fan-in, sigmoid/tanh saturate
  and gradients vanish. That is why ``normal()`` defaults to ``stddev=1.0`` here.
- Xavier/Glorot keeps the variance of activations and gradients about constant across
  layers for sigmoid/tanh; He doubles it for ReLU, which zeroes half of the units.
  ``default_for(activation)`` picks between them.

Note:
    Deviations from ``jax.nn.initializers``, all deliberate and explicit:

    - ``xavier_normal``, ``he_normal`` and ``lecun_normal`` draw from a *plain* normal
      with the module's variance. jax's ``glorot_normal``/``he_normal``/``lecun_normal``
      draw from a normal truncated to ±2 standard deviations and rescaled to the same
      variance. Ours equal ``jax.nn.initializers.variance_scaling(..., "normal")``.
    - ``normal()`` defaults to ``stddev=1.0`` (the module's "too large" case); jax's
      ``normal()`` defaults to ``stddev=1e-2``.
    - ``uniform(scale)`` follows jax: it draws from ``[0, scale)``, not a symmetric
      interval. ``xavier_uniform``/``he_uniform`` are the symmetric ones.
    - The default ``dtype`` is ``jnp.float32``, not jax's default float dtype.

>>> import jax
>>> w = he_normal()(jax.random.key(0), (784, 128))
>>> w.shape, w.dtype
((784, 128), dtype('float32'))
"""

import inspect
import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._typing import Array, PRNGKey, Shape

__all__ = [
    "NAMES",
    "Initializer",
    "constant",
    "default_for",
    "get",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "normal",
    "ones",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

Initializer = Callable[..., Array]
"""``init(key, shape, dtype=jnp.float32, out_sharding=None) -> Array``."""


def _initializer(name: str, draw: Callable[[PRNGKey, Shape, Any, Any], Array]):
    """The initializer named ``name``: ``init(key, shape, dtype=jnp.float32,
    out_sharding=None)`` checks ``shape`` (``_as_shape``) and returns
    ``draw(key, shape, dtype, out_sharding)``."""

    def init(
        key: PRNGKey,
        shape: Sequence[int],
        dtype: Any = jnp.float32,
        out_sharding: Any = None,
    ) -> Array:
        return draw(key, _as_shape(shape), dtype, out_sharding)

    init.__name__ = init.__qualname__ = name
    return init


def _as_shape(shape: Sequence[int]) -> Shape:
    """``shape`` as a tuple of ints >= 0; ``ValueError`` naming it otherwise (a float
    such as 3.7 is refused, not truncated; a bool is refused, not read as 0 or 1)."""
    try:
        raw = tuple(shape)
        dims = tuple(operator.index(d) for d in raw)
    except TypeError:
        raw = dims = None
    if (
        dims is None
        or any(isinstance(d, bool | np.bool_) for d in raw)
        or any(d < 0 for d in dims)
    ):
        raise ValueError(f"shape must be a sequence of ints >= 0; got shape={shape!r}.")
    return dims


def _check_float_dtype(name: str, dtype) -> None:
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            f"{name} draws random floats; dtype must be a floating dtype such as "
            f"jnp.float32; got dtype={jnp.dtype(dtype).name}."
        )


def _fans(name: str, shape: Shape) -> tuple[int, int]:
    """Return ``(fan_in, fan_out) = (shape[-2]·rf, shape[-1]·rf)``.

    ``rf = prod(shape[:-2])`` is the receptive-field size (1 for a dense weight). Raises
    ``ValueError`` for fewer than 2 dimensions or an empty fan.
    """
    if len(shape) < 2:
        raise ValueError(
            f"{name} needs a weight shape with at least 2 dimensions (..., fan_in, "
            f"fan_out); got shape={shape}. For a bias use zeros() or constant(value)."
        )
    receptive_field = math.prod(shape[:-2])
    fan_in, fan_out = shape[-2] * receptive_field, shape[-1] * receptive_field
    if fan_in <= 0 or fan_out <= 0:
        raise ValueError(
            f"{name} needs a shape with positive sizes; got shape={shape}, which gives "
            f"fan_in={fan_in} and fan_out={fan_out}."
        )
    return fan_in, fan_out


def _numeric_shape(name: str, param: str, value) -> tuple[int, ...]:
    """The shape of ``value``, a number or numeric array (bool, int, float, complex)."""
    try:  # jnp's dtypes: NumPy calls bfloat16 kind "V"; result_type(None) is float
        dtype = jnp.result_type(value)
        numeric = value is not None and (
            jnp.issubdtype(dtype, jnp.number) or dtype == jnp.bool_
        )
    except (TypeError, ValueError):
        numeric = False
    if not numeric:
        raise TypeError(
            f"{name}: {param} must be a number or a numeric array; got {param}={value!r}."
        )
    return tuple(np.shape(value))


def _nonnegative_finite(name: str, param: str, value) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {param} must be a float; got {param}={value!r}.")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(
            f"{name}: {param} must be finite and >= 0; got {param}={value!r}."
        )
    return float(value)


### Constant initializers.


def zeros() -> Initializer:
    """All zeros. Never breaks the symmetry between units: use it for biases only.

    Returns:
        ``init(key, shape, dtype=jnp.float32)``; ``key`` is ignored.
    """

    def draw(key, shape, dtype, out_sharding):
        del key
        return jnp.zeros(shape, dtype, out_sharding=out_sharding)

    return _initializer("zeros", draw)


def ones() -> Initializer:
    """All ones (e.g. a batch-norm scale).

    Returns:
        ``init(key, shape, dtype=jnp.float32)``; ``key`` is ignored.
    """

    def draw(key, shape, dtype, out_sharding):
        del key
        return jnp.ones(shape, dtype, out_sharding=out_sharding)

    return _initializer("ones", draw)


def constant(value: Any) -> Initializer:
    """Every entry equal to ``value`` (e.g. ``constant(0.25)`` for a PReLU slope).

    Args:
        value: a number (or a numeric array broadcastable to the shape).

    Returns:
        ``init(key, shape, dtype=jnp.float32)``; ``key`` is ignored.

    Raises:
        TypeError: ``value`` is not numeric (checked here, not at the first init).
        ValueError: at init, ``value``'s shape does not broadcast to ``shape``.
    """
    value_shape = _numeric_shape("constant", "value", value)

    def draw(key, shape, dtype, out_sharding):
        del key
        try:
            broadcast = np.broadcast_shapes(value_shape, shape) == shape
        except ValueError:
            broadcast = False
        if not broadcast:
            raise ValueError(
                f"constant: value of shape {value_shape} does not broadcast to "
                f"shape={shape}; got value={value!r}."
            )
        return jnp.full(shape, value, dtype, out_sharding=out_sharding)

    return _initializer("constant", draw)


### Fixed-scale random initializers (as jax.nn.initializers.normal / uniform).


def normal(stddev: float = 1.0) -> Initializer:
    """``N(0, stddev²)``: mean 0, variance ``stddev²``.

    Args:
        stddev: standard deviation, finite and >= 0. The default 1.0 is the module's
            "too large" initialization (jax's ``normal`` defaults to 1e-2).

    Returns:
        ``init(key, shape, dtype=jnp.float32)``, equal to
        ``jax.nn.initializers.normal(stddev)``.
    """
    std = _nonnegative_finite("normal", "stddev", stddev)

    def draw(key, shape, dtype, out_sharding):
        _check_float_dtype("normal", dtype)
        return jax.random.normal(key, shape, dtype, out_sharding=out_sharding) * std

    return _initializer("normal", draw)


def uniform(scale: float = 1e-2) -> Initializer:
    """``U[0, scale)`` as ``jax.nn.initializers.uniform``: mean ``scale/2``, variance
    ``scale²/12``.

    Args:
        scale: upper end of the interval, finite and >= 0 (default 1e-2, as jax).

    Returns:
        ``init(key, shape, dtype=jnp.float32)``, equal to
        ``jax.nn.initializers.uniform(scale)``.
    """
    upper = _nonnegative_finite("uniform", "scale", scale)

    def draw(key, shape, dtype, out_sharding):
        _check_float_dtype("uniform", dtype)
        u = jax.random.uniform(key, shape, dtype, out_sharding=out_sharding)
        return u * upper

    return _initializer("uniform", draw)


### Fan-based (variance-scaling) initializers.


def _variance(name: str, shape: Shape, scale: float, mode: str, dtype) -> Array:
    """``scale / fan`` (``fan_in``, or ``fan_avg = (fan_in + fan_out)/2``) as an array
    of ``dtype``, the way ``jax.nn.initializers.variance_scaling`` rounds it, so that
    the draws below are bit-equal to its ``"normal"`` and ``"uniform"`` ones."""
    fan_in, fan_out = _fans(name, shape)
    _check_float_dtype(name, dtype)
    fan = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
    return jnp.array(scale / fan, dtype=dtype)


def _scaled_normal(name: str, scale: float, mode: str) -> Initializer:
    def draw(key, shape, dtype, out_sharding):
        variance = _variance(name, shape, scale, mode, dtype)
        z = jax.random.normal(key, shape, dtype, out_sharding=out_sharding)
        return z * jnp.sqrt(variance)

    return _initializer(name, draw)


def _scaled_uniform(name: str, scale: float, mode: str) -> Initializer:
    def draw(key, shape, dtype, out_sharding):
        variance = _variance(name, shape, scale, mode, dtype)
        # U[−a, a) has variance a²/3, so a = √(3·variance).
        u = jax.random.uniform(key, shape, dtype, -1, out_sharding=out_sharding)
        return u * jnp.sqrt(3 * variance)

    return _initializer(name, draw)


def xavier_normal() -> Initializer:
    """Xavier/Glorot normal ``N(0, 2/(n_in + n_out))``, for sigmoid and tanh.

    A plain normal; jax's ``glorot_normal`` is a truncated normal with the same
    variance.

    Returns:
        ``init(key, shape, dtype=jnp.float32)``; ``shape`` needs >= 2 dimensions.
    """
    return _scaled_normal("xavier_normal", 1.0, "fan_avg")


def xavier_uniform() -> Initializer:
    """Xavier/Glorot uniform ``U[−√(6/(n_in + n_out)), +√(6/(n_in + n_out)))``.

    Variance ``2/(n_in + n_out)``. Equals ``jax.nn.initializers.glorot_uniform()``.

    Returns:
        ``init(key, shape, dtype=jnp.float32)``; ``shape`` needs >= 2 dimensions.
    """
    return _scaled_uniform("xavier_uniform", 1.0, "fan_avg")


def he_normal() -> Initializer:
    """He/Kaiming normal ``N(0, 2/n_in)``, for ReLU and its relatives.

    ReLU zeroes about half of the units, hence the 2. A plain normal; jax's
    ``he_normal`` is a truncated normal with the same variance.

    Returns:
        ``init(key, shape, dtype=jnp.float32)``; ``shape`` needs >= 2 dimensions.
    """
    return _scaled_normal("he_normal", 2.0, "fan_in")


def he_uniform() -> Initializer:
    """He/Kaiming uniform ``U[−√(6/n_in), +√(6/n_in))``, variance ``2/n_in``.

    Equals ``jax.nn.initializers.he_uniform()``.

    Returns:
        ``init(key, shape, dtype=jnp.float32)``; ``shape`` needs >= 2 dimensions.
    """
    return _scaled_uniform("he_uniform", 2.0, "fan_in")


def lecun_normal() -> Initializer:
    """LeCun normal ``N(0, 1/n_in)`` (the SELU initialization).

    A plain normal; jax's ``lecun_normal`` is a truncated normal with the same variance.

    Returns:
        ``init(key, shape, dtype=jnp.float32)``; ``shape`` needs >= 2 dimensions.
    """
    return _scaled_normal("lecun_normal", 1.0, "fan_in")


### Registry.

_FACTORIES: dict[str, Callable[..., Initializer]] = {
    "zeros": zeros,
    "ones": ones,
    "constant": constant,
    "normal": normal,
    "uniform": uniform,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
}

NAMES: tuple[str, ...] = tuple(_FACTORIES)
"""The registered initializer names."""

_HE = ("relu", "leaky_relu", "elu", "gelu", "silu", "prelu")
_XAVIER = ("sigmoid", "tanh", "softmax", "identity", "softplus")
_DEFAULTS = {
    **dict.fromkeys(_HE, "he_normal"),
    **dict.fromkeys(_XAVIER, "xavier_normal"),
}


def get(name: str | Initializer, **hparams) -> Initializer:
    """Return the init function called ``name`` (``get("he_normal")`` is he_normal()).

    Args:
        name: one of ``NAMES``; an init function is returned unchanged.
        **hparams: the factory's arguments, e.g. ``get("normal", stddev=0.1)``.

    Returns:
        ``init(key, shape, dtype=jnp.float32) -> Array``.

    Raises:
        ValueError: unknown name (the message lists ``NAMES``).
        TypeError: an argument the factory does not take, or a missing one.

    >>> import jax
    >>> get("constant", value=0.5)(jax.random.key(0), (2,)).tolist()
    [0.5, 0.5]
    """
    if callable(name) and not isinstance(name, str):
        if hparams:
            raise TypeError(
                "hyperparameters cannot be applied to an existing init function; got "
                f"{sorted(hparams)} with {name!r}."
            )
        return name
    if not isinstance(name, str) or name not in _FACTORIES:
        raise ValueError(
            f"unknown initializer name={name!r}; expected one of {', '.join(NAMES)}."
        )
    factory = _FACTORIES[name]
    params = inspect.signature(factory).parameters
    try:
        inspect.signature(factory).bind(**hparams)
    except TypeError as err:
        takes = ", ".join(params) if params else "no arguments"
        raise TypeError(
            f"initializer {name!r} got hyperparameters {sorted(hparams)} ({err}); "
            f"it takes {takes}."
        ) from None
    return factory(**hparams)


def default_for(activation_name: str) -> Initializer:
    """The initializer that suits an activation: He for the ReLU family, Xavier else.

    ``he_normal()`` for relu, leaky_relu, elu, gelu, silu and prelu (units that zero or
    shrink their negative half); ``xavier_normal()`` for sigmoid, tanh, softmax,
    identity and softplus.

    Args:
        activation_name: an activation name (an object with a ``name`` attribute, such
            as a ``jaxnn.activations.Activation``, is accepted too).

    Returns:
        The init function, e.g. ``he_normal()``; its ``__name__`` is the initializer's
        name.

    Raises:
        ValueError: an activation name with no default (the message lists the valid
            names).

    >>> default_for("relu").__name__
    'he_normal'
    """
    key = getattr(activation_name, "name", activation_name)
    if not isinstance(key, str) or key not in _DEFAULTS:
        raise ValueError(
            f"no default initializer for activation_name={activation_name!r}; expected "
            f"one of {', '.join(_DEFAULTS)}."
        )
    return get(_DEFAULTS[key])
