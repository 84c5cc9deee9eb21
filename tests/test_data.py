"""Tests for jaxnn.data: splits, standardization, labels and epoch batching."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from jaxnn import data

# name -> (N, num_features, num_outputs, label shape suffix)
EXPECTED = {
    "digits": (1797, 64, 10, ()),
    "breast_cancer": (569, 30, 1, (1,)),
    "diabetes": (442, 10, 1, (1,)),
    "digits_multilabel": (1797, 64, 3, (3,)),
    "xor": (1000, 2, 1, (1,)),
    "spirals": (1000, 2, 1, (1,)),
}
RAW = {
    "digits": sklearn.datasets.load_digits,
    "breast_cancer": sklearn.datasets.load_breast_cancer,
    "diabetes": lambda: sklearn.datasets.load_diabetes(scaled=False),
    "digits_multilabel": sklearn.datasets.load_digits,
}


def _np(ds: data.Dataset) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a) for a in ds[2:6])


def test_names_and_tasks_agree():
    assert set(data.NAMES) == set(data.TASKS) == set(EXPECTED)
    assert set(data.TASKS.values()) == {
        "binary",
        "multiclass",
        "multilabel",
        "regression",
    }


@pytest.mark.parametrize("name", data.NAMES)
def test_shapes_dtypes_and_labels(name):
    n, d, k, y_suffix = EXPECTED[name]
    ds = data.load(name)
    assert ds.name == name and ds.task == data.TASKS[name]
    assert (ds.num_features, ds.num_outputs) == (d, k)
    n_test = ds.x_test.shape[0]
    assert ds.x_train.shape == (n - n_test, d) and ds.x_test.shape == (n_test, d)
    assert abs(n_test - 0.2 * n) <= 6  # per-stratum rounding
    assert ds.y_train.shape == (n - n_test, *y_suffix)
    assert ds.y_test.shape == (n_test, *y_suffix)
    assert ds.x_train.dtype == ds.x_test.dtype == jnp.float32
    y = np.concatenate([np.asarray(ds.y_train), np.asarray(ds.y_test)])
    if ds.task == "multiclass":
        assert ds.y_train.dtype == jnp.int32
        assert set(np.unique(y)) == set(range(k)) and len(ds.label_names) == k
    else:
        assert ds.y_train.dtype == jnp.float32
    if ds.task in ("binary", "multilabel"):
        assert set(np.unique(y)) == {0.0, 1.0}
    if ds.task in ("multilabel", "regression"):
        assert len(ds.label_names) == k
    if ds.task == "binary":
        assert len(ds.label_names) == 2
    assert all(isinstance(s, str) for s in ds.label_names)


def test_dtype_option_float64():
    ds = data.load("breast_cancer", dtype=jnp.float64)
    assert ds.x_train.dtype == ds.y_test.dtype == jnp.float64
    assert data.load("digits", dtype=jnp.float64).y_train.dtype == jnp.int32


@pytest.mark.parametrize("name", data.NAMES)
def test_same_seed_identical_other_seed_different(name):
    a, b, c = (_np(data.load(name, seed=s)) for s in (3, 3, 4))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", data.NAMES)
def test_no_overlap_and_every_example_used_once(name):
    x_train, _, x_test, _ = _np(data.load(name, seed=1))
    # Standardization is the same affine map on both sides, so a shared row would be a
    # shared (raw) example; none of these data sets has duplicate raw rows.
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)
    all_rows = np.concatenate([x_train, x_test])
    assert len(np.unique(all_rows, axis=0)) == EXPECTED[name][0] == len(all_rows)


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "diabetes", "spirals"])
def test_standardized_with_training_statistics_only(name):
    x_train, y_train, x_test, y_test = _np(data.load(name, dtype=jnp.float64))
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    np.testing.assert_allclose(mean, 0.0, atol=1e-12)
    # Constant training columns (digits' border pixels) have std 0 and stay at 0.
    assert np.all((np.abs(std - 1.0) < 1e-12) | (std == 0.0))
    assert np.all(np.isfinite(x_test))
    assert np.max(np.abs(x_test.mean(axis=0))) > 1e-3
    assert np.max(np.abs(x_test.std(axis=0) - 1.0)) > 1e-3
    if name == "diabetes":  # regression targets are standardized the same way
        np.testing.assert_allclose(
            [y_train.mean(), y_train.std()], [0.0, 1.0], atol=1e-12
        )
        assert abs(y_test.mean()) > 1e-3


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "diabetes"])
def test_features_are_an_affine_image_of_the_bundled_data(name):
    raw = RAW[name]().data.astype(np.float64)
    x_train, _, x_test, _ = _np(data.load(name, dtype=jnp.float64))
    x = np.concatenate([x_train, x_test])
    assert x.shape == raw.shape
    for j in np.flatnonzero(raw.std(axis=0) > 0):
        u, v = np.sort(raw[:, j]), np.sort(x[:, j])
        slope, intercept = np.polyfit(u, v, 1)
        assert slope > 0
        np.testing.assert_allclose(slope * u + intercept, v, atol=1e-9)


def test_stratified_split_keeps_class_proportions():
    _, y_train, _, y_test = _np(data.load("digits", seed=2))
    for c in range(10):
        n_c = np.sum(y_train == c) + np.sum(y_test == c)
        assert np.sum(y_test == c) == round(0.2 * n_c)


def test_multilabel_columns_match_their_definitions():
    digits = data.load("digits", seed=5, dtype=jnp.float64)
    multi = data.load("digits_multilabel", seed=5, dtype=jnp.float64)
    assert multi.label_names == ("even", "≥ 5", "prime")
    for x_d, y_d, x_m, y_m in [
        (digits.x_train, digits.y_train, multi.x_train, multi.y_train),
        (digits.x_test, digits.y_test, multi.x_test, multi.y_test),
    ]:
        np.testing.assert_array_equal(x_d, x_m)  # same split, stratified by digit
        t = np.asarray(y_d)
        expected = np.stack([t % 2 == 0, t >= 5, np.isin(t, [2, 3, 5, 7])], axis=1)
        np.testing.assert_array_equal(np.asarray(y_m), expected.astype(np.float64))


def test_regression_target_is_an_affine_image_of_the_diabetes_target():
    ds = data.load("diabetes", dtype=jnp.float64)
    y = np.concatenate([np.asarray(ds.y_train), np.asarray(ds.y_test)])[:, 0]
    raw = np.sort(sklearn.datasets.load_diabetes().target)
    slope, intercept = np.polyfit(raw, np.sort(y), 1)
    assert slope > 0
    np.testing.assert_allclose(slope * raw + intercept, np.sort(y), atol=1e-9)


@pytest.mark.parametrize("name", ["spirals", "xor"])
def test_synthetic_sets_need_a_hidden_layer(name):
    x_train, y_train, x_test, y_test = _np(data.load(name, seed=0))
    y_train, y_test = y_train[:, 0], y_test[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((32, 32), activation="relu", max_iter=1000, random_state=0)
        mlp.fit(x_train, y_train)
    linear = LogisticRegression().fit(x_train, y_train)
    assert mlp.score(x_test, y_test) >= 0.95
    assert linear.score(x_test, y_test) < 0.8


def test_n_samples_for_synthetic_sets():
    ds = data.load("spirals", n_samples=50, test_fraction=0.4)
    assert ds.x_train.shape[0] + ds.x_test.shape[0] == 50


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"name": "mnist"}, r"unknown data set 'mnist'.*'digits', 'breast_cancer'"),
        ({"name": "xor", "test_fraction": 0.0}, r"test_fraction=0\.0"),
        ({"name": "xor", "test_fraction": 1.5}, r"test_fraction.*\(0, 1\).*1\.5"),
        ({"name": "digits", "n_samples": 100}, r"n_samples=100 for 'digits'"),
        ({"name": "xor", "n_samples": 2}, r"leaves \d+ training and \d+ test examples"),
        ({"name": "spirals", "n_samples": 0}, r"at least 2; got n_samples=0\."),
        # Python's own errors named nothing here.
        (
            {"name": "xor", "n_samples": 100.0},
            r"n_samples must be an int; got n_samples=100\.0",
        ),
        (
            {"name": "xor", "test_fraction": "0.2"},
            r"\(0, 1\); got test_fraction='0\.2'",
        ),
        ({"name": "xor", "seed": -1}, r"seed must be an int >= 0; got seed=-1"),
        ({"name": "xor", "seed": 1.5}, r"seed must be an int >= 0; got seed=1\.5"),
        ({"name": ["xor"]}, r"unknown data set \['xor'\]"),
    ],
)
def test_load_errors(kwargs, pattern):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=pattern):
        data.load(name, **kwargs)


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.bool_])
def test_load_refuses_a_non_floating_dtype(dtype):
    # The standardised features were truncated to integers.
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        data.load("xor", dtype=dtype)


def test_head_for_table():
    assert data.head_for("binary") == ("sigmoid", "binary_cross_entropy")
    assert data.head_for("multiclass") == (
        "softmax",
        "softmax_cross_entropy_with_integer_labels",
    )
    assert data.head_for("multilabel") == ("sigmoid", "binary_cross_entropy")
    assert data.head_for("regression") == ("identity", "mse")
    with pytest.raises(ValueError, match="unknown task 'ranking'.*'binary'"):
        data.head_for("ranking")


### permutation


@pytest.mark.parametrize("n", [1, 2, 7, 1438, 2048, 2049, 70_000])
def test_permutation_is_a_permutation(n):
    """Word widths at the edges: b = 1 (n ≤ 2), 11 bits at 2048 and 12 at 2049;
    rounds: 1 up to n = 7, 2 at 1438–2049, 4 at 70 000 (b = 17)."""
    perm = np.asarray(data.permutation(jax.random.key(n), n))
    assert perm.dtype == np.int32
    np.testing.assert_array_equal(np.sort(perm), np.arange(n))


def test_permutation_is_uniform():
    """All 24 orders of 4 elements, 24 000 keys: χ² (23 degrees of freedom) p > 1e-3;
    the position of each of 50 elements, 4 000 keys: χ² p > 1e-3 for every element."""
    from scipy import stats

    keys = jax.random.split(jax.random.key(0), 24_000)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: data.permutation(k, 4)))(keys))
    codes = perms @ np.array([64, 16, 4, 1])  # each order's own integer
    counts = np.unique(codes, return_counts=True)[1]
    assert counts.size == 24
    assert stats.chisquare(counts).pvalue > 1e-3
    keys = jax.random.split(jax.random.key(1), 4_000)
    perms = np.asarray(jax.jit(jax.vmap(lambda k: data.permutation(k, 50)))(keys))
    where = np.argsort(perms, axis=1)  # where[k, e]: element e's position under key k
    for e in range(50):
        counts = np.bincount(where[:, e] // 5, minlength=10)  # 10 bins of 5 positions
        assert stats.chisquare(counts).pvalue > 1e-3, (e, counts)


@pytest.mark.parametrize("n", [0, -1, 2**31, 2.0, True])  # True was read as 1
def test_permutation_rejects_bad_n(n):
    with pytest.raises(
        ValueError, match=rf"n must be an int in \[1, 2\*\*31 - 1\]; got n={n!r}"
    ):
        data.permutation(jax.random.key(0), n)


### epoch_batches


def _indexed(n: int) -> tuple[jax.Array, jax.Array]:
    x = jnp.stack([jnp.arange(n), -jnp.arange(n)], axis=1).astype(jnp.float64)
    return x, jnp.arange(n, dtype=jnp.int32)


@pytest.mark.parametrize(("n", "batch_size"), [(1, 1), (10, 1), (10, 3), (37, 37)])
def test_epoch_batches_is_a_permutation_dropping_the_remainder(n, batch_size):
    x, y = _indexed(n)
    xb, yb = data.epoch_batches(jax.random.key(n), x, y, batch_size)
    num = n // batch_size
    assert xb.shape == (num, batch_size, 2) and yb.shape == (num, batch_size)
    assert xb.dtype == jnp.float64 and yb.dtype == jnp.int32
    seen = np.asarray(yb).ravel()
    assert len(np.unique(seen)) == len(seen) == num * batch_size  # each at most once
    np.testing.assert_array_equal(np.asarray(xb[..., 0]), np.asarray(yb))  # x, y paired


def test_epoch_batches_jit_matches_eager_and_scans(getkey):
    x, y = _indexed(103)
    key = getkey()
    eager = data.epoch_batches(key, x, y, 10)
    jitted = jax.jit(data.epoch_batches, static_argnames="batch_size")(key, x, y, 10)
    for a, b in zip(eager, jitted, strict=True):
        np.testing.assert_array_equal(a, b)

    def step(total, batch):
        xb, yb = batch
        return total + jnp.sum(yb, dtype=jnp.int32), xb.shape[0]

    total, sizes = jax.lax.scan(step, jnp.int32(0), eager)
    assert int(total) == int(jnp.sum(eager[1])) and sizes.tolist() == [10] * 10


def test_epoch_batches_shuffles_by_key(getkey):
    x, y = _indexed(64)
    _, a = data.epoch_batches(getkey(), x, y, 8)
    _, b = data.epoch_batches(getkey(), x, y, 8)
    assert not np.array_equal(a, b)
    assert sorted(np.asarray(a).ravel()) == list(range(64))


@pytest.mark.parametrize("batch_size", [0, -3, 11, 2.5, True])
def test_epoch_batches_rejects_bad_batch_size(getkey, batch_size):
    x, y = _indexed(10)
    pattern = rf"batch_size must be in \[1, N\] with N=10.*batch_size={batch_size}\."
    with pytest.raises(ValueError, match=pattern):
        data.epoch_batches(getkey(), x, y, batch_size)


def test_epoch_batches_rejects_mismatched_lengths(getkey):
    x, _ = _indexed(10)
    msg = re.escape("x.shape=(10, 2) and y.shape=(9,)")
    with pytest.raises(ValueError, match=msg):
        data.epoch_batches(getkey(), x, jnp.arange(9), 5)


@pytest.mark.parametrize(("x_shape", "y_shape"), [((), (10,)), ((10, 2), ())])
def test_epoch_batches_rejects_scalars(getkey, x_shape, y_shape):
    # A scalar used to fail with a bare IndexError ("tuple index out of range").
    msg = re.escape(f"x.shape={x_shape} and y.shape={y_shape}")
    with pytest.raises(ValueError, match=msg):
        data.epoch_batches(getkey(), jnp.zeros(x_shape), jnp.zeros(y_shape), 5)


def test_epoch_indices_and_load_name_the_bad_argument():
    # epoch_indices(key, 0, 1) blamed batch_size; load(dtype="foo") named nothing.
    with pytest.raises(ValueError, match="n must be a positive int; got n=0"):
        data.epoch_indices(jax.random.key(0), 0, 1)
    with pytest.raises(
        TypeError, match="dtype must be a floating dtype.*got dtype='foo'"
    ):
        data.load("xor", dtype="foo")
