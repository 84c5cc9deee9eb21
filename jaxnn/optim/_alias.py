r"""Named optimizers. Each is nothing but a :func:`chain` of small transformations.

Every ``learning_rate`` may be a finite number ≥ 0 or a schedule ``count ->
rate``; a schedule is evaluated at the step count before it is incremented, so
the first update uses ``schedule(0)`` (optax's convention). A rate of 0 leaves the
parameters where they are; it is valid because schedules reach it and
``optax.inject_hyperparams`` hands a schedule's value over as a number. Each optimizer's
state, leaf by leaf, equals its optax equivalent's.
"""

from jaxnn._typing import ScalarOrSchedule
from jaxnn.optim import _validate
from jaxnn.optim._base import GradientTransformation, chain, identity
from jaxnn.optim._transforms import (
    add_decayed_weights,
    ema,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    trace,
)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: float | None = None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Stochastic gradient descent, optionally with heavy-ball momentum.

    .. math::
        \theta \leftarrow \theta - \eta g
        \qquad\text{or}\qquad
        v \leftarrow g + \beta v,\;
        \theta \leftarrow \theta - \eta v
        \;\;(\text{Nesterov: } \theta \leftarrow \theta - \eta(g + \beta v))

    Equals ``optax.sgd(learning_rate, momentum, nesterov)``:
    ``chain(trace(momentum, nesterov) or identity(), scale_by_learning_rate(lr))``.

    Note:
        The momentum here is optax's and PyTorch's heavy-ball form (the buffer
        sums gradients, no :math:`1 - \beta` factor). The module's EMA form is
        :func:`momentum`; the two give the same trajectory when this learning rate
        is that one's times :math:`1 - \beta`, but their buffers differ by that
        factor.

    Args:
        learning_rate: :math:`\eta`, a finite number ≥ 0 or a schedule.
        momentum: :math:`\beta \in [0, 1)`, or ``None`` for plain SGD.
        nesterov: Use Nesterov's look-ahead (only with momentum).

    Returns:
        A :class:`GradientTransformation`; state ``(TraceState(trace) | EmptyState(),
        EmptyState() | ScaleByScheduleState(count))``.

    Raises:
        ValueError: On an argument outside its range, or ``nesterov`` without
            ``momentum``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxnn import optim
        >>> tx = optim.sgd(0.1, momentum=0.9)
        >>> params = {"w": jnp.array([1.0, -2.0])}
        >>> state = tx.init(params)
        >>> updates, state = tx.update({"w": jnp.array([1.0, 1.0])}, state, params)
        >>> print(optim.apply_updates(params, updates)["w"])
        [ 0.9 -2.1]
    """
    _validate.learning_rate(learning_rate)
    _validate.flag("nesterov", nesterov)
    if nesterov and momentum is None:
        raise ValueError(
            "nesterov=True needs a momentum in [0, 1); got momentum=None "
            "(plain SGD has no look-ahead)"
        )
    if momentum is None:
        accumulate = identity()
    else:
        _validate.unit_interval("momentum", momentum)
        accumulate = trace(decay=momentum, nesterov=nesterov)
    return chain(accumulate, scale_by_learning_rate(learning_rate))


def momentum(
    learning_rate: ScalarOrSchedule, beta: float = 0.9
) -> GradientTransformation:
    r"""The module's momentum, an exponential moving average of the gradients.

    .. math::
        v \leftarrow \beta v + (1 - \beta) g, \qquad \theta \leftarrow \theta - \eta v

    ``chain(ema(beta, debias=False), scale_by_learning_rate(lr))``, equal to
    ``optax.chain(optax.ema(beta, debias=False), optax.scale_by_learning_rate(lr))``.

    Note:
        optax and PyTorch use the heavy-ball form :math:`v \leftarrow \beta v + g`
        instead (:func:`sgd` with ``momentum``). Starting from :math:`v = 0` the EMA
        is not debiased, so early steps are shorter by :math:`1 - \beta^t`.

    Args:
        learning_rate: :math:`\eta`, a finite number ≥ 0 or a schedule.
        beta: :math:`\beta \in [0, 1)`.

    Returns:
        A :class:`GradientTransformation`; state ``(EmaState(count, ema), ...)``.

    Raises:
        ValueError: On an argument outside its range.
    """
    _validate.learning_rate(learning_rate)
    _validate.unit_interval("beta", beta)
    return chain(ema(beta, debias=False), scale_by_learning_rate(learning_rate))


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    eps: float = 1e-8,
    eps_in_sqrt: bool = True,
) -> GradientTransformation:
    r"""RMSprop: divide by the root of a running mean of squared gradients.

    .. math::
        s \leftarrow \beta s + (1 - \beta) g^2, \qquad
        \theta \leftarrow \theta - \eta \frac{g}{\sqrt{s + \epsilon}}
        \;\;\left(\texttt{eps\_in\_sqrt=False}:\;
        \frac{g}{\sqrt{s} + \epsilon}\right)

    ``chain(scale_by_rms(decay, eps, eps_in_sqrt), scale_by_learning_rate(lr),
    identity())``, equal to ``optax.rmsprop(lr, decay, eps,
    eps_in_sqrt=eps_in_sqrt)``. The trailing ``identity()`` is optax's momentum
    slot (no momentum), so the state is a 3-tuple like optax's and either
    library's state can be stepped by the other's ``rmsprop``.

    Note:
        The default puts :math:`\epsilon` inside the square root, as optax and the
        module do; PyTorch's ``RMSprop`` puts it outside (``eps_in_sqrt=False``).
        With float16 parameters ``eps = 1e-8`` rounds to 0, as in optax: see
        :func:`adam`'s note.

    Args:
        learning_rate: :math:`\eta`, a finite number ≥ 0 or a schedule.
        decay: :math:`\beta \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_in_sqrt: Where :math:`\epsilon` goes.

    Returns:
        A :class:`GradientTransformation`; state ``(ScaleByRmsState(nu),
        EmptyState() | ScaleByScheduleState(count), EmptyState())``.

    Raises:
        ValueError: On an argument outside its range.
    """
    _validate.learning_rate(learning_rate)
    return chain(
        scale_by_rms(decay=decay, eps=eps, eps_in_sqrt=eps_in_sqrt),
        scale_by_learning_rate(learning_rate),
        identity(),
    )


def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    eps_root: float = 0.0,
    mu_dtype=None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Adam.

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \quad
        \theta \leftarrow \theta - \eta\,
        \frac{m / (1 - \beta_1^t)}{\sqrt{v / (1 - \beta_2^t)} + \epsilon}

    ``chain(scale_by_adam(b1, b2, eps, ...), scale_by_learning_rate(lr))``, equal
    to ``optax.adam(lr, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)``.
    :math:`t` counts from 1 on the first step; :math:`\epsilon` is outside the
    square root, ``eps_root`` inside it (:func:`scale_by_adam` has the formulas;
    ``nesterov=True`` is NAdam).

    Note:
        float16 parameters, as in optax: the default ``eps = 1e-8`` rounds to 0 and
        :math:`(1 - \beta_2) g^2` to 0 for :math:`|g| \lesssim 5.45 \cdot 10^{-3}`, so the
        first step divides by 0 (``inf``, or ``NaN`` where :math:`g = 0`). Keep
        float32 parameters (and cast the forward pass), as mixed-precision training
        does; ``jaxnn train`` offers float32 and float64 only.

    Args:
        learning_rate: :math:`\eta`, a finite number ≥ 0 or a schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: a number >= 0 added under the square root (keyword only, like
            the two below: optax takes them positionally).
        mu_dtype: ``None`` or the floating-point dtype of the stored first moment.
        nesterov: NAdam's look-ahead first moment.

    Returns:
        A :class:`GradientTransformation`; state ``(ScaleByAdamState(count, mu, nu),
        EmptyState() | ScaleByScheduleState(count))``.

    Raises:
        ValueError: On an argument outside its range.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxnn import optim
        >>> tx = optim.adam(0.1)
        >>> state = tx.init(jnp.zeros(2))
        >>> updates, state = tx.update(jnp.array([2.0, -3.0]), state)
        >>> print([round(float(u), 4) for u in updates])  # -lr * sign(g) at t=1
        [-0.1, 0.1]
    """
    _validate.learning_rate(learning_rate)
    return chain(
        scale_by_adam(
            b1, b2, eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
        ),
        scale_by_learning_rate(learning_rate),
    )


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-4,
    *,
    eps_root: float = 0.0,
    mu_dtype=None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Adam with decoupled weight decay (AdamW).

    .. math::
        \theta \leftarrow \theta - \eta \left(
        \frac{\hat m}{\sqrt{\hat v} + \epsilon} + \lambda \theta \right)

    ``chain(scale_by_adam(b1, b2, eps, ...), add_decayed_weights(weight_decay),
    scale_by_learning_rate(lr))``, equal to ``optax.adamw(lr, b1, b2, eps,
    eps_root, mu_dtype, weight_decay, nesterov=nesterov)``. ``update`` needs
    ``params``. optax's ``mask`` (to exempt biases and norm scales) and a
    schedule for ``weight_decay`` are not offered: every parameter is decayed by
    a constant ``weight_decay``; for a mask, chain ``scale_by_adam``,
    ``optax.add_decayed_weights(wd, mask)`` and ``scale_by_learning_rate``.

    Note:
        The decay is multiplied by the learning rate (optax's and PyTorch's
        convention; a schedule on :math:`\eta` also schedules the decay). Loshchilov
        and Hutter's paper applies :math:`\lambda\theta` with its own schedule
        multiplier instead, and plain L2 regularisation would add
        :math:`\lambda\theta` to :math:`g` *before* Adam's rescaling.

    Args:
        learning_rate: :math:`\eta`, a finite number ≥ 0 or a schedule.
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        weight_decay: :math:`\lambda \ge 0`.
        eps_root, mu_dtype, nesterov: as in :func:`adam` (keyword only: here
            ``weight_decay`` comes fifth, where optax has ``eps_root``).

    Returns:
        A :class:`GradientTransformation`; state ``(ScaleByAdamState(count, mu, nu),
        EmptyState(), EmptyState() | ScaleByScheduleState(count))``.

    Raises:
        ValueError: On an argument outside its range.
    """
    _validate.learning_rate(learning_rate)
    return chain(
        scale_by_adam(
            b1, b2, eps, eps_root=eps_root, mu_dtype=mu_dtype, nesterov=nesterov
        ),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
