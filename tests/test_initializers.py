"""jaxnn.initializers: moments against the formulas, draws against jax.nn.initializers.

All random draws use the two shapes below, so the random kernels (slow to compile)
compile once per (shape, dtype) and are shared by every initializer and by jax's
references. The convolution shape (the receptive-field fans, computed by the same code
for every fan-based initializer) is drawn in float64 with the uniform kernel only.
"""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import initializers

DTYPES = [jnp.float32, jnp.float64]
DENSE = (400, 300)  # fan_in 400, fan_out 300: 120 000 draws
CONV = (3, 3, 64, 200)  # receptive field 9: fan_in 576, fan_out 1800; 115 200 draws
FANS = {DENSE: (400, 300), CONV: (9 * 64, 9 * 200)}

# (name, hparams, shape, family, variance(fan_in, fan_out)); family "normal" is N(0, v)
# and "uniform" is U[−√(3v), √(3v)) (both mean 0), "uniform+" is jax's U[0, scale).
STATS = [
    ("normal", {}, DENSE, "normal", lambda i, o: 1.0),
    ("normal", {"stddev": 0.05}, DENSE, "normal", lambda i, o: 0.05**2),
    ("uniform", {}, DENSE, "uniform+", lambda i, o: 1e-2**2 / 12),
    ("uniform", {"scale": 0.5}, DENSE, "uniform+", lambda i, o: 0.5**2 / 12),
    ("xavier_normal", {}, DENSE, "normal", lambda i, o: 2 / (i + o)),
    ("xavier_uniform", {}, DENSE, "uniform", lambda i, o: 2 / (i + o)),
    ("he_normal", {}, DENSE, "normal", lambda i, o: 2 / i),
    ("he_uniform", {}, DENSE, "uniform", lambda i, o: 2 / i),
    ("lecun_normal", {}, DENSE, "normal", lambda i, o: 1 / i),
    ("xavier_uniform", {}, CONV, "uniform", lambda i, o: 2 / (i + o)),
    ("he_uniform", {}, CONV, "uniform", lambda i, o: 2 / i),
]
KURTOSIS = {"normal": 3.0, "uniform": 9 / 5, "uniform+": 9 / 5}  # E[(x − μ)⁴] / σ⁴


def dtypes_for(shape):
    return DTYPES if shape == DENSE else [jnp.float64]


def case_id(name, hparams, shape, dtype):
    kw = "".join(f"-{k}={v}" for k, v in hparams.items())
    return f"{name}{kw}-{'x'.join(map(str, shape))}-{jnp.dtype(dtype).name}"


STAT_PARAMS = [
    pytest.param(*case, dtype, id=case_id(*case[:3], dtype))
    for case in STATS
    for dtype in dtypes_for(case[2])
]


@pytest.mark.parametrize(
    ("name", "hparams", "shape", "family", "variance", "dtype"), STAT_PARAMS
)
def test_moments_and_range_match_formula(name, hparams, shape, family, variance, dtype):
    # Tolerance: 5 standard errors of the estimator. For n i.i.d. draws the sample mean
    # has standard error σ/√n and the sample variance σ²·√((κ − 1)/n), κ the kurtosis
    # (3 for a normal, 9/5 for a uniform); a correct initializer falls outside 5
    # standard errors with probability < 1e-6 (the key is fixed: the test is
    # deterministic).
    w = initializers.get(name, **hparams)(jax.random.key(0), shape, dtype)
    assert w.shape == shape and w.dtype == dtype
    x = np.asarray(w, np.float64).ravel()
    n, var = x.size, variance(*FANS[shape])
    assert n >= 100_000
    mean = math.sqrt(3 * var) if family == "uniform+" else 0.0  # U[0, s): mean s/2
    assert abs(x.mean() - mean) <= 5 * math.sqrt(var / n)
    se_var = var * math.sqrt((KURTOSIS[family] - 1) / n)
    assert abs(x.var(ddof=1) - var) <= 5 * se_var
    if family.startswith("uniform"):
        # Support [lo, hi); with n draws, P(no draw within 1e-3·(hi − lo) of an end) is
        # (1 − 1e-3)ⁿ ≈ e^−115.
        hi = mean + math.sqrt(3 * var)
        lo = mean - math.sqrt(3 * var)
        tol = 1e-3 * (hi - lo)
        assert lo <= x.min() <= lo + tol and hi - tol <= x.max() <= hi


@pytest.mark.parametrize("name", ["xavier_normal", "he_normal", "lecun_normal"])
def test_normal_initializers_are_not_truncated(name):
    # float64. A plain normal puts P(|w| > 2σ) = 4.55% of its draws beyond 2σ; jax's
    # truncated normal (cut at ±2σ/0.8796 = ±2.27σ) only 2.0% and none beyond 2.27σ.
    # Tolerance: 5 standard errors √(p(1 − p)/n) of a proportion.
    w = initializers.get(name)(jax.random.key(1), DENSE, jnp.float64)
    x = np.asarray(w).ravel()
    std = x.std()
    p = math.erfc(2 / math.sqrt(2))  # P(|Z| > 2) = 0.0455
    assert abs(np.mean(np.abs(x) > 2 * std) - p) <= 5 * math.sqrt(p * (1 - p) / x.size)
    assert np.abs(x).max() > 2.5 * std


# Ours against jax.nn.initializers with the same key. jax's *_normal are truncated, so
# the references for ours are variance_scaling(..., "normal") with the same scale/mode.
JAX_REFERENCES = [
    ("normal", {"stddev": 0.5}, jax.nn.initializers.normal(0.5)),
    ("uniform", {"scale": 0.5}, jax.nn.initializers.uniform(0.5)),
    ("xavier_uniform", {}, jax.nn.initializers.glorot_uniform()),
    ("he_uniform", {}, jax.nn.initializers.he_uniform()),
    ("xavier_normal", {}, jax.nn.initializers.variance_scaling(1, "fan_avg", "normal")),
    ("he_normal", {}, jax.nn.initializers.variance_scaling(2, "fan_in", "normal")),
    ("lecun_normal", {}, jax.nn.initializers.variance_scaling(1, "fan_in", "normal")),
]


REF_PARAMS = [
    pytest.param(
        name, hparams, ref, shape, dtype, id=case_id(name, hparams, shape, dtype)
    )
    for name, hparams, ref in JAX_REFERENCES
    for shape in ([DENSE, CONV] if name.endswith("_uniform") else [DENSE])
    for dtype in dtypes_for(shape)
]


@pytest.mark.parametrize(("name", "hparams", "reference", "shape", "dtype"), REF_PARAMS)
def test_draws_equal_jax_initializers(name, hparams, reference, shape, dtype):
    key = jax.random.key(2)
    ours = initializers.get(name, **hparams)(key, shape, dtype)
    ref = reference(key, shape, dtype)
    assert ours.dtype == ref.dtype == dtype and ours.shape == ref.shape == shape
    np.testing.assert_array_equal(ours, ref)


# Fans whose scale rounds differently when √ is taken in float64 and then rounded
# (as this module once did) than in the draw's dtype (as jax does); float16 too.
ODD_FANS = [(15, 1), (2, 129)]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float16], ids=["f32", "f16"])
@pytest.mark.parametrize("shape", ODD_FANS, ids=["15x1", "2x129"])
def test_fan_based_draws_are_bit_equal_to_jax_for_any_fans(shape, dtype):
    key = jax.random.key(7)
    for name, _, reference in JAX_REFERENCES[2:]:
        ours = initializers.get(name)(key, shape, dtype)
        np.testing.assert_array_equal(ours, reference(key, shape, dtype), err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", initializers.NAMES)
def test_dtype_shape_and_key_are_respected(name, dtype):
    hparams = {"value": 0.25} if name == "constant" else {}
    init = initializers.get(name, **hparams)
    a = init(jax.random.key(3), DENSE, dtype)
    b = init(jax.random.key(3), list(DENSE), dtype)  # any sequence of ints is a shape
    c = init(jax.random.key(4), DENSE, dtype)
    assert a.shape == DENSE and a.dtype == dtype
    np.testing.assert_array_equal(a, b)  # same key, same draw
    if name in ("zeros", "ones", "constant"):
        np.testing.assert_array_equal(a, c)
    else:
        assert np.mean(np.asarray(a) == np.asarray(c)) < 1e-3  # another key, new draw
    assert init(jax.random.key(3), DENSE).dtype == jnp.float32  # the default dtype


@pytest.mark.parametrize("name", initializers.NAMES)
def test_out_sharding_is_accepted_and_passed_on_as_by_jax(name):
    """jax's initializers are ``init(key, shape, dtype=None, out_sharding=None)``;
    ours refused the keyword (TypeError), so code written for jax's failed."""
    hparams = {"value": np.full((DENSE[-1],), 0.25)} if name == "constant" else {}
    init = initializers.get(name, **hparams)
    key = jax.random.key(3)
    plain = init(key, DENSE, jnp.float32)
    np.testing.assert_array_equal(
        init(key, DENSE, jnp.float32, out_sharding=None), plain
    )
    sharding = jax.sharding.NamedSharding(jax.make_mesh((1,), ("x",)), jax.P("x"))
    placed = init(key, DENSE, jnp.float32, out_sharding=sharding)
    assert placed.sharding.spec == jax.P("x", None)
    np.testing.assert_array_equal(placed, plain)


@pytest.mark.parametrize("dtype", DTYPES)
def test_constant_initializers(dtype):
    key = jax.random.key(5)
    for init, value in [
        (initializers.zeros(), 0.0),
        (initializers.ones(), 1.0),
        (initializers.constant(-0.25), -0.25),
    ]:
        w = init(key, (3,), dtype)  # one-dimensional shapes are fine here (biases)
        assert w.dtype == dtype
        np.testing.assert_array_equal(w, np.full((3,), value))


FAN_BASED = [
    "xavier_normal",
    "xavier_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
]


@pytest.mark.parametrize("name", FAN_BASED)
@pytest.mark.parametrize("shape", [(5,), ()], ids=["1d", "0d"])
def test_fan_based_initializers_reject_shapes_below_2d(name, shape):
    # float32 (the default dtype); nothing is drawn.
    expected = f"{name} needs a weight shape with at least 2 dimensions"
    with pytest.raises(ValueError, match=re.escape(expected) + r".*got shape=\(5?,?\)"):
        initializers.get(name)(jax.random.key(0), shape)


BAD = [
    (lambda: initializers.get("glorot_normal"), ValueError, "name='glorot_normal'"),
    (
        lambda: initializers.get("he"),
        ValueError,
        "expected one of zeros, ones, constant",
    ),
    (lambda: initializers.get(3), ValueError, "name=3"),
    (
        lambda: initializers.get("normal", scale=1.0),
        TypeError,
        "'normal'.*scale.*stddev",
    ),
    (lambda: initializers.get("constant"), TypeError, "'constant'.*takes value"),
    (lambda: initializers.get("he_normal", mode="fan_out"), TypeError, "mode"),
    (
        lambda: initializers.get(initializers.zeros(), value=1.0),
        TypeError,
        r"existing init function; got \['value'\]",
    ),
    (lambda: initializers.normal(-1.0), ValueError, "stddev=-1.0"),
    (lambda: initializers.uniform(math.inf), ValueError, "scale=inf"),
    (lambda: initializers.normal("1"), TypeError, "stddev='1'"),
    (
        lambda: initializers.he_normal()(jax.random.key(0), (0, 4)),
        ValueError,
        r"positive sizes; got shape=\(0, 4\)",
    ),
    (
        lambda: initializers.he_normal()(jax.random.key(0), (2, 2), jnp.int32),
        TypeError,
        "floating dtype.*got dtype=int32",
    ),
    # constant's value is checked when the factory is called, and at init against
    # the shape (jax's "Incompatible types for broadcasting" named neither).
    (
        lambda: initializers.constant("abc"),
        TypeError,
        "constant: value must be a number or a numeric array; got value='abc'",
    ),
    (lambda: initializers.constant(None), TypeError, "got value=None"),
    (
        lambda: initializers.constant(np.ones(3))(jax.random.key(0), (2, 2)),
        ValueError,
        r"value of shape \(3,\) does not broadcast to shape=\(2, 2\)",
    ),
    (lambda: initializers.default_for("swish"), ValueError, "activation_name='swish'"),
    (lambda: initializers.default_for("swish"), ValueError, "relu, leaky_relu"),
    # A float dimension is refused, not truncated to 3 (jax refuses it too).
    (
        lambda: initializers.he_normal()(jax.random.key(0), (3.7, 4)),
        ValueError,
        r"shape must be a sequence of ints >= 0; got shape=\(3.7, 4\)",
    ),
    (
        lambda: initializers.normal()(jax.random.key(0), (-2, 3)),
        ValueError,
        r"ints >= 0; got shape=\(-2, 3\)",
    ),
    (lambda: initializers.zeros()(jax.random.key(0), 5), ValueError, "shape=5"),
    # A bool dimension is refused, not read as 1 (jax reads it as 1).
    (
        lambda: initializers.zeros()(jax.random.key(0), (True, 3)),
        ValueError,
        r"ints >= 0; got shape=\(True, 3\)",
    ),
    (
        lambda: initializers.he_uniform()(jax.random.key(0), (4, np.True_)),
        ValueError,
        r"ints >= 0; got shape=\(4, np.True_\)",
    ),
]


def test_numpy_scalar_hyperparameters_are_accepted():
    # float32: np.float32(0.1) is a real number, as jax.nn.initializers accepts it.
    key = jax.random.key(0)
    np.testing.assert_array_equal(
        initializers.normal(np.float32(0.1))(key, (2, 3), jnp.float32),
        jax.nn.initializers.normal(np.float32(0.1))(key, (2, 3), jnp.float32),
    )


@pytest.mark.parametrize(("call", "exc", "match"), BAD)
def test_bad_input_raises_with_a_precise_message(call, exc, match):
    # float32 where arrays are involved: the message names the argument, the value and
    # what was expected.
    with pytest.raises(exc, match=match):
        call()


def test_get_and_names():
    # float32 (the default dtype).
    assert initializers.NAMES == (
        "zeros",
        "ones",
        "constant",
        "normal",
        "uniform",
        "xavier_normal",
        "xavier_uniform",
        "he_normal",
        "he_uniform",
        "lecun_normal",
    )
    key = jax.random.key(6)
    for name in initializers.NAMES:
        hparams = {"value": 2.0} if name == "constant" else {}
        init = initializers.get(name, **hparams)
        assert init.__name__ == name
        assert initializers.get(init) is init
        factory = getattr(initializers, name)
        np.testing.assert_array_equal(init(key, DENSE), factory(**hparams)(key, DENSE))


DEFAULTS = [
    *[(a, "he_normal") for a in ("relu", "leaky_relu", "elu", "gelu", "silu", "prelu")],
    *[
        (a, "xavier_normal")
        for a in ("sigmoid", "tanh", "softmax", "identity", "softplus")
    ],
]


@pytest.mark.parametrize(("activation", "expected"), DEFAULTS)
def test_default_for(activation, expected):
    # float32 (the default dtype): He for the ReLU family, Xavier for the rest.
    init = initializers.default_for(activation)
    assert init.__name__ == expected
    key = jax.random.key(7)
    np.testing.assert_array_equal(
        init(key, DENSE), initializers.get(expected)(key, DENSE)
    )
