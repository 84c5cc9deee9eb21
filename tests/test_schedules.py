"""jaxnn.optim schedules equal optax's at the start, the boundaries, mid-way, the
end and past the end; bad arguments raise ValueError naming them."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _messages import assert_names_argument
from hypothesis import given
from hypothesis import strategies as st

from jaxnn import optim

# name -> (build(module) for jaxnn and optax alike, counts to check)
SCHEDULES = {
    "constant": (lambda m: m.constant_schedule(0.3), [0, 1, 10, 1000]),
    "exponential": (
        lambda m: m.exponential_decay(1.0, 10, 0.5),
        [0, 1, 5, 9, 10, 11, 15, 20, 100, 1000],
    ),
    "exponential_staircase_begin_end": (
        lambda m: m.exponential_decay(
            1.0, 10, 0.5, transition_begin=5, staircase=True, end_value=0.1
        ),
        [0, 1, 4, 5, 6, 14, 15, 16, 25, 34, 35, 36, 45, 1000],
    ),
    "exponential_growth_capped": (
        lambda m: m.exponential_decay(1.0, 10, 2.0, end_value=8.0),
        [0, 1, 10, 15, 29, 30, 31, 100],
    ),
    "cosine": (lambda m: m.cosine_decay_schedule(0.1, 100), [0, 1, 50, 99, 100, 101]),
    "cosine_alpha_exponent": (
        lambda m: m.cosine_decay_schedule(0.1, 100, alpha=0.05, exponent=2.0),
        [0, 1, 25, 50, 99, 100, 101, 1000],
    ),
    "cosine_exponent_zero": (
        lambda m: m.cosine_decay_schedule(0.1, 100, alpha=0.2, exponent=0.0),
        [0, 1, 50, 100, 101],
    ),
    "warmup_cosine": (
        lambda m: m.warmup_cosine_decay_schedule(0.0, 1.0, 5, 20, 0.1),
        [0, 1, 2, 4, 5, 6, 10, 12, 19, 20, 21, 100],
    ),
    "warmup_cosine_exponent": (
        lambda m: m.warmup_cosine_decay_schedule(0.1, 1.0, 10, 110, 0.01, exponent=2.0),
        [0, 1, 5, 9, 10, 11, 60, 109, 110, 111, 500],
    ),
    "warmup_cosine_no_warmup": (
        lambda m: m.warmup_cosine_decay_schedule(0.5, 1.0, 0, 50),
        [0, 1, 25, 49, 50, 51],
    ),
    "piecewise_constant": (
        lambda m: m.piecewise_constant_schedule(1.0, {5: 0.5, 10: 0.1}),
        [0, 1, 4, 5, 6, 9, 10, 11, 100],
    ),
    "piecewise_constant_no_boundaries": (
        lambda m: m.piecewise_constant_schedule(0.7),
        [0, 1, 100],
    ),
}


def step_decay_pair():
    """``step_decay`` has no optax twin of that name: it is a staircase decay."""
    return (
        optim.step_decay(0.1, step_size=30, factor=0.1),
        optax.exponential_decay(
            0.1, transition_steps=30, decay_rate=0.1, staircase=True
        ),
    )


STEP_DECAY_COUNTS = [0, 1, 29, 30, 31, 45, 59, 60, 89, 90, 1000]


def pairs():
    """``(name, ours, theirs, counts)`` for every schedule."""
    out = [(n, build(optim), build(optax), c) for n, (build, c) in SCHEDULES.items()]
    return [*out, ("step_decay", *step_decay_pair(), STEP_DECAY_COUNTS)]


PAD = 16  # One array length for all evaluations: eager ops compile per shape.


def evaluate(schedule, counts):
    """float64 values at an int32 array of counts (optimizer counts are int32)."""
    counts = list(counts)
    padded = jnp.asarray(counts + [0] * (PAD - len(counts)), jnp.int32)
    values = np.broadcast_to(np.asarray(schedule(padded), np.float64), (PAD,))
    return values[: len(counts)]


@pytest.mark.parametrize(
    ("name", "ours", "theirs", "counts"), pairs(), ids=[p[0] for p in pairs()]
)
def test_matches_optax_at_checkpoints(name, ours, theirs, counts):
    """Counts as an int32 array (as an optimizer passes them) and as Python ints."""
    np.testing.assert_allclose(
        evaluate(ours, counts), evaluate(theirs, counts), rtol=1e-12, atol=0
    )
    for count in counts[:3] + counts[-2:]:
        np.testing.assert_allclose(
            np.float64(ours(count)), np.float64(theirs(count)), rtol=1e-12, atol=0
        )


def test_values_under_jit_equal_eager():
    """Every schedule, jitted at once on traced int32 counts, equals its eager
    values at its checkpoints."""
    cases = pairs()
    counts = jnp.asarray([c + [0] * (PAD - len(c)) for *_, c in cases], jnp.int32)

    @jax.jit
    def all_values(counts):
        return [
            jnp.broadcast_to(ours(c), (PAD,))
            for (_, ours, _, _), c in zip(cases, counts, strict=True)
        ]

    for (name, ours, _, c), jitted in zip(cases, all_values(counts), strict=True):
        # optax's formulas divide an int32 count by an int and so compute some
        # schedules in float32 even under x64; XLA's fused float32 pow may then
        # differ from the eager one by an ulp.
        rtol = 1e-12 if jitted.dtype == jnp.float64 else 1e-6
        np.testing.assert_allclose(
            jitted[: len(c)], evaluate(ours, c), rtol=rtol, err_msg=name
        )


EDGE_COUNTS = [-3, 0, 2**31 - 1]  # before the start; int32 max (a saturated count)


@pytest.mark.parametrize(
    "as_count",
    [int, jnp.int32, jnp.float32],
    ids=["python-int", "int32", "float32"],
)
def test_dtype_and_bits_equal_optax_at_edge_counts(as_count):
    """Same value bit for bit, and same dtype, as optax's formula gives."""
    for name, ours, theirs, _ in pairs():
        for count in EDGE_COUNTS:
            got, want = jnp.asarray(ours(as_count(count))), theirs(as_count(count))
            assert got.dtype == jnp.asarray(want).dtype, (name, count)
            np.testing.assert_array_equal(got, want, err_msg=f"{name} at {count}")


@given(count=st.integers(0, 3000))
def test_matches_optax_at_any_count(count):
    for name, ours, theirs, _ in pairs():
        np.testing.assert_allclose(
            evaluate(ours, [count]), evaluate(theirs, [count]), rtol=1e-12, err_msg=name
        )


def test_warmup_cosine_known_values():
    """The reference check: ``decay_steps`` counts the warmup."""
    schedule = optim.warmup_cosine_decay_schedule(0.0, 1.0, 5, 20, 0.1)
    np.testing.assert_allclose(
        evaluate(schedule, [0, 1, 5, 10, 20]), [0.0, 0.2, 1.0, 0.775, 0.1], rtol=1e-6
    )


def test_piecewise_scales_are_cumulative():
    schedule = optim.piecewise_constant_schedule(1.0, {5: 0.5, 10: 0.1})
    np.testing.assert_allclose(
        evaluate(schedule, [4, 5, 10]), [1.0, 0.5, 0.05], rtol=1e-7
    )


def test_step_decay_multiplies_every_step_size():
    schedule = optim.step_decay(1.0, step_size=3, factor=0.5)
    np.testing.assert_allclose(
        evaluate(schedule, range(9)), 0.5 ** (np.arange(9) // 3), rtol=1e-7
    )


# (build, argument, printed value, valid range)
BAD_SCHEDULES = [
    (lambda: optim.constant_schedule(float("nan")), "value", "nan", "finite"),
    (lambda: optim.exponential_decay(1.0, 0, 0.5), "transition_steps", "0", "> 0"),
    (lambda: optim.exponential_decay(1.0, -3, 0.5), "transition_steps", "-3", "> 0"),
    (lambda: optim.exponential_decay(1.0, 10, 0.0), "decay_rate", "0.0", "> 0"),
    (lambda: optim.exponential_decay(1.0, 10, -0.5), "decay_rate", "-0.5", "> 0"),
    (
        lambda: optim.exponential_decay(1.0, 10, 0.5, transition_begin=-1),
        "transition_begin",
        "-1",
        ">= 0",
    ),
    (
        lambda: optim.exponential_decay(float("inf"), 10, 0.5),
        "init_value",
        "inf",
        "finite",
    ),
    (
        lambda: optim.exponential_decay(1.0, 10, 0.5, end_value=float("nan")),
        "end_value",
        "nan",
        "finite",
    ),
    (lambda: optim.step_decay(0.1, 0, 0.5), "step_size", "0", "> 0"),
    (lambda: optim.step_decay(0.1, 10, 0.0), "factor", "0.0", "> 0"),
    (lambda: optim.cosine_decay_schedule(0.1, 0), "decay_steps", "0", "> 0"),
    (lambda: optim.cosine_decay_schedule(0.1, -5), "decay_steps", "-5", "> 0"),
    (
        lambda: optim.cosine_decay_schedule(0.1, 10, alpha=float("nan")),
        "alpha",
        "nan",
        "finite",
    ),
    (
        # optax gives 0**-1 = inf at c = decay_steps.
        lambda: optim.cosine_decay_schedule(0.1, 10, exponent=-1.0),
        "exponent",
        "-1.0",
        ">= 0",
    ),
    (
        lambda: optim.warmup_cosine_decay_schedule(0.0, 1.0, 5, 20, exponent=-0.5),
        "exponent",
        "-0.5",
        ">= 0",
    ),
    (
        # optax takes any truthy value: "False" would mean True.
        lambda: optim.exponential_decay(1.0, 10, 0.5, staircase="False"),
        "staircase",
        "'False'",
        "bool",
    ),
    (
        lambda: optim.warmup_cosine_decay_schedule(0.0, 1.0, 5, 0),
        "decay_steps",
        "0",
        "> 0",
    ),
    (
        lambda: optim.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10),
        "decay_steps",
        "10",
        "> warmup_steps",
    ),
    (
        lambda: optim.warmup_cosine_decay_schedule(0.0, 1.0, -1, 10),
        "warmup_steps",
        "-1",
        ">= 0",
    ),
    (
        lambda: optim.piecewise_constant_schedule(1.0, {10: 0.5, 5: 0.1}),
        "boundaries_and_scales",
        "{10: 0.5, 5: 0.1}",
        "increasing",
    ),
    (
        lambda: optim.piecewise_constant_schedule(1.0, {-1: 0.5}),
        "boundaries_and_scales",
        "{-1: 0.5}",
        ">= 0",
    ),
    (
        lambda: optim.piecewise_constant_schedule(1.0, {2.5: 0.5}),
        "boundaries_and_scales",
        "{2.5: 0.5}",
        "integer",
    ),
    (
        lambda: optim.piecewise_constant_schedule(1.0, {5: -0.5}),
        "boundaries_and_scales[5]",
        "-0.5",
        ">= 0",
    ),
    (
        lambda: optim.piecewise_constant_schedule(1.0, [(5, 0.5)]),
        "boundaries_and_scales",
        "[(5, 0.5)]",
        "mapping",
    ),
    (
        lambda: optim.piecewise_constant_schedule(1.0, {5: "0.5"}),
        "boundaries_and_scales[5]",
        "'0.5'",
        ">= 0",
    ),
    (
        lambda: optim.exponential_decay(1.0, "10", 0.5),
        "transition_steps",
        "'10'",
        "> 0",
    ),
    # Steps the int32 optimizer count (saturating at 2**31 - 1) never reaches; a
    # Python int >= 2**31 wrapped in int32 arithmetic (a boundary of 2**32 + 5
    # applied from step 5) or overflowed when 64-bit mode is off.
    (
        lambda: optim.piecewise_constant_schedule(1.0, {5: 0.5, 2**31: 0.1}),
        "boundaries_and_scales",
        "{5: 0.5, 2147483648: 0.1}",
        "<= 2147483647",
    ),
    (
        lambda: optim.exponential_decay(1.0, 10, 0.5, transition_begin=2**31),
        "transition_begin",
        "2147483648",
        "<= 2147483647",
    ),
    (
        lambda: optim.exponential_decay(
            1.0, 10, 0.5, transition_begin=np.int64(2**32 + 5)
        ),
        "transition_begin",
        "np.int64(4294967301)",
        "<= 2147483647",
    ),
    (
        lambda: optim.warmup_cosine_decay_schedule(0.0, 1.0, 2**31, 2**31 + 10),
        "warmup_steps",
        "2147483648",
        "<= 2147483647",
    ),
    (
        # optax silently keeps 0 here: end_value would never be reached.
        lambda: optim.warmup_cosine_decay_schedule(0.0, 0.0, 2, 10, end_value=0.05),
        "end_value",
        "0.05",
        "peak_value is 0",
    ),
]


@pytest.mark.parametrize(
    ("build", "argument", "value", "valid"),
    BAD_SCHEDULES,
    ids=[f"{a}={v}" for _, a, v, _ in BAD_SCHEDULES],
)
def test_bad_arguments_raise_naming_argument_value_and_range(
    build, argument, value, valid
):
    with pytest.raises(ValueError) as info:
        build()
    assert_names_argument(str(info.value), argument, value, valid)


@pytest.mark.parametrize(
    ("argument", "build"),
    [
        ("peak_value", lambda v: optim.warmup_cosine_decay_schedule(0.0, v, 2, 10)),
        ("warmup_steps", lambda v: optim.warmup_cosine_decay_schedule(0.0, 1.0, v, 10)),
        ("decay_steps", lambda v: optim.warmup_cosine_decay_schedule(0.0, 1.0, 2, v)),
        ("decay_rate", lambda v: optim.exponential_decay(1.0, 10, v, end_value=0.1)),
        # with peak_value 0, end_value must be checked to be 0
        ("end_value", lambda v: optim.warmup_cosine_decay_schedule(0.0, 0.0, 2, 10, v)),
    ],
)
def test_traced_argument_that_shapes_the_schedule_raises_naming_it(argument, build):
    """Arguments that Python control flow needs when the schedule is built must be
    concrete; a traced one gets a clear error, not a TracerBoolConversionError."""
    with pytest.raises(ValueError, match=f"{argument} must be a concrete number"):
        jax.jit(lambda v: build(v)(3))(
            jnp.asarray(5.0 if argument != "decay_rate" else 0.5)
        )


def test_traced_values_that_do_not_shape_the_schedule_work():
    """init_value / end_value traced under jit give optax's values."""
    f = jax.jit(
        lambda v0, ve: optim.warmup_cosine_decay_schedule(v0, 1.0, 2, 10, ve)(6)
    )
    theirs = optax.warmup_cosine_decay_schedule(0.1, 1.0, 2, 10, 0.2)(6)
    np.testing.assert_allclose(f(0.1, 0.2), theirs, rtol=1e-6)


def test_the_largest_int32_count_is_a_valid_boundary():
    """2**31 - 1 is where a saturated optimizer count stays: still allowed."""
    top = 2**31 - 1
    ours = optim.piecewise_constant_schedule(1.0, {top: 0.5})
    theirs = optax.piecewise_constant_schedule(1.0, {top: 0.5})
    counts = [0, top - 1, top]
    np.testing.assert_array_equal(evaluate(ours, counts), [1.0, 1.0, 0.5])
    np.testing.assert_array_equal(evaluate(ours, counts), evaluate(theirs, counts))
    # The same largest step for the other step positions: built, and evaluated.
    late_decay = optim.exponential_decay(1.0, 10, 0.5, transition_begin=top)
    np.testing.assert_array_equal(evaluate(late_decay, [0, top]), [1.0, 1.0])
    long_warmup = optim.warmup_cosine_decay_schedule(0.0, 1.0, top, 2**32)
    np.testing.assert_allclose(evaluate(long_warmup, [0, top]), [0.0, 1.0])


@pytest.mark.parametrize("as_int", [int, np.int64], ids=["python-int", "numpy-int64"])
def test_step_lengths_beyond_int32_work_with_64_bit_mode_off(as_int):
    """A length of 2**32 + 5 steps enters only float arithmetic with the count, but
    with 64-bit mode off (jax's default) jax cast it to int32: a Python int
    overflowed at the first call and a NumPy one was silently truncated to 5 (a
    cosine decay of 0 from step 5, NaN for the warmup cosine). It now equals the
    schedule built with the same length as a float."""
    length = 2**32 + 5
    builds = {
        "exponential": lambda t: optim.exponential_decay(1.0, t, 0.5),
        "exponential_staircase": lambda t: optim.exponential_decay(
            1.0, t, 0.5, staircase=True
        ),
        "step_decay": lambda t: optim.step_decay(1.0, t, 0.5),
        "cosine": lambda t: optim.cosine_decay_schedule(1.0, t),
        "warmup_cosine": lambda t: optim.warmup_cosine_decay_schedule(0.0, 1.0, 5, t),
    }
    counts = [0, 10, 1000, 2**31 - 1]
    with jax.enable_x64(False):
        for name, build in builds.items():
            got = evaluate(build(as_int(length)), counts)
            want = evaluate(build(float(length)), counts)
            np.testing.assert_array_equal(got, want, err_msg=name)
            # past any warmup and short of halfway through the decay
            assert np.all((got[1:] > 0.4) & (got[1:] <= 1.0)), (name, got)
