"""Clipping equals optax's clip / clip_by_global_norm, including the norm exactly
at the threshold and all-zero gradients."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxnn import optim

DTYPES = [jnp.float32, jnp.float64]
IDS = ["float32", "float64"]
RTOL = {jnp.float32: 1e-5, jnp.float64: 1e-12}
SHAPES = [(3, 2), (2,), ()]


def grads_tree(key, dtype):
    """A dict holding a tuple and a list, with a scalar leaf."""
    flat = np.asarray(jax.random.normal(key, (64,), jnp.float64))
    sizes = [math.prod(s) for s in SHAPES]
    offsets = np.cumsum([0, *sizes])
    w, b, s = (
        jnp.asarray(flat[o : o + n].reshape(shape), dtype)
        for o, n, shape in zip(offsets, sizes, SHAPES, strict=False)
    )
    return {"dense": (w, b), "stack": [s]}


# max_norm and max_delta are traced arguments, so each function compiles once per
# dtype for every threshold tried (builders leave traced values unchecked).
@jax.jit
def clip_norm_both(grads, max_norm):
    ours = optim.clip_by_global_norm(max_norm)
    theirs = optax.clip_by_global_norm(max_norm)
    return ours.update(grads, ours.init(grads))[0], theirs.update(grads, ())[0]


@jax.jit
def clip_both(grads, max_delta):
    ours = optim.clip(max_delta)
    theirs = optax.clip(max_delta)
    return ours.update(grads, ours.init(grads))[0], theirs.update(grads, ())[0]


def assert_trees_close(a, b, rtol):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_allclose(x, y, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("ratio", [0.1, 0.9, 1.0, 1.1, 10.0])
def test_clip_by_global_norm_matches_optax(ratio, dtype, getkey):
    """max_norm = ratio × ‖g‖; ratio 1.0 is the norm exactly at the threshold."""
    grads = grads_tree(getkey(), dtype)
    norm = optim.global_norm(grads)
    max_norm = norm * ratio if ratio != 1.0 else norm
    ours, theirs = clip_norm_both(grads, max_norm)
    assert_trees_close(ours, theirs, RTOL[dtype])
    expected = min(float(norm), float(max_norm))
    np.testing.assert_allclose(optim.global_norm(ours), expected, rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_norm_exactly_at_threshold_matches_optax(dtype):
    """‖g‖ = 5 exactly (3-4-5); the test is strict (‖g‖ < c keeps g), so at
    c = ‖g‖ both rescale, by c/‖g‖ = 1; just above c both keep g."""
    grads = {
        "dense": (jnp.asarray([[3.0, 0.0], [0.0, 0.0], [0.0, 0.0]], dtype),),
        "stack": [jnp.asarray([4.0, 0.0], dtype), jnp.asarray(0.0, dtype)],
    }
    assert float(optim.global_norm(grads)) == 5.0
    at, at_optax = clip_norm_both(grads, jnp.asarray(5.0, dtype))
    assert_trees_close(at, at_optax, 0)
    assert_trees_close(at, grads, RTOL[dtype])
    above = jnp.nextafter(jnp.asarray(5.0, dtype), jnp.asarray(6.0, dtype))
    kept, kept_optax = clip_norm_both(grads, above)
    assert_trees_close(kept, kept_optax, 0)
    assert_trees_close(kept, grads, 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_below_threshold_is_unchanged_above_is_scaled_to_it(dtype, getkey):
    grads = grads_tree(getkey(), dtype)
    norm = optim.global_norm(grads)
    kept, _ = clip_norm_both(grads, 1.1 * norm)
    assert_trees_close(kept, grads, 0)
    scaled, _ = clip_norm_both(grads, 0.9 * norm)
    np.testing.assert_allclose(optim.global_norm(scaled), 0.9 * norm, rtol=RTOL[dtype])
    ratios = [
        s / g
        for s, g in zip(jax.tree.leaves(scaled), jax.tree.leaves(grads), strict=True)
    ]
    np.testing.assert_allclose(
        np.concatenate([np.ravel(r) for r in ratios]), 0.9, rtol=RTOL[dtype]
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_all_zero_gradients_stay_zero_without_nan(dtype, getkey):
    grads = jax.tree.map(jnp.zeros_like, grads_tree(getkey(), dtype))
    for max_norm in (1e-3, 1.0):
        ours, theirs = clip_norm_both(grads, max_norm)
        assert_trees_close(ours, theirs, 0)
        for leaf in jax.tree.leaves(ours):
            assert not np.isnan(leaf).any()
            np.testing.assert_array_equal(leaf, 0)


def test_zero_max_norm_on_zero_gradients_is_nan_like_optax(getkey):
    """float64: the documented trap, 0/0 = NaN, shared with optax."""
    grads = jax.tree.map(jnp.zeros_like, grads_tree(getkey(), jnp.float64))
    ours, theirs = clip_norm_both(grads, 0.0)
    for x, y in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        assert np.isnan(x).all() and np.isnan(y).all()


@given(log_scale=st.floats(-6, 6), max_norm=st.floats(1e-3, 1e3))
def test_clipped_norm_never_exceeds_max_norm(log_scale, max_norm):
    """float64, any gradient size: ‖clip(g)‖ ≤ max_norm and the direction is kept."""
    grads = jax.tree.map(
        lambda g: g * 10.0**log_scale, grads_tree(jax.random.key(3), jnp.float64)
    )
    clipped, _ = clip_norm_both(grads, max_norm)
    norm = float(optim.global_norm(grads))
    assert float(optim.global_norm(clipped)) <= max_norm * (1 + 1e-12)
    factor = min(1.0, max_norm / norm)
    assert_trees_close(clipped, jax.tree.map(lambda g: g * factor, grads), 1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("max_delta", [0.0, 0.1, 0.5, 3.0, math.inf])
def test_clip_matches_optax(max_delta, dtype, getkey):
    grads = grads_tree(getkey(), dtype)
    ours, theirs = clip_both(grads, max_delta)
    assert_trees_close(ours, theirs, 0)
    for leaf, g in zip(jax.tree.leaves(ours), jax.tree.leaves(grads), strict=True):
        assert np.all(np.abs(leaf) <= max_delta)
        inside = np.abs(g) <= max_delta
        np.testing.assert_array_equal(np.asarray(leaf)[inside], np.asarray(g)[inside])


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_global_norm_matches_optax_and_definition(dtype, getkey):
    grads = grads_tree(getkey(), dtype)
    expected = math.sqrt(
        sum(float(np.sum(np.square(np.float64(g)))) for g in jax.tree.leaves(grads))
    )
    np.testing.assert_allclose(optim.global_norm(grads), optax.tree.norm(grads), rtol=0)
    np.testing.assert_allclose(optim.global_norm(grads), expected, rtol=RTOL[dtype])
    assert float(optim.global_norm({})) == 0.0


@pytest.mark.parametrize(
    ("build", "argument", "value"),
    [
        (lambda: optim.clip_by_global_norm(-1.0), "max_norm", "-1.0"),
        (lambda: optim.clip_by_global_norm(float("nan")), "max_norm", "nan"),
        (lambda: optim.clip(-0.5), "max_delta", "-0.5"),
        (lambda: optim.clip(float("nan")), "max_delta", "nan"),
    ],
)
def test_bad_thresholds_raise_naming_argument_value_and_range(build, argument, value):
    with pytest.raises(ValueError, match=f"{argument} must be a number >= 0") as info:
        build()
    assert f"{argument}={value}" in str(info.value)


def test_infinite_threshold_never_clips(getkey):
    grads = grads_tree(getkey(), jnp.float64)
    tx = optim.clip_by_global_norm(math.inf)
    clipped, state = jax.jit(tx.update)(grads, tx.init(grads))
    assert_trees_close(clipped, grads, 0)
    assert state == optim.EmptyState()


def test_complex_leaves_use_the_modulus_like_optax():
    """complex64 next to float32: ‖g‖² sums |g_i|² = Re² + Im² (optax.tree.norm),
    so the norm is real and the clipped updates equal optax's bit for bit."""
    grads = {
        "z": jnp.asarray([3.0 + 4.0j, -1.0j, 0.5 - 2.0j], jnp.complex64),
        "w": jnp.asarray([[1.0, -2.0]], jnp.float32),
    }
    norm = optim.global_norm(grads)
    expected = optax.tree.norm(grads)
    assert norm.dtype == expected.dtype == jnp.float32
    np.testing.assert_array_equal(norm, expected)
    for max_norm in (1.0, 100.0):
        ours, theirs = clip_norm_both(grads, max_norm)
        assert_trees_close(ours, theirs, 0)


# float32, bfloat16 and float16 leaves together: a max_norm of a wider dtype than
# some leaf made optax's (and formerly jaxnn's) lax.select fail on mixed dtypes.
MIXED = {
    "w": jnp.asarray([[3.0, -1.5], [0.25, 2.0]], jnp.float32),
    "b": jnp.asarray([1.0, -4.0], jnp.bfloat16),
    "s": jnp.asarray(0.75, jnp.float16),
}


@pytest.mark.parametrize(
    "as_array",
    [np.float64, np.float32, jnp.float32, jnp.float64],
    ids=["np.float64", "np.float32", "jnp.float32", "jnp.float64"],
)
def test_strongly_typed_max_norm_keeps_each_leaf_dtype(as_array):
    """max_norm given as a typed scalar acts as the same Python float in optax:
    every leaf keeps its dtype and equals optax's bit for bit."""
    norm = float(optim.global_norm(MIXED))
    for max_norm in (0.3 * norm, 2.0 * norm):
        typed = as_array(max_norm)
        tx = optim.clip_by_global_norm(typed)
        ours, _ = tx.update(MIXED, tx.init(MIXED))
        theirs, _ = optax.clip_by_global_norm(float(typed)).update(MIXED, ())
        assert_trees_close(ours, theirs, 0)


def test_vmap_over_max_norm_on_mixed_dtypes_matches_optax():
    """A batched float32 max_norm under jit + vmap, as in a hyperparameter sweep."""
    max_norms = np.asarray([0.5, 2.0, 1e3], np.float32)

    @jax.jit
    @jax.vmap
    def sweep(max_norm):
        tx = optim.clip_by_global_norm(max_norm)
        return tx.update(MIXED, tx.init(MIXED))[0]

    swept = sweep(max_norms)
    for i, max_norm in enumerate(max_norms):
        theirs, _ = optax.clip_by_global_norm(float(max_norm)).update(MIXED, ())
        assert_trees_close(jax.tree.map(lambda x, i=i: x[i], swept), theirs, 0)


def test_global_norm_of_float16_leaves_does_not_overflow():
    """float16: the sum of squares overflowed from a norm of 256 (65504 is float16's
    largest value), so the norm was inf and clip_by_global_norm zeroed every update,
    silently: exactly the exploding gradients clipping is for. (optax's does.) The
    norm is now summed in float32; the clipped leaves stay float16."""
    g = {"w": jnp.full((4,), 150.0, jnp.float16), "b": jnp.ones((70_000,), jnp.float16)}
    norm = float(np.sqrt(4 * 150.0**2 + 70_000))
    np.testing.assert_allclose(float(optim.global_norm(g)), norm, rtol=1e-6)
    assert optim.global_norm(g).dtype == jnp.float32
    clipped, _ = optim.clip_by_global_norm(1.0).update(g, None)
    assert all(leaf.dtype == jnp.float16 for leaf in jax.tree.leaves(clipped))
    np.testing.assert_allclose(clipped["w"], 150.0 / norm, rtol=1e-3)
    np.testing.assert_allclose(float(optim.global_norm(clipped)), 1.0, rtol=1e-3)
    # A norm beyond float16's range (1e5): cast back to float16 it was inf again.
    big = {"w": jnp.full((10_000,), 1000.0, jnp.float16)}
    clipped, _ = optim.clip_by_global_norm(1.0).update(big, None)
    np.testing.assert_allclose(clipped["w"], 0.01, rtol=1e-3)


def test_clip_by_global_norm_refuses_integer_updates_naming_the_leaf():
    # lax.select raised "requires arguments to have the same dtypes" instead.
    tx = optim.clip_by_global_norm(1.0)
    updates = {"w": jnp.ones(2), "n": jnp.array([3, 4], jnp.int32)}
    with pytest.raises(TypeError, match=r"dtype int32 at leaf \['n'\]"):
        tx.update(updates, tx.init(None))
