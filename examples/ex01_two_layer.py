"""Claim 1: the module's two-layer network, its hand-derived gradients = jax.grad's.

The network of section 6.1, per example (column vectors)::

    h = σ(W₁x + b₁)        ŷ = σ(W₂h + b₂)        L = ½(y − ŷ)²

and the module's gradients, written out literally below::

    ∂L/∂ŷ  = −(y − ŷ)
    ∂L/∂W₂ = ∂L/∂ŷ · σ'(W₂h + b₂) · hᵀ
    ∂L/∂h  = W₂ᵀ · (∂L/∂ŷ · σ'(W₂h + b₂))
    ∂L/∂W₁ = (∂L/∂h · σ'(W₁x + b₁)) · xᵀ

Each one is printed beside ``jax.grad``'s for one example; for the batch, the weight
and bias gradients are also compared with ``jaxnn``'s layer-by-layer backward pass
(``jaxnn.models.two_layer_sigmoid``, whose weights are stored transposed, ``w = Wᵀ``).
Then the update ``W ← W − α ∂L/∂W`` with these formulas (batch mean
over the four XOR points) trains the network; the loss curve is saved.

Run: ``python examples/ex01_two_layer.py [--fast] [--out DIR]``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from _common import cli, out_dir, table, verdict

from jaxnn import backprop, gradcheck, models, plots

DTYPE = jnp.float32
HIDDEN = 3
LEARNING_RATE = 2.0  # α of the plain gradient-descent update
ORDER = ("dL/dyhat", "dL/dW2", "dL/db2", "dL/dh", "dL/dW1", "dL/db1")


def sigmoid(z):
    return 1 / (1 + jnp.exp(-z))


def forward(p, x):
    """The module's forward pass for one example ``x`` (a column vector)."""
    z1 = p["W1"] @ x + p["b1"]
    h = sigmoid(z1)
    z2 = p["W2"] @ h + p["b2"]
    return z1, h, z2, sigmoid(z2)


def loss(p, x, y):
    """``L = ½(y − ŷ)²`` for one example (summed over the outputs)."""
    return 0.5 * jnp.sum((y - forward(p, x)[3]) ** 2)


def hand_gradients(p, x, y) -> dict:
    """The module's formulas, one per line; ``σ'(z) = σ(z)(1 − σ(z))``."""
    z1, h, z2, y_hat = forward(p, x)
    dL_dyhat = -(y - y_hat)
    delta2 = dL_dyhat * sigmoid(z2) * (1 - sigmoid(z2))  # ∂L/∂ŷ · σ'(W₂h + b₂)
    dL_dW2 = jnp.outer(delta2, h)
    dL_db2 = delta2
    dL_dh = p["W2"].T @ delta2
    delta1 = dL_dh * sigmoid(z1) * (1 - sigmoid(z1))  # ∂L/∂h · σ'(W₁x + b₁)
    dL_dW1 = jnp.outer(delta1, x)
    dL_db1 = delta1
    return {
        "dL/dyhat": dL_dyhat,
        "dL/dW2": dL_dW2,
        "dL/db2": dL_db2,
        "dL/dh": dL_dh,
        "dL/dW1": dL_dW1,
        "dL/db1": dL_db1,
    }


def batch_loss(p, xs, ys):
    """The batch loss: the mean of the per-example ``L`` (``jaxnn.losses.mse``)."""
    return jnp.mean(jax.vmap(loss, (None, 0, 0))(p, xs, ys))


def batch_hand_gradients(p, xs, ys) -> dict:
    """The batch gradient: the mean of the per-example hand-derived gradients."""
    per_example = jax.vmap(hand_gradients, (None, 0, 0))(p, xs, ys)
    return {
        "W1": per_example["dL/dW1"].mean(0),
        "b1": per_example["dL/db1"].mean(0),
        "W2": per_example["dL/dW2"].mean(0),
        "b2": per_example["dL/db2"].mean(0),
    }


def to_module_layout(params) -> dict:
    """jaxnn's ``(dense, σ, dense, σ)`` parameters as the module's ``W`` (out, in)."""
    (d1, _, d2, _) = params
    return {"W1": d1.w.T, "b1": d1.b, "W2": d2.w.T, "b2": d2.b}


def compare(net, params, state, x, y, xs, ys):
    """Every gradient three ways, in one compiled program.

    Returns the per-example pairs ``name -> (hand-derived, jax.grad)`` and, for the
    batch, the hand-derived, ``jax.grad`` and jaxnn-layer gradients.
    """
    p = to_module_layout(params)
    hand = hand_gradients(p, x, y)
    auto = jax.grad(loss)(p, x, y)
    _, h, _, y_hat = forward(p, x)
    # ∂L/∂ŷ and ∂L/∂h by jax.grad of the loss as a function of ŷ and of h.
    auto_dyhat = jax.grad(lambda yh: 0.5 * jnp.sum((y - yh) ** 2))(y_hat)
    auto_dh = jax.grad(
        lambda hh: 0.5 * jnp.sum((y - sigmoid(p["W2"] @ hh + p["b2"])) ** 2)
    )(h)
    pairs = {
        "dL/dyhat": (hand["dL/dyhat"], auto_dyhat),
        "dL/dW2": (hand["dL/dW2"], auto["W2"]),
        "dL/db2": (hand["dL/db2"], auto["b2"]),
        "dL/dh": (hand["dL/dh"], auto_dh),
        "dL/dW1": (hand["dL/dW1"], auto["W1"]),
        "dL/db1": (hand["dL/db1"], auto["b1"]),
    }
    _, layer_grads = backprop.value_and_grad(net, "mse")(params, state, xs, ys)
    batch = (
        batch_hand_gradients(p, xs, ys),
        jax.grad(batch_loss)(p, xs, ys),
        to_module_layout(layer_grads),
    )
    return pairs, batch


def main(fast: bool = False, out=None) -> dict:
    out = out_dir(out)
    steps = 300 if fast else 5000
    xs = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], DTYPE)
    ys = jnp.array([[0.0], [1.0], [1.0], [0.0]], DTYPE)  # XOR

    # jaxnn's network, its parameters converted to the module's W (out, in) layout.
    net = models.two_layer_sigmoid(HIDDEN, 1)
    _, params, state = net.init(jax.random.key(0), (2,))

    # 1. One example: each hand-derived gradient beside jax.grad's.
    x, y = xs[3], ys[3]
    pairs, batch = jax.jit(compare, static_argnums=0)(net, params, state, x, y, xs, ys)
    rows, errors = [], {}
    for name in ORDER:  # a jitted dict comes back with sorted keys
        a, b = pairs[name]
        errors[name] = gradcheck.relative_error(a, b)
        rows.append(
            (
                name,
                np.array2string(np.asarray(a).ravel(), precision=5),
                np.array2string(np.asarray(b).ravel(), precision=5),
                errors[name],
            )
        )
    table(
        f"one example x={np.asarray(x).tolist()}, y={np.asarray(y).tolist()}: "
        "module formula vs jax.grad",
        ("gradient", "hand-derived", "jax.grad", "relative error"),
        rows,
    )

    # 2. The batch (mean over the 4 points): formulas vs jax.grad vs jaxnn's layers.
    hand_b, auto_b, lg = batch
    batch_rows, batch_errors = [], {}
    for name in ("W2", "b2", "W1", "b1"):
        e_auto = gradcheck.relative_error(hand_b[name], auto_b[name])
        e_layers = gradcheck.relative_error(lg[name], auto_b[name])
        batch_errors[name] = max(e_auto, e_layers)
        batch_rows.append((f"dL/d{name}", e_auto, e_layers))
    table(
        "batch of 4 (loss = mean over examples): relative error against jax.grad",
        ("gradient", "module formula", "jaxnn layers backward"),
        batch_rows,
    )

    # 3. Train with W ← W − α ∂L/∂W using only the hand-derived gradients.
    def step(p, _):
        g = batch_hand_gradients(p, xs, ys)
        p = jax.tree.map(lambda w, dw: w - LEARNING_RATE * dw, p, g)
        return p, batch_loss(p, xs, ys)

    @jax.jit
    def descend(p):
        p_final, losses = jax.lax.scan(step, p, None, length=steps)
        preds = jax.vmap(lambda x: forward(p_final, x)[3])(xs)[:, 0]
        return batch_loss(p, xs, ys), losses, preds

    initial, losses, preds = descend(to_module_layout(params))
    initial, losses, preds = float(initial), np.asarray(losses), np.asarray(preds)
    table(
        f"gradient descent with the hand-derived gradients, α={LEARNING_RATE}, "
        f"{steps} steps on XOR",
        ("x", "target", "prediction ŷ"),
        [
            (np.asarray(a).tolist(), float(t[0]), float(v))
            for a, t, v in zip(xs, ys, preds, strict=True)
        ],
    )
    print(f"loss: {initial:.4f} → {losses[-1]:.4f}")

    max_error = max(max(errors.values()), max(batch_errors.values()))
    verdict(
        "the hand-derived gradients are the gradients",
        max_error < 1e-5,
        f"largest relative error vs jax.grad {max_error:.1e} (float32)",
    )
    plots.curves(
        {"batch loss (mean ½(y − ŷ)²)": (np.arange(1, steps + 1), losses)},
        out / "ex01_two_layer.png",
        xlabel="gradient-descent step",
        ylabel="loss",
        title=f"2-{HIDDEN}-1 sigmoid network on XOR, hand-derived gradients",
        logy=True,
    )
    return {
        "example_errors": errors,
        "batch_errors": batch_errors,
        "max_relative_error": max_error,
        "initial_loss": initial,
        "final_loss": float(losses[-1]),
        "predictions": preds.tolist(),
    }


if __name__ == "__main__":
    cli(main, __doc__)
