r"""Learning-rate schedules: functions ``count -> value``, equal to optax's.

A schedule is evaluated at the optimizer's step count *before* it is
incremented, so the first update uses ``schedule(0)`` (optax's convention; Adam's
bias correction meanwhile uses :math:`t = 1`). Pass any schedule as a
``learning_rate``. Counts may be Python ints or int32 arrays, traced or not.

Unlike optax, which quietly turns some degenerate arguments into a constant
schedule (``transition_steps <= 0``, ``decay_rate == 0``) or clamps them
(negative ``transition_begin``), every builder here raises ``ValueError`` naming
the argument, its value and the valid range; and ``piecewise_constant_schedule``
takes its boundaries in increasing order only (optax sorts them).
"""

import jax.numpy as jnp

from jaxnn._typing import Schedule
from jaxnn.optim import _validate


def constant_schedule(value: float) -> Schedule:
    """The same value at every step; optax's ``constant_schedule``.

    Args:
        value: A finite number.

    Returns:
        ``count -> value``.
    """
    _validate.finite("value", value)
    return lambda count: value


def exponential_decay(
    init_value: float,
    transition_steps: float,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: float | None = None,
) -> Schedule:
    r"""Exponential decay; optax's ``exponential_decay``.

    .. math::
        v(c) = \begin{cases} v_0 & c \le b \\
        v_0\, r^{\,p},\; p = (c - b) / T & c > b \end{cases}

    with :math:`p` floored when ``staircase``; then bounded below by
    ``end_value`` when :math:`r < 1` (above when :math:`r > 1`).

    Args:
        init_value: :math:`v_0`, finite.
        transition_steps: :math:`T > 0`, the steps per factor of :math:`r`.
        decay_rate: :math:`r > 0`, finite.
        transition_begin: :math:`b \ge 0`, steps held at :math:`v_0` first; if
            an integer, at most ``2**31 - 1``, the largest (int32) optimizer count.
        staircase: A bool: decay in discrete jumps every :math:`T` steps.
        end_value: Optional finite bound.

    Returns:
        ``count -> value``.

    Raises:
        ValueError: On an argument outside its range, or a traced ``decay_rate``
            with ``end_value`` (its side of the bound is chosen when built).

    Examples:
        >>> from jaxnn import optim
        >>> s = optim.exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> print(s(0), s(10), s(20))
        1.0 0.5 0.25
    """
    _validate.finite("init_value", init_value)
    _validate.positive("transition_steps", transition_steps)
    _validate.positive("decay_rate", decay_rate)
    _validate.non_negative("transition_begin", transition_begin)
    _validate.reachable_step("transition_begin", transition_begin)
    transition_steps = _validate.beyond_int32_as_float(transition_steps)
    _validate.flag("staircase", staircase)  # a truthy "False" would mean True
    if end_value is not None:
        _validate.finite("end_value", end_value)
        _validate.concrete("decay_rate", decay_rate)
        # end_value bounds the decay from below, or a growth (r > 1) from above.
        bound = jnp.maximum if decay_rate < 1.0 else jnp.minimum

    def schedule(count):
        decreased_count = count - transition_begin
        p = decreased_count / transition_steps
        if staircase:
            p = jnp.floor(p)
        value = jnp.where(
            decreased_count <= 0, init_value, init_value * jnp.power(decay_rate, p)
        )
        if end_value is not None:
            value = bound(value, end_value)
        return value

    return schedule


def step_decay(init_value: float, step_size: float, factor: float) -> Schedule:
    r"""Multiply by ``factor`` every ``step_size`` steps.

    .. math:: v(c) = v_0\, \gamma^{\lfloor c / N \rfloor}

    PyTorch's ``StepLR``. optax has no schedule of this name; it equals
    ``optax.exponential_decay(init_value, transition_steps=step_size,
    decay_rate=factor, staircase=True)``.

    Args:
        init_value: :math:`v_0`, finite.
        step_size: :math:`N > 0`.
        factor: :math:`\gamma > 0`, finite (usually below 1).

    Returns:
        ``count -> value``.

    Raises:
        ValueError: On an argument outside its range.
    """
    _validate.positive("step_size", step_size)
    _validate.positive("factor", factor)
    return exponential_decay(
        init_value, transition_steps=step_size, decay_rate=factor, staircase=True
    )


def cosine_decay_schedule(
    init_value: float, decay_steps: float, alpha: float = 0.0, exponent: float = 1.0
) -> Schedule:
    r"""Cosine decay from ``init_value`` to ``alpha * init_value``; optax's twin.

    .. math::
        v(c) = v_0 \left[(1 - \alpha)
        \left(\tfrac12\bigl(1 + \cos(\pi \min(c, T) / T)\bigr)\right)^{p}
        + \alpha\right]

    Args:
        init_value: :math:`v_0`, finite.
        decay_steps: :math:`T > 0`; the value stays at :math:`\alpha v_0` after.
        alpha: The final multiplier, finite.
        exponent: :math:`p \ge 0`, finite.

    Returns:
        ``count -> value``.

    Raises:
        ValueError: On an argument outside its range.
    """
    _validate.finite("init_value", init_value)
    _validate.positive("decay_steps", decay_steps)
    _validate.finite("alpha", alpha)
    # A negative exponent turns 0 at c = T into 0**p = inf.
    _validate.non_negative("exponent", exponent)
    if isinstance(decay_steps, int):
        decay_steps = float(decay_steps)
    decay_steps = _validate.beyond_int32_as_float(decay_steps)  # e.g. a NumPy int

    def schedule(count):
        if isinstance(count, int):
            count = float(count)
        count = jnp.minimum(count, decay_steps)
        cosine_decay = 0.5 * (1 + jnp.cos(jnp.pi * count / decay_steps))
        return init_value * ((1 - alpha) * cosine_decay**exponent + alpha)

    return schedule


def warmup_cosine_decay_schedule(
    init_value: float,
    peak_value: float,
    warmup_steps: int,
    decay_steps: int,
    end_value: float = 0.0,
    exponent: float = 1.0,
) -> Schedule:
    r"""Linear warmup then cosine decay; optax's ``warmup_cosine_decay_schedule``.

    .. math::
        v(c) = \begin{cases}
        v_0 + (v_p - v_0)\, c / W & c < W \\
        \text{cosine}(v_p \to v_e \text{ over } T - W \text{ steps})(c - W)
        & c \ge W \end{cases}

    Note:
        ``decay_steps`` is the *total* length and includes the warmup, as in optax;
        the cosine part lasts ``decay_steps - warmup_steps`` steps.

    Args:
        init_value: :math:`v_0`, finite.
        peak_value: :math:`v_p`, finite, reached at step :math:`W`.
        warmup_steps: :math:`W \ge 0`; if an integer, at most ``2**31 - 1``, the
            largest (int32) optimizer count.
        decay_steps: :math:`T > W`, the total length.
        end_value: :math:`v_e`, finite, reached at step :math:`T` and kept; 0
            when :math:`v_p = 0`.
        exponent: The cosine's exponent, finite and :math:`\ge 0`.

    Returns:
        ``count -> value``.

    Raises:
        ValueError: On an argument outside its range, or a traced ``peak_value``,
            ``warmup_steps`` or ``decay_steps`` (they decide the schedule's form).
    """
    _validate.finite("init_value", init_value)
    _validate.finite("peak_value", peak_value)
    _validate.non_negative("warmup_steps", warmup_steps)
    _validate.reachable_step("warmup_steps", warmup_steps)
    _validate.positive("decay_steps", decay_steps)
    _validate.finite("end_value", end_value)
    for name, value in [
        ("peak_value", peak_value),
        ("warmup_steps", warmup_steps),
        ("decay_steps", decay_steps),
    ]:
        _validate.concrete(name, value)
    if not decay_steps > warmup_steps:
        raise ValueError(
            "decay_steps must be > warmup_steps (it counts the warmup too); got "
            f"decay_steps={decay_steps!r} with warmup_steps={warmup_steps!r}"
        )
    if peak_value == 0.0:
        _validate.concrete("end_value", end_value)
    if peak_value == 0.0 and end_value != 0.0:
        raise ValueError(
            "end_value must be 0 when peak_value is 0 (the cosine part scales "
            f"peak_value); got end_value={end_value!r} with peak_value={peak_value!r}"
        )
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    warmup = _linear_schedule(init_value, peak_value, warmup_steps)
    decay = cosine_decay_schedule(
        peak_value, decay_steps - warmup_steps, alpha=alpha, exponent=exponent
    )

    def schedule(count):
        return jnp.where(
            count < warmup_steps, warmup(count), decay(count - warmup_steps)
        )

    return schedule


def _linear_schedule(init_value: float, end_value: float, steps: float) -> Schedule:
    """``init -> end`` linearly over ``steps`` then held; ``init`` if ``steps <= 0``."""
    if steps <= 0:
        return lambda count: init_value

    def schedule(count):
        frac = 1 - jnp.clip(count, 0, steps) / steps
        return (init_value - end_value) * frac + end_value

    return schedule


def piecewise_constant_schedule(
    init_value: float, boundaries_and_scales: dict[int, float] | None = None
) -> Schedule:
    r"""Constant pieces, multiplied by a scale at each boundary; optax's twin.

    .. math:: v(c) = v_0 \prod_{i:\, c \ge b_i} s_i

    Scales are cumulative: ``{5: 0.5, 10: 0.1}`` gives :math:`v_0` before step 5,
    :math:`0.5 v_0` from step 5 and :math:`0.05 v_0` from step 10.

    Args:
        init_value: :math:`v_0`, finite.
        boundaries_and_scales: ``{b_i: s_i}`` with integer boundaries in
            ``[0, 2**31 - 1]`` (the optimizer's int32 count never passes
            ``2**31 - 1``) in strictly increasing order and finite scales ``>= 0``.

    Returns:
        ``count -> value``.

    Raises:
        ValueError: On boundaries that are not increasing integers in
            ``[0, 2**31 - 1]``, or on a negative scale.

    Examples:
        >>> from jaxnn import optim
        >>> s = optim.piecewise_constant_schedule(1.0, {5: 0.5, 10: 0.1})
        >>> print(s(4), s(5), round(float(s(10)), 6))
        1.0 0.5 0.05
    """
    _validate.finite("init_value", init_value)
    _validate.boundaries_and_scales("boundaries_and_scales", boundaries_and_scales)
    pieces = tuple((boundaries_and_scales or {}).items())

    def schedule(count):
        value = init_value
        for boundary, factor in pieces:
            # 1 before the boundary, 0 from it on.
            before = jnp.maximum(0.0, jnp.sign(boundary - count))
            value = value * before + (1 - before) * factor * value
        return value

    return schedule
