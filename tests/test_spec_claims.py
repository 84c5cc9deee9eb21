"""SPEC.md's formulas, checked literally against closed forms written here in NumPy.

The other tests compare jaxnn with jax.nn, jax.grad and optax. These compare it with
the teaching module's own formulas, as SPEC.md states them (float64), so that a
convention that drifted in both jaxnn and its reference (ε placement, a ½ factor, a
default) still fails here.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import activations, backprop, diagnostics, optim
from jaxnn import layers as L

# ### 6.4 optimizers: the module's update rules, step by step ######################

STEPS = 6


def _gradients(scale: float) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [scale * rng.normal(size=(5,)) for _ in range(STEPS)]


def _sgd(theta, gs, *, lr):
    out = []
    for g in gs:
        theta = theta - lr * g  # θ ← θ − α∇L
        out.append(theta)
    return out


def _ema_momentum(theta, gs, *, lr, beta):
    v, out = np.zeros_like(theta), []
    for g in gs:
        v = beta * v + (1 - beta) * g  # v ← βv + (1−β)∇L
        theta = theta - lr * v  # θ ← θ − αv
        out.append(theta)
    return out


def _heavy_ball(theta, gs, *, lr, beta, nesterov=False):
    v, out = np.zeros_like(theta), []
    for g in gs:
        v = beta * v + g  # v ← βv + ∇L
        theta = theta - lr * ((g + beta * v) if nesterov else v)
        out.append(theta)
    return out


def _rmsprop(theta, gs, *, lr, beta=0.9, eps=1e-8):
    s, out = np.zeros_like(theta), []
    for g in gs:
        s = beta * s + (1 - beta) * g**2  # s ← βs + (1−β)(∇L)²
        theta = theta - lr * g / np.sqrt(s + eps)  # θ ← θ − α∇L/√(s+ε)
        out.append(theta)
    return out


def _adam(theta, gs, *, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    m, v, out = np.zeros_like(theta), np.zeros_like(theta), []
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        # AdamW: the decay is decoupled from the moments, scaled by α.
        theta = theta - lr * (m_hat / (np.sqrt(v_hat) + eps) + weight_decay * theta)
        out.append(theta)
    return out


# (jaxnn optimizer, closed form); defaults are left to jaxnn where SPEC states them
# (Adam's α=0.001, β₁=0.9, β₂=0.999, ε=1e-8), so a changed default fails.
OPTIMIZERS = {
    "sgd": (lambda: optim.sgd(0.1), lambda t, g: _sgd(t, g, lr=0.1)),
    "momentum_ema": (
        lambda: optim.momentum(0.1, beta=0.8),
        lambda t, g: _ema_momentum(t, g, lr=0.1, beta=0.8),
    ),
    "sgd_heavy_ball": (
        lambda: optim.sgd(0.1, momentum=0.8),
        lambda t, g: _heavy_ball(t, g, lr=0.1, beta=0.8),
    ),
    "sgd_nesterov": (
        lambda: optim.sgd(0.1, momentum=0.8, nesterov=True),
        lambda t, g: _heavy_ball(t, g, lr=0.1, beta=0.8, nesterov=True),
    ),
    "rmsprop": (lambda: optim.rmsprop(0.01), lambda t, g: _rmsprop(t, g, lr=0.01)),
    "adam_defaults": (lambda: optim.adam(), _adam),
    "adamw": (
        lambda: optim.adamw(0.01, weight_decay=0.1),
        lambda t, g: _adam(t, g, lr=0.01, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("scale", [1.0, 1e-8], ids=["g~1", "g~1e-8"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_follows_the_modules_update_rule(name, scale):
    """Gradients of size 1e-8 make ε decide the step: ε inside the root for RMSprop
    (√(s+ε)), outside for Adam (√v̂ + ε), as SPEC writes them."""
    make, closed_form = OPTIMIZERS[name]
    tx = make()
    gs = _gradients(scale)
    theta0 = np.random.default_rng(3).normal(size=(5,))
    expected = closed_form(theta0, gs)
    theta = jnp.asarray(theta0)
    state = tx.init(theta)
    for step, (g, want) in enumerate(zip(gs, expected, strict=True), start=1):
        updates, state = tx.update(jnp.asarray(g), state, theta)
        theta = optim.apply_updates(theta, updates)
        assert theta.dtype == jnp.float64
        np.testing.assert_allclose(
            theta - theta0, want - theta0, rtol=1e-10, atol=0, err_msg=f"step {step}"
        )


# ### 6.2 activations: the module's formulas and derivatives ########################

Z = np.concatenate([np.linspace(-6.0, 6.0, 49), [-0.3, 0.7, 1e-3, -1e-3]])
Z_NONZERO = Z[Z != 0]


def _sig(z):
    return 1 / (1 + np.exp(-z))


ACTIVATIONS = {  # name: (z, f(z), f'(z)) as SPEC states them; α defaults 0.01 and 1
    "sigmoid": (Z, _sig(Z), _sig(Z) * (1 - _sig(Z))),
    "tanh": (Z, np.tanh(Z), 1 - np.tanh(Z) ** 2),
    "relu": (Z, np.maximum(0, Z), np.where(Z > 0, 1.0, 0.0)),  # 0 for z ≤ 0
    "leaky_relu": (
        Z_NONZERO,
        np.maximum(0.01 * Z_NONZERO, Z_NONZERO),
        np.where(Z_NONZERO > 0, 1.0, 0.01),
    ),
    "elu": (Z, np.where(Z > 0, Z, np.exp(Z) - 1), np.where(Z > 0, 1.0, np.exp(Z))),
    "identity": (Z, Z, np.ones_like(Z)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_and_derivative_equal_the_modules_formulas(name):
    z, value, derivative = ACTIVATIONS[name]
    act = activations.get(name)
    z = jnp.asarray(z, jnp.float64)
    y = act.forward(z)
    np.testing.assert_allclose(y, value, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(
        act.backward(z, y, jnp.ones_like(z)), derivative, rtol=1e-12, atol=1e-15
    )


def test_softmax_is_exp_over_sum_and_rows_sum_to_one():
    z = np.random.default_rng(0).normal(size=(4, 6)) * 3
    y = np.asarray(activations.softmax(jnp.asarray(z)))
    np.testing.assert_allclose(y, np.exp(z) / np.exp(z).sum(-1, keepdims=True), 1e-13)
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-15)


# ### 6.1 vanishing gradients through a chain, and two remedies #####################


def _chain(activation: str, *, residual: bool = False, depth: int = 10):
    """``depth`` blocks ``dense(1) → activation`` (each wrapped in ``residual``),
    every ``w = 1`` and ``b = 0``."""
    wrap = L.residual if residual else (lambda block: block)
    net = L.serial(
        *(wrap(L.serial(L.dense(1), L.activation(activation))) for _ in range(depth))
    )
    _, params, state = net.init(jax.random.key(0), (1,))
    one, zero = jnp.ones((1, 1), jnp.float64), jnp.zeros((1,), jnp.float64)
    params = tuple((d._replace(w=one, b=zero), a) for d, a in params)
    return net, params, state


def _input_gradient(net, params, state, x0: float) -> float:
    _, _, cache = net.forward(params, state, jnp.full((1, 1), x0, jnp.float64))
    return float(net.backward(cache, jnp.ones((1, 1), jnp.float64))[1][0, 0])


@pytest.mark.parametrize("x0", [-2.0, 0.0, 1.5])
def test_ten_sigmoid_layers_scale_the_gradient_by_at_most_a_quarter_each(x0):
    """dx of ten stacked σ's is Π σ'(z_l) ≤ 0.25¹⁰ ≈ 10⁻⁶; ReLU on a positive signal
    passes 1, and residual blocks y = σ(x) + x pass Π (1 + σ'(z_l)) ≥ 1."""
    product, z = 1.0, x0
    residual_product, zr = 1.0, x0
    for _ in range(10):
        product *= _sig(z) * (1 - _sig(z))
        z = _sig(z)
        residual_product *= 1 + _sig(zr) * (1 - _sig(zr))
        zr = _sig(zr) + zr

    dx = _input_gradient(*_chain("sigmoid"), x0)
    np.testing.assert_allclose(dx, product, rtol=1e-12)
    assert 0 < dx <= 0.25**10
    assert _input_gradient(*_chain("relu"), abs(x0) + 0.5) == 1.0
    dx = _input_gradient(*_chain("sigmoid", residual=True), x0)
    np.testing.assert_allclose(dx, residual_product, rtol=1e-12)
    assert dx >= 1.0


# ### 6.2 dead ReLU: no gradient, never learns; Leaky ReLU keeps learning ############


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_a_unit_negative_on_every_example_is_dead_only_for_relu(activation):
    net = L.serial(L.dense(4), L.activation(activation), L.dense(3))
    _, params, state = net.init(jax.random.key(1), (5,))
    params = jax.tree.map(lambda p: p.astype(jnp.float64), params)
    d1, act, d2 = params
    params = (d1._replace(b=d1.b.at[0].set(-100.0)), act, d2)  # unit 0: z < 0 always
    x = jax.random.normal(jax.random.key(2), (16, 5), jnp.float64)
    y = jax.random.normal(jax.random.key(3), (16, 3), jnp.float64)

    dead = diagnostics.dead_unit_fraction(net, params, state, x)
    np.testing.assert_array_equal(dead, [0.25])  # unit 0 of 4, whichever activation

    value_and_grad = backprop.value_and_grad(net, "mse")
    tx = optim.adam(1e-2)

    @jax.jit
    def train(params):  # five Adam steps with the hand-written gradients
        def step(carry, _):
            params, opt_state = carry
            (_, _), grads = value_and_grad(params, state, x, y)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optim.apply_updates(params, updates), opt_state), None

        return jax.lax.scan(step, (params, tx.init(params)), None, length=5)[0][0]

    start, params = params, train(params)
    unit0 = lambda p: (p[0].w[:, 0], p[0].b[0], p[2].w[0])  # its in- and out-weights
    moved = [
        float(jnp.max(jnp.abs(a - b)))
        for a, b in zip(unit0(params), unit0(start), strict=True)
    ]
    if activation == "relu":
        assert moved == [0.0, 0.0, 0.0]  # bit-identical: zero gradient at every step
        assert float(jnp.max(jnp.abs(params[0].w[:, 1:] - start[0].w[:, 1:]))) > 0
    else:
        assert min(moved) > 0
