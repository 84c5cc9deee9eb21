"""Every layer's hand-written backward vs jax.vjp vs finite differences."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxnn import activations, gradcheck, models
from jaxnn import layers as L
from jaxnn._tree import tree_cast

LAYERS = {
    "dense": lambda: L.dense(4),
    "dense_no_bias": lambda: L.dense(3, use_bias=False),
    "prelu": lambda: L.prelu(),
    "batch_norm": lambda: L.batch_norm(),
    "batch_norm_unbiased": lambda: L.batch_norm(
        momentum=0.5, unbiased_running_var=True
    ),
    "dropout": lambda: L.dropout(0.3),
    "serial": lambda: L.serial(L.dense(6), L.activation("tanh"), L.dense(2)),
    "residual": lambda: L.residual(L.serial(L.dense(5), L.activation("elu"))),
    **{f"activation_{n}": (lambda n=n: L.activation(n)) for n in activations.NAMES},
}


CASES_F64 = [(n, True) for n in sorted(LAYERS)] + [
    (n, False) for n in ("batch_norm", "batch_norm_unbiased", "dropout")
]


@pytest.mark.parametrize(("name", "train"), CASES_F64)
def test_check_layer_float64(name, train):
    """float64: backward == jax.vjp to 1e-12 and == finite differences to 1e-6."""
    report = gradcheck.check_layer(
        LAYERS[name](), (5,), batch=6, dtype=jnp.float64, train=train
    )
    assert report.passed
    assert report.errors["backward vs vjp"] <= 1e-12
    assert report.errors["backward vs finite differences"] <= 1e-6


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_check_layer_float32(name):
    """float32: backward == jax.vjp to 1e-5, with float32 cotangents."""
    report = gradcheck.check_layer(LAYERS[name](), (5,), batch=6, dtype=jnp.float32)
    assert report.passed
    assert report.errors["backward vs vjp"] <= 1e-5
    assert "backward vs finite differences" not in report.errors


def _run(layer, dtype, *, train=True, batch=6, width=5):
    k1, k2, k3, k4 = jax.random.split(jax.random.key(3), 4)
    _, params, state = layer.init(k1, (width,))
    params, state = tree_cast(params, dtype), tree_cast(state, dtype)
    x = jax.random.normal(k2, (batch, width), dtype)
    y, new_state, cache = layer.forward(params, state, x, train=train, key=k4)
    dy = jax.random.normal(k3, y.shape, dtype)
    return params, state, x, y, new_state, cache, dy


@pytest.mark.parametrize(
    "name", ["dense", "batch_norm", "dropout", "residual", "prelu"]
)
def test_backward_under_jit_equals_eager(name):
    """float64: jax.jit(backward) gives the eager result."""
    layer = LAYERS[name]()
    *_, cache, dy = _run(layer, jnp.float64)
    eager = layer.backward(cache, dy)
    jitted = jax.jit(layer.backward)(cache, dy)
    np.testing.assert_allclose(
        np.concatenate([np.ravel(a) for a in jax.tree.leaves(eager)]),
        np.concatenate([np.ravel(a) for a in jax.tree.leaves(jitted)]),
        rtol=1e-13,
    )


SHARED = {"dense": ("b",), "batch_norm": ("gamma", "beta"), "prelu": ("alpha",)}


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_parameter_gradients_sum_in_the_input_dtype_like_jax_vjp(name):
    """bfloat16: a bias's, scale's or slope's gradient is the batch sum that jax.vjp
    emits for a broadcast, in bfloat16 (no float32 accumulation): equal bit for bit."""
    layer = LAYERS[name]()
    params, state, x, _, _, cache, dy = _run(layer, jnp.bfloat16, batch=64, width=16)

    def forward(params):
        return layer.forward(params, state, x, train=True)[0]

    manual, _ = layer.backward(cache, dy)
    auto = jax.vjp(forward, params)[1](dy)[0]
    shared = SHARED[name]
    for field in shared:
        m, a = getattr(manual, field), getattr(auto, field)
        assert m.dtype == a.dtype == jnp.bfloat16
        np.testing.assert_array_equal(
            np.asarray(m, np.float32), np.asarray(a, np.float32)
        )


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])
def test_dense_bias_gradient_over_several_batch_axes_equals_jax_vjp(dtype):
    """bfloat16 and float16, x of shape (8, 16, 5): db is jax.vjp's one reduce over
    both batch axes, bit for bit (summing the flattened (128, 4) rounds otherwise)."""
    layer = L.dense(4)
    k1, k2, k3 = jax.random.split(jax.random.key(11), 3)
    _, params, state = layer.init(k1, (16, 5))
    params = tree_cast(params, dtype)
    x = jax.random.normal(k2, (8, 16, 5), dtype)
    y, _, cache = layer.forward(params, state, x)
    dy = jax.random.normal(k3, y.shape, dtype)
    manual, _ = layer.backward(cache, dy)
    auto = jax.vjp(lambda p: layer.forward(p, state, x)[0], params)[1](dy)[0]
    assert manual.b.dtype == auto.b.dtype == dtype
    np.testing.assert_array_equal(
        np.asarray(manual.b, np.float32), np.asarray(auto.b, np.float32)
    )


def test_dense_without_bias_has_none_bias():
    """float32: use_bias=False leaves params.b and its gradient None."""
    layer = L.dense(3, use_bias=False)
    params, *_, cache, dy = _run(layer, jnp.float32)
    assert params.b is None
    dparams, _ = layer.backward(cache, dy)
    assert dparams.b is None


def test_relu_layer_gradient_at_zero_is_zero():
    """float64: ReLU'(0) = 0, as jax.nn.relu."""
    layer = L.activation("relu")
    x = jnp.array([[-1.0, 0.0, 2.0]], jnp.float64)
    _, _, cache = layer.forward((), (), x)
    _, dx = layer.backward(cache, jnp.ones_like(x))
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(dx, jax.grad(lambda x: jax.nn.relu(x).sum())(x))


def test_batch_norm_running_statistics():
    """float64: running = m·running + (1−m)·batch; eval mode uses the running stats."""
    layer = L.batch_norm(momentum=0.8, unbiased_running_var=True)
    params, state, x, y, new_state, *_ = _run(layer, jnp.float64)
    n = x.shape[0]
    np.testing.assert_allclose(new_state.mean, 0.2 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(
        new_state.var, 0.8 + 0.2 * x.var(0) * n / (n - 1), rtol=1e-12
    )
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    y_eval, same_state, _ = layer.forward(params, new_state, x, train=False)
    assert same_state is new_state
    expected = (x - new_state.mean) / np.sqrt(new_state.var + 1e-5)
    np.testing.assert_allclose(y_eval, expected, rtol=1e-12)


def test_batch_norm_cache_keeps_xhat_and_autodiff_never_sees_the_barrier():
    # On XLA:GPU the barrier keeps the backward from recomputing x̂ out of z, μ and σ²
    # (which held both statistics alive: +248 B over jax.grad at 2×256×128). The CPU
    # compiles the same bytes either way, so this checks the programs' structure: the
    # cache's x̂ comes out of the barrier, and jax.grad through y lowers without it.
    layer = L.batch_norm()
    _, params, state = layer.init(jax.random.key(0), (8, 4))
    x = jnp.arange(32.0, dtype=jnp.float32).reshape(8, 4)

    def forward(x):
        return layer.forward(params, state, x, train=True)

    jaxpr = jax.make_jaxpr(lambda x: forward(x)[2].xhat)(x).jaxpr
    (producer,) = [e for e in jaxpr.eqns if jaxpr.outvars[0] in e.outvars]
    assert producer.primitive.name == "optimization_barrier"
    y, _, cache = forward(x)
    np.testing.assert_array_equal(cache.xhat, y)  # γ = 1, β = 0: the same x̂
    grad_y = jax.jit(jax.grad(lambda x: forward(x)[0].sum()))
    assert "optimization_barrier" not in grad_y.lower(x).as_text()


def test_dropout_is_inverted_and_keyed():
    """float32: kept units are scaled by 1/(1−rate); same key, same mask; eval is identity."""
    layer = L.dropout(0.25)
    x = jnp.ones((200, 50), jnp.float32)
    key = jax.random.key(7)
    y1, _, _ = layer.forward((), (), x, train=True, key=key)
    y2, _, _ = layer.forward((), (), x, train=True, key=key)
    np.testing.assert_array_equal(y1, y2)
    assert set(np.unique(np.asarray(y1))) == {0.0, np.float32(1 / 0.75)}
    assert abs(float((y1 == 0).mean()) - 0.25) < 0.02  # 10⁴ draws: 5 standard errors
    y_eval, _, _ = layer.forward((), (), x, train=False)
    np.testing.assert_array_equal(y_eval, x)


class _PlantedError(Exception):
    pass


def _planted_dense(factor=1.01):
    """A user-written dense layer whose backward scales dw by ``factor`` (a 1 % bug)."""
    inner = L.dense(3)

    def backward(cache, dy):
        dparams, dx = inner.backward(cache, dy)
        return dparams._replace(w=dparams.w * factor), dx

    return L.Layer(inner.init, inner.forward, backward)


def test_check_layer_names_the_leaf_with_a_planted_error():
    """float64: a 1 % error in dw fails the check and the message names params.w."""
    with pytest.raises(AssertionError, match=r"worst leaf params\.w"):
        gradcheck.check_layer(_planted_dense(), (4,))
    report = gradcheck.check_layer(_planted_dense(), (4,), raise_on_fail=False)
    assert not report.passed
    assert report.worst_leaf == "params.w"
    assert report.errors["backward vs vjp"] > 1e-3


def test_check_layer_reports_wrong_dtype_and_structure():
    """float64: a backward returning float32 or a wrong tree is reported as a problem."""
    inner = L.dense(3)

    def wrong_dtype(cache, dy):
        dparams, dx = inner.backward(cache, dy)
        return dparams, dx.astype(jnp.float32)

    def wrong_tree(cache, dy):
        dparams, dx = inner.backward(cache, dy)
        return (dparams.w, dparams.b), dx

    for backward, pattern in (
        (wrong_dtype, "dtype of x"),
        (wrong_tree, "tree structure"),
    ):
        layer = L.Layer(inner.init, inner.forward, backward)
        report = gradcheck.check_layer(layer, (4,), raise_on_fail=False)
        assert not report.passed
        assert any(pattern in p for p in report.problems), report.problems
    assert report.worst_leaf == "<root>"
    report = gradcheck.check_layer(
        L.Layer(inner.init, inner.forward, wrong_dtype), (4,), raise_on_fail=False
    )
    assert report.worst_leaf == "x"  # the leaf with the problem, not params.w


def _planted(inner, backward):
    return L.Layer(inner.init, inner.forward, backward)


def _bn_without_gamma(cache, dy):
    """batch_norm's backward with ``γ`` dropped from ``dx``: exact at ``γ = 1``."""
    inner = L.batch_norm()
    return inner.backward(cache._replace(gamma=jnp.ones_like(cache.gamma)), dy)


def _prelu_one_slope(cache, dy):
    """prelu's backward with the first unit's slope for every unit."""
    inner = L.prelu()
    return inner.backward(
        cache._replace(alpha=jnp.full_like(cache.alpha, cache.alpha[0])), dy
    )


@pytest.mark.parametrize(
    ("inner", "backward", "train"),
    [
        (L.batch_norm(), _bn_without_gamma, True),
        (L.batch_norm(), _bn_without_gamma, False),
        (L.prelu(), _prelu_one_slope, True),
    ],
    ids=["bn-train-no-gamma", "bn-eval-no-gamma", "prelu-one-slope"],
)
def test_check_layer_moves_off_the_initial_values_where_wrong_rules_are_exact(
    inner, backward, train
):
    """float64: at γ = 1 (and one PReLU slope 0.25 for every unit) these wrong
    rules give the right numbers, and check_layer passed them; off the initial
    values (the default) they fail."""
    layer = _planted(inner, backward)
    check = functools.partial(gradcheck.check_layer, train=train, raise_on_fail=False)
    assert check(layer, (5,), batch=6, perturb=False).passed  # the blind spot
    report = check(layer, (5,), batch=6)
    assert not report.passed and report.errors["backward vs vjp"] > 1e-3
    assert check(inner, (5,), batch=6).passed  # the right rule still passes


def test_check_layer_keeps_a_zero_state_nonnegative():
    """float64: a layer normalising by a running mean square (state 0 at init) got
    a negative one from the perturbation (+0.1·n), rsqrt gave NaN, and its exact
    backward failed; zero state is moved by +0.1·|n|."""

    def init(key, input_shape):
        return tuple(input_shape), (), jnp.zeros(input_shape[-1:], jnp.float32)

    def forward(params, ms, x, *, train=False, key=None):
        scale = jax.lax.rsqrt(ms + 1e-5)
        return x * scale, ms, scale

    def backward(scale, dy):
        return (), dy * scale

    report = gradcheck.check_layer(L.Layer(init, forward, backward), (3,))
    assert report.passed, report


def test_check_layer_checks_a_layer_whose_output_has_another_dtype():
    """float64: a layer that returns float32 gets a float32 dy, as jax.vjp needs
    (a float64 dy crashed the check inside jax.vjp instead of reporting); its
    correct backward passes, a backward that ignores the cast is reported. (No
    finite differences: they cannot resolve a float32 output to float64's rtol.)"""
    inner = L.dense(3)

    def forward(params, state, x, *, train=False, key=None):
        y, state, cache = inner.forward(params, state, x, train=train, key=key)
        return y.astype(jnp.float32), state, cache

    def backward(cache, dy):  # the cast's vjp: dy back to the input's dtype
        return inner.backward(cache, dy.astype(cache.x.dtype))

    def forgets_the_cast(cache, dy):
        dparams, dx = inner.backward(cache, dy.astype(cache.x.dtype))
        return dparams, dx.astype(jnp.float32)

    check = functools.partial(
        gradcheck.check_layer, finite_differences=False, raise_on_fail=False
    )
    assert check(L.Layer(inner.init, forward, backward), (4,)).passed
    report = check(L.Layer(inner.init, forward, forgets_the_cast), (4,))
    assert not report.passed and report.worst_leaf == "x", report


# ### hypothesis: shapes ##############################################################


@given(batch=st.integers(1, 9), d_in=st.integers(1, 17), d_out=st.integers(1, 17))
def test_dense_any_shape(batch, d_in, d_out):
    """float64 and float32: dense backward == jax.vjp for batch 1–9, widths 1–17."""
    for dtype in (jnp.float64, jnp.float32):
        report = gradcheck.check_layer(
            L.dense(d_out),
            (d_in,),
            batch=batch,
            dtype=dtype,
            finite_differences=False,
            raise_on_fail=False,
        )
        assert (
            report.errors["backward vs vjp"]
            <= gradcheck.RTOL_VJP[jnp.dtype(dtype).name]
        )
        assert not report.problems


@given(batch=st.integers(2, 9), width=st.integers(1, 17), train=st.booleans())
def test_batch_norm_any_shape(batch, width, train):
    """batch_norm backward == jax.vjp for batch 2–9, widths 1–17: float64 always,
    float32 from batch 3. At batch 2 in training, x̂ = ±1/√(1 + ε/c²) and dx is a
    difference of nearly equal terms times 1/√(σ² + ε), up to 1/√ε ≈ 316: for two
    close inputs (σ² = 5.8e-5 in one feature, width 14) float32 rounding alone put
    the two programs 2.2e-5 apart, while float64 agreed to 3.6e-16 on the same draw
    (and finite differences to 5.8e-9)."""
    dtypes = (jnp.float64, jnp.float32) if batch > 2 or not train else (jnp.float64,)
    for dtype in dtypes:
        report = gradcheck.check_layer(
            L.batch_norm(),
            (width,),
            batch=batch,
            dtype=dtype,
            train=train,
            finite_differences=False,
            raise_on_fail=False,
        )
        assert (
            report.errors["backward vs vjp"]
            <= gradcheck.RTOL_VJP[jnp.dtype(dtype).name]
        )


# ### bad input ######################################################################


def test_dense_rejects_mismatched_width():
    layer = L.dense(3)
    _, params, state = layer.init(jax.random.key(0), (4,))
    with pytest.raises(ValueError, match=r"width\) 4.*x\.shape=\(2, 5\)"):
        layer.forward(params, state, jnp.ones((2, 5)))


@pytest.mark.parametrize("features", [0, -3, 2.5])
def test_dense_rejects_non_positive_size(features):
    with pytest.raises(
        ValueError, match=rf"features must be a positive int; got features={features}"
    ):
        L.dense(features)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), float("inf")])
def test_dropout_rejects_rate_outside_unit_interval(rate):
    with pytest.raises(ValueError, match=rf"rate must be in \[0, 1\); got rate={rate}"):
        L.dropout(rate)


def test_dropout_needs_key_in_training():
    with pytest.raises(ValueError, match="key=None"):
        L.dropout(0.5).forward((), (), jnp.ones((2, 2)), train=True)


@pytest.mark.parametrize(
    "eps",
    [0.0, -1e-5, float("inf"), float("nan"), -float("inf"), np.float32("inf")],
)
def test_batch_norm_rejects_eps_that_is_not_finite_and_positive(eps):
    # eps=inf was accepted (the check was eps > 0): 1/√(σ² + ∞) = 0 maps every
    # input to β and every gradient to 0; eps=nan makes every output NaN.
    with pytest.raises(
        ValueError,
        match=rf"eps must be a finite number > 0; got eps={re.escape(repr(eps))}\.",
    ):
        L.batch_norm(eps=eps)


@pytest.mark.parametrize("momentum", [1.5, -0.1, float("nan"), float("inf")])
def test_batch_norm_rejects_momentum_outside_unit_interval(momentum):
    with pytest.raises(
        ValueError,
        match=rf"momentum must be in \[0, 1\]; got momentum={re.escape(repr(momentum))}\.",
    ):
        L.batch_norm(momentum=momentum)


@pytest.mark.parametrize("init_alpha", [float("inf"), -float("inf"), float("nan")])
def test_prelu_rejects_a_non_finite_init_alpha(init_alpha):
    with pytest.raises(
        ValueError, match=rf"init_alpha must be finite; got init_alpha={init_alpha!r}\."
    ):
        L.prelu(init_alpha)


def test_batch_norm_rejects_a_tiny_batch():
    layer = L.batch_norm()
    _, params, state = layer.init(jax.random.key(0), (3,))
    with pytest.raises(ValueError, match=r"at least 2 examples.*\(1, 3\)"):
        layer.forward(params, state, jnp.ones((1, 3), jnp.float32), train=True)


def test_residual_rejects_shape_change():
    with pytest.raises(ValueError, match=r"input_shape=\(4,\) and output shape \(3,\)"):
        L.residual(L.dense(3)).init(jax.random.key(0), (4,))


def test_serial_rejects_non_layers():
    with pytest.raises(TypeError, match=r"layers\[1\] must be a Layer"):
        L.serial(L.dense(2), "relu")
    with pytest.raises(ValueError, match="at least one layer"):
        L.serial()
    with pytest.raises(TypeError, match="residual: layer must be a Layer; got layer="):
        L.residual(L.dense)  # the factory, not a layer: failed at init, obscurely


def test_serial_names_params_or_state_of_another_length():
    """An mlp with batch_norm given ``()`` for its state failed inside zip()."""
    model = models.mlp([3, 2], batch_norm=True)
    _, params, state = model.init(jax.random.key(0), (4,))
    x = jnp.ones((5, 4), jnp.float32)
    n = len(params)
    with pytest.raises(ValueError, match=f"serial of {n} layers: state must be a "):
        model.forward(params, (), x)
    with pytest.raises(ValueError, match=rf"params must be .*; got length {n - 1}"):
        model.forward(params[:-1], state, x)
    with pytest.raises(ValueError, match="params must be .*; got {}"):
        model.forward({}, state, x)


def test_unknown_initializer_name_lists_valid_ones():
    with pytest.raises(ValueError, match="he_normal"):
        L.dense(3, initializer="kaiming_magic")


def test_inputs_of_another_dtype_and_misshapen_vectors_are_refused():
    # No silent promotion: float64 x through float32 parameters would give float64
    # manual gradients where jax.grad gives float32 ones; no silent broadcast of a
    # bias, β or running statistic of shape (1,).
    key = jax.random.key(0)
    dense = L.dense(3)
    _, p, s = dense.init(key, (2,))
    x32 = jnp.ones((4, 2), jnp.float32)
    with pytest.raises(TypeError, match="dtype float32; got x.dtype=float64"):
        dense.forward(p, s, x32.astype(jnp.float64))
    with pytest.raises(TypeError, match="got x.dtype=int32"):
        dense.forward(p, s, x32.astype(jnp.int32))
    with pytest.raises(
        ValueError, match=r"b must have shape \(3,\); got b.shape=\(1,\)"
    ):
        dense.forward(p._replace(b=jnp.zeros((1,), jnp.float32)), s, x32)
    bn = L.batch_norm()
    _, p, s = bn.init(key, (2,))
    with pytest.raises(ValueError, match=r"beta must have shape \(2,\)"):
        bn.forward(p._replace(beta=jnp.zeros((1,), jnp.float32)), s, x32, train=True)
    with pytest.raises(ValueError, match=r"state.var must have shape \(2,\)"):
        bn.forward(p, s._replace(var=jnp.ones((1,), jnp.float32)), x32)


@pytest.mark.parametrize("train", [False, True])
def test_vectors_and_running_statistics_of_another_dtype_are_refused(train):
    """float64: a float32 running variance beside float64 parameters made
    evaluation float32-accurate and training turn the state into float64; a
    float64 bias promoted a float32 dense's output, so the right dy was refused."""
    key = jax.random.key(0)
    x64 = jnp.ones((4, 2), jnp.float64)
    bn = L.batch_norm()
    _, p, s = bn.init(key, (2,))  # float32 parameters and state
    p64 = jax.tree.map(lambda a: a.astype(jnp.float64), p)
    s64 = jax.tree.map(lambda a: a.astype(jnp.float64), s)
    for params, state, name, got in [
        (p64, s, "state.mean", "float32"),
        (p64, s64._replace(var=s.var), "state.var", "float32"),
        (p64._replace(beta=p.beta), s64, "beta", "float32"),
    ]:
        with pytest.raises(
            TypeError,
            match=f"batch_norm: {name} must have the parameters' dtype "
            f"float64; got {name}.dtype={got}",
        ):
            bn.forward(params, state, x64, train=train)
    y, new_state, _ = bn.forward(p64, s64, x64, train=train)  # cast together: fine
    assert y.dtype == jnp.float64
    assert all(a.dtype == jnp.float64 for a in jax.tree.leaves(new_state))
    dense = L.dense(3)
    _, p, s = dense.init(key, (2,))
    with pytest.raises(
        TypeError, match="dense: b must have .* float32; got b.dtype=float64"
    ):
        dense.forward(p._replace(b=p.b.astype(jnp.float64)), s, x64.astype(jnp.float32))


def test_prelu_refuses_inputs_of_another_dtype():
    # float32 parameters: a float64 x gave a float64 dα where jax.vjp gives float32,
    # and an int32 x was silently promoted.
    layer = L.prelu()
    _, p, s = layer.init(jax.random.key(0), (3,))
    x32 = jnp.ones((4, 3), jnp.float32)
    with pytest.raises(TypeError, match="prelu: .*dtype float32; got x.dtype=float64"):
        layer.forward(p, s, x32.astype(jnp.float64))
    with pytest.raises(TypeError, match="prelu: .*got x.dtype=int32"):
        layer.forward(p, s, x32.astype(jnp.int32))
    with pytest.raises(ValueError, match=r"alpha must have shape \(3,\)"):
        layer.forward(p._replace(alpha=jnp.ones((3, 1), jnp.float32)), s, x32)


def test_dropout_refuses_integer_input_in_training():
    # int32: the scale 1/(1 − rate) cast to int32 is 1/0, which made every unit inf
    # or nan; evaluation (the identity) still passes integers through.
    layer = L.dropout(0.25)
    x = jnp.ones((2, 4), jnp.int32)
    with pytest.raises(TypeError, match="floating input x.*got x.dtype=int32"):
        layer.forward((), (), x, train=True, key=jax.random.key(0))
    y, _, _ = layer.forward((), (), x, train=False)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: L.batch_norm(momentum=True),
            "momentum must be a real number; got momentum=True",
        ),
        (lambda: L.batch_norm(eps=True), "eps must be a real number; got eps=True"),
        (lambda: L.dropout(False), "rate must be a real number; got rate=False"),
        (
            lambda: L.prelu(True),
            "init_alpha must be a real number; got init_alpha=True",
        ),
        (
            lambda: L.prelu("0.1"),
            "init_alpha must be a real number; got init_alpha='0.1'",
        ),
        (lambda: L.batch_norm(momentum="0.9"), "momentum must be a real number"),
    ],
)
def test_hyperparameters_refuse_bools_and_non_numbers(build, match):
    # A bool is not read as 0.0 or 1.0 (momentum=True froze the running statistics).
    with pytest.raises(TypeError, match=match):
        build()


def test_numpy_integer_sizes_are_accepted():
    # float32. np.int64(3) is a positive int: it was refused with a message saying it
    # must be a positive int. Sizes come back as Python ints.
    from jaxnn import models

    layer = L.dense(np.int64(3))
    out_shape, params, _ = layer.init(jax.random.key(0), (np.int64(4),))
    assert out_shape == (3,) and type(out_shape[-1]) is int
    assert params.w.shape == (4, 3)
    out_shape, *_ = models.mlp(np.array([4, 2])).init(jax.random.key(0), (5,))
    assert out_shape == (2,)
    with pytest.raises(ValueError, match="features must be a positive int"):
        L.dense(np.int64(0))


def test_mlp_sizes_must_be_a_sequence():
    from jaxnn import models

    with pytest.raises(
        TypeError, match="sizes must be a sequence of positive ints.*got sizes=5"
    ):
        models.mlp(5)


@pytest.mark.parametrize("name", ["dense", "prelu", "batch_norm"])
def test_init_refuses_an_input_shape_without_a_width(name):
    # prelu and batch_norm raised a bare IndexError for input_shape=().
    with pytest.raises(
        ValueError,
        match=rf"{name}: input_shape must end with the input width; got "
        r"input_shape=\(\)",
    ):
        LAYERS[name]().init(jax.random.key(0), ())


DY_CASES = [
    "dense",
    "prelu",
    "batch_norm",
    "dropout",
    "serial",
    "residual",
    "activation_relu",
    "activation_softmax",
]


@pytest.mark.parametrize("name", DY_CASES)
def test_backward_refuses_a_dy_of_another_shape_or_dtype(name):
    """``dy`` must be shaped and typed like the layer's output, as ``jax.vjp``
    requires of a cotangent: a broadcastable ``(1, d)`` dy was broadcast over the
    batch, and a float16 dy promoted nothing but silently changed the gradients."""
    layer = LAYERS[name]()
    x = jax.random.normal(jax.random.key(0), (6, 5), jnp.float32)
    _, params, state = layer.init(jax.random.key(1), (5,))
    y, _, cache = layer.forward(params, state, x, train=True, key=jax.random.key(2))
    layer.backward(cache, jnp.ones_like(y))  # the right dy is accepted
    with pytest.raises(ValueError, match=r"dy must have the layer output's shape"):
        layer.backward(cache, jnp.ones((1, y.shape[-1]), y.dtype))
    with pytest.raises(TypeError, match=r"dy must have the layer output's dtype"):
        layer.backward(cache, jnp.ones(y.shape, jnp.float16))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: L.dense(3, use_bias="no"), "use_bias"),
        (lambda: models.mlp([4, 2], batch_norm="no"), "batch_norm"),
        (lambda: models.mlp([4, 2], residual=1), "residual"),
        (lambda: _forward(L.batch_norm(), train="no"), "train"),
        (lambda: _forward(L.dropout(0.5), train="no", key=jax.random.key(1)), "train"),
    ],
)
def test_flags_refuse_what_is_not_a_bool(call, name):
    # A truthy "no" added a bias, inserted batch_norm, or trained.
    with pytest.raises(ValueError, match=f"{name} must be a bool; got {name}="):
        call()


def _forward(layer, **kwargs):
    _, params, state = layer.init(jax.random.key(0), (4,))
    return layer.forward(params, state, jnp.ones((3, 4), jnp.float32), **kwargs)


@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_refuses_params_whose_bias_contradicts_use_bias(use_bias):
    """forward added a ``b`` it found while backward, following ``use_bias``,
    returned ``db = None`` (or a ``db`` with no slot in the params)."""
    layer = L.dense(3, use_bias=use_bias)
    _, params, state = layer.init(jax.random.key(0), (4,))
    params = params._replace(b=None if use_bias else jnp.zeros(3, jnp.float32))
    with pytest.raises(
        ValueError, match=rf"dense\(use_bias={use_bias}\) needs params.b"
    ):
        layer.forward(params, state, jnp.ones((2, 4), jnp.float32))


def test_an_int_input_shape_and_a_list_input_are_refused_by_name():
    # "object of type 'int' has no len()" and "'list' object has no attribute 'ndim'".
    layer = L.dense(3)
    with pytest.raises(
        TypeError, match=r"dense: input_shape must be a tuple .*got input_shape=4"
    ):
        layer.init(jax.random.key(0), 4)
    _, params, state = layer.init(jax.random.key(0), [2])
    with pytest.raises(TypeError, match="dense: input x must be an array .*got list"):
        layer.forward(params, state, [[1.0, 2.0]])
