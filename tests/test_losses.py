"""jaxnn.losses against optax, jax.grad and central finite differences.

Compiles are the cost of these tests, so the table tests share one compiled program,
``evaluate_all``, at one shape per dtype (inputs come from numpy, which compiles
nothing); ``test_backward_jit_and_vmap_match_eager`` checks compiled against eager.
"""

import re
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _lowering import lowered_ops
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxnn import losses

NAMES = losses.NAMES
INT = "softmax_cross_entropy_with_integer_labels"
DTYPES = [jnp.float32, jnp.float64]
# Relative error ‖a − b‖ / max(‖a‖, ‖b‖) allowed against jax.grad (the acceptance
# bounds), and elementwise rtol against optax's values.
RTOL_GRAD = {jnp.float32: 1e-5, jnp.float64: 1e-12}
RTOL_VALUES = {jnp.float32: 1e-6, jnp.float64: 1e-13}
SHAPE = (6, 5)  # (batch, outputs)

# optax's per-element / per-example losses, summed over the output axis where optax
# does not sum.
OPTAX = {
    "mse": lambda p, t: optax.l2_loss(p, t).sum(axis=-1),
    "binary_cross_entropy": lambda z, y: optax.sigmoid_binary_cross_entropy(z, y).sum(
        -1
    ),
    "softmax_cross_entropy": optax.softmax_cross_entropy,
    INT: optax.softmax_cross_entropy_with_integer_labels,
}
PER_EXAMPLE = {name: getattr(losses, f"{name}_per_example") for name in NAMES}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.linalg.norm(a), np.linalg.norm(b), np.finfo(np.float64).tiny)
    return float(np.linalg.norm(a - b) / scale)


def inputs(seed, shape=SHAPE, scale=3.0):
    """Predictions/logits N(0, scale²) and a fitting target for every loss, in numpy.

    mse: N(0, 1) targets; binary_cross_entropy: 0/1 labels, one per output
    (multi-label); softmax_cross_entropy: rows of class probabilities; integer labels:
    int32 classes.
    """
    rng = np.random.default_rng(seed)
    batch, width = shape
    z = scale * rng.standard_normal(shape)
    probs = rng.random(shape) ** 3  # uneven, some near-one-hot rows
    targets = {
        "mse": rng.standard_normal(shape),
        "binary_cross_entropy": (rng.random(shape) < 0.5).astype(np.float64),
        "softmax_cross_entropy": probs / probs.sum(axis=-1, keepdims=True),
        INT: rng.integers(0, width, batch).astype(np.int32),
    }
    return z, targets


def cast(z, targets, dtype):
    """Logits and float targets in ``dtype``; integer labels stay int32."""
    return jnp.asarray(z, dtype), {
        n: jnp.asarray(t, jnp.int32 if n == INT else dtype) for n, t in targets.items()
    }


def evaluate_case(name, z, target):
    """``(loss, per-example, optax per-example, backward, jax.grad of forward)``."""
    loss = losses.get(name)
    value, grad = jax.value_and_grad(loss.forward)(z, target)
    per_example = PER_EXAMPLE[name](z, target)
    return value, per_example, OPTAX[name](z, target), loss.backward(z, target), grad


# The test programs are compiled with LLVM's optimizations off, which cuts their
# compile time about 2.5x; XLA's own passes and IEEE semantics are unchanged, and the
# user-facing default is what test_backward_jit_and_vmap_match_eager compiles.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
# Every loss in one program: one compile per (shape, dtype).
evaluate_all = jax.jit(
    lambda z, ts: {n: evaluate_case(n, z, ts[n]) for n in NAMES},
    compiler_options=FAST_COMPILE,
)
# One loss: one compile per (loss, shape, dtype), for the hypothesis test's shapes.
evaluate = jax.jit(evaluate_case, static_argnums=0, compiler_options=FAST_COMPILE)


def run_all(z, targets, dtype):
    out = evaluate_all(*cast(z, targets, dtype))
    return {n: tuple(map(np.asarray, o)) for n, o in out.items()}


@cache
def table_results(dtype):
    return run_all(*inputs(seed=0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_per_example_matches_optax(name, dtype):
    _, per_example, reference, _, _ = table_results(dtype)[name]
    assert per_example.shape == reference.shape == SHAPE[:1]
    assert per_example.dtype == reference.dtype == dtype
    np.testing.assert_allclose(per_example, reference, rtol=RTOL_VALUES[dtype], atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_loss_is_batch_mean_of_per_example(name, dtype):
    value, per_example, *_ = table_results(dtype)[name]
    assert value.shape == () and value.dtype == dtype
    np.testing.assert_allclose(value, per_example.mean(), rtol=RTOL_VALUES[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_grad(name, dtype):
    *_, manual, auto = table_results(dtype)[name]
    assert manual.shape == auto.shape == SHAPE
    assert manual.dtype == auto.dtype == dtype
    assert rel_err(manual, auto) <= RTOL_GRAD[dtype]


@partial(jax.jit, compiler_options=FAST_COMPILE)
def finite_difference_all(z, targets, h=1e-6):
    """Central differences ``(L(z + h eᵢ) − L(z − h eᵢ)) / 2h`` for every element i."""
    steps = h * jnp.eye(z.size, dtype=z.dtype).reshape((z.size, *z.shape))
    out = {}
    for name in NAMES:
        forward = jax.vmap(losses.get(name).forward, in_axes=(0, None))
        diff = forward(z + steps, targets[name]) - forward(z - steps, targets[name])
        out[name] = (diff / (2 * h)).reshape(z.shape)
    return out


@cache
def finite_difference_results():
    z, targets = inputs(seed=1)
    numerical = finite_difference_all(*cast(z, targets, jnp.float64))
    return run_all(z, targets, jnp.float64), numerical


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences(name):
    # float64, h = 1e-6, every element of the predictions perturbed on its own.
    results, numerical = finite_difference_results()
    assert rel_err(results[name][3], numerical[name]) <= 1e-6


def backward_all(z, targets):
    return {n: losses.get(n).backward(z, targets[n]) for n in NAMES}


backward_all_jit = jax.jit(backward_all)
# vmap over a leading axis of several batches: each call sees one (batch, outputs).
backward_all_vmap = jax.jit(jax.vmap(backward_all))


@pytest.mark.parametrize("name", NAMES)
def test_backward_jit_and_vmap_match_eager(name):
    # float32.
    batches = [inputs(seed=2), inputs(seed=3)]
    (z0, t0), (z1, t1) = (cast(z, t, jnp.float32) for z, t in batches)
    loss = losses.get(name)
    eager = [loss.backward(z0, t0[name]), loss.backward(z1, t1[name])]
    jitted = backward_all_jit(z0, t0)[name]
    stacked = jax.tree.map(lambda *a: np.stack(a), *batches)  # (2, batch, ...)
    mapped = backward_all_vmap(*cast(*stacked, jnp.float32))[name]
    assert jitted.dtype == mapped.dtype == eager[0].dtype == jnp.float32
    assert rel_err(jitted, eager[0]) <= 1e-6
    assert rel_err(mapped[0], eager[0]) <= 1e-6 and rel_err(mapped[1], eager[1]) <= 1e-6


# Each example is a new shape, hence a new compile (~0.3 s): 8 examples, not the
# profile's 15, keep these tests within the suite's time budget.
@settings(max_examples=8)
@given(
    name=st.sampled_from(NAMES),
    batch=st.integers(1, 9),
    width=st.integers(1, 17),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_values_and_backward_over_shapes(name, batch, width, dtype, seed):
    # float32 or float64 (drawn), any (batch, width); logits N(0, 1) (see
    # test_activations for why softmax gradients need moderate logits in float32).
    z, targets = inputs(seed, (batch, width), scale=1.0)
    z, targets = cast(z, targets, dtype)
    value, per_example, reference, manual, auto = evaluate(name, z, targets[name])
    assert value.shape == () and per_example.shape == (batch,)
    assert manual.shape == (batch, width)
    assert value.dtype == manual.dtype == auto.dtype == dtype
    np.testing.assert_allclose(per_example, reference, rtol=RTOL_VALUES[dtype], atol=0)
    assert rel_err(manual, auto) <= RTOL_GRAD[dtype]


@pytest.mark.parametrize("name", NAMES[1:])  # the three cross-entropies
def test_large_logits_are_stable(name):
    # float32 logits of magnitude up to 1e4 (every row has ±1e4 entries) against the
    # same computation in float64, where nothing is near overflow.
    z, targets = inputs(seed=4, scale=1.0)
    z = np.round(z) * 2.5e3  # multiples of 2500 in [−1e4, 1e4]: ties and gaps of 1e4
    z[:, 0], z[:, 1] = 1e4, -1e4
    targets[INT][:3] = 1  # some examples labelled with their −1e4 logit
    f32 = run_all(z, targets, jnp.float32)[name]
    f64 = run_all(z, targets, jnp.float64)[name]
    value, per_example, reference, manual, auto = f32
    assert np.isfinite(value) and np.all(np.isfinite(manual))
    assert value.dtype == manual.dtype == jnp.float32
    np.testing.assert_allclose(per_example, f64[1], rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(per_example, reference, rtol=1e-6, atol=0)
    assert rel_err(manual, auto) <= RTOL_GRAD[jnp.float32]
    np.testing.assert_allclose(manual, f64[3], rtol=1e-5, atol=1e-7)
    assert per_example.max() >= 1e4  # the −1e4-labelled examples cost ~2e4


def test_large_but_close_logits_keep_full_precision():
    # float32 rows such as [1e4, 1e4 − 0.3, 1e4 − 1.1]: the row maximum must be
    # subtracted before log Σ e^(z − m) is, not added back after it (which cancels
    # ~1e4 against ~1e4 and leaves an error of ~1e-3 absolute, 3e-5 relative).
    # Against optax and the float64 truth: losses within 1e-6 relative, both
    # backward forms within 1e-5 of jax.grad and of the float64 gradient.
    z64 = 1e4 - np.array([[0.0, 0.3, 1.1], [0.7, 0.0, 2.0], [0.1, 0.2, 0.0]])
    y64 = np.eye(3)[[1, 2, 0]]
    z, y = jnp.asarray(z64, jnp.float32), jnp.asarray(y64, jnp.float32)
    z_exact = jnp.asarray(z, jnp.float64)  # the float32 logits, exactly
    labels = jnp.argmax(y, -1)
    exact = losses.softmax_cross_entropy_per_example(z_exact, jnp.asarray(y64))
    one_hot = losses.softmax_cross_entropy_per_example(z, y)
    integer = losses.softmax_cross_entropy_with_integer_labels_per_example(z, labels)
    np.testing.assert_array_equal(one_hot, optax.softmax_cross_entropy(z, y))
    np.testing.assert_array_equal(integer, one_hot)
    for ours in (one_hot, integer):
        np.testing.assert_allclose(ours, exact, rtol=1e-6)
    # optax's integer-label loss, logsumexp(z) − z_label, adds m back: 3e-5 here.
    optax_integer = optax.softmax_cross_entropy_with_integer_labels(z, labels)
    assert rel_err(optax_integer, exact) > 10 * rel_err(integer, exact)
    grad64 = jax.grad(losses.softmax_cross_entropy)(z_exact, jnp.asarray(y64))
    auto = jax.grad(losses.softmax_cross_entropy)(z, y)
    for form in (losses._softmax_ce_grad_cpu, losses._softmax_ce_grad_cuda):
        assert rel_err(form(z, y), auto) <= RTOL_GRAD[jnp.float32], form.__name__
        assert rel_err(form(z, y), grad64) <= RTOL_GRAD[jnp.float32], form.__name__


def test_negative_integer_labels_under_jit_backward_equals_grad():
    # float64. Under jit labels are not range-checked; the forward's take_along_axis
    # reads −1 as the last class, so the backward's one-hot must too; a label
    # outside [−3, 3) makes that row's loss NaN and its jax.grad row 0 (the manual
    # row was softmax(z)/N, finite and plausible).
    z = jnp.asarray(np.random.default_rng(3).normal(size=(5, 3)))
    labels = jnp.array([-1, 0, 3, -4, 2])
    manual = jax.jit(losses._softmax_cross_entropy_with_integer_labels_bwd)(z, labels)
    auto = jax.jit(jax.grad(losses.softmax_cross_entropy_with_integer_labels))(
        z, labels
    )
    np.testing.assert_allclose(manual, auto, rtol=1e-12, atol=0)
    manual = np.asarray(manual)
    assert not np.any(manual[2:4]) and np.all(manual[[0, 1, 4]] != 0)


def test_softmax_cross_entropy_backward_for_labels_not_summing_to_one():
    # float64: smoothed or partial labels (row sums 0.5 to 1.5); the backward is
    # (softmax(z)·Σy − y)/N, which reduces to (softmax(z) − y)/N when rows sum to 1.
    z, targets = inputs(seed=5)
    mass = np.linspace(0.5, 1.5, SHAPE[0])[:, None]
    targets["softmax_cross_entropy"] = targets["softmax_cross_entropy"] * mass
    *_, manual, auto = run_all(z, targets, jnp.float64)["softmax_cross_entropy"]
    assert rel_err(manual, auto) <= RTOL_GRAD[jnp.float64]


@pytest.mark.parametrize("label_dtype", [jnp.bool_, jnp.int32, jnp.float32])
def test_binary_cross_entropy_accepts_bool_int_and_float_labels(label_dtype):
    # float32 logits; the labels are cast to the logits' dtype.
    z, targets = cast(*inputs(seed=6), jnp.float32)
    labels = targets["binary_cross_entropy"]
    expected = losses.binary_cross_entropy(z, labels)
    got = losses.binary_cross_entropy(z, labels.astype(label_dtype))
    grad = losses.get("binary_cross_entropy").backward(z, labels.astype(label_dtype))
    assert got.dtype == grad.dtype == jnp.float32
    np.testing.assert_array_equal(got, expected)


B, C = 32, 10
LOGITS = np.zeros((B, C), np.float32)
ONE_HOT = np.eye(C, dtype=np.float32)[np.arange(B) % C]
CLASSES = np.arange(B, dtype=np.int32) % C

BAD = [
    # (loss name, pred, target, exception, message pattern)
    (
        "softmax_cross_entropy",
        LOGITS,
        CLASSES,
        ValueError,
        "labels must have the shape of logits (32, 10); got labels.shape=(32,). "
        "For integer class labels use softmax_cross_entropy_with_integer_labels.",
    ),
    (
        "softmax_cross_entropy",
        LOGITS,
        ONE_HOT.astype(np.int32),
        TypeError,
        "labels must have a floating dtype (one-hot rows or probabilities); "
        "got labels.dtype=int32",
    ),
    (
        INT,
        LOGITS,
        CLASSES.astype(np.float32),
        TypeError,
        "labels must have an integer dtype (class indices in [0, 10)); "
        "got labels.dtype=float32.",
    ),
    (
        INT,
        LOGITS,
        ONE_HOT,
        ValueError,
        "labels must have shape (batch,)=(32,) to match logits.shape=(32, 10); got "
        "labels.shape=(32, 10). For one-hot or probability labels use "
        "softmax_cross_entropy.",
    ),
    (
        "binary_cross_entropy",
        LOGITS[:, :1],
        CLASSES.astype(np.float32),
        ValueError,
        "labels must have the shape of logits (32, 1); got labels.shape=(32,).",
    ),
    (
        "binary_cross_entropy",
        LOGITS,
        ONE_HOT.astype(np.complex64),
        TypeError,
        "labels must have a real (float, integer or bool) dtype; "
        "got labels.dtype=complex64.",
    ),
    (
        "mse",
        LOGITS,
        LOGITS[:, :3],
        ValueError,
        "target must have the shape of pred (32, 10); got target.shape=(32, 3).",
    ),
    (
        "mse",
        LOGITS[:, 0],
        LOGITS[:, 0],
        ValueError,
        "pred must be 2-D (batch, outputs); got pred.shape=(32,). "
        "For a single output use pred[:, None].",
    ),
    (
        "mse",
        LOGITS.astype(np.int32),
        LOGITS,
        TypeError,
        "pred must have a floating dtype; got pred.dtype=int32.",
    ),
    (
        INT,
        LOGITS[None],
        CLASSES,
        ValueError,
        "logits must be 2-D (batch, outputs); got logits.shape=(1, 32, 10).",
    ),
    (
        "softmax_cross_entropy",
        LOGITS[:0],
        ONE_HOT[:0],
        ValueError,
        "logits must have at least one example and one output; "
        "got logits.shape=(0, 10).",
    ),
]


@pytest.mark.parametrize(("name", "pred", "target", "exc", "message"), BAD)
def test_bad_input_raises_with_a_precise_message(name, pred, target, exc, message):
    # float32 logits: the message names the argument, its value and what was expected,
    # from forward, backward, the per-example function and under jit (at trace time).
    loss = losses.get(name)
    for fn in (loss.forward, loss.backward, PER_EXAMPLE[name], jax.jit(loss.forward)):
        with pytest.raises(exc, match=re.escape(message)):
            fn(pred, target)


@pytest.mark.parametrize("bad", [10, -1])
def test_out_of_range_integer_labels_raise_when_concrete(bad):
    """Concrete labels are range-checked by forward, backward and per-example (an
    out-of-range index would give NaN, or wrap, and a backward that disagrees);
    traced labels cannot be, and pass through jit."""
    loss = losses.get(INT)
    labels = CLASSES.copy()
    labels[5] = bad
    message = f"labels must be class indices in [0, 10) (logits.shape[1]=10); got labels[5]={bad} (1 out of range)."
    for fn in (loss.forward, loss.backward, PER_EXAMPLE[INT]):
        with pytest.raises(ValueError, match=re.escape(message)):
            fn(LOGITS, labels)
    jax.jit(loss.forward)(LOGITS, labels)  # traced: not checked


def test_get_names_and_output_activations():
    # No arrays (dtype-independent).
    assert NAMES == ("mse", "binary_cross_entropy", "softmax_cross_entropy", INT)
    expected = {
        "mse": "identity",
        "binary_cross_entropy": "sigmoid",
        "softmax_cross_entropy": "softmax",
        INT: "softmax",
    }
    for name in NAMES:
        loss = losses.get(name)
        assert isinstance(loss, losses.Loss) and loss.name == name
        assert loss.forward is getattr(losses, name)
        assert losses.get(loss) is loss
        assert losses.output_activation_for(name) == expected[name]
        assert losses.output_activation_for(loss) == expected[name]
    with pytest.raises(
        ValueError, match=r"unknown loss name='cross_entropy'.*mse, bin"
    ):
        losses.get("cross_entropy")
    with pytest.raises(ValueError, match=r"unknown loss_name='hinge'.*softmax_cross"):
        losses.output_activation_for("hinge")


def test_mse_forward_and_backward_take_the_same_difference():
    # The backward rule is (pred − target)/N; the forward must square the same
    # pred − target (not target − pred), or a jitted value-and-grad computes two
    # differences and keeps one more buffer (seen as +256 B temp on an H100).
    loss = losses.get("mse")
    pred, target = jnp.ones((4, 3)), jnp.zeros((4, 3))
    jaxpr = jax.make_jaxpr(lambda p, t: (loss.forward(p, t), loss.backward(p, t)))(
        pred, target
    )
    p, t = jaxpr.jaxpr.invars
    subs = [tuple(e.invars) for e in jaxpr.jaxpr.eqns if e.primitive.name == "sub"]
    assert subs and set(subs) == {(p, t)}, subs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "form", [losses._softmax_ce_grad_cpu, losses._softmax_ce_grad_cuda]
)
def test_both_softmax_cross_entropy_backward_forms_match_grad(form, dtype):
    # Each backend's form of the backward, run here on CPU, against jax.grad, with
    # label rows summing to 0.5–1.5 (where Σy matters) and to 1.
    z, targets = inputs(seed=7)
    y = targets["softmax_cross_entropy"]
    for labels in (y, y * np.linspace(0.5, 1.5, SHAPE[0])[:, None]):
        zz, yy = jnp.asarray(z, dtype), jnp.asarray(labels, dtype)
        auto = jax.grad(losses.softmax_cross_entropy)(zz, yy)
        manual = form(zz, yy)
        assert manual.dtype == dtype
        assert rel_err(manual, auto) <= RTOL_GRAD[dtype]


def test_softmax_cross_entropy_backward_lowers_each_backends_form():
    # jax.export lowers for a platform without its device: CUDA gets the lse form,
    # every other backend the softmax form (the ops of the lowered modules, without
    # the constant-index `case` that platform_dependent leaves).
    z, y = jnp.ones((4, 3)), jnp.eye(4, 3)

    def ops(fn, platform):
        return lowered_ops(fn, platform, z, y)

    cpu, cuda = losses._softmax_ce_grad_cpu, losses._softmax_ce_grad_cuda
    assert ops(cpu, "cpu") != ops(cuda, "cpu")
    for platform, form in [("cpu", cpu), ("cuda", cuda), ("rocm", cpu), ("tpu", cpu)]:
        assert ops(losses._softmax_cross_entropy_bwd, platform) == ops(form, platform)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "softmax_cross_entropy"])
@pytest.mark.parametrize("bad", [2.0, -0.5, float("nan")])
def test_probability_labels_outside_0_1_raise_when_concrete(bad, name):
    """float32. A label of 2 gave a loss without complaint (optax's too), and a
    softmax label of −1 a negative cross-entropy; concrete labels are checked by
    forward, backward and per-example, traced ones cannot be."""
    loss = losses.get(name)
    logits = jnp.zeros((3, 2), jnp.float32)
    labels = np.zeros((3, 2), np.float32)
    labels[1, 0] = bad
    message = (
        f"labels must be probabilities in [0, 1]; got labels[1, 0]={labels[1, 0]!r}"
    )
    for fn in (loss.forward, loss.backward, PER_EXAMPLE[name]):
        with pytest.raises(ValueError, match=re.escape(message)):
            fn(logits, labels)
    jax.jit(loss.forward)(logits, labels)  # traced: not checked


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_backward_keeps_accuracy_for_confident_logits(dtype):
    # float32 and float64 logits of 5 to 40 with the label on their side, where
    # σ(z) − 1 rounds to 0 (z ≳ 17 in float32, ≳ 37 in float64) or loses digits: the
    # backward must keep −σ(−z)/N, as jax.grad does (it was 0, or 3e-4 off at z = 10).
    z = np.array([[5.0, 10.0, 17.0, 20.0, 40.0]])
    logits = jnp.asarray(np.concatenate([z, -z]), dtype)
    labels = jnp.asarray([[1.0] * 5, [0.0] * 5], dtype)
    loss = losses.get("binary_cross_entropy")
    manual = loss.backward(logits, labels)
    auto = jax.grad(loss.forward)(logits, labels)
    exact = np.concatenate([-1 / (1 + np.exp(z)), 1 / (1 + np.exp(z))]) / 2
    assert manual.dtype == dtype
    assert rel_err(manual, auto) <= RTOL_GRAD[dtype]
    np.testing.assert_allclose(manual, exact, rtol=RTOL_GRAD[dtype])


@pytest.mark.parametrize(
    ("dtype", "n"),
    [
        (jnp.bfloat16, 257),
        (jnp.bfloat16, 1000),
        (jnp.float16, 2049),
        (jnp.float16, 70_000),
    ],
)
@pytest.mark.parametrize("name", NAMES)
def test_narrow_dtype_backward_takes_the_batch_factor_of_jax_grad(name, dtype, n):
    """bfloat16 and float16: jax.grad of the batch mean (taken in float32) scales by
    1/N rounded to the dtype; the backward divided by N rounded to the dtype (257 →
    256 in bfloat16, a 2⁻⁸ bias in every gradient; 70 000 → inf in float16). With
    inputs whose per-element gradients are exact (±1 or ±½ times the factor) the
    two must be equal to the bit."""
    factor = np.float32(1) / np.float32(n)
    if name == "mse":  # pred − target = 1
        z, t, c = jnp.ones((n, 2), dtype), jnp.zeros((n, 2), dtype), 1.0
    elif name == "softmax_cross_entropy_with_integer_labels":  # ½ − 1, ½
        z, t, c = jnp.zeros((n, 2), dtype), jnp.zeros((n,), jnp.int32), 0.5
    else:  # σ(0) − 0 = ½; softmax (½, ½) − (1, 0)
        t = (
            jnp.zeros((n, 2), dtype)
            .at[:, 0]
            .set(1 if name == "softmax_cross_entropy" else 0)
        )
        z, c = jnp.zeros((n, 2), dtype), 0.5
    loss = losses.get(name)
    manual = loss.backward(z, t)
    assert manual.dtype == dtype
    expected = jnp.asarray(factor, dtype) * jnp.asarray(c, dtype)
    np.testing.assert_array_equal(
        np.abs(np.asarray(manual, np.float32)), np.float32(expected)
    )
    np.testing.assert_array_equal(manual, jax.grad(loss.forward)(z, t))


def test_float16_backward_of_a_batch_larger_than_float16_max():
    # float16, N = 70000 > 65504 (float16's largest value): x / N divided by N cast
    # to float16, i.e. by inf, and every backward rule returned zeros. jax.grad of
    # the batch mean multiplies by 1/N instead; both must agree with the float64
    # gradient to float16 rounding.
    n = 70_000
    z, targets = inputs(seed=8, shape=(n, 2), scale=1.0)
    for name in NAMES:
        loss = losses.get(name)
        zz, t = cast(z, targets, jnp.float16)
        manual = loss.backward(zz, t[name])
        _, t64 = cast(z, targets, jnp.float64)
        exact = jax.grad(loss.forward)(zz.astype(jnp.float64), t64[name])
        assert manual.dtype == jnp.float16
        assert rel_err(manual, exact) <= 1e-2, name
        assert rel_err(manual, jax.grad(loss.forward)(zz, t[name])) <= 1e-2, name
        if name == "softmax_cross_entropy":  # the other backend's form too
            cuda = losses._softmax_ce_grad_cuda(zz, t[name])
            assert rel_err(cuda, exact) <= 1e-2
