r"""Small composable transformations, each with a NamedTuple state.

Notation: :math:`g` is the incoming update (the gradient, for the first
transformation of a chain), :math:`u` the outgoing update, :math:`t` the step
number counted from 1 on the first update, :math:`\eta` the learning rate.
Every state ``count`` is an ``int32`` scalar starting at 0 and saturating at the
int32 maximum instead of wrapping (optax's ``safe_increment``).

Accumulators (``trace``, ``ema``, ``mu``, ``nu``) keep the dtype they were
initialized with, the parameters' dtype. When gradients and parameters share a
dtype every value equals optax's.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn._tree import check_same_tree, path_str, tree_zeros_like
from jaxnn._typing import Params, ScalarOrSchedule, Schedule, Updates
from jaxnn.optim import _validate
from jaxnn.optim._base import GradientTransformation, identity, init_empty_state

### Shared arithmetic ##########################################################


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1``, saturating at the dtype's maximum; optax's ``safe_increment``."""
    count = jnp.asarray(count)
    max_value = jnp.array(jnp.iinfo(count.dtype).max, count.dtype)
    return jnp.where(count < max_value, count + jnp.array(1, count.dtype), max_value)


def _zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


def _update_moment(updates: Updates, moments: Updates, decay, order: int) -> Updates:
    r""":math:`m \leftarrow (1 - \beta) g^k + \beta m` for every leaf."""
    return jax.tree.map(
        lambda g, m: (1 - decay) * g**order + decay * m, updates, moments
    )


def _update_second_moment(updates: Updates, moments: Updates, decay) -> Updates:
    r""":math:`s \leftarrow (1 - \beta) |g|^2 + \beta s` for every leaf.

    For a complex :math:`g` the square is the modulus :math:`|g|^2 = \bar g g`
    (real, so :math:`\sqrt{s}` is a magnitude), not :math:`g^2`; for a real
    :math:`g` it is :math:`g^2`. optax's ``update_moment_per_elem_norm(.., 2)``.
    """

    def square(g):
        return (g.conj() * g).real if jnp.iscomplexobj(g) else g**2

    return jax.tree.map(
        lambda g, s: (1 - decay) * square(g) + decay * s, updates, moments
    )


@functools.partial(jax.jit, inline=True)
def _bias_correction(moments: Updates, decay, count: jax.Array) -> Updates:
    r""":math:`\hat m = m / (1 - \beta^t)`.

    ``decay ** count`` is computed in the precision that the int32 count gives it
    and only then cast to each leaf's dtype, as optax does, so that a low-precision
    moment never sees ``1 - decay**t`` rounded to zero.

    Jitted with ``inline=True`` like optax's ``tree.bias_correction``: inside a
    jitted step it is inlined (no effect), and outside one it runs as one compiled
    program over the whole tree, as optax's does. XLA's CPU code for a division by
    a broadcast scalar in such a program can differ in the last bit from
    op-by-op division, so eager steps would otherwise not be bit-identical.
    """
    correction = 1 - decay**count
    return jax.tree.map(lambda m: m / correction.astype(m.dtype), moments)


def _zeros_like_params(params: Params, dtype=None) -> Params:
    """Zero accumulators with each parameter's shape, and its dtype or ``dtype``.

    Raises ``ValueError`` naming the leaf for a non-floating parameter (its
    accumulators would keep the integer dtype and truncate every moment), and for
    a complex parameter with a real ``dtype`` (the cast would drop its imaginary
    part).
    """
    for path, p in jax.tree.leaves_with_path(params):
        leaf_dtype = jnp.result_type(p)
        if not jnp.issubdtype(leaf_dtype, jnp.inexact):
            raise ValueError(
                f"params must have floating-point leaves (the optimizer state keeps "
                f"their dtype); got dtype {leaf_dtype} at leaf {path_str(path)}."
            )
        if (
            dtype is not None
            and jnp.issubdtype(leaf_dtype, jnp.complexfloating)
            and not jnp.issubdtype(dtype, jnp.complexfloating)
        ):
            raise ValueError(
                f"mu_dtype must be complex for a complex parameter (a real moment "
                f"would drop its imaginary part); got mu_dtype={dtype} for leaf "
                f"{path_str(path)} of dtype {leaf_dtype}."
            )
    return tree_zeros_like(params, dtype)


def _cast_like(tree: Updates, like: Updates) -> Updates:
    return jax.tree.map(lambda x, y: x.astype(y.dtype), tree, like)


### Scaling ####################################################################


def scale(step_size) -> GradientTransformation:
    r"""Multiply updates by a fixed scalar; optax's ``scale``.

    .. math:: u = s\, g

    Args:
        step_size: The scalar :math:`s`, finite, any sign.

    Returns:
        A stateless :class:`GradientTransformation`.

    Raises:
        ValueError: When ``step_size`` is not a finite scalar.
    """
    _validate.finite("step_size", step_size)

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: step_size * g, updates), state

    return GradientTransformation(init_empty_state, update)


class ScaleByScheduleState(NamedTuple):
    """The step count a schedule is evaluated at."""

    count: jax.Array


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    r"""Multiply updates by a scalar that depends on the step; optax's twin.

    .. math:: u = s(c)\, g, \qquad c \leftarrow c + 1

    The schedule is evaluated at the count *before* it is incremented, so the
    first update uses ``step_size_fn(0)``, as in optax.

    Args:
        step_size_fn: ``count -> scalar``.

    Returns:
        A :class:`GradientTransformation` with state ``ScaleByScheduleState(count)``.

    Raises:
        ValueError: When ``step_size_fn`` is not callable, or returns a non-scalar.
    """
    if not callable(step_size_fn):
        raise ValueError(
            f"step_size_fn must be a callable count -> scalar; "
            f"got step_size_fn={step_size_fn!r}"
        )

    def init(params):
        del params
        return ScaleByScheduleState(count=_zero_count())

    def update(updates, state, params=None):
        del params
        _validate.state_fields("scale_by_schedule", state, ("count",))
        step_size = step_size_fn(state.count)
        if jnp.ndim(step_size) != 0:
            raise ValueError(
                "step_size_fn must return a scalar; got shape "
                f"{jnp.shape(step_size)} from step_size_fn={step_size_fn!r}"
            )
        updates = jax.tree.map(
            lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates
        )
        return updates, ScaleByScheduleState(count=safe_increment(state.count))

    return GradientTransformation(init, update)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule, *, flip_sign: bool = True
) -> GradientTransformation:
    r"""Multiply updates by :math:`-\eta` (descent); optax's twin.

    .. math:: u = -\eta\, g \qquad \text{or} \qquad u = -\eta(c)\, g

    A number becomes :func:`scale`\ ``(-learning_rate)`` (no state); a schedule
    becomes :func:`scale_by_schedule`\ ``(lambda c: -learning_rate(c))``, evaluated
    at the step count before it is incremented.

    Args:
        learning_rate: A finite number ≥ 0, or a schedule ``count -> rate``.
        flip_sign: Negate (the default) so that :func:`apply_updates` descends.

    Returns:
        A :class:`GradientTransformation`.

    Raises:
        ValueError: When ``learning_rate`` is neither a schedule nor a finite
            number ≥ 0, or ``flip_sign`` is not a bool.
    """
    _validate.learning_rate(learning_rate)
    _validate.flag("flip_sign", flip_sign)
    m = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: m * learning_rate(count))
    return scale(m * learning_rate)


### Accumulators ###############################################################


class TraceState(NamedTuple):
    """The heavy-ball momentum buffer."""

    trace: Params


def trace(decay: float, nesterov: bool = False) -> GradientTransformation:
    r"""Heavy-ball momentum of the incoming updates; optax's ``trace``.

    .. math::
        v \leftarrow g + \beta v, \qquad u = v
        \quad (\text{Nesterov: } u = g + \beta v)

    Note:
        This is the PyTorch / optax "heavy-ball" form, *not* an exponential moving
        average: there is no :math:`(1-\beta)` factor, so the buffer grows to about
        :math:`g / (1 - \beta)`. See :func:`ema` for the EMA form.

    Args:
        decay: :math:`\beta \in [0, 1)`.
        nesterov: Use Nesterov's look-ahead output.

    Returns:
        A :class:`GradientTransformation` with state ``TraceState(trace)``.

    Raises:
        ValueError: When ``decay`` is outside ``[0, 1)`` or ``nesterov`` is not a
            bool.
    """
    _validate.unit_interval("decay", decay)
    _validate.flag("nesterov", nesterov)

    def init(params):
        return TraceState(trace=_zeros_like_params(params))

    def update(updates, state, params=None):
        del params
        _validate.state_fields("trace", state, ("trace",))
        check_same_tree(updates, state.trace, "updates", "state.trace")
        f = lambda g, v: g + decay * v
        new_trace = jax.tree.map(f, updates, state.trace)
        updates = jax.tree.map(f, updates, new_trace) if nesterov else new_trace
        return updates, TraceState(trace=_cast_like(new_trace, state.trace))

    return GradientTransformation(init, update)


class EmaState(NamedTuple):
    """Step count and the (un-debiased) exponential moving average."""

    count: jax.Array
    ema: Params


def ema(decay: float, debias: bool = True) -> GradientTransformation:
    r"""Exponential moving average of the incoming updates; optax's ``ema``.

    .. math::
        v \leftarrow \beta v + (1 - \beta) g, \qquad
        u = v \;\text{ or, with debias, }\; u = v / (1 - \beta^t)

    The state stores the un-debiased :math:`v`. ``debias`` defaults to True as in
    optax; the module's momentum (:func:`jaxnn.optim.momentum`) turns it off.

    Args:
        decay: :math:`\beta \in [0, 1)`.
        debias: Divide the output by :math:`1 - \beta^t`.

    Returns:
        A :class:`GradientTransformation` with state ``EmaState(count, ema)``.

    Raises:
        ValueError: When ``decay`` is outside ``[0, 1)`` or ``debias`` is not a
            bool.
    """
    _validate.unit_interval("decay", decay)
    _validate.flag("debias", debias)

    def init(params):
        return EmaState(count=_zero_count(), ema=_zeros_like_params(params))

    def update(updates, state, params=None):
        del params
        _validate.state_fields("ema", state, ("count", "ema"))
        check_same_tree(updates, state.ema, "updates", "state.ema")
        new_ema = _update_moment(updates, state.ema, decay, 1)
        count = safe_increment(state.count)
        updates = _bias_correction(new_ema, decay, count) if debias else new_ema
        return updates, EmaState(count=count, ema=_cast_like(new_ema, state.ema))

    return GradientTransformation(init, update)


class ScaleByRmsState(NamedTuple):
    """The running mean of squared updates."""

    nu: Params


def scale_by_rms(
    decay: float = 0.9, eps: float = 1e-8, eps_in_sqrt: bool = True
) -> GradientTransformation:
    r"""Divide by the root of the running mean square; optax's ``scale_by_rms``.

    .. math::
        s \leftarrow \beta s + (1 - \beta) g^2, \qquad
        u = \frac{g}{\sqrt{s + \epsilon}}
        \;\text{ or, with } \texttt{eps\_in\_sqrt=False},\;
        u = \frac{g}{\sqrt{s} + \epsilon}

    Note:
        Libraries disagree on where :math:`\epsilon` goes. optax (and the default
        here) puts it inside the square root; PyTorch's ``RMSprop`` and Keras put
        it outside, which ``eps_in_sqrt=False`` reproduces. No bias correction.
        For a complex :math:`g`, :math:`g^2` means :math:`|g|^2`, as in optax.

    Args:
        decay: :math:`\beta \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_in_sqrt: Add :math:`\epsilon` inside (True) or outside the root.

    Returns:
        A :class:`GradientTransformation` with state ``ScaleByRmsState(nu)``.

    Raises:
        ValueError: When ``decay`` is outside ``[0, 1)``, ``eps < 0`` or
            ``eps_in_sqrt`` is not a bool.
    """
    _validate.unit_interval("decay", decay)
    _validate.non_negative("eps", eps)
    _validate.flag("eps_in_sqrt", eps_in_sqrt)

    def init(params):
        return ScaleByRmsState(nu=_zeros_like_params(params))

    def update(updates, state, params=None):
        del params
        _validate.state_fields("scale_by_rms", state, ("nu",))
        check_same_tree(updates, state.nu, "updates", "state.nu")
        nu = _update_second_moment(updates, state.nu, decay)
        if eps_in_sqrt:
            scaling = jax.tree.map(lambda s: jax.lax.rsqrt(s + eps), nu)
        else:
            scaling = jax.tree.map(lambda s: 1 / (jnp.sqrt(s) + eps), nu)
        updates = jax.tree.map(lambda r, g: r * g, scaling, updates)
        return updates, ScaleByRmsState(nu=_cast_like(nu, state.nu))

    return GradientTransformation(init, update)


class ScaleByAdamState(NamedTuple):
    """Step count, first moment ``mu`` and second moment ``nu`` (un-debiased)."""

    count: jax.Array
    mu: Params
    nu: Params


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    eps_root: float = 0.0,
    mu_dtype=None,
    nesterov: bool = False,
) -> GradientTransformation:
    r"""Adam's direction; optax's ``scale_by_adam``.

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g, \quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \quad
        u = \frac{\hat m}{\sqrt{\hat v + \epsilon_{root}} + \epsilon}, \quad
        \hat m = \frac{m}{1 - \beta_1^t}, \;
        \hat v = \frac{v}{1 - \beta_2^t}

    :math:`\epsilon` is *outside* the square root, as in the Adam paper, optax and
    PyTorch; :math:`\epsilon_{root}` (0 by default) is inside it, which keeps the
    derivative of :math:`u` finite at :math:`v = 0` when gradients flow through
    the update (meta-learning). The count is incremented first, so the first step
    uses :math:`t = 1`. For a complex :math:`g`, :math:`g^2` means :math:`|g|^2`,
    as in optax.

    With ``nesterov=True`` this is NAdam (Dozat 2016, as optax writes it):
    :math:`\hat m = \beta_1 \frac{m}{1 - \beta_1^{t+1}} + (1 - \beta_1)
    \frac{g}{1 - \beta_1^t}`, a look-ahead of the first moment; :math:`\hat v`
    is Adam's.

    ``mu_dtype`` stores the first moment in another dtype (e.g. ``bfloat16`` to
    halve its memory); each step computes in the promoted dtype of the gradient
    and the stored moment, and only the stored :math:`m` is rounded. The second
    moment keeps each parameter's dtype.

    Args:
        b1: :math:`\beta_1 \in [0, 1)`.
        b2: :math:`\beta_2 \in [0, 1)`.
        eps: :math:`\epsilon \ge 0`.
        eps_root: :math:`\epsilon_{root} \ge 0` (keyword only, as the two below).
        mu_dtype: ``None`` (each parameter's dtype) or a floating-point dtype.
        nesterov: NAdam's look-ahead.

    Returns:
        A :class:`GradientTransformation` with state ``ScaleByAdamState(count, mu,
        nu)``.

    Raises:
        ValueError: When ``b1`` or ``b2`` is outside ``[0, 1)``, ``eps`` or
            ``eps_root`` is negative, ``mu_dtype`` is not a floating-point dtype
            (or a real one for complex parameters), or ``nesterov`` is not a bool.
    """
    _validate.unit_interval("b1", b1)
    _validate.unit_interval("b2", b2)
    _validate.non_negative("eps", eps)
    _validate.non_negative("eps_root", eps_root)
    mu_dtype = _validate.float_dtype("mu_dtype", mu_dtype)
    _validate.flag("nesterov", nesterov)
    # A concrete 0 adds nothing (v >= +0, so v + 0 == v): the default program has
    # no extra addition.
    root_shift = not (isinstance(eps_root, int | float) and eps_root == 0)

    def init(params):
        # Two separate buffers, not one shared: a donated state must not alias.
        return ScaleByAdamState(
            count=_zero_count(),
            mu=_zeros_like_params(params, mu_dtype),
            nu=_zeros_like_params(params),
        )

    def direction(m, v):
        return m / (jnp.sqrt(v + eps_root if root_shift else v) + eps)

    def update(updates, state, params=None):
        del params
        _validate.state_fields("scale_by_adam", state, ("count", "mu", "nu"))
        check_same_tree(updates, state.mu, "updates", "state.mu")
        mu = _update_moment(updates, state.mu, b1, 1)  # First moment.
        nu = _update_second_moment(updates, state.nu, b2)  # Second moment.
        count = safe_increment(state.count)
        if nesterov:
            mu_hat = jax.tree.map(
                lambda m, g: b1 * m + (1 - b1) * g,
                _bias_correction(mu, b1, safe_increment(count)),
                _bias_correction(updates, b1, count),
            )
        else:
            mu_hat = _bias_correction(mu, b1, count)
        nu_hat = _bias_correction(nu, b2, count)
        updates = jax.tree.map(direction, mu_hat, nu_hat)
        new_state = ScaleByAdamState(
            count=count, mu=_cast_like(mu, state.mu), nu=_cast_like(nu, state.nu)
        )
        return updates, new_state

    return GradientTransformation(init, update)


### Weight decay ###############################################################


def add_decayed_weights(weight_decay: float = 0.0) -> GradientTransformation:
    r"""Add the parameters times a decay rate; optax's ``add_decayed_weights``.

    .. math:: u = g + \lambda \theta

    Placed after :func:`scale_by_adam` and before :func:`scale_by_learning_rate`
    this is AdamW's decoupled weight decay, whose step is scaled by the learning
    rate: :math:`\theta \leftarrow \theta - \eta(\hat u + \lambda\theta)`.

    Args:
        weight_decay: :math:`\lambda \ge 0`.

    Returns:
        A stateless :class:`GradientTransformation`; its ``update`` requires
        ``params``.

    Raises:
        ValueError: When ``weight_decay < 0``, or when ``update`` gets no
            ``params`` or ``params`` of another structure than the updates.
    """
    _validate.non_negative("weight_decay", weight_decay)
    if isinstance(weight_decay, int | float) and weight_decay == 0:
        return _requires_params(identity())

    def update(updates, state, params=None):
        _check_params(updates, params)
        updates = jax.tree.map(lambda g, p: g + weight_decay * p, updates, params)
        return updates, state

    return GradientTransformation(init_empty_state, update)


def _check_params(updates: Updates, params: Params | None) -> None:
    if params is None:
        raise ValueError(
            "add_decayed_weights needs the current parameters; call "
            "update(updates, state, params) with params (got params=None)."
        )
    check_same_tree(updates, params, "updates", "params")


def _requires_params(tx: GradientTransformation) -> GradientTransformation:
    def update(updates, state, params=None):
        _check_params(updates, params)
        return tx.update(updates, state, params)

    return GradientTransformation(tx.init, update)
