"""Diagnostics against direct computations on small nets, eagerly and under jit."""

import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import activations, backprop, diagnostics, gradcheck, layers, models
from jaxnn.layers import DenseParams

LOSS = "softmax_cross_entropy_with_integer_labels"
# Widths of 64 everywhere: the weights' and inputs' normal draws share one compiled
# shape with the examples' networks, which keeps the suite fast.
W = 64


def _inputs(dtype, key=1):
    return jax.random.normal(jax.random.key(key), (W, W), jnp.float32).astype(dtype)


def _net_and_batch(dtype, *, activation="tanh", batch_norm=False, residual=False):
    net = models.mlp(
        [W, W, 10], activation=activation, batch_norm=batch_norm, residual=residual
    )
    _, params, state = net.init(jax.random.key(0), (W,))
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    x = _inputs(dtype)
    y = jnp.arange(W) % 10
    return net, params, state, x, y


def _manual_forward(params, x, act):
    """The plain mlp([W, W, 10]) written out: (z1, y1, z2, y2, logits)."""
    (d1, _), (d2, _), d3 = params
    z1 = x @ d1.w + d1.b
    y1 = act(z1)
    z2 = y1 @ d2.w + d2.b
    y2 = act(z2)
    return z1, y1, z2, y2, y2 @ d3.w + d3.b


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_grad_norms_and_ratios_match_direct_norms(dtype):
    net, params, state, x, y = _net_and_batch(dtype)
    _, grads = backprop.value_and_grad(net, LOSS)(params, state, x, y)
    (g1, _), (g2, _), g3 = grads
    want = np.array([np.linalg.norm(np.asarray(g.w)) for g in (g1, g2, g3)])
    got = diagnostics.layer_grad_norms(grads)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(
        diagnostics.grad_norm_ratios(grads), want / want[-1], rtol=1e-6
    )
    np.testing.assert_allclose(
        diagnostics.first_last_ratio(grads), want[0] / want[-1], rtol=1e-6
    )
    with_bias = np.array(
        [np.sqrt(np.sum(np.square(g.w)) + np.sum(np.square(g.b))) for g in (g1, g2, g3)]
    )
    np.testing.assert_allclose(
        diagnostics.layer_grad_norms(grads, include_bias=True), with_bias, rtol=1e-6
    )
    jitted = jax.jit(diagnostics.grad_norm_ratios)(grads)
    np.testing.assert_allclose(jitted, want / want[-1], rtol=1e-6)


def test_dense_walk_covers_batch_norm_and_residual_blocks():
    net, params, state, x, _ = _net_and_batch(
        jnp.float32, batch_norm=True, residual=True
    )
    assert diagnostics.dense_paths(params) == ["[0][0]", "[1][0]", "[2]"]
    assert len(diagnostics.dense_layers(params)) == 3
    _, _, cache = net.forward(params, state, x, train=True)
    paths = diagnostics.activation_paths(cache)
    assert paths == [".caches[0].caches[2]", ".caches[1].inner.caches[2]"]
    assert len(diagnostics.activation_caches(cache)) == 2


def test_update_ratios_match_direct_computation_and_handle_zero_weights():
    w = DenseParams(jnp.array([[3.0, 4.0]], jnp.float32), jnp.zeros(2, jnp.float32))
    zero = DenseParams(jnp.zeros((2, 1), jnp.float32), jnp.zeros(1, jnp.float32))
    params = (w, zero, zero)
    updates = (
        DenseParams(jnp.array([[0.3, 0.0]], jnp.float32), jnp.ones(2, jnp.float32)),
        DenseParams(jnp.ones((2, 1), jnp.float32), jnp.zeros(1, jnp.float32)),
        DenseParams(jnp.zeros((2, 1), jnp.float32), jnp.zeros(1, jnp.float32)),
    )
    got = np.asarray(jax.jit(diagnostics.update_ratios)(params, updates))
    np.testing.assert_allclose(got[0], 0.3 / 5.0, rtol=1e-6)
    assert got[1] == np.inf and got[2] == 0.0
    with_bias = diagnostics.update_ratios(params, updates, include_bias=True)
    np.testing.assert_allclose(with_bias[0], np.sqrt(0.09 + 2) / 5.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_activation_stats_and_saturation_match_direct_forward(dtype):
    net, params, state, x, _ = _net_and_batch(dtype)
    params = jax.tree.map(lambda a: 3 * a, params)  # push tanh into saturation
    _, _, cache = net.forward(params, state, x)
    z1, y1, z2, y2, _ = _manual_forward(params, x, jnp.tanh)
    stats = jax.jit(diagnostics.activation_stats)(cache)
    np.testing.assert_allclose(stats.mean, [jnp.mean(y1), jnp.mean(y2)], rtol=1e-5)
    np.testing.assert_allclose(stats.std, [jnp.std(y1), jnp.std(y2)], rtol=1e-5)
    np.testing.assert_allclose(stats.z_mean, [jnp.mean(z1), jnp.mean(z2)], rtol=1e-5)
    np.testing.assert_allclose(stats.z_std, [jnp.std(z1), jnp.std(z2)], rtol=1e-5)
    for threshold in (0.5, 2.0):
        want = [np.mean(np.abs(np.asarray(z)) > threshold) for z in (z1, z2)]
        got = jax.jit(diagnostics.saturation_fraction, static_argnums=1)(
            cache, threshold
        )
        np.testing.assert_allclose(got, want)
    assert 0 < float(diagnostics.saturation_fraction(cache)[0]) < 1


LOW = pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])


@LOW
def test_saturation_fraction_of_low_precision_inputs_is_exact_float32(dtype):
    """1001 of 3000 pre-activations saturated: the fraction came back in the input's
    dtype, 0.33398 in bfloat16 and 0.33374 in float16 (~3 significant digits)."""
    z = jnp.where(jnp.arange(3000) < 1001, 5.0, 0.5).astype(dtype).reshape(30, 100)
    cache = (layers.ActivationCache(z, jnp.tanh(z)),)
    got = jax.jit(diagnostics.saturation_fraction)(cache)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, [1001 / 3000], rtol=1e-6)
    # The threshold is not rounded to the input's dtype: 2.015625 (exact in both)
    # is above 2.015, which both bfloat16 and float16 round to 2.015625.
    z = jnp.array([[2.015625, 1.0, 1.0, 1.0]], dtype)
    cache = (layers.ActivationCache(z, jnp.tanh(z)),)
    np.testing.assert_array_equal(diagnostics.saturation_fraction(cache, 2.015), [0.25])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_statistics_of_float32_and_float64_inputs_keep_their_dtype(dtype):
    z = jnp.where(jnp.arange(300) < 101, 5.0, 0.5).astype(dtype).reshape(3, 100)
    cache = (layers.ActivationCache(z, jnp.tanh(z)),)
    got = diagnostics.saturation_fraction(cache)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, [101 / 300], rtol=1e-6)
    stats = diagnostics.activation_stats(cache)
    assert all(s.dtype == dtype for s in stats)
    params = (DenseParams(jnp.ones((3, 2), dtype), jnp.ones(2, dtype)),)
    assert diagnostics.layer_norms(params, include_bias=True).dtype == dtype


@LOW
def test_activation_stats_of_low_precision_inputs_are_float32(dtype):
    """The mean and standard deviation of bfloat16/float16 activations came back
    rounded to the input's ~3 significant digits."""
    z = _inputs(dtype)  # normal draws, exactly representable in dtype
    y = jnp.tanh(z)
    stats = jax.jit(diagnostics.activation_stats)((layers.ActivationCache(z, y),))
    assert all(s.dtype == jnp.float32 for s in stats)
    z64, y64 = np.asarray(z, np.float64), np.asarray(y, np.float64)
    for got, want in [
        (stats.mean, y64.mean()),
        (stats.std, y64.std()),
        (stats.z_mean, z64.mean()),
        (stats.z_std, z64.std()),
    ]:
        np.testing.assert_allclose(got, [want], rtol=1e-5, atol=1e-7)


@LOW
def test_layer_norms_of_low_precision_trees_are_float32(dtype):
    """float16: Σ W² of a 64×64 weight of 10s is 409600 > 65504 and overflowed to
    an inf norm (and a NaN or inf ratio); bfloat16 rounded the norm to ~3 digits."""
    w = jnp.full((W, W), 10.0, dtype).at[0, 0].set(3.0)
    b = jnp.full((W,), 0.5, dtype)
    tree = (DenseParams(w, b), DenseParams(w, b))
    want = np.sqrt(np.sum(np.square(np.asarray(w, np.float64))))
    for fn in (diagnostics.layer_norms, diagnostics.layer_grad_norms):
        got = jax.jit(fn)(tree)
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(got, [want, want], rtol=1e-6)
    with_bias = diagnostics.layer_norms(tree, include_bias=True)
    np.testing.assert_allclose(with_bias[0], np.sqrt(want**2 + W * 0.25), rtol=1e-6)
    ratios = diagnostics.grad_norm_ratios(tree)
    assert ratios.dtype == jnp.float32
    np.testing.assert_array_equal(ratios, [1.0, 1.0])
    updates = jax.tree.map(lambda a: a / 1000, tree)
    got = diagnostics.update_ratios(tree, updates)
    np.testing.assert_allclose(got, [1e-3, 1e-3], rtol=1e-3)


def test_unit_activity_and_dead_fraction_match_direct_count():
    net, params, state, x, _ = _net_and_batch(jnp.float64, activation="relu")
    (d1, a1), (d2, a2), d3 = params
    params = ((d1._replace(b=d1.b.at[: W // 2].set(-100.0)), a1), (d2, a2), d3)
    _, _, cache = net.forward(params, state, x)
    z1, y1, z2, _, _ = _manual_forward(params, x, activations.relu)
    activity = diagnostics.unit_activity(cache)
    np.testing.assert_array_equal(activity[0], np.any(np.asarray(z1) > 0, axis=0))
    np.testing.assert_array_equal(activity[1], np.any(np.asarray(z2) > 0, axis=0))
    dead = diagnostics.dead_fraction(activity)
    want = [1 - np.mean(np.any(np.asarray(z) > 0, axis=0)) for z in (z1, z2)]
    np.testing.assert_allclose(dead, want)
    assert float(dead[0]) >= 0.5  # half the units have bias −100


def test_dead_unit_fraction_over_a_data_set_in_batches_equals_one_pass():
    net, params, state, x, _ = _net_and_batch(jnp.float32, activation="relu")
    (d1, a1), rest2, d3 = params
    # Unit 0 fires only for the last example: every batch must be seen.
    x = x.at[:, 0].set(-1.0).at[-1, 0].set(1.0)
    w = jnp.zeros_like(d1.w).at[0, 0].set(1.0)
    b = jnp.zeros_like(d1.b).at[0].set(-0.5).at[1:].set(-1.0)
    params = ((DenseParams(w, b), a1), rest2, d3)
    whole = diagnostics.dead_unit_fraction(net, params, state, x)
    np.testing.assert_allclose(whole[0], (W - 1) / W)  # only unit 0 ever fires
    fn = jax.jit(
        diagnostics.dead_unit_fraction,
        static_argnums=0,
        static_argnames=("batch_size", "train"),
    )
    for batch_size in (5, W, 100):  # padded batches, exact and a single pass
        got = fn(net, params, state, x, batch_size=batch_size)
        np.testing.assert_allclose(got, whole)
    with pytest.raises(ValueError, match="batch_size"):
        diagnostics.dead_unit_fraction(net, params, state, x, batch_size=0)


def test_prelu_caches_count_as_activations():
    net = layers.serial(layers.dense(W), layers.prelu(0.1), layers.dense(10))
    _, params, state = net.init(jax.random.key(1), (W,))
    x = _inputs(jnp.float32)
    _, _, cache = net.forward(params, state, x)
    z = x @ params[0].w + params[0].b
    y = jnp.where(z >= 0, z, 0.1 * z)
    stats = diagnostics.activation_stats(cache)
    np.testing.assert_allclose(stats.mean, [jnp.mean(y)], rtol=1e-6)
    np.testing.assert_allclose(stats.z_std, [jnp.std(z)], rtol=1e-6)
    assert diagnostics.pre_activations(cache)[0].shape == (W, W)


def test_a_net_without_activations_gives_empty_statistics():
    net = layers.serial(layers.dense(10))
    _, params, state = net.init(jax.random.key(0), (W,))
    _, _, cache = net.forward(params, state, jnp.ones((4, W), jnp.float32))
    assert diagnostics.activation_stats(cache).mean.shape == (0,)
    assert diagnostics.dead_fraction(diagnostics.unit_activity(cache)).shape == (0,)


def test_layer_report_under_jit_equals_eager_and_direct_values():
    net, params, state, x, y = _net_and_batch(jnp.float32, activation="sigmoid")
    eager = diagnostics.layer_report(net, LOSS, params, state, x, y)
    jitted = diagnostics.jitted_layer_report(net, LOSS)(params, state, x, y)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    (loss, _), grads = backprop.value_and_grad(net, LOSS)(params, state, x, y)
    np.testing.assert_allclose(eager.loss, loss, rtol=1e-6)
    np.testing.assert_allclose(eager.grad_norms, diagnostics.layer_grad_norms(grads))
    # the last layer over itself: 1 up to one float32 rounding (a·(1/a) or a/a)
    np.testing.assert_allclose(eager.grad_ratios[-1], 1.0, rtol=2e-7)
    assert eager.activations.mean.shape == eager.saturation.shape == eager.dead.shape
    assert diagnostics.jitted_layer_report(
        net, LOSS
    ) is diagnostics.jitted_layer_report(net, LOSS)


class _Leaves(NamedTuple):
    good: jax.Array
    bad: jax.Array


def test_locate_nonfinite_names_the_right_paths():
    tree = {
        "a": jnp.ones(3, jnp.float32),
        "b": (jnp.array([1.0, jnp.nan], jnp.float32), jnp.zeros(2, jnp.float64)),
        "c": _Leaves(jnp.ones(1, jnp.float32), jnp.array([jnp.inf], jnp.float32)),
        "d": jnp.array(-jnp.inf, jnp.float64),
    }
    assert diagnostics.locate_nonfinite(tree) == ["['b'][0]", "['c'].bad", "['d']"]
    assert not bool(diagnostics.all_finite(tree))
    assert bool(jax.jit(diagnostics.all_finite)({"a": jnp.ones(2)}))
    assert bool(diagnostics.all_finite(()))
    mask = jax.jit(diagnostics.nonfinite_mask)(tree)
    assert [bool(m) for m in jax.tree.leaves(mask)] == [
        False,
        True,
        False,
        False,
        True,
        True,
    ]
    assert diagnostics.locate_nonfinite({"a": jnp.zeros(2)}) == []


def test_locate_nonfinite_on_network_parameters():
    net = models.mlp([W, W, 10], activation="relu", batch_norm=True)
    _, params, _ = net.init(jax.random.key(0), (W,))
    (b1, (b2_dense, bn, act), out) = params[0], params[1], params[2]
    params = (b1, (b2_dense._replace(w=b2_dense.w.at[0, 0].set(jnp.nan)), bn, act), out)
    assert diagnostics.locate_nonfinite(params) == ["[1][0].w"]


def test_bad_inputs_raise_instead_of_broadcasting_or_nan():
    """float32. Mismatched update trees were broadcast, a zero output gradient gave
    NaN ratios, an empty data set reported every unit dead, and any threshold or
    batch size was accepted."""
    net, params, state, x, _ = _net_and_batch(jnp.float32, activation="relu")
    grads = jax.tree.map(jnp.ones_like, params)
    with pytest.raises(ValueError, match=r"1 layer\(s\) in updates and 3 in params"):
        diagnostics.update_ratios(params, [grads[0]])
    out = grads[-1]._replace(w=jnp.zeros_like(grads[-1].w))
    ratios = diagnostics.grad_norm_ratios((*grads[:-1], out))
    np.testing.assert_array_equal(ratios, [np.inf, np.inf, 0.0])
    with pytest.raises(ValueError, match="at least one dense layer"):
        diagnostics.grad_norm_ratios(())
    with pytest.raises(
        ValueError, match=r"at least one example; got x.shape=\(0, 64\)"
    ):
        diagnostics.dead_unit_fraction(net, params, state, x[:0])
    for bad in (2.5, True, 0):
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            diagnostics.dead_unit_fraction(net, params, state, x, batch_size=bad)
    cache = net.forward(params, state, x)[2]
    for bad in (-1.0, float("nan"), "3"):
        with pytest.raises(ValueError, match="threshold must be a finite number >= 0"):
            diagnostics.saturation_fraction(cache, bad)
    np.testing.assert_array_equal(
        diagnostics.saturation_fraction(cache, np.float32(3.0)),
        diagnostics.saturation_fraction(cache, 3.0),
    )


def test_ratios_of_nan_norms_are_nan_not_zero_or_inf():
    """float32. A NaN gradient or parameter norm gave ratios of 0 or inf (a NaN output
    layer read as [inf, inf, 0], a NaN first layer over a zero output layer as 0, NaN
    parameters as "moved from zero"); the plain quotient gives NaN, and so must they."""
    dense = lambda w: DenseParams(jnp.array([[w]], jnp.float32), jnp.zeros(1))
    nan = float("nan")
    ratios = diagnostics.grad_norm_ratios((dense(1.0), dense(2.0), dense(nan)))
    np.testing.assert_array_equal(ratios, [nan, nan, nan])
    ratios = diagnostics.grad_norm_ratios((dense(nan), dense(2.0), dense(0.0)))
    np.testing.assert_array_equal(ratios, [nan, np.inf, 0.0])
    params = (dense(nan), dense(0.0), dense(0.0), dense(2.0))
    updates = (dense(1.0), dense(nan), dense(0.0), dense(1.0))
    got = jax.jit(diagnostics.update_ratios)(params, updates)
    np.testing.assert_array_equal(got, [nan, nan, 0.0, 0.5])


# ### gradcheck edge cases (its main tests are in test_backprop) ######################


def test_numerical_grad_divides_by_the_step_each_leaf_actually_took():
    """A float32 leaf beside a float64 one: the step was computed in float64 but the
    leaf moved by its float32 rounding, so its gradient was off by up to ~5%. f is
    linear and evaluated in float64, so the true differences are exact."""
    params = {
        "a": jnp.array([1.0, -1.0, 3.0, 0.1], jnp.float32),
        "b": jnp.array([1.0, -3.0], jnp.float64),
    }
    c = jnp.array([0.5, 2.0, -1.0, 3.0])

    def f(p):
        return jnp.sum(c * p["a"].astype(jnp.float64)) + jnp.sum(p["b"] ** 2)

    # A NumPy float64 eps (np.logspace's) made the float32 leaf's steps float64:
    # 1.7e-5 off; it must change nothing. The float32 leaf alone: f is float64, and
    # its partials came back float64 (jax.grad's are float32).
    p = params
    for eps in (1e-6, np.float64(1e-6), np.float32(1e-6)):
        grads = gradcheck.numerical_grad(f, params, eps=eps)
        assert grads["a"].dtype == jnp.float32 and grads["b"].dtype == jnp.float64
        np.testing.assert_allclose(grads["a"], c, rtol=1e-7)
        np.testing.assert_allclose(grads["b"], [2.0, -6.0], rtol=1e-8)
        alone = gradcheck.numerical_grad(
            lambda a: f({**p, "a": a}), params["a"], eps=eps
        )
        assert alone.dtype == jnp.float32
        np.testing.assert_allclose(alone, c, rtol=1e-7)


def test_numerical_grad_refuses_an_eps_whose_step_can_vanish():
    """eps = inf gave NaN everywhere, eps = True was taken as 1, and an eps below the
    leaf dtype's epsilon a zero step and 0/0 = NaN; all are refused, naming eps (and
    the leaf's dtype)."""
    f = lambda p: jnp.sum(p**2)
    x64, x32 = jnp.array([1.0, 3.0]), jnp.array([1.0, 3.0], jnp.float32)
    for bad in (float("inf"), float("nan"), 0.0, -1e-6, True):
        with pytest.raises(
            ValueError, match=rf"eps must be a finite number > 0.*{bad}"
        ):
            gradcheck.numerical_grad(f, x64, eps=bad)
    with pytest.raises(ValueError, match=r"eps=1e-20 .* float64, whose epsilon is"):
        gradcheck.numerical_grad(f, x64, eps=1e-20)
    with pytest.raises(ValueError, match=r"eps=1e-08 .* float32, whose epsilon is"):
        gradcheck.numerical_grad(f, x32, eps=1e-8)
    np.testing.assert_allclose(gradcheck.numerical_grad(f, x32, eps=1e-3), [2, 6], 1e-3)


def test_numerical_grad_accepts_numpy_integer_batch_sizes_and_refuses_bools():
    """float64. batch_size=np.int64(4) was refused (only a Python int passed) while
    every other size argument accepts NumPy integers; a bool is still no size."""
    f = lambda p: jnp.sum(p**3)
    x = jnp.array([1.0, -2.0, 0.5, 3.0, 2.0])
    want = 3 * np.asarray(x) ** 2
    for batch_size in (np.int64(4), np.int32(2), np.array(3)[()], 4):
        got = gradcheck.numerical_grad(f, x, batch_size=batch_size)
        np.testing.assert_allclose(got, want, rtol=1e-8)
    for bad in (True, np.bool_(True), 0, np.int64(-1), 2.0, "4"):
        with pytest.raises(
            ValueError,
            match=rf"batch_size must be an int ≥ 1 or None; got batch_size="
            rf"{re.escape(repr(bad))}\.",
        ):
            gradcheck.numerical_grad(f, x, batch_size=bad)


def test_check_layer_accepts_numpy_integer_batch_and_refuses_bools():
    """batch=0 passed a check of an empty batch (nothing compared), batch=True and
    batch=2.5 raised numpy's bare TypeError about shapes; np.int64 is a size."""
    layer = layers.dense(3)
    report = gradcheck.check_layer(layer, (2,), batch=np.int64(3), dtype=jnp.float32)
    assert report.passed
    for bad in (True, 0, 2.5):
        with pytest.raises(
            ValueError, match=rf"batch must be a positive int; got batch={bad!r}\."
        ):
            gradcheck.check_layer(layer, (2,), batch=bad, dtype=jnp.float32)


def test_numerical_grad_and_check_grads_of_parameters_without_entries():
    """float64. No leaves, or only empty ones, raised IndexError; jax.grad returns
    the same (empty) tree, and there is nothing to disagree about."""
    f = lambda p: jnp.sum(p["b"]) + 1.0
    for params in ({"b": jnp.zeros((0,))}, {"b": jnp.zeros((0, 3))}):
        for batch_size in (None, 2):
            got = gradcheck.numerical_grad(f, params, batch_size=batch_size)
            assert jax.tree.structure(got) == jax.tree.structure(params)
            assert got["b"].shape == params["b"].shape
        report = gradcheck.check_grads(f, jax.grad(f), params)
        assert report.passed and report.max_error == 0.0
    assert gradcheck.numerical_grad(lambda p: jnp.float64(1.0), {}) == {}


def test_relative_error_is_scale_invariant_at_extreme_magnitudes():
    """float64. Σx² underflowed below |x| ≈ 1e-162 (a relative error of 0 for
    different gradients, which check_grads then passed) and overflowed above 1e154
    (NaN); ‖a − b‖ / max(‖a‖, ‖b‖) does not depend on the scale."""
    a, b = np.array([1.0, 2.0, 0.0]), np.array([3.0, 2.0, 1.0])
    want = np.linalg.norm(a - b) / np.linalg.norm(b)
    for scale in (1e-300, 1e-170, 1.0, 1e200, 1e300):
        got = gradcheck.relative_error({"x": a * scale}, {"x": b * scale})
        np.testing.assert_allclose(got, want, rtol=1e-14)
    assert gradcheck.relative_error(jnp.zeros(2), jnp.zeros(2)) == 0.0
    assert gradcheck.relative_error(jnp.zeros(1), jnp.array([1e-170])) == 1.0
    f = lambda p: 1e-170 * jnp.sum(p**2)
    wrong = lambda p: 3e-170 * p  # the true gradient is 2e-170·p
    report = gradcheck.check_grads(f, wrong, jnp.array([1.0, 2.0]), raise_on_fail=False)
    assert not report.passed and report.max_error > 0.3


def test_relative_error_of_complex_leaves_uses_the_modulus():
    """complex128: the difference was taken in float64, which NumPy refused with a
    casting error naming neither argument nor leaf; ‖i − (−i)‖ / ‖i‖ is 2."""
    a = {"z": jnp.array([1j, 3 + 4j]), "r": jnp.array([1.0])}
    b = {"z": jnp.array([-1j, 3 + 4j]), "r": jnp.array([1.0])}
    want = 2 / np.sqrt(1 + 25 + 1)
    np.testing.assert_allclose(gradcheck.relative_error(a, b), want, rtol=1e-15)
    assert gradcheck.relative_error(a, a) == 0.0


def test_check_grads_and_check_layer_refuse_bad_tolerances():
    """float64. rtol=True was taken as 1 and passed a gradient 3x too large; a
    negative or NaN tolerance failed every check without saying why."""
    f = lambda p: jnp.sum(p**2)
    wrong = lambda p: 6 * p
    x = jnp.array([1.0, 2.0])
    for arg, bad in (
        ("rtol", True),
        ("rtol", -1e-6),
        ("rtol", float("nan")),
        ("atol", True),
        ("atol", float("inf")),
        ("atol", -1.0),
    ):
        with pytest.raises(ValueError, match=rf"{arg} must be a finite number >= 0"):
            gradcheck.check_grads(f, wrong, x, **{arg: bad})
    with pytest.raises(ValueError, match=r"rtol must be a finite number >= 0"):
        gradcheck.check_layer(layers.dense(2), (3,), rtol=True)


def test_numerical_grad_refuses_a_complex_valued_f():
    # Its partials were cast to the real leaves: zeros, where jax.grad refuses.
    with pytest.raises(
        TypeError, match="f must return a real floating scalar.*complex"
    ):
        gradcheck.numerical_grad(lambda a: jnp.sum(a) * 1j, jnp.ones(2))
