"""Eager checks of the static configuration given to optimizer and schedule builders.

Every check raises ``ValueError`` whose message names the argument, its value and
the valid range, e.g. ``"b1 must be a number in [0, 1); got b1=1.0"``. A value
traced by ``jax.jit`` cannot be inspected and is let through unchecked, except
where :func:`concrete` asks for a Python-time value.
"""

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

# The optimizer's step count is an int32 that saturates here (``safe_increment``).
INT32_MAX = int(np.iinfo(np.int32).max)


def _integer(value) -> int | None:
    """``value`` as an int if it is a concrete integer (Python, NumPy or a 0-d
    integer array, not a bool); ``None`` otherwise (floats, traced values)."""
    if isinstance(value, jax.core.Tracer | bool | np.bool_):
        return None
    dtype = getattr(value, "dtype", None)
    if isinstance(value, int) or (
        dtype is not None and np.dtype(dtype).kind in "iu" and np.ndim(value) == 0
    ):
        return int(value)
    return None


def reachable_step(name: str, value) -> None:
    """A step at which a schedule changes: an integer one must be ``<= INT32_MAX``.

    The int32 step count never gets past ``INT32_MAX``, and a larger Python or NumPy
    integer combined with it wraps around (or overflows) in int32 arithmetic, so the
    change would come at a wrong step or the schedule would fail when called.
    """
    step = _integer(value)
    if step is not None and step > INT32_MAX:
        raise ValueError(
            f"{name} must be <= {INT32_MAX} (2**31 - 1), the largest optimizer step "
            f"count (an int32 that stops there), so a larger one is never reached; "
            f"got {name}={value!r}"
        )


def beyond_int32_as_float(value):
    """``value``, or ``float(value)`` if it is an integer an int32 cannot hold.

    For step lengths that only enter float arithmetic with the count: jax would
    otherwise cast a larger integer to int32 (overflowing for a Python int, silently
    truncating a NumPy one) when 64-bit mode is off.
    """
    step = _integer(value)
    return float(step) if step is not None and step > INT32_MAX else value


def _number(name: str, value, expected: str) -> float | None:
    """Return ``value`` as a float, ``None`` when it is traced, or raise.

    Booleans and complex numbers are refused, also as NumPy or jax scalars and
    0-d arrays (``float()`` would silently take ``True`` as 1 and drop an
    imaginary part).
    """
    if isinstance(value, jax.core.Tracer):
        return None
    dtype = getattr(value, "dtype", None)
    if (
        isinstance(value, bool | np.bool_ | complex | str | bytes)
        or (dtype is not None and np.dtype(dtype).kind in "bc")
        or np.ndim(value) != 0
    ):
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}") from None


def concrete(name: str, value) -> None:
    """A value that Python control flow needs when a schedule is built: not traced."""
    if isinstance(value, jax.core.Tracer):
        raise ValueError(
            f"{name} must be a concrete number when the schedule is built (it "
            f"decides the schedule's form); got a traced value {name}={value!r}"
        )


def learning_rate(value, name: str = "learning_rate") -> None:
    """A schedule (any callable), or a finite number >= 0.

    0 is valid: schedules reach it (a warmup from 0, a decay to 0), and
    ``optax.inject_hyperparams`` passes a schedule's value to the optimizer as a
    number at every step. A negative rate (ascent) is a mistake.
    """
    if callable(value):
        return
    expected = "a finite number >= 0 or a schedule"
    x = _number(name, value, expected)
    if x is not None and not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}")


def unit_interval(name: str, value) -> None:
    """A decay rate: a number in ``[0, 1)``."""
    expected = "a number in [0, 1)"
    x = _number(name, value, expected)
    if x is not None and not 0 <= x < 1:
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}")


def non_negative(name: str, value, *, allow_inf: bool = False) -> None:
    """A number ``>= 0`` (finite unless ``allow_inf``); NaN is always rejected."""
    expected = "a number >= 0" if allow_inf else "a finite number >= 0"
    x = _number(name, value, expected)
    if x is None:
        return
    if not x >= 0 or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}")


def positive(name: str, value) -> None:
    """A finite number ``> 0``."""
    expected = "a finite number > 0"
    x = _number(name, value, expected)
    if x is not None and not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}")


def flag(name: str, value) -> None:
    """A Python or NumPy bool: a truthy ``"False"`` or ``1`` would pass silently."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a bool; got {name}={value!r}")


def state_fields(owner: str, state, fields: tuple[str, ...]) -> None:
    """``state`` has ``fields``, as the state from ``owner``'s ``init`` does: another
    transformation's state would fail deep inside with an AttributeError."""
    missing = [f for f in fields if not hasattr(state, f)]
    if missing:
        raise TypeError(
            f"{owner}: state must be the state from its init (with "
            f"{', '.join(fields)}); got a {type(state).__name__} without "
            f"{', '.join(missing)}."
        )


def float_dtype(name: str, value):
    """``None``, or a floating (or complex) dtype, returned canonical for the
    current precision mode (``float64`` becomes ``float32`` with 64-bit mode off),
    as optax's ``canonicalize_dtype`` does. An integer or bool accumulator would
    truncate every update."""
    if value is None:
        return None
    expected = "None or a floating-point dtype such as jnp.bfloat16 or 'float32'"
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}") from None
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}")
    return jax.dtypes.canonicalize_dtype(dtype)


def finite(name: str, value) -> None:
    """Any finite number."""
    expected = "a finite number"
    x = _number(name, value, expected)
    if x is not None and not math.isfinite(x):
        raise ValueError(f"{name} must be {expected}; got {name}={value!r}")


def boundaries_and_scales(name: str, value) -> None:
    """``{step: scale}`` with integer steps in ``[0, INT32_MAX]``, increasing, and
    scales >= 0."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{name} must be a mapping {{step: scale}} with increasing integer "
            f"steps >= 0; got {name}={value!r}"
        )
    previous = None
    for step, scale in value.items():
        if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 0:
            raise ValueError(
                f"{name} must have integer boundaries >= 0; got boundary {step!r} "
                f"in {name}={value!r}"
            )
        if step > INT32_MAX:
            raise ValueError(
                f"{name} must have boundaries <= {INT32_MAX} (2**31 - 1), the largest "
                f"optimizer step count (an int32 that stops there): boundary {step!r} "
                f"would never be reached; got {name}={value!r}"
            )
        if previous is not None and step <= previous:
            raise ValueError(
                f"{name} must have strictly increasing boundaries; got {step!r} "
                f"after {previous!r} in {name}={value!r}"
            )
        previous = step
        non_negative(f"{name}[{step}]", scale)
