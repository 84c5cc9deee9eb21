"""jaxnn.activations against jax.nn, jax.vjp and central finite differences.

Compiles are the cost of these tests, so every table test evaluates one shared
compiled program, ``evaluate_all``, at one shape per dtype (inputs come from numpy,
which compiles nothing); ``test_backward_jit_and_vmap_match_eager`` checks that compiled
and eager evaluation agree.
"""

import math
import re
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _lowering import lowered_ops
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import activations

# (name, hparams): every registered activation, gelu in both modes, and non-default
# hyperparameters, all built with activations.get(name, **hparams). The reference is
# getattr(jax.nn, name)(z, **hparams).
CASES = [(name, {}) for name in activations.NAMES] + [
    ("gelu", {"approximate": False}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {"alpha": 0.5}),
    ("softmax", {"axis": 0}),
]


def case_id(name, hparams):
    return name + "".join(f"-{k}={v}" for k, v in hparams.items())


CASE_IDS = [case_id(name, hparams) for name, hparams in CASES]
DTYPES = [jnp.float32, jnp.float64]
# Relative error ‖a − b‖ / max(‖a‖, ‖b‖) allowed between the hand-written backward and
# jax.vjp (the acceptance bounds), and elementwise rtol between values and jax.nn's.
RTOL_VJP = {jnp.float32: 1e-5, jnp.float64: 1e-12}
RTOL_VALUES = {jnp.float32: 1e-6, jnp.float64: 1e-13}
SHAPE = (8, 17)
# Row 0 of the table inputs: zeros, tiny, moderate and saturating values of both signs.
SPECIAL = [0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 5, -5, 20, -20, 50, -50, 100, -100]
SPECIAL += [700, -700, 1e4]


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b), np.finfo(np.float64).tiny)
    return float(np.linalg.norm(a - b) / scale)


def inputs(seed, shape=SHAPE, special=True):
    """``z`` (N(0, 3²), row 0 the special values) and a cotangent ``dy``, in numpy."""
    rng = np.random.default_rng(seed)
    z = 3 * rng.standard_normal(shape)
    if special:
        z[0] = SPECIAL
    return z, rng.standard_normal(shape)


def evaluate_case(name, hparams, z, dy):
    """``(y, jax.nn's y, backward(z, y, dy), jax.vjp(forward, z)[1](dy))``."""
    act = activations.get(name, **dict(hparams))
    y, vjp = jax.vjp(act.forward, z)
    y_ref = getattr(jax.nn, name)(z, **dict(hparams))
    return y, y_ref, act.backward(z, y, dy), vjp(dy)[0]


# The test programs are compiled with LLVM's optimizations off, which cuts their
# compile time about 2.5x; XLA's own passes and IEEE semantics are unchanged, and the
# user-facing default is what test_backward_jit_and_vmap_match_eager compiles.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
# Every case in one program: one compile per (shape, dtype).
evaluate_all = jax.jit(
    lambda z, dy: [evaluate_case(n, tuple(kw.items()), z, dy) for n, kw in CASES],
    compiler_options=FAST_COMPILE,
)
# One case: one compile per (case, shape, dtype), for the hypothesis test's shapes.
evaluate = jax.jit(evaluate_case, static_argnums=(0, 1), compiler_options=FAST_COMPILE)


def run_all(z, dy, dtype):
    """``evaluate_all`` of numpy inputs cast to ``dtype``: numpy results by case id."""
    out = evaluate_all(jnp.asarray(z, dtype), jnp.asarray(dy, dtype))
    return {i: tuple(map(np.asarray, o)) for i, o in zip(CASE_IDS, out, strict=True)}


@cache
def table_results(dtype):
    z, dy = inputs(seed=0)
    return z, dy, run_all(z, dy, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_forward_matches_jax_nn(case_id, dtype):
    _, _, results = table_results(dtype)
    y, y_ref, *_ = results[case_id]
    assert y.shape == y_ref.shape == SHAPE and y.dtype == y_ref.dtype == dtype
    np.testing.assert_allclose(y, y_ref, rtol=RTOL_VALUES[dtype], atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_backward_matches_vjp(case_id, dtype):
    _, _, results = table_results(dtype)
    _, _, manual, auto = results[case_id]
    assert manual.shape == auto.shape == SHAPE
    assert manual.dtype == auto.dtype == dtype
    assert np.all(np.isfinite(manual))
    assert rel_err(manual, auto) <= RTOL_VJP[dtype]


def finite_difference_vjps(z, dy, h=1e-6):
    """Central differences of every case's VJP at ``z`` (float64), keyed by case id.

    Entries that do not interact are perturbed together, which keeps every forward call
    in the one compiled ``evaluate_all``: all entries at once for element-wise
    activations (``dzᵢ = dyᵢ (f(z + h) − f(z − h))ᵢ / 2h``), and for softmax along an
    axis, index k of that axis in every group at once (``dz`` at index k is
    ``Σ_axis dy ⊙ (f(z + h e_k) − f(z − h e_k)) / 2h``).
    """
    plus, minus = run_all(z + h, dy, jnp.float64), run_all(z - h, dy, jnp.float64)
    fd = {i: dy * (plus[i][0] - minus[i][0]) / (2 * h) for i in CASE_IDS}
    for case_id, axis in [("softmax", 1), ("softmax-axis=0", 0)]:
        columns = []
        for k in range(z.shape[axis]):
            step = np.zeros_like(z)
            np.moveaxis(step, axis, 0)[k] = h
            y_plus = run_all(z + step, dy, jnp.float64)[case_id][0]
            y_minus = run_all(z - step, dy, jnp.float64)[case_id][0]
            columns.append(np.sum(dy * (y_plus - y_minus), axis=axis) / (2 * h))
        fd[case_id] = np.stack(columns, axis=axis)
    return fd


@cache
def finite_difference_results():
    z, dy = inputs(seed=1, special=False)
    z = np.where(z >= 0, z + 1e-2, z - 1e-2)  # |z| > 1e-2 ≫ h: no kink is straddled
    return run_all(z, dy, jnp.float64), finite_difference_vjps(z, dy)


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_backward_matches_finite_differences(case_id):
    # float64, h = 1e-6, inputs at least 1e-2 away from the kinks (relu, elu, ...).
    results, numerical = finite_difference_results()
    assert rel_err(results[case_id][2], numerical[case_id]) <= 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
def test_derivative_at_kinks_follows_jax_nn(dtype):
    results = run_all(np.zeros(SHAPE), np.ones(SHAPE), dtype)
    # relu'(0) = 0 (jax.nn.relu's select(z > 0, ...)); leaky_relu'(0) = 1 (z >= 0);
    # elu'(0) = alpha: as jax.grad of the jax.nn function.
    expected = {"relu": 0.0, "leaky_relu": 1.0, "elu": 1.0, "elu-alpha=0.5": 0.5}
    for case_id, value in expected.items():
        _, _, manual, auto = results[case_id]
        assert manual.dtype == dtype
        np.testing.assert_array_equal(manual, np.full(SHAPE, value, dtype))
        np.testing.assert_array_equal(auto, manual)
    zero = jnp.zeros((), dtype)
    for name in ("relu", "leaky_relu", "elu"):
        assert float(jax.grad(getattr(jax.nn, name))(zero)) == expected[name]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "act", [activations.get("relu"), activations.RELU_MASKED_BY_Z], ids=["y", "z"]
)
def test_relu_backward_masks_like_jax_nn_at_non_finite_and_signed_zero_inputs(
    act, dtype
):
    # relu's rule reads its mask from y = max(z, 0) (so that z can be dropped); it
    # must pass dy exactly where jax.nn.relu's select(z > 0, ...) does: not at NaN
    # (max(NaN, 0) is NaN), ±0 or below 0, and at +inf. (Subnormal z: as jax.nn's,
    # whatever the backend does with them; XLA:CPU flushes them to 0.) So must the
    # rule that reads it from z, which models.mlp uses after batch_norm.
    tiny = np.finfo(dtype).smallest_subnormal
    z = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, 1, -1] * 2)
    dy = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10] + [np.nan, np.inf] * 5)
    normal = np.abs(z) != tiny
    expected = np.where(z > 0, dy, 0).astype(dtype)  # NumPy's z > 0: False at NaN
    z, dy = jnp.asarray(z, dtype), jnp.asarray(dy, dtype)

    def both(z, dy):
        return act.backward(z, act.forward(z), dy), jax.vjp(jax.nn.relu, z)[1](dy)[0]

    for fn in (both, jax.jit(both)):
        manual, auto = map(np.asarray, fn(z, dy))
        np.testing.assert_array_equal(manual, auto)  # NaN where auto's are
        np.testing.assert_array_equal(manual[normal], expected[normal])


def test_relu_rules_read_only_the_value_their_mask_comes_from():
    # The GPU memory of a ReLU network rests on this (benchmarks/README.md): the
    # default rule must not read z, so that XLA can drop it; the batch_norm one must
    # not read y. An unused input of the traced rule is one that no equation reads.
    def used_inputs(act):
        z = jnp.ones((2, 3))
        jaxpr = jax.make_jaxpr(act.backward)(z, z, z).jaxpr
        read = {v for eqn in jaxpr.eqns for v in eqn.invars if not hasattr(v, "val")}
        return [v in read for v in jaxpr.invars]

    assert used_inputs(activations.get("relu")) == [False, True, True]
    assert used_inputs(activations.RELU_MASKED_BY_Z) == [True, False, True]


def backward_all(z, ys, dy):
    return [
        activations.get(name, **hparams).backward(z, y, dy)
        for (name, hparams), y in zip(CASES, ys, strict=True)
    ]


backward_all_jit = jax.jit(backward_all)  # one compile for every case


@pytest.mark.parametrize(("name", "hparams"), CASES, ids=CASE_IDS)
def test_backward_jit_and_vmap_match_eager(name, hparams):
    # float32. vmap maps over an axis the activation does not reduce over (rows, or
    # columns for softmax over axis 0), so each call sees whole softmax groups.
    act = activations.get(name, **hparams)
    z, dy, results = table_results(jnp.float32)
    z, dy = jnp.asarray(z, jnp.float32), jnp.asarray(dy, jnp.float32)
    ys = [jnp.asarray(results[i][0]) for i in CASE_IDS]
    y = ys[CASE_IDS.index(case_id(name, hparams))]
    eager = act.backward(z, y, dy)
    jitted = backward_all_jit(z, ys, dy)[CASE_IDS.index(case_id(name, hparams))]
    axis = 1 if hparams.get("axis") == 0 else 0
    mapped = jax.vmap(act.backward, in_axes=axis, out_axes=axis)(z, y, dy)
    assert eager.dtype == jitted.dtype == mapped.dtype == jnp.float32
    assert rel_err(jitted, eager) <= 1e-6
    assert rel_err(mapped, eager) <= 1e-6


# Each example is a new shape, hence a new compile (~0.3 s): 8 examples, not the
# profile's 15, keep these tests within the suite's time budget.
@settings(max_examples=8)
@given(
    case=st.sampled_from(CASES),
    batch=st.integers(1, 9),
    width=st.integers(1, 17),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_values_and_backward_over_shapes(case, batch, width, dtype, seed):
    # float32 or float64 (drawn), any (batch, width). Softmax inputs are N(0, 1), not
    # N(0, 3²): for a group dominated by one class (p > 0.995, common at scale 3 with
    # two classes) dz = y ⊙ (dy − ⟨dy, y⟩) is a cancellation whose float32 rounding
    # alone exceeds the 1e-5 bound against jax.vjp, however it is evaluated.
    name, hparams = case
    z, dy = (jnp.asarray(a, dtype) for a in inputs(seed, (batch, width), False))
    if name == "softmax":
        z = z / 3
    y, y_ref, manual, auto = evaluate(name, tuple(hparams.items()), z, dy)
    assert y.shape == manual.shape == (batch, width)
    assert y.dtype == manual.dtype == auto.dtype == dtype
    np.testing.assert_allclose(y, y_ref, rtol=RTOL_VALUES[dtype], atol=0)
    assert rel_err(manual, auto) <= RTOL_VJP[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_of_negative_infinity_is_exactly_zero(dtype):
    z, dy = inputs(seed=3, special=False)
    masked = np.arange(z.size).reshape(SHAPE) % 3 == 0
    masked[1, 1:] = True  # row 1 keeps a single finite entry
    z[masked] = -np.inf
    for case_id in ("softmax", "softmax-axis=0"):
        y, y_ref, manual, auto = run_all(z, dy, dtype)[case_id]
        assert y.dtype == manual.dtype == dtype
        assert np.all(y[masked] == 0) and np.all(manual[masked] == 0)
        assert np.all(np.isfinite(y)) and np.all(y[~masked] > 0)
        assert np.all(np.isfinite(manual))
        np.testing.assert_allclose(y, y_ref, rtol=RTOL_VALUES[dtype], atol=0)
        assert rel_err(manual, auto) <= RTOL_VJP[dtype]
    y = run_all(z, dy, dtype)["softmax"][0]
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=RTOL_VALUES[dtype])
    assert y[1, 0] == 1


def test_module_properties():
    # float64: the teaching module's claims about ranges and derivative bounds.
    z = np.append(np.linspace(-15.0, 15.0, SHAPE[0] * SHAPE[1] - 1), 0.0)
    z = z.reshape(SHAPE)  # includes z = 0, where the derivative bounds are attained
    ones = np.ones(SHAPE)
    out, out_neg = run_all(z, ones, jnp.float64), run_all(-z, ones, jnp.float64)
    y_sig, dsig = out["sigmoid"][0], out["sigmoid"][2]
    y_tanh, dtanh = out["tanh"][0], out["tanh"][2]
    assert dsig.max() == 0.25 and np.all(dsig > 0)  # σ' = σ(1 − σ) ≤ 1/4
    assert dtanh.max() == 1.0 and np.all(dtanh > 0)  # tanh' = 1 − tanh² ≤ 1
    assert np.all((y_sig > 0) & (y_sig < 1))  # range (0, 1): not zero-centred
    assert np.all((y_tanh > -1) & (y_tanh < 1))  # range (−1, 1)
    np.testing.assert_allclose(out_neg["tanh"][0], -y_tanh, rtol=1e-15)  # odd
    np.testing.assert_allclose(out_neg["sigmoid"][0], 1 - y_sig, rtol=1e-12, atol=1e-15)
    # Dead ReLU: a unit whose pre-activations are all negative gets no gradient at all;
    # leaky ReLU keeps the slope there and ELU α·e^z.
    assert np.all(out["relu"][2][z < 0] == 0) and np.all(out["relu"][0] >= 0)
    assert np.all(out["leaky_relu"][2][z < 0] == 0.01)
    assert np.all(out["elu"][2][z < 0] > 0) and np.all(out["elu"][0] > -1)
    softmax_rows = out["softmax"][0].sum(axis=-1)
    np.testing.assert_allclose(softmax_rows, 1, rtol=1e-15)


def test_get_returns_registered_activations():
    # No arrays (dtype-independent); hyperparameter values are checked by the CASES
    # tests above, which build every case through get(name, **hparams).
    assert activations.NAMES == (
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "gelu",
        "softplus",
        "silu",
        "identity",
        "softmax",
    )
    for name in activations.NAMES:
        act = activations.get(name)
        assert isinstance(act, activations.Activation) and act.name == name
        assert activations.get(act) is act
    assert activations.get("elu", alpha=0.5).name == "elu"


BAD_GET = [
    (("swish",), {}, ValueError, "name='swish'.*expected one of sigmoid, tanh, relu"),
    (("ReLU",), {}, ValueError, "name='ReLU'.*leaky_relu, elu, gelu.*softmax"),
    ((None,), {}, ValueError, "name=None"),
    (("relu",), {"alpha": 1.0}, TypeError, "'relu'.*alpha.*no hyperparameters"),
    (("leaky_relu",), {"slope": 0.1}, TypeError, "slope.*takes negative_slope"),
    (("leaky_relu",), {"negative_slope": math.nan}, ValueError, "negative_slope.*nan"),
    (("leaky_relu",), {"negative_slope": "0.1"}, TypeError, "negative_slope='0.1'"),
    (("elu",), {"alpha": 0.0}, ValueError, re.escape("alpha for 'elu' must be > 0")),
    (("elu",), {"alpha": -1}, ValueError, "alpha=-1"),
    (("gelu",), {"approximate": "tanh"}, TypeError, "bool.*approximate='tanh'"),
    (("softmax",), {"axis": 1.5}, TypeError, "int; got axis=1.5"),
]


@pytest.mark.parametrize(("args", "hparams", "exc", "match"), BAD_GET)
def test_get_rejects_bad_names_and_hyperparameters(args, hparams, exc, match):
    # No arrays (dtype-independent): the error names the argument, value, expectation.
    with pytest.raises(exc, match=match):
        activations.get(*args, **hparams)


def test_get_rejects_hyperparameters_for_an_activation_object():
    # No arrays (dtype-independent).
    with pytest.raises(TypeError, match="existing Activation.*negative_slope"):
        activations.get(activations.get("relu"), negative_slope=0.1)


@pytest.mark.parametrize(
    "dtype", [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64], ids=str
)
def test_softplus_at_infinities_matches_jax(dtype):
    # softplus(∞) = ∞ (not ∞ − ∞ = NaN), softplus(−∞) = 0, like jax.nn.softplus; its
    # autodiff derivative is σ: 1 at ∞, 0 at −∞, 1/2 at 0; the backward rule agrees.
    z = jnp.array([np.inf, -np.inf, 0.0, 1e4, -1e4], dtype)
    np.testing.assert_array_equal(activations.softplus(z), jax.nn.softplus(z))
    ones = jnp.ones_like(z)
    auto = jax.vjp(activations.softplus, z)[1](ones)[0]
    act = activations.get("softplus")
    manual = act.backward(z, act.forward(z), ones)
    for grad in (auto, manual):
        np.testing.assert_array_equal(grad, jnp.array([1, 0, 0.5, 1, 0], dtype))


@pytest.mark.parametrize("int_dtype", [jnp.int32, jnp.int64], ids=["int32", "int64"])
@pytest.mark.parametrize(("name", "hparams"), CASES, ids=CASE_IDS)
def test_integer_input_follows_jax_nn(name, hparams, int_dtype):
    # Integer z: where jax.nn refuses it (sigmoid, silu: lax.logistic), so does the
    # activation, naming z's dtype; elsewhere the dtype and values are jax.nn's
    # (gelu casts to float first: z³ of an int32 2000 wraps around).
    z = jnp.array([[-2000, -3, 0, 1, 3, 2000]] * 2, int_dtype)
    act = activations.get(name, **hparams)
    try:
        y_ref = getattr(jax.nn, name)(z, **hparams)
    except TypeError:
        with pytest.raises(TypeError, match=f"z must be a floating.*z.dtype={z.dtype}"):
            act.forward(z)
        return
    y = act.forward(z)
    assert y.dtype == y_ref.dtype
    rtol = RTOL_VALUES[jnp.float64 if y.dtype == jnp.float64 else jnp.float32]
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=0)


@pytest.mark.parametrize("axis", [2, -3])
def test_softmax_backward_refuses_an_axis_out_of_range(axis):
    # float32 (8, 17): like the forward (jnp.max), the backward names the axis
    # instead of reducing over axis % ndim, another axis.
    z, dy, results = table_results(jnp.float32)
    act = activations.get("softmax", axis=axis)
    z, y, dy = (jnp.asarray(a, jnp.float32) for a in (z, results["softmax"][0], dy))
    with pytest.raises(ValueError, match=rf"axis must be in \[-2, 2\).*axis={axis}"):
        act.backward(z, y, dy)


@pytest.mark.parametrize(("name", "hparams"), CASES, ids=CASE_IDS)
def test_backward_refuses_a_cotangent_jax_vjp_refuses(name, hparams):
    """A dy of shape (3,) for a (2, 3) output was broadcast over the rows (a wrong
    gradient, silently), an identity's came back of shape (3,), and a float32 dy
    made a float16 sigmoid's dz float32: jax.vjp raises on each."""
    act = activations.get(name, **hparams)
    z = jnp.array([[-1.0, 0.5, 2.0], [3.0, -2.0, 0.1]], jnp.float16)
    y = act.forward(z)
    with pytest.raises(
        ValueError,
        match=rf"{name}: backward's dy must have the "
        r"output's shape \(2, 3\); got dy.shape=\(3,\)",
    ):
        act.backward(z, y, jnp.ones((3,), jnp.float16))
    with pytest.raises(
        TypeError,
        match=f"{name}: backward's dy must have the "
        "output's dtype float16; got dy.dtype=float32",
    ):
        act.backward(z, y, jnp.ones((2, 3), jnp.float32))
    dz = act.backward(z, y, jnp.ones((2, 3), jnp.float16))
    assert dz.shape == z.shape and dz.dtype == z.dtype


@pytest.mark.parametrize(
    "z",
    [
        np.array([[0, 1, 3, 200]] * 2, np.uint8),
        np.array([[0, 1, 3, 60000]] * 2, np.uint16),
        np.array([[True, False, True]] * 2),
        True,
        3,
    ],
    ids=["uint8", "uint16", "bool", "python-bool", "python-int"],
)
@pytest.mark.parametrize(("name", "hparams"), CASES, ids=CASE_IDS)
def test_unsigned_and_bool_input_follows_jax_nn(name, hparams, z):
    # Unsigned, bool and Python-scalar z: refused where jax.nn refuses it, elsewhere
    # jax.nn's dtype, weak type and values (softplus: −z of a uint8 1 is 255, not −1,
    # and a bool has no −; jax.nn.softplus casts to a float first).
    act = activations.get(name, **hparams)
    if name == "softmax" and np.ndim(z) == 0:
        return  # no axis to normalise over
    try:
        y_ref = getattr(jax.nn, name)(z, **hparams)
    except TypeError:
        with pytest.raises(TypeError):
            act.forward(z)
        return
    y = act.forward(z)
    assert (y.dtype, y.weak_type) == (y_ref.dtype, y_ref.weak_type)
    rtol = RTOL_VALUES[jnp.float64 if y.dtype == jnp.float64 else jnp.float32]
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=0)


@pytest.mark.parametrize(("shape", "axis"), [((3, 0), -1), ((0,), 0), ((0, 4), 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_over_an_empty_axis_is_empty_like_jax_nn(shape, axis, dtype):
    # jax.nn.softmax's max starts from −∞, so an empty group gives an empty result
    # (jnp.max alone raises "zero-size array"); the backward rule agrees with jax.vjp.
    z = jnp.zeros(shape, dtype)
    act = activations.get("softmax", axis=axis)
    y, vjp = jax.vjp(act.forward, z)
    y_ref = jax.nn.softmax(z, axis=axis)
    assert y.shape == y_ref.shape == shape and y.dtype == y_ref.dtype == dtype
    dz = act.backward(z, y, jnp.ones_like(y))
    assert dz.shape == vjp(jnp.ones_like(y))[0].shape == shape and dz.dtype == dtype


@pytest.mark.parametrize("approximate", [True, False])
def test_gelu_of_a_python_float_is_strongly_typed_like_jax_nn(approximate):
    # jax.nn.gelu's constants are NumPy scalars, so gelu(2.0) is a strongly typed
    # float array: it promotes a bfloat16 array to its own dtype, not to bfloat16.
    act = activations.get("gelu", approximate=approximate)
    y, y_ref = act.forward(2.0), jax.nn.gelu(2.0, approximate=approximate)
    assert (y.dtype, y.weak_type) == (y_ref.dtype, y_ref.weak_type)
    assert float(y) == float(y_ref)
    bf16 = jnp.ones(3, jnp.bfloat16)
    assert (y * bf16).dtype == (y_ref * bf16).dtype != jnp.bfloat16


@pytest.mark.parametrize(
    "dtype", [jnp.float16, jnp.float32], ids=["float16", "float32"]
)
def test_gelu_backward_stays_finite_for_a_cotangent_near_the_dtype_max(dtype):
    # Loss scaling makes dy large. z·dy overflows long before dz = dy·gelu'(z) does
    # (gelu' < 1.13), so the rule must not form it; jax.nn.gelu's own rule returns
    # inf or NaN at z = 10 and 6 here.
    act = activations.get("gelu")
    z = np.array([10.0, 6.0, 3.0, 0.5, -0.5, -3.0])
    dy = np.full_like(z, float(jnp.finfo(dtype).max) / 4)
    expected = act.backward(
        jnp.asarray(z), act.forward(jnp.asarray(z)), jnp.asarray(dy)
    )
    zt = jnp.asarray(z, dtype)
    dz = act.backward(zt, act.forward(zt), jnp.asarray(dy, dtype))
    assert dz.dtype == dtype and np.all(np.isfinite(dz))
    rtol = 4 * float(jnp.finfo(dtype).eps)
    np.testing.assert_allclose(np.asarray(dz, np.float64), expected, rtol=rtol)


def test_get_accepts_numpy_ints_and_bools_as_jax_nn_does():
    # No compiled tables: a NumPy int axis (e.g. from np.argmax) and a NumPy bool are
    # an int and a bool, as for jax.nn and jaxnn.layers; NumPy floats stay refused.
    z = jnp.asarray(inputs(seed=4, shape=(3, 4), special=False)[0])
    act = activations.get("softmax", axis=np.int64(0))
    np.testing.assert_allclose(act.forward(z), jax.nn.softmax(z, axis=0), rtol=1e-13)
    act = activations.get("gelu", approximate=np.bool_(False))
    np.testing.assert_allclose(act.forward(z), jax.nn.gelu(z, False), rtol=1e-13)
    with pytest.raises(TypeError, match=r"int; got axis=np.True_"):
        activations.get("softmax", axis=np.bool_(True))
    with pytest.raises(TypeError, match=r"bool.*approximate=np.int64\(1\)"):
        activations.get("gelu", approximate=np.int64(1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_both_sigmoid_derivative_forms_keep_relative_accuracy(dtype):
    """float32 and float64: the default σ' and the division-free form that CUDA
    float32 lowers both equal jax.vjp where σ(z) keeps its digits, and the exact
    e^−|z|/(1 + e^−|z|)² to a few ulps out to |z| = 80, where jax.grad's
    σ(1 − σ) has rounded to 0 (|z| ≳ 17 in float32, ≳ 37 in float64)."""
    z = np.concatenate([np.linspace(-8, 8, 33), [17, -17, 30, -30, 45, -45, 80, -80]])
    zz = jnp.asarray(z, dtype)
    e = np.exp(-np.abs(z))
    exact = e / (1 + e) ** 2
    moderate = np.abs(z) <= 8
    auto = jax.vjp(jax.nn.sigmoid, zz)[1](jnp.ones_like(zz))[0]
    for prime in (activations._sigmoid_prime, activations._sigmoid_prime_tanh):
        got = prime(zz)
        assert got.dtype == dtype
        assert rel_err(got[moderate], auto[moderate]) <= RTOL_VJP[dtype]
        np.testing.assert_allclose(got, exact, rtol=8 * np.finfo(dtype).eps)


def test_sigmoid_division_free_form_matches_finite_differences():
    """float64: d/dz σ by central differences (h = 1e-6) equals the CUDA float32
    form's σ', evaluated in float64, over z in [−20, 20]. The differences are taken
    at −|z| (σ' is even), where σ is small and keeps its digits."""
    z = jnp.linspace(-20.0, 20.0, 41, dtype=jnp.float64)
    h, left = 1e-6, -jnp.abs(z)
    fd = (jax.nn.sigmoid(left + h) - jax.nn.sigmoid(left - h)) / (2 * h)
    np.testing.assert_allclose(
        activations._sigmoid_prime_tanh(z), fd, rtol=1e-7, atol=1e-15
    )


def test_sigmoid_backward_lowers_each_backends_form():
    """jax.export lowers for a platform without its device: CUDA float32 gets the
    division-free σ', CUDA bfloat16 and every other backend the default one (the ops
    of the lowered modules, without the constant-index ``case`` platform_dependent
    leaves)."""

    def ops(fn, platform, dtype):
        z = jnp.ones((4, 3), dtype)
        return lowered_ops(fn, platform, z, z)

    sigmoid = activations.get("sigmoid")

    def backward(z, dy):
        return sigmoid.backward(z, sigmoid.forward(z), dy)

    def tanh_form(z, dy):
        return dy * activations._sigmoid_prime_tanh(z)

    def default_form(z, dy):
        return dy * activations._sigmoid_prime(z)

    f32, bf16 = jnp.float32, jnp.bfloat16
    assert ops(tanh_form, "cpu", f32) != ops(default_form, "cpu", f32)
    for platform, dtype, form in [
        ("cuda", f32, tanh_form),
        ("cuda", bf16, default_form),
        ("cpu", f32, default_form),
        ("rocm", f32, default_form),
        ("tpu", f32, default_form),
    ]:
        assert ops(backward, platform, dtype) == ops(form, platform, dtype), (
            platform,
            dtype,
        )


def test_backward_refuses_a_z_of_another_shape_than_y():
    # z of shape (3,) was broadcast against y and dy of shape (2, 3).
    act = activations.get("sigmoid")
    with pytest.raises(ValueError, match=r"z.shape=\(3,\), y.shape=\(2, 3\)"):
        act.backward(jnp.ones(3), jnp.ones((2, 3)), jnp.ones((2, 3)))
