"""Whole-network manual backprop vs jax.grad vs finite differences, and custom_vjp."""

import gc
import itertools
import re
import textwrap
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _messages import assert_names_argument
from _subprocess import run_python

from jaxnn import activations, backprop, gradcheck, losses, models, optim, parallel
from jaxnn._tree import tree_cast

# (loss, output activation) pairings of the module's table, plus its own σ + MSE.
PAIRINGS = (
    ("mse", None),
    ("mse", "sigmoid"),
    ("binary_cross_entropy", None),
    ("softmax_cross_entropy", None),
    ("softmax_cross_entropy_with_integer_labels", None),
)
FACTORS = {
    "depth": (1, 2, 3, 4),
    "activation": activations.NAMES,
    "pairing": PAIRINGS,
    "batch_norm": (False, True),
    "residual": (False, True),
    "dropout": (False, True),
}


def pairwise(factors: dict) -> list[dict]:
    """Greedy covering array: every pair of values of two factors appears in some case."""
    names = list(factors)
    uncovered = {
        (a, va, b, vb)
        for a, b in itertools.combinations(names, 2)
        for va in factors[a]
        for vb in factors[b]
    }
    cases = []
    while uncovered:
        a, va, b, vb = min(uncovered, key=repr)  # seed with an uncovered pair
        case = {a: va, b: vb}
        for name in names:
            if name in case:
                continue
            case[name] = max(
                factors[name],
                key=lambda v: sum(
                    (n, case[n], name, v) in uncovered
                    or (name, v, n, case[n]) in uncovered
                    for n in case
                ),
            )
        cases.append(case)
        uncovered -= {
            (x, case[x], y, case[y]) for x, y in itertools.combinations(names, 2)
        }
    return cases


CASES = pairwise(FACTORS)


def test_pairwise_cases_cover_every_pair():
    """The matrix below really covers all pairs (and is much smaller than the product)."""
    for a, b in itertools.combinations(FACTORS, 2):
        seen = {(c[a], c[b]) for c in CASES}
        assert seen == set(itertools.product(FACTORS[a], FACTORS[b])), (a, b)
    assert len(CASES) < np.prod([len(v) for v in FACTORS.values()]) / 20


def _targets(loss_name, key, batch, out, dtype):
    if loss_name == "mse":
        return jax.random.uniform(key, (batch, out), dtype)
    if loss_name == "binary_cross_entropy":
        return jax.random.bernoulli(key, 0.5, (batch, out)).astype(dtype)
    if loss_name == "softmax_cross_entropy":
        return jax.nn.softmax(jax.random.normal(key, (batch, out), dtype))
    return jax.random.randint(key, (batch,), 0, out)


def _problem(case, dtype, batch=6, d_in=4, width=5, out=3):
    loss_name, output = case["pairing"]
    sizes = (width,) * (case["depth"] - 1) + (out,)
    model = models.mlp(
        sizes,
        activation=case["activation"],
        output=output,
        batch_norm=case["batch_norm"],
        residual=case["residual"],
        dropout=0.2 if case["dropout"] else 0.0,
    )
    k_init, k_x, k_y, k_drop = jax.random.split(jax.random.key(11), 4)
    _, params, state = model.init(k_init, (d_in,))
    params, state = tree_cast(params, dtype), tree_cast(state, dtype)
    x = jax.random.normal(k_x, (batch, d_in), dtype)
    y = _targets(loss_name, k_y, batch, out, dtype)
    return model, loss_name, params, state, x, y, k_drop


def _case_id(case):
    loss_name, output = case["pairing"]
    flags = "".join(f"+{k}" for k in ("batch_norm", "residual", "dropout") if case[k])
    return f"d{case['depth']}-{case['activation']}-{loss_name}-{output}{flags}"


def _assert_same_tree(got, want):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_mlp_manual_equals_autodiff_and_finite_differences(case):
    """float64 (rtol 1e-12, FD 1e-6) and float32 (rtol 1e-5): manual == jax.grad.

    All five gradients of a case are computed in one jitted call: one compile per case.
    """
    problems = {dtype: _problem(case, dtype) for dtype in (jnp.float64, jnp.float32)}
    model, loss_name, *_ = problems[jnp.float64]
    manual_fn = backprop.value_and_grad(model, loss_name)
    auto_fn = backprop.autodiff_value_and_grad(model, loss_name)

    @jax.jit
    def gradients(p64, p32):
        out = {}
        for dtype, params in ((jnp.float64, p64), (jnp.float32, p32)):
            _, _, _, state, x, y, key = problems[dtype]
            out[jnp.dtype(dtype).name] = (
                manual_fn(params, state, x, y, key=key),
                auto_fn(params, state, x, y, key=key),
            )
        _, _, _, state, x, y, key = problems[jnp.float64]
        fd = gradcheck.numerical_grad(
            lambda p: manual_fn(p, state, x, y, key=key)[0][0], p64
        )
        return out, fd

    out, fd = gradients(problems[jnp.float64][2], problems[jnp.float32][2])
    for dtype, rtol in ((jnp.float64, 1e-12), (jnp.float32, 1e-5)):
        ((value, new_state), manual), ((value_ad, state_ad), auto) = out[
            jnp.dtype(dtype).name
        ]
        _assert_same_tree(manual, auto)
        assert jax.tree.leaves(manual)[0].dtype == dtype
        assert gradcheck.relative_error(manual, auto) <= rtol
        assert gradcheck.relative_error(value, value_ad) <= rtol
        assert gradcheck.relative_error(new_state, state_ad) == 0.0
    assert gradcheck.relative_error(out["float64"][0][1], fd) <= 1e-6


MODEL_FOR_JIT = {
    "depth": 3,
    "activation": "tanh",
    "pairing": PAIRINGS[4],
    "batch_norm": True,
    "residual": True,
    "dropout": True,
}


def test_manual_under_jit_equals_eager():
    """float64: the jitted manual value-and-grad equals the eager one."""
    model, loss_name, params, state, x, y, key = _problem(MODEL_FOR_JIT, jnp.float64)
    fn = backprop.value_and_grad(model, loss_name)
    eager = fn(params, state, x, y, key=key)
    jitted = jax.jit(fn)(params, state, x, y, key=key)
    assert gradcheck.relative_error(eager, jitted) <= 1e-13


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_per_example_gradients_with_vmap(dtype):
    """vmap of the manual gradient over examples equals vmap(jax.grad)."""
    case = dict(MODEL_FOR_JIT, batch_norm=False, dropout=False)
    model, loss_name, params, state, x, y, _ = _problem(case, dtype)
    manual_fn = backprop.value_and_grad(model, loss_name)

    def manual(xi, yi):
        return manual_fn(params, state, xi[None], yi[None])[1]

    def auto(xi, yi):
        loss = losses.get(loss_name)
        return jax.grad(
            lambda p: loss.forward(model.forward(p, state, xi[None])[0], yi[None])
        )(params)

    per_example = jax.vmap(manual)(x, y)
    expected = jax.vmap(auto)(x, y)
    _assert_same_tree(per_example, expected)
    assert jax.tree.leaves(per_example)[0].shape[0] == x.shape[0]
    assert (
        gradcheck.relative_error(per_example, expected)
        <= gradcheck.RTOL_VJP[jnp.dtype(dtype).name]
    )


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_custom_vjp_makes_jax_grad_use_the_manual_rules(dtype):
    """jax.grad through custom_vjp(model) equals the manual value_and_grad."""
    model, loss_name, params, state, x, y, key = _problem(MODEL_FOR_JIT, dtype)
    loss = losses.get(loss_name)
    apply = backprop.custom_vjp(model)

    def objective(p):
        pred, _ = apply(p, state, x, train=True, key=key)
        return loss.forward(pred, y)

    got = jax.jit(jax.grad(objective))(params)
    _, manual = backprop.value_and_grad(model, loss_name)(params, state, x, y, key=key)
    _assert_same_tree(got, manual)
    assert (
        gradcheck.relative_error(got, manual)
        <= gradcheck.RTOL_VJP[jnp.dtype(dtype).name]
    )


def test_custom_vjp_uses_the_layers_backward_not_autodiff():
    """float64: a planted backward shows up in jax.grad, proving the rule is the layer's."""
    from jaxnn import layers as L

    inner = L.dense(2)
    doubled = L.Layer(
        inner.init,
        inner.forward,
        lambda c, dy: jax.tree.map(lambda a: 2 * a, inner.backward(c, dy)),
    )
    _, params, state = doubled.init(jax.random.key(0), (3,))
    params = tree_cast(params, jnp.float64)
    x = jnp.ones((2, 3), jnp.float64)
    apply = backprop.custom_vjp(doubled)
    got = jax.grad(lambda p: apply(p, state, x)[0].sum())(params)
    want = jax.grad(lambda p: inner.forward(p, state, x)[0].sum())(params)
    np.testing.assert_allclose(got.w, 2 * want.w, rtol=1e-14)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_custom_vjp_refuses_gradients_with_respect_to_state(dtype):
    """The layers' backward has no rule for the state (batch_norm's running
    statistics, used when train=False): jax.grad with respect to it is refused
    rather than given as zeros, while the params' gradient is unchanged."""
    case = dict(MODEL_FOR_JIT, dropout=False)
    model, _, params, state, x, _, _ = _problem(case, dtype)
    apply = backprop.custom_vjp(model)
    autodiff = jax.grad(lambda s: model.forward(params, s, x)[0].sum())(state)
    assert any(np.any(leaf != 0) for leaf in jax.tree.leaves(autodiff))
    with pytest.raises(ValueError, match="not state"):
        jax.grad(lambda s: apply(params, s, x)[0].sum())(state)
    with pytest.raises(ValueError, match="not state"):
        jax.grad(lambda p, s: apply(p, s, x)[0].sum(), argnums=(0, 1))(params, state)
    got = jax.grad(lambda p: apply(p, state, x)[0].sum())(params)
    want = jax.grad(lambda p: model.forward(p, state, x)[0].sum())(params)
    _assert_same_tree(got, want)
    assert (
        gradcheck.relative_error(got, want) <= gradcheck.RTOL_VJP[jnp.dtype(dtype).name]
    )


def test_custom_vjp_new_state_can_be_fed_back_in_under_grad():
    """float64: a train call's new running statistics passed to a second call (an
    eval on the new statistics, a scan over batches) raised "not state" under
    jax.grad, though nothing differentiated with respect to state; the gradient
    must equal autodiff's through model.forward with the state stopped."""
    model = models.mlp([8, 3], activation="tanh", batch_norm=True)
    _, params, state = model.init(jax.random.key(0), (4,))
    params, state = tree_cast((params, state), jnp.float64)
    x = jax.random.normal(jax.random.key(1), (6, 4), jnp.float64)
    apply = backprop.custom_vjp(model)

    def objective(forward):
        def f(p):
            y1, new_state = forward(p, state, x, train=True)
            y2, _ = forward(p, new_state, 2 * x, train=False)
            return jnp.sum(y1**2) + jnp.sum(y2**2)

        return f

    def by_autodiff(p, s, x, train):
        y, new_state, _ = model.forward(p, s, x, train=train)
        return y, jax.lax.stop_gradient(new_state)

    def scanned(forward):  # statistics threaded through two batches, then eval
        def f(p):
            step = lambda s, xb: (forward(p, s, xb, train=True)[1], None)
            final, _ = jax.lax.scan(step, state, x.reshape(2, 3, 4))
            return jnp.sum(forward(p, final, x, train=False)[0] ** 2)

        return f

    for build in (objective, scanned):
        got = jax.grad(build(apply))(params)
        want = jax.grad(build(by_autodiff))(params)
        assert gradcheck.relative_error(got, want) < 1e-13, build.__name__


@pytest.mark.parametrize(
    "build",
    [backprop.value_and_grad, backprop.autodiff_value_and_grad, backprop.custom_vjp],
)
@pytest.mark.parametrize("bad", ["mlp", None, models.mlp([3]).forward])
def test_backprop_refuses_what_is_not_a_layer(build, bad):
    """No arrays: a model that is not a Layer is named when the function is built."""
    args = (bad,) if build is backprop.custom_vjp else (bad, "mse")
    name = "layer" if build is backprop.custom_vjp else "model"
    with pytest.raises(TypeError) as info:
        build(*args)
    assert_names_argument(str(info.value), name, repr(bad), "jaxnn.layers.Layer")


# ### the module's own two-layer example (section 6.1) ###############################


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _seed_gradients(W1, b1, W2, b2, x, y):
    """Section 6.1 per example, column vectors, exactly as the module writes it."""
    h = _sigmoid(W1 @ x + b1)
    y_hat = _sigmoid(W2 @ h + b2)
    dL_dyhat = -(y - y_hat)
    delta2 = dL_dyhat * y_hat * (1 - y_hat)  # ∂L/∂ŷ · σ'(W₂h + b₂)
    dW2 = delta2 @ h.T
    dL_dh = W2.T @ delta2
    delta1 = dL_dh * h * (1 - h)  # ∂L/∂h · σ'(W₁x + b₁)
    dW1 = delta1 @ x.T
    return dW1, delta1[:, 0], dW2, delta2[:, 0]


def test_two_layer_sigmoid_matches_the_modules_formulas():
    """float64: per-example column-vector formulas == batched manual pass == jax.grad."""
    model = models.two_layer_sigmoid(hidden=4, out=2)
    k1, k2, k3 = jax.random.split(jax.random.key(5), 3)
    _, params, state = model.init(k1, (3,))
    params = tree_cast(params, jnp.float64)
    x = jax.random.normal(k2, (8, 3), jnp.float64)
    y = jax.random.uniform(k3, (8, 2), jnp.float64)
    (value, _), manual = backprop.value_and_grad(model, "mse")(params, state, x, y)
    (_, _), auto = backprop.autodiff_value_and_grad(model, "mse")(params, state, x, y)

    d1, _, d2, _ = params
    W1, b1 = np.asarray(d1.w).T, np.asarray(d1.b)[:, None]
    W2, b2 = np.asarray(d2.w).T, np.asarray(d2.b)[:, None]
    per_example = [
        _seed_gradients(
            W1, b1, W2, b2, np.asarray(xi)[:, None], np.asarray(yi)[:, None]
        )
        for xi, yi in zip(x, y, strict=True)
    ]
    dW1, db1, dW2, db2 = (np.mean(g, axis=0) for g in zip(*per_example, strict=True))
    seed = (
        manual[0]._replace(w=dW1.T, b=db1),
        (),
        manual[2]._replace(w=dW2.T, b=db2),
        (),
    )
    assert gradcheck.relative_error(seed, manual) <= 1e-12
    assert gradcheck.relative_error(seed, auto) <= 1e-12

    lr = 0.5
    stepped = jax.tree.map(lambda p, g: p - lr * g, params, manual)
    (new_value, _), _ = backprop.value_and_grad(model, "mse")(stepped, state, x, y)
    assert new_value < value


# ### bad input ######################################################################


def test_mlp_rejects_bad_configuration():
    with pytest.raises(
        ValueError, match=r"sizes\[1\] must be a positive int; got sizes\[1\]=0"
    ):
        models.mlp([8, 0, 3])
    with pytest.raises(ValueError, match="sizes must list"):
        models.mlp([])
    with pytest.raises(ValueError, match="swish"):
        models.mlp([3], activation="swish")
    with pytest.raises(
        ValueError, match=r"dropout must be in \[0, 1\); got dropout=1.0"
    ):
        models.mlp([3], dropout=1.0)


@pytest.mark.parametrize("bad", ["0.2", None, [0.2], False])
def test_mlp_dropout_that_is_not_a_number_is_named(bad):
    """``0.0 <= "0.2"`` used to raise a TypeError naming neither the argument nor
    its value; a bool (``dropout=False`` was taken as 0) is refused like the layers'
    hyperparameters."""
    with pytest.raises(TypeError) as info:
        models.mlp([4, 3], dropout=bad)
    assert_names_argument(str(info.value), "dropout", repr(bad), "real number")


@pytest.mark.parametrize(("argument", "bad"), [("hidden", 0), ("out", -2)])
def test_two_layer_sigmoid_names_its_own_bad_width(argument, bad):
    """Its arguments are ``hidden`` and ``out``; the error used to name the inner
    dense layer's ``features``."""
    kwargs = {"hidden": 4, "out": 2, argument: bad}
    with pytest.raises(ValueError) as info:
        models.two_layer_sigmoid(**kwargs)
    assert_names_argument(str(info.value), argument, repr(bad), "positive int")


def test_mlp_rejects_mismatched_input_width():
    model = models.mlp([4, 2])
    _, params, state = model.init(jax.random.key(0), (3,))
    with pytest.raises(ValueError, match=r"width\) 3.*x\.shape=\(5, 7\)"):
        backprop.value_and_grad(model, "mse")(
            params, state, jnp.ones((5, 7)), jnp.ones((5, 2))
        )


def test_numerical_grad_in_batches_equals_one_at_a_time():
    """float64: ``batch_size`` vectorises the perturbations without changing them
    (a batch that does not divide P included); bad sizes are rejected by name."""
    params = {"a": jnp.linspace(-1.0, 1.0, 37), "b": jnp.ones((3, 4))}
    f = lambda p: jnp.sum(jnp.sin(p["a"])) * jnp.sum(p["b"] ** 2)
    one = gradcheck.numerical_grad(f, params)
    for batch in (8, 49, 64):
        batched = gradcheck.numerical_grad(f, params, batch_size=batch)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(batched), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert gradcheck.relative_error(one, jax.grad(f)(params)) < 1e-8
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=rf"batch_size must be.*{bad!r}"):
            gradcheck.numerical_grad(f, params, batch_size=bad)


def test_numerical_grad_reads_f_as_it_is_now_and_compiles_once_per_program():
    """float64. f reads a global data batch and a Python scalar: after either
    changes the finite differences follow it, as an eager jax.grad does (they kept
    the first trace's values: a correct gradient then failed check_grads). A new
    batch of the same shape reuses the compiled program; f is not kept alive."""
    data = {"X": jnp.arange(6.0).reshape(3, 2), "scale": 1.0}

    def f(w):
        return data["scale"] * jnp.sum(jnp.tanh(data["X"] @ w) ** 2)

    w = jnp.array([0.3, -0.2])
    first = gradcheck.numerical_grad(f, w)
    np.testing.assert_allclose(first, jax.grad(f)(w), rtol=1e-8)
    compiled = dict(gradcheck._COMPILED[f])
    (mine,) = compiled  # one program for this f
    data["X"] = -0.5 * data["X"]
    moved = gradcheck.numerical_grad(f, w)
    np.testing.assert_allclose(moved, jax.grad(f)(w), rtol=1e-8)
    assert not np.allclose(moved, first)
    assert gradcheck._COMPILED[f] == compiled  # the same program: no new compile
    assert compiled[mine]._cache_size() == 1
    data["scale"] = 5.0  # a literal in the program: compiled anew, and read
    np.testing.assert_allclose(gradcheck.numerical_grad(f, w), 5 * moved, rtol=1e-8)
    assert gradcheck.check_grads(f, jax.grad(f), w, raise_on_fail=False).passed
    ref = weakref.ref(f)
    del f
    gc.collect()
    assert ref() is None  # and its programs, which hold what it closed over


def test_numerical_grad_does_not_mix_up_functions_that_print_alike():
    """float64: two closures over different data through an inner jit print the
    same program (the inner jit's arrays are not in the text): keyed by the
    program alone, the second reused the first's data and check_grads failed a
    correct jax.grad."""

    def loss_on(x):
        return jax.jit(lambda w: jnp.mean((x @ w) ** 2))

    w = jnp.ones(3)
    for seed in (1, 2):
        f = loss_on(jax.random.normal(jax.random.key(seed), (8, 3), jnp.float64))
        np.testing.assert_allclose(
            gradcheck.numerical_grad(f, w), jax.grad(f)(w), rtol=1e-7
        )
        assert gradcheck.check_grads(f, jax.grad(f), w, raise_on_fail=False).passed


def test_numerical_grad_step_is_relative_for_large_parameters():
    """float64 at θ = 1e5: an absolute step of 1e-6 leaves rounding error
    ε·f/h ≈ 2e0 against a gradient of 2e5 (1e-5 relative); hᵢ = ε·|θᵢ| does not."""
    p = jnp.array([1e5, -3e5])
    f = lambda p: jnp.sum(p**2)
    assert gradcheck.relative_error(gradcheck.numerical_grad(f, p), 2 * p) < 1e-8
    with pytest.raises(ValueError, match=r"f must return a scalar.*\(2,\)"):
        gradcheck.numerical_grad(lambda p: p**2, p)


# A least-squares problem ‖wA − B‖²/2 in w (3 unknowns, 8 equations).
A = jnp.asarray(np.random.default_rng(0).normal(size=(3, 8)))
B = jnp.asarray(np.random.default_rng(1).normal(size=(8,)))


def test_check_grads_passes_true_gradients_even_at_zero_and_fails_wrong_ones():
    """float64. A right gradient passes, also where it is (nearly) zero and only the
    finite differences' rounding error is left — which rtol alone fails; a wrong
    one fails naming its leaf; float32 params are refused."""
    cases = {
        "sin at π/2": (lambda p: jnp.sin(p["x"][0]), {"x": jnp.array([jnp.pi / 2])}),
        "least squares at its optimum": (
            lambda p: 0.5 * jnp.sum((p["w"] @ A - B) ** 2),
            {"w": jnp.linalg.lstsq(A.T, B)[0]},
        ),
        "tanh away from 0": (
            lambda p: jnp.sum(jnp.tanh(p["x"]) * p["y"]),
            {"x": jnp.linspace(-1, 1, 5), "y": jnp.arange(5.0)},
        ),
    }
    for name, (f, params) in cases.items():
        report = gradcheck.check_grads(f, jax.grad(f), params, name=name)
        assert report.passed, report
        if name != "tanh away from 0":
            strict = gradcheck.check_grads(
                f, jax.grad(f), params, atol=0.0, raise_on_fail=False
            )
            assert not strict.passed, strict  # the zero gradient needs atol
    f, params = cases["tanh away from 0"]
    wrong = lambda p: {"x": jax.grad(f)(p)["x"], "y": jax.grad(f)(p)["y"] * 1.001}
    with pytest.raises(AssertionError, match=r"FAIL.*worst leaf \['y'\]"):
        gradcheck.check_grads(f, wrong, params)
    with pytest.raises(TypeError, match=r"float64.*\['x'\] has dtype float32"):
        gradcheck.check_grads(f, jax.grad(f), tree_cast(params, jnp.float32))


def test_batch_norm_mlp_has_no_bias_before_batch_norm_and_adam_paths_agree():
    """float32. batch_norm cancels a preceding bias, whose gradient is then only
    rounding noise that Adam (eps 1e-8) turns into lr-sized steps: manual and
    autodiff runs drift apart in it (1.7e-2 here). Without it, 30 Adam steps of both
    agree to float32 rounding."""
    net = models.mlp([16, 16, 3], batch_norm=True)
    _, params, state = net.init(jax.random.key(0), (5,))
    hidden_dense = [block[0] for block in params[:-1]]
    assert all(d.b is None for d in hidden_dense) and params[-1].b is not None
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(30, 32, 5)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 3, size=(30, 32)))
    opt = optim.adam(1e-2)
    loss = "softmax_cross_entropy_with_integer_labels"

    def train(vg):
        def step(carry, batch):
            p, s, o = carry
            (_, s), g = vg(p, s, *batch)
            u, o = opt.update(g, o, p)
            return (optim.apply_updates(p, u), s, o), None

        return jax.lax.scan(step, (params, state, opt.init(params)), (x, y))[0][0]

    manual = jax.jit(lambda: train(backprop.value_and_grad(net, loss)))()
    auto = jax.jit(lambda: train(backprop.autodiff_value_and_grad(net, loss)))()
    assert gradcheck.relative_error(manual, auto) < 1e-5


# ### data parallelism (jaxnn.parallel) #############################################


@pytest.mark.parametrize("bad", [0, -4, 8.0, "8", None, True])
def test_placer_refuses_a_batch_size_that_is_not_a_positive_int(bad):
    """No arrays; one device, where every positive batch size divides."""
    with pytest.raises(ValueError) as info:
        parallel.placer(parallel.mesh(1), bad)
    assert_names_argument(str(info.value), "batch_size", repr(bad), "positive int")


def test_placer_refuses_what_is_not_a_mesh_and_unstacked_batches():
    """float32 batches on one device: axis 1 must be the placer's batch size, not
    sharded whatever it is (a single (batch, features) batch, another size)."""
    with pytest.raises(TypeError, match=r"m must be a jax.sharding.Mesh.*got m='data'"):
        parallel.placer("data", 8)
    place = parallel.placer(parallel.mesh(1), 8)
    state = {"w": jnp.ones(3, jnp.float32)}
    for name, xb, yb in [
        ("xb", jnp.ones((8, 5), jnp.float32), jnp.ones((1, 8), jnp.float32)),
        ("xb", jnp.ones((2, 4, 5), jnp.float32), jnp.ones((2, 4), jnp.float32)),
        ("yb", jnp.ones((2, 8, 5), jnp.float32), jnp.ones((8,), jnp.float32)),
    ]:
        shape = (xb if name == "xb" else yb).shape
        with pytest.raises(ValueError, match=rf"{name}\.shape={re.escape(str(shape))}"):
            place(state, xb, yb)
    _, xb, yb = place(state, jnp.ones((2, 8, 5), jnp.float32), jnp.ones((2, 8)))
    assert xb.shape == (2, 8, 5) and yb.shape == (2, 8)


def test_mesh_takes_a_numpy_int_and_place_names_a_list_batch():
    """``mesh(np.int64(1))`` used to be refused as "must be an int"; a list ``yb``
    used to raise ``AttributeError: 'list' object has no attribute 'ndim'``."""
    m = parallel.mesh(np.int64(1))
    assert m.devices.size == 1
    place = parallel.placer(m, 2)
    with pytest.raises(TypeError, match=r"yb must be an array.*got yb of type list"):
        place({}, jnp.ones((1, 2, 3), jnp.float32), [[0, 1]])


PARALLEL_SCRIPT = textwrap.dedent(
    """
    import jax
    jax.config.update("jax_num_cpu_devices", 4)
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from jaxnn import backprop, gradcheck, models, parallel

    assert len(jax.devices()) == 4
    mesh = parallel.mesh(4)
    try:
        parallel.placer(mesh, 6)
        raise SystemExit("batch_size=6 over 4 devices was accepted")
    except ValueError as e:
        assert "divisible by the number of devices (4)" in str(e), e
        assert "batch_size=6" in str(e), e
    place = parallel.placer(mesh, 8)
    model = models.mlp([5, 3], batch_norm=True)
    _, params, state = model.init(jax.random.key(0), (4,))
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    state = jax.tree.map(lambda a: a.astype(jnp.float64), state)
    rng = np.random.default_rng(0)
    xb = jnp.asarray(rng.normal(size=(2, 8, 4)))
    yb = jnp.asarray(rng.integers(0, 3, size=(2, 8)))
    (params_s, state_s), xs, ys = place((params, state), xb, yb)
    assert len(xs.addressable_shards) == 4
    assert {s.data.shape for s in xs.addressable_shards} == {(2, 2, 4)}
    loss = "softmax_cross_entropy_with_integer_labels"
    for build in (backprop.value_and_grad, backprop.autodiff_value_and_grad):
        fn = jax.jit(build(model, loss))
        sharded = fn(params_s, state_s, xs[0], ys[0])
        single = fn(params, state, xb[0], yb[0])
        # batch_norm's statistics and the loss's mean span the whole batch.
        err = gradcheck.relative_error(sharded, single)
        assert err <= 1e-12, (build.__name__, err)
    print("parallel ok")
    """
)


def test_data_parallel_value_and_grad_on_4_devices_equals_one_device():
    """float64, 4 simulated CPU devices (a subprocess: set before jax starts): a
    batch size that does not divide is refused; the placed batch is split in 4 along
    its batch axis, and the manual and autodiff loss, batch_norm state and gradients
    of it equal the one-device ones (the cross-device reductions are whole-batch)."""
    run_python(PARALLEL_SCRIPT, expect="parallel ok")
