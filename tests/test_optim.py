"""jaxnn.optim against optax: every optimizer, option and state leaf, at every step.

The 200-step comparisons run inside one jitted ``lax.scan`` per dtype that steps
every jaxnn optimizer and its optax twin side by side on the same fresh random
gradients, so the whole table costs one compilation per dtype.
"""

import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _messages import assert_names_argument

from jaxnn import optim
from jaxnn.optim import _optax_check

STEPS = 200
RTOL = {jnp.float32: 1e-5, jnp.float64: 1e-12}
DTYPES = [jnp.float32, jnp.float64]
SHAPES = [(3, 2), (2,), ()]


def nest(arrays):
    """The test pytree: a dict holding a tuple and a list, mixed shapes and a
    scalar. Few leaves: compilation time grows with the number of leaves."""
    w, b, s = arrays
    return {"dense": (w, b), "stack": [s]}


def normal_tree(key, dtype, lead=()):
    """Standard normal leaves of ``SHAPES`` (with leading axes ``lead``).

    One fixed-size draw, then split: ``jax.random`` compiles a kernel per shape.
    """
    sizes = [math.prod((*lead, *s)) for s in SHAPES]
    flat = np.asarray(jax.random.normal(key, (8192,), jnp.float64))
    offsets = np.cumsum([0, *sizes])
    return nest(
        [
            jnp.asarray(flat[o : o + n].reshape((*lead, *s)), dtype)
            for o, n, s in zip(offsets, sizes, SHAPES, strict=False)
        ]
    )


def same(build):
    """``build(optim)`` and ``build(optax)``: both libraries share the names."""
    return lambda: (build(optim), build(optax))


def momentum_twin(learning_rate, beta):
    """optax's spelling of the module's EMA momentum."""
    return optax.chain(
        optax.ema(beta, debias=False), optax.scale_by_learning_rate(learning_rate)
    )


# name -> () -> (jaxnn transformation, optax transformation)
CASES = {
    "sgd": same(lambda m: m.sgd(0.1)),
    "sgd_momentum": same(lambda m: m.sgd(0.1, momentum=0.9)),
    "sgd_nesterov": same(lambda m: m.sgd(0.1, momentum=0.9, nesterov=True)),
    "momentum_default_beta": lambda: (optim.momentum(0.1), momentum_twin(0.1, 0.9)),
    "rmsprop": same(lambda m: m.rmsprop(0.01)),
    "rmsprop_options": same(
        lambda m: m.rmsprop(0.02, decay=0.5, eps=1e-3, eps_in_sqrt=False)
    ),
    "adam": same(lambda m: m.adam(0.01)),
    "adam_defaults_but_lr": lambda: (optim.adam(), optax.adam(1e-3)),
    "adam_options": same(lambda m: m.adam(0.05, b1=0.5, b2=0.9, eps=1e-3)),
    "adamw_default_decay": same(lambda m: m.adamw(0.01)),
    "adamw_no_decay": same(lambda m: m.adamw(0.01, weight_decay=0.0)),
    # optax's further Adam options (keyword only in jaxnn); eps_root large enough
    # to show in float32, a bfloat16 first moment, NAdam.
    "adam_eps_root": same(lambda m: m.adam(0.01, eps_root=0.01)),
    "adam_mu_bfloat16": same(lambda m: m.adam(0.01, mu_dtype=jnp.bfloat16)),
    "nadam": same(lambda m: m.adam(0.01, nesterov=True)),
    "adamw_all_options": same(
        lambda m: m.adamw(
            0.01,
            b1=0.8,
            weight_decay=0.1,
            eps_root=1e-3,
            mu_dtype="bfloat16",
            nesterov=True,
        )
    ),
    # A schedule as the learning rate.
    "sgd_exponential_decay": same(
        lambda m: m.sgd(
            m.exponential_decay(0.1, 20, 0.5, transition_begin=10, end_value=0.01),
            momentum=0.5,
        )
    ),
    "sgd_constant_schedule": same(lambda m: m.sgd(m.constant_schedule(0.1))),
    "momentum_step_decay": lambda: (
        optim.momentum(optim.step_decay(0.1, step_size=50, factor=0.5)),
        momentum_twin(optax.exponential_decay(0.1, 50, 0.5, staircase=True), 0.9),
    ),
    "rmsprop_cosine_decay": same(
        lambda m: m.rmsprop(m.cosine_decay_schedule(0.01, 150, alpha=0.1))
    ),
    "adam_warmup_cosine": same(
        lambda m: m.adam(m.warmup_cosine_decay_schedule(0.0, 0.01, 20, 150, 1e-3))
    ),
    "adamw_piecewise_constant": same(
        lambda m: m.adamw(
            m.piecewise_constant_schedule(0.01, {50: 0.5, 120: 0.1}),
            weight_decay=0.1,
        )
    ),
    # Small transformations and clipping, chained.
    "ema_debiased": same(lambda m: m.chain(m.ema(0.9), m.scale(-0.1))),
    "clip_by_global_norm_adam": same(
        lambda m: m.chain(m.clip_by_global_norm(1.0), m.adam(0.01))
    ),
    "clip_sgd_momentum": same(lambda m: m.chain(m.clip(0.5), m.sgd(0.1, momentum=0.9))),
}


BETA = 0.9

# Each library's transformations inside the other's chain.
INTEROP = {
    "optax_chain_of_jaxnn": lambda: (
        optax.chain(
            optim.clip_by_global_norm(1.0), optim.adamw(0.01, weight_decay=0.1)
        ),
        optax.chain(
            optax.clip_by_global_norm(1.0), optax.adamw(0.01, weight_decay=0.1)
        ),
    ),
    "jaxnn_chain_of_optax": lambda: (
        optim.chain(
            optax.clip_by_global_norm(1.0),
            optax.trace(0.9),
            optim.scale_by_learning_rate(optax.linear_schedule(0.1, 0.01, 100)),
        ),
        optax.chain(
            optax.clip_by_global_norm(1.0),
            optax.trace(0.9),
            optax.scale_by_learning_rate(optax.linear_schedule(0.1, 0.01, 100)),
        ),
    ),
}

# Pairs that must differ in a documented way; run with CASES (float64 used).
CONTRASTS = {
    "rmsprop_eps_convention": lambda: (
        optim.rmsprop(0.01, eps=1e-2, eps_in_sqrt=False),
        optax.rmsprop(0.01, 0.9, 1e-2),
    ),
    "ema_vs_heavy_ball": lambda: (
        optim.momentum(0.1, BETA),
        optim.sgd(0.1 * (1 - BETA), momentum=BETA),
    ),
}


def run_side_by_side(pair, params, grads):
    """``_optax_check``'s side-by-side scan, plus the two initial states.

    Returns ``(ours, theirs)`` histories, each ``(updates, params, state)`` stacked
    over steps, and ``(ours.init(params), theirs.init(params))``.
    """
    initial = (pair[0].init(params), pair[1].init(params))
    return _optax_check._side_by_side(pair, params, grads, optax), initial


def run_all_side_by_side(pairs, params, grads):
    """One scan per pair, all in one jitted program (one compilation in all)."""
    return [run_side_by_side(pair, params, grads) for pair in pairs]


@functools.cache
def histories(dtype):
    """``{case name: ((ours, theirs) histories, (ours, theirs) initial states)}``."""
    key_params, key_grads = jax.random.split(jax.random.key(0))
    params = normal_tree(key_params, dtype)
    grads = normal_tree(key_grads, dtype, lead=(STEPS,))
    builds = {**CASES, **INTEROP, **CONTRASTS}
    pairs = [build() for build in builds.values()]
    results = jax.jit(functools.partial(run_all_side_by_side, pairs))(params, grads)
    return dict(zip(builds, results, strict=True))


def assert_leaves_equal(ours, theirs, rtol):
    """Same number of leaves, shapes and dtypes, and values to ``rtol``."""
    ours, theirs = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_optax_at_every_step(name, dtype):
    """Updates, params and every state leaf equal optax's at all 200 steps."""
    (ours, theirs), (init_ours, init_theirs) = histories(dtype)[name]
    assert_leaves_equal(init_ours, init_theirs, RTOL[dtype])
    updates, params, state = ours
    assert_leaves_equal(updates, theirs[0], RTOL[dtype])
    assert_leaves_equal(params, theirs[1], RTOL[dtype])
    assert_leaves_equal(state, theirs[2], RTOL[dtype])
    # Stacked over steps: every leaf has a leading axis of STEPS.
    assert all(leaf.shape[0] == STEPS for leaf in jax.tree.leaves(ours))
    assert jax.tree.leaves(params)[0].dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_state_counts_are_int32_and_step(dtype):
    """Counts are int32 from 0 and read 1..200 after each step (adam's and a
    schedule's)."""
    (ours, _), (init, _) = histories(dtype)["adam_warmup_cosine"]
    adam_state, schedule_state = ours[2]
    assert init[0].count.dtype == jnp.int32 and int(init[0].count) == 0
    np.testing.assert_array_equal(adam_state.count, np.arange(1, STEPS + 1))
    np.testing.assert_array_equal(schedule_state.count, np.arange(1, STEPS + 1))
    assert schedule_state.count.dtype == jnp.int32


def test_side_by_side_detects_a_different_convention():
    """Negative control, float64: eps outside the root is not optax's default."""
    (ours, theirs), _ = histories(jnp.float64)["rmsprop_eps_convention"]
    assert _optax_check.max_relative_error(ours[0], theirs[0]) > 1e-4
    # The second moment does not depend on eps, so it still agrees.
    assert _optax_check.max_relative_error(ours[2], theirs[2]) == 0.0


def test_ema_momentum_is_heavy_ball_with_scaled_lr_but_another_buffer():
    """float64: EMA momentum with lr equals heavy-ball sgd with lr·(1−β) (same
    parameters), while the buffers differ by the factor 1−β."""
    (ema_run, trace_run), _ = histories(jnp.float64)["ema_vs_heavy_ball"]
    assert _optax_check.max_relative_error(ema_run[1], trace_run[1]) < 1e-12
    ema_buffer = ema_run[2][0].ema
    scaled_trace = jax.tree.map(lambda t: (1 - BETA) * t, trace_run[2][0].trace)
    assert _optax_check.max_relative_error(ema_buffer, scaled_trace) < 1e-12
    assert _optax_check.max_relative_error(ema_buffer, trace_run[2][0].trace) > 0.5


### States, purity, jit and scan ###############################################

NAMED = {
    "sgd": lambda: optim.sgd(0.1),
    "sgd_nesterov": lambda: optim.sgd(0.1, momentum=0.9, nesterov=True),
    "momentum": lambda: optim.momentum(0.1),
    "rmsprop": lambda: optim.rmsprop(0.01),
    "adam": lambda: optim.adam(0.01),
    "adamw_schedule": lambda: optim.adamw(optim.cosine_decay_schedule(0.01, 10)),
    "clip_chain": lambda: optim.chain(
        optim.clip_by_global_norm(1.0), optim.clip(0.1), optim.ema(0.9)
    ),
}


def is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


@pytest.mark.parametrize("name", list(NAMED))
def test_jitted_step_compiles_once_and_inputs_are_untouched(name, getkey):
    """float32: five jitted steps trace once; states are immutable NamedTuples and
    update leaves its inputs as they were."""
    tx = NAMED[name]()
    params = normal_tree(getkey(), jnp.float32)
    state = tx.init(params)
    traces = []

    @jax.jit
    def step(params, state, grads):
        traces.append(None)  # Runs once per trace, not per call.
        updates, state = tx.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    for _ in range(5):
        grads = normal_tree(getkey(), jnp.float32)
        before = [np.array(x) for x in jax.tree.leaves((params, state, grads))]
        new_params, new_state = step(params, state, grads)
        after = jax.tree.leaves((params, state, grads))
        for a, b in zip(before, after, strict=True):
            np.testing.assert_array_equal(a, b)
        params, state = new_params, new_state
    assert len(traces) == 1
    assert step._cache_size() == 1

    assert isinstance(state, tuple)
    for sub_state in state:
        assert is_namedtuple(sub_state)
        for field in sub_state._fields:
            with pytest.raises(AttributeError):
                setattr(sub_state, field, None)


def test_a_step_keeps_every_state_avals(getkey):
    """float64: every state leaf keeps its shape, dtype and weak type across a
    step, so a scan carry (and a jit cache) is stable."""
    params = normal_tree(getkey(), jnp.float64)
    grads = normal_tree(getkey(), jnp.float64)
    for name, build in NAMED.items():
        tx = build()
        state = tx.init(params)
        _, new_state = jax.eval_shape(tx.update, grads, state, params)
        assert jax.tree.structure(new_state) == jax.tree.structure(state), name
        for old, new in zip(
            jax.tree.leaves(state), jax.tree.leaves(new_state), strict=True
        ):
            assert jax.typeof(old) == jax.typeof(new), name


def test_update_without_params_for_adamw_raises(getkey):
    params = normal_tree(getkey(), jnp.float64)
    tx = optim.adamw(0.01)
    with pytest.raises(ValueError, match="params=None"):
        jax.eval_shape(tx.update, params, tx.init(params))


### Interop with optax #########################################################


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_jaxnn_transforms_inside_optax_chain(dtype):
    """optax.chain(jaxnn clip, jaxnn adamw) equals the all-optax chain."""
    (ours, theirs), (init, _) = histories(dtype)["optax_chain_of_jaxnn"]
    assert isinstance(init[1][0], optim.ScaleByAdamState)
    assert_leaves_equal(ours, theirs, RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_optax_transforms_inside_jaxnn_chain(dtype):
    """jaxnn chain(optax clip, optax trace, jaxnn lr on an optax schedule) equals
    the all-optax chain."""
    (ours, theirs), (init, _) = histories(dtype)["jaxnn_chain_of_optax"]
    assert isinstance(init[1], optax.TraceState)
    assert isinstance(init[2], optim.ScaleByScheduleState)
    assert_leaves_equal(ours, theirs, RTOL[dtype])


# Named optimizers whose state must have optax's slots, sub-state by sub-state.
SLOTS = {
    "sgd": same(lambda m: m.sgd(0.1)),
    "sgd_momentum": same(lambda m: m.sgd(0.1, momentum=0.9)),
    "rmsprop": same(lambda m: m.rmsprop(0.01)),
    "rmsprop_schedule": same(lambda m: m.rmsprop(m.cosine_decay_schedule(0.01, 10))),
    "adam": same(lambda m: m.adam(0.01)),
    "adamw": same(lambda m: m.adamw(0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(SLOTS))
def test_state_has_optax_slots_and_each_library_steps_the_others(name, getkey):
    """float64: the state tuple has optax's sub-states in optax's order (rmsprop's
    third is optax's empty momentum slot), so either library's ``update`` takes the
    other's state and gives the same step."""
    params = normal_tree(getkey(), jnp.float64)
    grads = normal_tree(getkey(), jnp.float64)
    ours, theirs = SLOTS[name]()
    state_ours, state_theirs = ours.init(params), theirs.init(params)
    assert [type(s).__name__ for s in state_ours] == [
        type(s).__name__ for s in state_theirs
    ]
    expected = theirs.update(grads, state_theirs, params)
    assert_leaves_equal(theirs.update(grads, state_ours, params), expected, 0)
    assert_leaves_equal(ours.update(grads, state_theirs, params), expected, 0)


EAGER = {
    "adam": same(lambda m: m.adam(0.01)),
    "adamw": same(lambda m: m.adamw(0.01, weight_decay=0.1)),
    "ema_debiased": same(lambda m: m.chain(m.ema(0.9), m.scale(-0.1))),
}


@pytest.mark.parametrize("name", list(EAGER))
def test_eager_steps_are_bit_identical_to_optax(name, getkey):
    """float64, three steps outside jit: the bias correction runs as one compiled
    program over the tree, as optax's does, so every leaf is bit-identical."""
    params = normal_tree(getkey(), jnp.float64)
    ours, theirs = EAGER[name]()
    runs = []
    for tx, apply in ((ours, optim.apply_updates), (theirs, optax.apply_updates)):
        p, state, history = params, tx.init(params), []
        for step in range(3):
            grads = normal_tree(jax.random.key(step), jnp.float64)
            updates, state = tx.update(grads, state, p)
            p = apply(p, updates)
            history.append((updates, p, state))
        runs.append(history)
    assert_leaves_equal(*runs, 0)


COMPLEX = {
    "rmsprop": same(lambda m: m.rmsprop(0.01)),
    "rmsprop_eps_outside": same(lambda m: m.rmsprop(0.01, eps_in_sqrt=False)),
    "adam": same(lambda m: m.adam(0.01)),
    "adamw": same(lambda m: m.adamw(0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(COMPLEX))
def test_complex_params_match_optax(name):
    """complex64, 20 steps: the second moment is the real ``|g|²`` (optax's
    per-element norm), not ``g²``; updates, params and state equal optax's."""
    key_params, key_grads = jax.random.split(jax.random.key(3))

    def complex_tree(key, lead=()):
        real = normal_tree(key, jnp.float32, lead)
        imag = normal_tree(jax.random.fold_in(key, 1), jnp.float32, lead)
        return jax.tree.map(jax.lax.complex, real, imag)

    params = complex_tree(key_params)
    grads = complex_tree(key_grads, lead=(20,))
    pair = COMPLEX[name]()
    ours, theirs = jax.jit(
        functools.partial(_optax_check._side_by_side, pair, optax=optax)
    )(params, grads)
    assert_leaves_equal(ours, theirs, RTOL[jnp.float32])
    nu = ours[2][0].nu
    assert all(
        jnp.iscomplexobj(x) and not np.any(np.imag(x)) for x in jax.tree.leaves(nu)
    )


def test_chain_rejects_a_state_of_another_length(getkey):
    params = normal_tree(getkey(), jnp.float64)
    tx = optim.chain(optim.trace(0.9), optim.scale(-0.1))
    with pytest.raises(
        ValueError, match="chain of 2 transformations got a state of length 1"
    ):
        tx.update(params, (optim.TraceState(params),))


### Bad input ##################################################################

# (build, argument, printed value, valid range)
BAD_CONFIG = [
    (lambda: optim.sgd(-0.1), "learning_rate", "-0.1", ">= 0"),
    (lambda: optim.sgd(-1e-30), "learning_rate", "-1e-30", ">= 0"),
    (lambda: optim.adam(float("nan")), "learning_rate", "nan", "finite"),
    (lambda: optim.rmsprop(float("inf")), "learning_rate", "inf", "finite"),
    (lambda: optim.momentum(-1), "learning_rate", "-1", ">= 0"),
    (lambda: optim.adamw("fast"), "learning_rate", "'fast'", ">= 0"),
    (lambda: optim.sgd(np.ones(2)), "learning_rate", "array", ">= 0"),
    (lambda: optim.scale_by_learning_rate(-1e-3), "learning_rate", "-0.001", ">= 0"),
    (lambda: optim.sgd(0.1, momentum=1.0), "momentum", "1.0", "[0, 1)"),
    (lambda: optim.sgd(0.1, momentum=-0.1), "momentum", "-0.1", "[0, 1)"),
    (lambda: optim.momentum(0.1, beta=1.5), "beta", "1.5", "[0, 1)"),
    (lambda: optim.rmsprop(0.1, decay=1.0), "decay", "1.0", "[0, 1)"),
    (lambda: optim.rmsprop(0.1, eps=-1e-8), "eps", "-1e-08", ">= 0"),
    (lambda: optim.adam(b1=1.0), "b1", "1.0", "[0, 1)"),
    (lambda: optim.adam(b2=-0.5), "b2", "-0.5", "[0, 1)"),
    (lambda: optim.adam(b2=float("nan")), "b2", "nan", "[0, 1)"),
    (lambda: optim.adam(eps=-1.0), "eps", "-1.0", ">= 0"),
    (lambda: optim.adam(eps=float("inf")), "eps", "inf", "finite"),
    (lambda: optim.adamw(0.1, weight_decay=-1e-4), "weight_decay", "-0.0001", ">= 0"),
    (lambda: optim.add_decayed_weights(-1.0), "weight_decay", "-1.0", ">= 0"),
    (lambda: optim.trace(1.0), "decay", "1.0", "[0, 1)"),
    (lambda: optim.ema(-0.5), "decay", "-0.5", "[0, 1)"),
    (lambda: optim.scale_by_rms(eps=-1.0), "eps", "-1.0", ">= 0"),
    (lambda: optim.scale_by_adam(b1=2.0), "b1", "2.0", "[0, 1)"),
    (lambda: optim.adam(eps_root=-1e-8), "eps_root", "-1e-08", ">= 0"),
    (lambda: optim.adamw(0.1, eps_root=float("nan")), "eps_root", "nan", ">= 0"),
    (lambda: optim.adam(mu_dtype=jnp.int8), "mu_dtype", "int8", "floating-point"),
    (lambda: optim.adam(mu_dtype="bool"), "mu_dtype", "'bool'", "floating-point"),
    (lambda: optim.adamw(0.1, mu_dtype="flaot16"), "mu_dtype", "flaot16", "dtype"),
    (lambda: optim.adam(nesterov="True"), "nesterov", "'True'", "bool"),
    (lambda: optim.scale_by_schedule(0.1), "step_size_fn", "0.1", "callable"),
    # Strings and NumPy bools are not numbers, though float() and np.ndim take them.
    (lambda: optim.sgd("0.1"), "learning_rate", "'0.1'", ">= 0"),
    (lambda: optim.adam(b1="0.5"), "b1", "'0.5'", "[0, 1)"),
    (lambda: optim.sgd(np.True_), "learning_rate", "True", ">= 0"),
    (lambda: optim.sgd(0.1, momentum=np.False_), "momentum", "False", "[0, 1)"),
    (lambda: optim.sgd(0.1, nesterov=True), "momentum", "None", "[0, 1)"),
    # Bool and complex 0-d arrays and scalars are not numbers either.
    (lambda: optim.sgd(jnp.array(True)), "learning_rate", "Array(True", ">= 0"),
    (lambda: optim.sgd(0.1, momentum=np.array(False)), "momentum", "False", "[0, 1)"),
    (lambda: optim.adam(np.complex128(0.1 + 1j)), "learning_rate", "0.1+1j", ">= 0"),
    (lambda: optim.adam(b1=np.complex64(0.5)), "b1", "0.5+0j", "[0, 1)"),
    (lambda: optim.sgd(10**400), "learning_rate", "1000", ">= 0"),
    # Flags must be bools: a truthy "False" would mean True.
    (lambda: optim.rmsprop(0.1, eps_in_sqrt="False"), "eps_in_sqrt", "'False'", "bool"),
    (lambda: optim.scale_by_rms(eps_in_sqrt=None), "eps_in_sqrt", "None", "bool"),
    (lambda: optim.sgd(0.1, momentum=0.9, nesterov=1), "nesterov", "1", "bool"),
    (lambda: optim.trace(0.9, nesterov="no"), "nesterov", "'no'", "bool"),
    (lambda: optim.ema(0.9, debias="False"), "debias", "'False'", "bool"),
    (lambda: optim.scale_by_learning_rate(0.1, flip_sign=0), "flip_sign", "0", "bool"),
    (lambda: optim.scale(float("nan")), "step_size", "nan", "finite"),
    (lambda: optim.scale(jnp.ones(2)), "step_size", "Array", "finite"),
    (lambda: optim.scale("x"), "step_size", "'x'", "finite"),
]


@pytest.mark.parametrize(
    ("build", "argument", "value", "valid"),
    BAD_CONFIG,
    ids=[f"{a}={v}" for _, a, v, _ in BAD_CONFIG],
)
def test_bad_config_raises_naming_argument_value_and_range(
    build, argument, value, valid
):
    with pytest.raises(ValueError) as info:
        build()
    assert_names_argument(str(info.value), argument, value, valid)


def test_valid_edge_configs_build():
    """The closed ends of the ranges are accepted."""
    optim.sgd(0.0, momentum=0.0)
    optim.sgd(1e-12, momentum=0.0)
    optim.adam(1.0, b1=0.0, b2=0.0, eps=0.0)
    optim.adamw(optim.constant_schedule(0.1), weight_decay=0.0)
    optim.rmsprop(0.1, decay=0.0, eps=0.0)
    optim.sgd(jnp.float32(0.1))
    optim.sgd(0.1, momentum=0.9, nesterov=np.True_)
    optim.rmsprop(0.1, eps_in_sqrt=np.False_)


def test_traced_config_is_not_inspected():
    """A learning rate traced by jit cannot be checked eagerly, but works."""

    @jax.jit
    def first_update(lr, g):
        tx = optim.adam(lr)
        return tx.update(g, tx.init(g))[0]

    np.testing.assert_allclose(first_update(0.5, jnp.array([3.0])), [-0.5], rtol=1e-6)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_inject_hyperparams_runs_eagerly_through_a_rate_of_zero(name, getkey):
    """optax.inject_hyperparams hands the schedule's value over as a concrete
    number at every step, outside jit too: a warmup from 0 and a decay to 0 must
    run (they raised "learning_rate must be > 0" before), bit-identical to optax,
    and the steps at rate 0 leave the parameters where they are."""
    schedule = optax.linear_schedule(0.0, 0.1, 2)  # 0, 0.05, 0.1, 0.1, ...
    decay = optax.linear_schedule(0.1, 0.0, 3)  # ..., 0 from step 3 on
    params = normal_tree(getkey(), jnp.float64)
    runs = []
    for lib, apply in ((optim, optim.apply_updates), (optax, optax.apply_updates)):
        history = []
        for sched in (schedule, decay):
            tx = optax.inject_hyperparams(getattr(lib, name))(learning_rate=sched)
            p, state = params, tx.init(params)
            for step in range(5):
                grads = normal_tree(jax.random.key(step), jnp.float64)
                updates, state = tx.update(grads, state, p)
                p = apply(p, updates)
                history.append(p)
        runs.append(history)
    assert_leaves_equal(*runs, 0)
    ours = runs[0]
    assert_leaves_equal(ours[0], params, 0)  # schedule(0) = 0: no move
    assert_leaves_equal(ours[9], ours[8], 0)  # decay(4) = 0
    assert not np.array_equal(ours[1]["stack"][0], params["stack"][0])


def test_chain_passes_optax_extra_args_to_the_members_that_take_them(getkey):
    """reduce_on_plateau needs ``value=``: jaxnn's chain forwards it to that
    member, not to clip_by_global_norm (whose update has no ``**extra_args``), and
    through adam (itself a chain) to none of adam's members; the run equals
    optax.chain's, scale included (it drops once the loss stops falling)."""
    params = normal_tree(getkey(), jnp.float64)
    runs = []
    for lib in (optim, optax):
        tx = lib.chain(
            lib.clip_by_global_norm(1.0),
            lib.adam(0.01),
            optax.contrib.reduce_on_plateau(patience=1, factor=0.5),
        )
        p, state, history = params, tx.init(params), []
        for step, loss in enumerate([3.0, 2.0, 2.5, 2.6, 2.7, 1.0]):
            grads = normal_tree(jax.random.key(step), jnp.float64)
            updates, state = tx.update(grads, state, p, value=jnp.asarray(loss))
            p = optax.apply_updates(p, updates)
            history.append((p, state[-1].scale))
        runs.append(history)
    assert_leaves_equal(*runs, 0)
    assert float(runs[0][-1][1]) < 1.0  # the plateau did reduce the scale


def test_eps_root_keeps_the_update_differentiable_at_a_zero_gradient():
    """float64: at g = 0 (so v = 0) the update's derivative in g goes through
    sqrt'(0) = inf: NaN without eps_root, finite and equal to optax's with it."""

    def first_update(lib, g, **kw):
        tx = lib.adam(0.1, eps=0.0, **kw)
        return tx.update(g, tx.init(g))[0]

    g = jnp.zeros(3, jnp.float64)
    for kw in ({}, {"eps_root": 1e-6}):
        ours = jax.jacobian(functools.partial(first_update, optim, **kw))(g)
        theirs = jax.jacobian(functools.partial(first_update, optax, **kw))(g)
        np.testing.assert_array_equal(ours, theirs)
    assert np.isnan(jax.jacobian(functools.partial(first_update, optim))(g)).all()
    # u = g·(1-b1)/(1-b1) / sqrt(v̂ + eps_root): d u / d g = -0.1 / sqrt(1e-6) = -100.
    np.testing.assert_allclose(np.diag(ours), -100.0, rtol=1e-12)


def test_adam_options_work_when_traced_and_mu_dtype_is_canonical():
    """A traced eps_root is added as given; ``mu_dtype`` strings and dtypes give
    the same state, in the current precision mode's dtype."""

    @jax.jit
    def first_update(eps_root, g):
        tx = optim.adam(0.5, eps=0.0, eps_root=eps_root)
        return tx.update(g, tx.init(g))[0]

    # m̂ = g, v̂ = g²: u = -0.5·g / sqrt(g² + eps_root) = -0.5·3/5 with eps_root 16.
    g = jnp.array([3.0])
    np.testing.assert_allclose(first_update(16.0, g), [-0.3], rtol=1e-6)
    for spelling in ("bfloat16", jnp.bfloat16, np.dtype(jnp.bfloat16)):
        state = optim.adam(mu_dtype=spelling).init({"w": jnp.ones(2, jnp.float32)})
        assert state[0].mu["w"].dtype == jnp.bfloat16
        assert state[0].nu["w"].dtype == jnp.float32
    state = optim.adam(mu_dtype="float64").init(jnp.ones(2, jnp.float32))
    expected = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    assert state[0].mu.dtype == expected


def test_real_mu_dtype_for_a_complex_parameter_is_refused_naming_the_leaf():
    tx = optim.adam(mu_dtype=jnp.bfloat16)
    params = {"w": jnp.ones(2), "z": [jnp.ones(2, jnp.complex64)]}
    with pytest.raises(ValueError, match=r"mu_dtype=bfloat16.*\['z'\]\[0\].*complex64"):
        tx.init(params)
    state = optim.adam(mu_dtype=jnp.complex64).init(params)
    assert state[0].mu["z"][0].dtype == jnp.complex64


STATEFUL = {
    "trace": lambda: optim.trace(0.9),
    "ema": lambda: optim.ema(0.9),
    "scale_by_rms": lambda: optim.scale_by_rms(),
    "scale_by_adam": lambda: optim.scale_by_adam(),
    "adamw": lambda: optim.adamw(0.1),
}


@pytest.mark.parametrize("name", list(STATEFUL))
def test_mismatched_gradient_tree_raises_naming_both_structures(name, getkey):
    """float64: grads whose tree differs from the state's are refused, under jit
    too."""
    params = normal_tree(getkey(), jnp.float64)
    grads = dict(params, stack=tuple(params["stack"]))  # list -> tuple
    tx = STATEFUL[name]()
    state = tx.init(params)
    expected = [str(jax.tree.structure(grads)), str(jax.tree.structure(params))]
    for update in (tx.update, jax.jit(tx.update)):
        with pytest.raises(ValueError) as info:
            update(grads, state, params)
        message = str(info.value)
        assert all(structure in message for structure in expected), message


@pytest.mark.parametrize("name", list(STATEFUL))
def test_gradient_leaf_of_another_shape_raises_naming_leaf_and_shapes(name, getkey):
    """A gradient leaf that would broadcast against its state is refused, under jit
    too, instead of silently changing the state's shape."""
    params = normal_tree(getkey(), jnp.float64)
    w, b = params["dense"]
    grads = {**params, "dense": (jnp.ones((2, *w.shape)), b)}
    tx = STATEFUL[name]()
    state = tx.init(params)
    for update in (tx.update, jax.jit(tx.update)):
        with pytest.raises(ValueError) as info:
            update(grads, state, params)
        message = str(info.value)
        assert "['dense'][0]" in message, message
        assert str((2, *w.shape)) in message and str(w.shape) in message, message


def test_apply_updates_leaf_of_another_shape_raises():
    with pytest.raises(
        ValueError, match=re.escape("shape (1,) and updates shape (3,)")
    ):
        optim.apply_updates({"w": jnp.ones(1)}, {"w": jnp.ones(3)})


@pytest.mark.parametrize("name", list(STATEFUL))
def test_integer_parameter_leaf_raises_naming_leaf_and_dtype(name):
    """An integer parameter would give integer moments that truncate every update."""
    tx = STATEFUL[name]()
    with pytest.raises(ValueError, match=re.escape("int32 at leaf ['b']")):
        tx.init({"w": jnp.ones(2), "b": jnp.array(2, jnp.int32)})


def test_schedule_returning_a_vector_raises():
    tx = optim.scale_by_schedule(lambda count: jnp.ones(3) * 0.1)
    g = jnp.ones((4, 3))
    for update in (tx.update, jax.jit(tx.update)):
        with pytest.raises(ValueError, match=re.escape("scalar; got shape (3,)")):
            update(g, tx.init(g))


def test_apply_updates_mismatched_trees_raise(getkey):
    params = normal_tree(getkey(), jnp.float64)
    updates = {"dense": params["dense"]}
    with pytest.raises(ValueError, match=re.escape(str(jax.tree.structure(updates)))):
        optim.apply_updates(params, updates)


def test_apply_updates_keeps_param_dtypes():
    params = {"a": jnp.ones(2, jnp.float32), "b": jnp.ones((), jnp.float64)}
    updates = {"a": jnp.full(2, 0.5, jnp.float64), "b": jnp.array(0.25, jnp.float32)}
    new = optim.apply_updates(params, updates)
    assert new["a"].dtype == jnp.float32 and new["b"].dtype == jnp.float64
    assert_leaves_equal(new, optax.apply_updates(params, updates), 0)


### jaxnn check ################################################################


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_compare_with_optax_passes_every_row(dtype):
    rows = _optax_check.compare_with_optax(dtype, steps=20)
    names = [name for name, _, _ in rows]
    assert len(names) == 10 and len(set(names)) == 10
    for name, error, passed in rows:
        assert passed, (name, error)
        assert error <= _optax_check.TOLERANCE[jnp.dtype(dtype).name]


def test_compare_with_optax_without_optax(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "optax", None)
    with pytest.raises(ImportError, match="pip install optax"):
        _optax_check.compare_with_optax(jnp.float32)


def test_compare_with_optax_bad_arguments():
    with pytest.raises(ValueError, match="dtype=int32"):
        _optax_check.compare_with_optax(jnp.int32)
    with pytest.raises(ValueError, match="steps=0"):
        _optax_check.compare_with_optax(jnp.float32, steps=0)


def test_max_relative_error_definition():
    a = {"x": np.array([[3.0, 4.0]]), "n": np.array([1])}
    b = {"x": np.array([[3.0, 4.5]]), "n": np.array([1])}
    assert _optax_check.max_relative_error(a, b) == pytest.approx(
        0.5 / math.hypot(3, 4.5)
    )
    assert _optax_check.max_relative_error(a, a) == 0.0
    zeros = {"x": np.zeros((2, 3))}
    assert _optax_check.max_relative_error(zeros, zeros) == 0.0
    assert _optax_check.max_relative_error(a, {"x": a["x"]}) == math.inf
    assert (
        _optax_check.max_relative_error({"x": np.ones((1, 2))}, {"x": np.ones((1, 3))})
        == math.inf
    )
    assert (
        _optax_check.max_relative_error({"x": np.ones(1)}, {"x": np.full(1, np.nan)})
        == math.inf
    )


def test_chain_refuses_members_that_are_not_transformations():
    # AttributeError: 'int' object has no attribute 'init'.
    with pytest.raises(
        TypeError, match=r"transforms\[1\] must be a GradientTransformation"
    ):
        optim.chain(optim.sgd(0.1), 2)


def test_update_with_another_transformations_state_names_what_is_missing():
    # AttributeError: 'TraceState' object has no attribute 'mu'; and "object of type
    # 'NoneType' has no len()" for a chain given no state.
    params = {"w": jnp.ones(2)}
    sgd_state = optim.sgd(0.1, momentum=0.9).init(params)
    with pytest.raises(TypeError, match="scale_by_adam: state must be .*TraceState"):
        optim.adam(1e-3).update(params, sgd_state, params)
    with pytest.raises(TypeError, match="scale_by_rms: state must be .*without nu"):
        optim.scale_by_rms().update(params, optim.trace(0.9).init(params))
    with pytest.raises(TypeError, match="chain: state must be the tuple .*NoneType"):
        optim.chain(optim.scale(1.0)).update(params, None)
