"""Activation functions with their hand-written backward rules.

Each activation is a plain function with ``jax.nn``'s name, defaults and values, written
from its formula in a numerically stable form. ``get(name)`` bundles a function with its
backward rule into an ``Activation(name, forward, backward)``:

- ``forward(z) -> y``;
- ``backward(z, y, dy) -> dz``, the vector-Jacobian product, which equals
  ``jax.vjp(forward, z)[1](dy)``. It reads the input ``z`` or the cached output ``y``,
  whichever is cheaper and accurate.

Formulas (element-wise unless stated; ``σ`` is the sigmoid):

- sigmoid ``σ(z) = 1/(1 + e^−z)``, range (0, 1); ``σ' = y(1 − y) ≤ 1/4`` (max at 0).
- tanh ``(e^z − e^−z)/(e^z + e^−z)``, range (−1, 1); ``tanh' = 1 − y² ≤ 1``.
- relu ``max(0, z)``, range [0, ∞); ``relu' = 1 if z > 0 else 0`` (0 at z = 0).
- leaky_relu ``z if z ≥ 0 else s·z`` (slope ``s``); derivative ``1 if z ≥ 0 else s``.
- elu ``z if z > 0 else α(e^z − 1)``, range (−α, ∞); derivative ``1 if z > 0 else
  α·e^z`` (``= y + α``).
- gelu ``z·Φ(z)``, ``Φ`` the standard normal CDF, or its tanh approximation
  ``z/2·(1 + tanh(√(2/π)(z + 0.044715 z³)))``; derivative ``Φ(z) + z·φ(z)``, or the
  approximation's own derivative.
- softplus ``log(1 + e^z)``, range (0, ∞); derivative ``σ(z)``.
- silu ``z·σ(z)``; derivative ``σ(z)(1 + z(1 − σ(z)))``.
- identity ``z``; derivative 1.
- softmax ``e^zᵢ / Σⱼ e^zⱼ`` along ``axis``, positive, summing to 1; Jacobian
  ``diag(y) − y yᵀ``, so the VJP is ``y ⊙ (dy − Σ dy ⊙ y)``.

The backward rules evaluate these derivatives in forms that keep their relative accuracy
in the tails, where a literal formula would cancel: ``σ'`` as ``e^−|z|/(1 + e^−|z|)²``
rather than ``y(1 − y)``, ``tanh'`` as ``(1 − y)(1 + y)``, ``elu'`` as ``α·e^z`` rather
than ``y + α``, silu's ``1 − σ(z)`` as ``σ(−z)``, and gelu's tanh form through
``σ(±2u)``.

Properties the teaching module relies on:

- Sigmoid saturates: ``σ' ≤ 0.25``, so a chain of ten sigmoid layers scales a gradient
  by at most ``0.25¹⁰ ≈ 10⁻⁶`` (vanishing gradients). Its outputs are not zero-centred.
- Tanh is zero-centred with range (−1, 1) and ``tanh' ≤ 1``, but saturates as well.
- ReLU does not saturate for ``z > 0``, but a unit whose pre-activation is negative for
  every example gets zero gradient and never learns again: a *dead* ReLU. Leaky ReLU,
  ELU and GELU keep a non-zero gradient for ``z < 0``.
- Softmax outputs are positive and sum to 1 along ``axis``; it pairs with categorical
  cross-entropy (see ``jaxnn.losses``).

Note:
    Derivatives at kinks follow ``jax.nn``: ``relu'(0) = 0`` (``jax.nn.relu`` uses
    ``select(z > 0, g, 0)``; a plain ``jnp.maximum(z, 0)`` would give 0.5),
    ``leaky_relu'(0) = 1`` and ``elu'(0) = α``.

>>> import jax.numpy as jnp
>>> act = get("tanh")
>>> z = jnp.array([0.0, 1.0])
>>> y = act.forward(z)
>>> [round(float(v), 4) for v in act.backward(z, y, jnp.ones_like(z))]
[1.0, 0.42]
"""

import math
from collections.abc import Callable
from functools import partial
from numbers import Integral, Real
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxnn._reduce import sum_in_dtype
from jaxnn._typing import Array

__all__ = [
    "NAMES",
    "Activation",
    "elu",
    "gelu",
    "get",
    "identity",
    "leaky_relu",
    "relu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


class Activation(NamedTuple):
    """An activation and its backward rule.

    Attributes:
        name: the registry name (one of ``NAMES``).
        forward: ``forward(z) -> y``.
        backward: ``backward(z, y, dy) -> dz`` with ``y = forward(z)``; equals
            ``jax.vjp(forward, z)[1](dy)`` and has the shape and dtype of ``z``. As
            ``jax.vjp`` does, the registered rules refuse a ``dy`` of another shape
            or dtype than ``y`` (it would be broadcast, or promote ``dz``).
    """

    name: str
    forward: Callable[[Array], Array]
    backward: Callable[[Array, Array, Array], Array]


def _check_cotangent(owner: str, dy, shape, dtype, output: str = "output") -> None:
    """``dy`` of the output's shape and dtype, as ``jax.vjp`` requires of a
    cotangent: a broadcastable ``dy`` would otherwise be broadcast silently, and
    another dtype would promote (or round) the gradients. Checked at trace time;
    the layers' backward rules use it too."""
    if tuple(jnp.shape(dy)) != tuple(shape):
        raise ValueError(
            f"{owner}: backward's dy must have the {output}'s shape "
            f"{tuple(shape)}; got dy.shape={tuple(jnp.shape(dy))}."
        )
    if jnp.result_type(dy) != dtype:
        raise TypeError(
            f"{owner}: backward's dy must have the {output}'s dtype "
            f"{jnp.dtype(dtype).name}; got dy.dtype={jnp.result_type(dy).name}."
        )


def _activation(name: str, forward, backward) -> Activation:
    """``Activation(name, forward, backward)``, its backward checking ``dy`` first."""

    def checked_backward(z, y, dy):
        if jnp.shape(z) != jnp.shape(y):  # z would be broadcast against y and dy
            raise ValueError(
                f"{name}: backward's z and y must have one shape (y = forward(z)); "
                f"got z.shape={tuple(jnp.shape(z))}, y.shape={tuple(jnp.shape(y))}."
            )
        _check_cotangent(name, dy, jnp.shape(y), jnp.result_type(y))
        return backward(z, y, dy)

    return Activation(name, forward, checked_backward)


### Forward functions (jax.nn names and defaults).


def _floating(name: str, z: ArrayLike) -> Array:
    """``z`` as an array; integers and bools are refused, as ``jax.nn.{name}`` does."""
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        raise TypeError(
            f"{name}: z must be a floating-point array, as jax.nn.{name} requires; "
            f"got z.dtype={z.dtype}."
        )
    return z


def _inexact(z: ArrayLike) -> Array:
    """``z`` as an array, integers and bools cast to a float as ``jax.nn`` promotes
    them (64-bit to float64, narrower to float32) before any arithmetic."""
    z = jnp.asarray(z)
    if jnp.issubdtype(z.dtype, jnp.inexact):
        return z
    return z.astype(jnp.float64 if z.dtype.itemsize == 8 else jnp.float32)


def sigmoid(z: ArrayLike) -> Array:
    """Logistic sigmoid ``σ(z) = 1 / (1 + e^−z)``, range (0, 1).

    Evaluated as ``1/(1 + e^−|z|)`` for ``z ≥ 0`` and ``e^−|z|/(1 + e^−|z|)`` otherwise,
    so ``exp`` never overflows. Matches ``jax.nn.sigmoid``, which refuses integer ``z``
    (``TypeError``).
    """
    z = _floating("sigmoid", z)
    e = jnp.exp(-jnp.abs(z))  # in (0, 1]: no overflow for either sign
    return jnp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def tanh(z: ArrayLike) -> Array:
    """Hyperbolic tangent ``(e^z − e^−z)/(e^z + e^−z)``, range (−1, 1), zero-centred.

    Matches ``jax.nn.tanh`` (which is ``jnp.tanh``).
    """
    return jnp.tanh(z)


@jax.custom_jvp
def relu(z: ArrayLike) -> Array:
    """Rectified linear unit ``max(0, z)``; derivative ``1 if z > 0 else 0``.

    Matches ``jax.nn.relu``, including its derivative 0 at ``z = 0``.
    """
    return jnp.maximum(z, 0)


@relu.defjvp
def _relu_jvp(primals, tangents):
    (z,), (dz,) = primals, tangents
    # The derivative at the kink is 0, as jax.nn.relu defines it.
    return relu(z), jnp.where(z > 0, dz, jnp.zeros_like(dz))


def leaky_relu(z: ArrayLike, negative_slope: ArrayLike = 1e-2) -> Array:
    """Leaky ReLU ``z if z ≥ 0 else negative_slope·z`` (``max(s·z, z)`` for ``s < 1``).

    Matches ``jax.nn.leaky_relu``; the derivative at 0 is 1.
    """
    z = jnp.asarray(z)
    return jnp.where(z >= 0, z, negative_slope * z)


def elu(z: ArrayLike, alpha: ArrayLike = 1.0) -> Array:
    """Exponential linear unit ``z if z > 0 else α(e^z − 1)``, range (−α, ∞).

    Matches ``jax.nn.elu``; the derivative at 0 is ``α``.
    """
    z = jnp.asarray(z)
    # The inner where keeps expm1 of large positive z out of the discarded branch;
    # its float 0.0 promotes integer z as jax.nn.elu's does.
    return jnp.where(z > 0, z, alpha * jnp.expm1(jnp.where(z > 0, 0.0, z)))


def gelu(z: ArrayLike, approximate: bool = True) -> Array:
    """Gaussian error linear unit ``z·Φ(z)``, ``Φ`` the standard normal CDF.

    With ``approximate=True`` (``jax.nn``'s default) it uses the tanh approximation
    ``z/2·(1 + tanh(√(2/π)(z + 0.044715 z³)))``; with ``approximate=False`` the exact
    ``z/2·erfc(−z/√2)``. Matches ``jax.nn.gelu``, which casts integer ``z`` to a float
    first (``z³`` of an int32 would wrap around) and returns a strongly typed array
    also for a Python float ``z``.
    """
    # Strongly typed, as jax.nn.gelu's result is (its constants are NumPy scalars): a
    # Python float z gives an array that promotes like one, not a weak-typed value.
    z = _inexact(z)
    z = jnp.asarray(z, z.dtype)
    if approximate:
        cdf = 0.5 * (1.0 + jnp.tanh(_SQRT_2_OVER_PI * (z + _GELU_CUBIC * z**3)))
        return z * cdf
    return 0.5 * z * jax.lax.erfc(-z * _SQRT_HALF)


def softplus(z: ArrayLike) -> Array:
    """Softplus ``log(1 + e^z)``, a smooth ReLU with range (0, ∞); derivative ``σ(z)``.

    Evaluated as ``max(z, 0) + log1p(e^−|z|)``, so ``softplus(∞) = ∞``. Matches
    ``jax.nn.softplus`` (``logaddexp(z, 0)``), which casts integer and bool ``z`` to a
    float first: ``−z`` of an unsigned ``z`` would wrap around, and bools have no ``−``.
    """
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.inexact):
        # As logaddexp(z, 0) promotes: bools and Python ints to a weak-typed float,
        # integer arrays as _inexact does.
        z = z + 0.0 if z.dtype == jnp.bool_ or z.weak_type else _inexact(z)
    pos = jnp.where(z > 0, z, 0)
    # −|z| as where(z > 0, −z, z), not z − 2·pos (∞ − ∞ = NaN at z = ∞), nor abs:
    # its derivative at 0 is 1, so the autodiff derivative there is σ(0) = 1/2, like
    # jax.nn.softplus's.
    return pos + jnp.log1p(jnp.exp(jnp.where(z > 0, -z, z)))


def silu(z: ArrayLike) -> Array:
    """Sigmoid linear unit (swish) ``z·σ(z)``. Matches ``jax.nn.silu`` (integer ``z``:
    ``TypeError``)."""
    z = _floating("silu", z)
    return z * sigmoid(z)


def identity(z: ArrayLike) -> Array:
    """Identity ``z`` (a linear output layer). Matches ``jax.nn.identity``."""
    return jnp.asarray(z)


def softmax(z: ArrayLike, axis: int = -1) -> Array:
    """Softmax ``e^zᵢ / Σⱼ e^zⱼ`` along ``axis``; the outputs are positive and sum to 1.

    The row maximum is subtracted first (under ``stop_gradient``, which does not change
    the value or the derivative), so ``exp`` never overflows. Entries equal to ``−inf``
    get exactly 0; an empty ``axis`` gives an empty result. Matches ``jax.nn.softmax``.
    """
    z = jnp.asarray(z)
    # An empty array has no maximum; jax.nn.softmax's initial −∞ then gives an empty
    # result (other shapes keep the plain maximum: the same program as before).
    initial = -jnp.inf if z.size == 0 else None
    peak = jnp.max(z, axis=axis, keepdims=True, initial=initial)
    shifted = z - jax.lax.stop_gradient(peak)
    unnormalized = jnp.exp(shifted)
    return unnormalized / jnp.sum(unnormalized, axis=axis, keepdims=True)


### Backward rules: backward(z, y, dy) -> dz, each equal to jax.vjp(forward, z)[1](dy).


def _sigmoid_prime(z):
    """``σ' = e^−|z| / (1 + e^−|z|)²``, symmetric in z."""
    e = jnp.exp(-jnp.abs(z))
    return e / jnp.square(1 + e)


def _sigmoid_prime_tanh(z):
    """``σ' = e^−|z|·σ(|z|)²`` with ``σ(|z|) = ½(1 + tanh(|z|/2))``: no division."""
    a = jnp.abs(z)
    r = 0.5 * (1 + jnp.tanh(0.5 * a))
    return jnp.exp(-a) * jnp.square(r)


def _sigmoid_prime_cuda(z):
    """CUDA's σ': the division-free form in float32, the default in other dtypes."""
    return _sigmoid_prime_tanh(z) if z.dtype == jnp.float32 else _sigmoid_prime(z)


def _sigmoid_bwd(z, y, dy):
    """``dy·σ'(z)``, ``σ' = σ(1 − σ) ≤ 1/4`` evaluated from z (symmetric in z).

    The cached ``y(1 − y)`` (``jax.grad``'s rule) is the same number but loses
    relative accuracy as y nears 1 and all of it where y rounds to 1 (z ≳ 17 in
    float32, ≳ 37 in float64). Two forms of equal accuracy, picked per backend and
    dtype at lowering by what XLA makes of them (temp bytes against ``jax.grad``'s,
    compiled for an H100 and for this project's 2-core CPU): XLA:GPU fuses the
    default form's kernel (``exp`` and a division) with each layer's bias sum into a
    multi-output kernel (+784 and +1 024 B at 4×4096×4096 float32, softmax-CE and
    MSE: a 256-byte tuple table per such kernel); CUDA float32 gets the
    division-free form, which it does not (0 B there, −272 B at 2×64×32), while in
    bfloat16 that form kept +14.7 MB at 3×1024×512; so the other dtypes on CUDA, and
    every other backend, keep the default form.
    """
    del y
    prime = jax.lax.platform_dependent(
        z, cuda=_sigmoid_prime_cuda, default=_sigmoid_prime
    )
    return dy * prime


def _tanh_bwd(z, y, dy):
    del z
    # tanh' = 1 − tanh² ≤ 1, as (1 − y)(1 + y): 1 − y is exact near y = 1, 1 − y·y not.
    return dy * ((1 - y) * (1 + y))


def _relu_bwd(z, y, dy):
    del z
    # The mask of z > 0, read from y = max(z, 0): y > 0 exactly where z > 0 (NaN in
    # neither), and so is y ≠ 0 with y not NaN. Written this way, not as y > 0
    # (which XLA's simplifier turns back into z > 0), nothing of the backward needs
    # z, so XLA can drop it: compiled for an H100 with cuBLAS GEMMs, each layer's
    # ReLU then joins its matmul's epilogue (BIAS_RELU) and only y is kept.
    return jnp.where((y != 0) & ~jnp.isnan(y), dy, jnp.zeros_like(dy))


def _relu_bwd_from_z(z, y, dy):
    del y
    return jnp.where(z > 0, dy, jnp.zeros_like(dy))


RELU_MASKED_BY_Z = _activation("relu", relu, _relu_bwd_from_z)
"""ReLU whose backward reads its mask from ``z`` (``_relu_bwd`` reads it from ``y``):
for a ReLU whose input XLA recomputes from values that the backward keeps anyway, as
after ``batch_norm`` (``z = γ·x̂ + β``). There, a mask read from ``y`` keeps ``y``
alive past the next layer's input-gradient matmul: one more activation-sized buffer
(+67 MB at 4×4096×4096 compiled for an H100 with cuBLAS GEMMs). ``models.mlp`` uses
it after ``batch_norm``; elsewhere ``z`` is a matmul's output, which reading ``y``
lets XLA drop."""


def _leaky_relu_bwd(z, y, dy, *, negative_slope):
    del y
    return jnp.where(z >= 0, dy, negative_slope * dy)


def _elu_bwd(z, y, dy, *, alpha):
    del y
    # α·e^z equals y + α, but y + α cancels catastrophically for z ≪ 0.
    return jnp.where(z > 0, dy, dy * (alpha * jnp.exp(jnp.where(z > 0, 0, z))))


def _gelu_bwd(z, y, dy, *, approximate):
    del y
    if approximate:
        # y = z·½(1 + tanh u), u = √(2/π)(z + 0.044715 z³), so
        # y' = ½(1 + tanh u) + ½z(1 − tanh² u)·u'. With ½(1 + tanh u) = σ(2u) and
        # 1 − tanh² u = 4σ(2u)σ(−2u) neither term cancels catastrophically for z ≪ 0.
        # With e = exp(−2|u|) and r = σ(2|u|) = 1/(1 + e) = ½(1 + tanh|u|) ∈ [½, 1),
        # σ(2u) is r for u ≥ 0 and e·r otherwise, and σ(2u)σ(−2u) = e·r² always.
        # r is taken from tanh (no cancellation: tanh|u| ≥ 0), as jax.grad's rule
        # has one: on XLA:GPU an elementwise kernel with a tanh is not fused with
        # the bias gradient's reduction into a multi-output kernel, whose 16-byte
        # tuple table made the manual program's temp memory exceed jax.grad's.
        u = _SQRT_2_OVER_PI * (z + _GELU_CUBIC * z**3)
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * z * z)
        e = jnp.exp(-2 * jnp.abs(u))
        r = 0.5 * (1 + jnp.tanh(jnp.abs(u)))
        s = jnp.where(u >= 0, r, e * r)
        # s·dy + z·(dy·t), not dy·(s + z·t): with dy first in the fused kernel,
        # XLA:GPU wrote dz over dy's buffer rather than z's (jax.grad's choice), and
        # the Adam step's temps packed 8 KiB larger (2×64×32 float32). Not (z·dy)·t
        # either: z·dy overflows for a large cotangent (float16 loss scaling) where
        # z·(dy·t) does not, t decaying like e^(−2|u|).
        t = 2 * (e * r * r) * du
        return s * dy + z * (dy * t)
    cdf = 0.5 * jax.lax.erfc(-z * _SQRT_HALF)
    pdf = _INV_SQRT_2PI * jnp.exp(-0.5 * z * z)
    return dy * (cdf + z * pdf)  # (zΦ)' = Φ + zφ


def _softplus_bwd(z, y, dy):
    del y
    return dy * sigmoid(z)


def _silu_bwd(z, y, dy):
    del y
    # σ(z)(1 + z(1 − σ(z))), with 1 − σ(z) = σ(−z) evaluated without cancellation.
    return dy * (sigmoid(z) * (1 + z * sigmoid(-z)))


def _identity_bwd(z, y, dy):
    del z, y
    return dy


def _softmax_bwd(z, y, dy, *, axis):
    del z
    if not -dy.ndim <= axis < dy.ndim:  # axis % ndim would pick another axis
        raise ValueError(
            f"softmax: axis must be in [{-dy.ndim}, {dy.ndim}) for dy of shape "
            f"{tuple(dy.shape)}; got axis={axis}."
        )
    # J = diag(y) − y yᵀ, so Jᵀ dy = y ⊙ (dy − ⟨dy, y⟩), the sum in dy's dtype.
    inner = sum_in_dtype(dy * y, (axis % dy.ndim,), keepdims=True)
    return y * (dy - inner)


### Registry.


def _finite_real(name: str, param: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{param} for {name!r} must be a finite float; "
            f"got {param}={value!r} of type {type(value).__name__}."
        )
    if not math.isfinite(value):
        raise ValueError(f"{param} for {name!r} must be a finite float; got {value!r}.")
    return float(value)


def _leaky_relu_activation(negative_slope=1e-2) -> Activation:
    s = _finite_real("leaky_relu", "negative_slope", negative_slope)
    return _activation(
        "leaky_relu",
        partial(leaky_relu, negative_slope=s),
        partial(_leaky_relu_bwd, negative_slope=s),
    )


def _elu_activation(alpha=1.0) -> Activation:
    a = _finite_real("elu", "alpha", alpha)
    if a <= 0:
        raise ValueError(f"alpha for 'elu' must be > 0; got alpha={alpha!r}.")
    return _activation("elu", partial(elu, alpha=a), partial(_elu_bwd, alpha=a))


def _gelu_activation(approximate=True) -> Activation:
    if not isinstance(approximate, bool | np.bool_):
        raise TypeError(
            "approximate for 'gelu' must be a bool (True: tanh approximation, False: "
            f"exact erf form); got approximate={approximate!r}."
        )
    approximate = bool(approximate)  # a NumPy bool as well
    return _activation(
        "gelu",
        partial(gelu, approximate=approximate),
        partial(_gelu_bwd, approximate=approximate),
    )


def _softmax_activation(axis=-1) -> Activation:
    if isinstance(axis, bool | np.bool_) or not isinstance(axis, Integral):
        raise TypeError(f"axis for 'softmax' must be an int; got axis={axis!r}.")
    axis = int(axis)  # a NumPy int as well
    return _activation(
        "softmax", partial(softmax, axis=axis), partial(_softmax_bwd, axis=axis)
    )


def _fixed(name: str, forward, backward) -> Callable[[], Activation]:
    act = _activation(name, forward, backward)
    return lambda: act


_BUILDERS: dict[str, Callable[..., Activation]] = {
    "sigmoid": _fixed("sigmoid", sigmoid, _sigmoid_bwd),
    "tanh": _fixed("tanh", tanh, _tanh_bwd),
    "relu": _fixed("relu", relu, _relu_bwd),
    "leaky_relu": _leaky_relu_activation,
    "elu": _elu_activation,
    "gelu": _gelu_activation,
    "softplus": _fixed("softplus", softplus, _softplus_bwd),
    "silu": _fixed("silu", silu, _silu_bwd),
    "identity": _fixed("identity", identity, _identity_bwd),
    "softmax": _softmax_activation,
}

_HPARAMS: dict[str, tuple[str, ...]] = {
    "leaky_relu": ("negative_slope",),
    "elu": ("alpha",),
    "gelu": ("approximate",),
    "softmax": ("axis",),
}

NAMES: tuple[str, ...] = tuple(_BUILDERS)
"""The registered activation names, in a fixed order."""


def get(name: str | Activation, **hparams) -> Activation:
    """Return the named ``Activation`` (forward and backward rule).

    Args:
        name: one of ``NAMES``, or an ``Activation``, which is returned unchanged.
        **hparams: the activation's hyperparameters: ``negative_slope`` (leaky_relu, a
            finite float, default 0.01), ``alpha`` (elu, a finite float > 0, default 1),
            ``approximate`` (gelu, a bool, default True), ``axis`` (softmax, an int,
            default -1).

    Returns:
        ``Activation(name, forward, backward)``; ``name`` is the registry name.

    Raises:
        ValueError: unknown name, or a hyperparameter with an invalid value.
        TypeError: a hyperparameter the activation does not take, or of the wrong type.

    >>> act = get("leaky_relu", negative_slope=0.1)
    >>> act.name, round(float(act.forward(-2.0)), 6)
    ('leaky_relu', -0.2)
    """
    if isinstance(name, Activation):
        if hparams:
            raise TypeError(
                "hyperparameters cannot be applied to an existing Activation; got "
                f"{sorted(hparams)} with activation {name.name!r}."
            )
        return name
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(
            f"unknown activation name={name!r}; expected one of {', '.join(NAMES)} "
            "(or an Activation)."
        )
    allowed = _HPARAMS.get(name, ())
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no hyperparameters"
        raise TypeError(
            f"activation {name!r} got unexpected hyperparameter(s) "
            f"{', '.join(unknown)}; it takes {takes}."
        )
    return _BUILDERS[name](**hparams)
