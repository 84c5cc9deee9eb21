"""Claim 5: the activation functions, their derivatives and stated properties.

For each activation of ``jaxnn.activations`` on a dense grid of ``z``, this script
evaluates ``f(z)`` and the hand-written derivative (the backward rule applied to
``dy = 1``), checks the derivative against ``jax.grad``, and measures the properties
the module states:

- the range of ``f`` (sigmoid in (0, 1), tanh in (−1, 1), ReLU in [0, ∞), ...);
- the largest derivative: ``σ' ≤ 0.25`` (at 0), ``tanh' ≤ 1`` (at 0);
- zero-centredness: the mean output ``E[f(z)]`` for ``z ~ N(0, 1)`` (tanh ≈ 0, σ ≈ 0.5,
  ReLU ≈ 0.4);
- ReLU's derivative is 0 for every ``z ≤ 0`` (the dead-ReLU mechanism), Leaky ReLU's
  is 0.01 there;
- softmax outputs are positive and sum to 1.

Run: ``python examples/ex05_activations.py [--fast] [--out DIR]``.
"""

import jax
import jax.numpy as jnp
from _common import cli, out_dir, table, verdict

from jaxnn import activations, plots

GALLERY = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "softplus", "silu")


def measure(name: str, z: jax.Array, normal: jax.Array) -> dict:
    """Range, largest derivative, derivative error against ``jax.grad``, mean output."""
    act = activations.get(name)
    y = act.forward(z)
    dy = act.backward(z, y, jnp.ones_like(z))
    auto = jax.vmap(jax.grad(act.forward))(z)
    i = jnp.argmax(dy)
    return {
        "min": jnp.min(y),
        "max": jnp.max(y),
        "max_derivative": dy[i],
        "argmax_derivative": z[i],
        "derivative_error": jnp.max(jnp.abs(dy - auto)),
        "mean_on_normal": jnp.mean(act.forward(normal)),
        "max_derivative_z_le_0": jnp.max(jnp.where(z <= 0, dy, -jnp.inf)),
    }


@jax.jit
def measure_all(z, normal):
    """``measure`` for every activation of the gallery, one compiled program."""
    return {name: measure(name, z, normal) for name in GALLERY}


def _floats(props: dict) -> dict:
    out = {k: float(v) for k, v in props.items()}
    out["argmax_derivative"] = round(out["argmax_derivative"], 2) + 0.0
    return out


def main(fast: bool = False, out=None) -> dict:
    out = out_dir(out)
    num = 2001 if fast else 200_001  # grid on [-8, 8], includes z = 0 exactly
    z = jnp.linspace(-8.0, 8.0, num, dtype=jnp.float32)
    normal = jax.random.normal(jax.random.key(0), (100_000,), jnp.float32)
    measured = measure_all(z, normal)
    props = {name: _floats(measured[name]) for name in GALLERY}
    columns = (
        "min",
        "max",
        "max_derivative",
        "argmax_derivative",
        "derivative_error",
        "mean_on_normal",
        "max_derivative_z_le_0",
    )
    headers = (
        "min f",
        "max f",
        "max f'",
        "at z",
        "|f' − jax.grad|",
        "E[f(z)], z~N(0,1)",
        "max f'(z ≤ 0)",
    )
    table(
        f"activations on z ∈ [−8, 8] ({num} points), float32",
        ("activation", *headers),
        [(name, *(p[c] for c in columns)) for name, p in props.items()],
    )
    logits = 5 * normal[:10_000].reshape(1000, 10)  # (rows, classes)
    probs = activations.softmax(logits)
    softmax_sum_error = float(jnp.max(jnp.abs(jnp.sum(probs, axis=-1) - 1)))
    softmax_min = float(jnp.min(probs))
    print(
        f"\nsoftmax over 1000 rows of 10 logits (std 5): min output {softmax_min:.3e}, "
        f"max |Σ − 1| = {softmax_sum_error:.1e}"
    )

    s, t, r, lr = props["sigmoid"], props["tanh"], props["relu"], props["leaky_relu"]
    verdict(
        "σ' ≤ 0.25",
        s["max_derivative"] <= 0.25 + 1e-7,
        f"max σ' = {s['max_derivative']:.6f} at z = {s['argmax_derivative']:.3g}",
    )
    verdict(
        "tanh' ≤ 1",
        t["max_derivative"] <= 1 + 1e-7,
        f"max tanh' = {t['max_derivative']:.6f} at z = {t['argmax_derivative']:.3g}",
    )
    verdict(
        "tanh is zero-centred, sigmoid is not",
        abs(t["mean_on_normal"]) < 0.01 and s["mean_on_normal"] > 0.4,
        f"E[tanh(z)] = {t['mean_on_normal']:.4f}, E[σ(z)] = "
        f"{s['mean_on_normal']:.4f}, E[relu(z)] = {r['mean_on_normal']:.4f}",
    )
    verdict(
        "ranges: σ ∈ (0, 1), tanh ∈ (−1, 1), ReLU ≥ 0",
        s["min"] >= 0 and s["max"] <= 1 and t["min"] >= -1 and r["min"] >= 0,
        f"σ ∈ [{s['min']:.3g}, {s['max']:.6f}], tanh ∈ [{t['min']:.6f}, "
        f"{t['max']:.6f}], relu min {r['min']:.3g} (float32 rounds the tails)",
    )
    verdict(
        "ReLU passes no gradient for z ≤ 0, Leaky ReLU passes 0.01",
        r["max_derivative_z_le_0"] == 0
        and abs(lr["max_derivative_z_le_0"] - 0.01) < 1e-7,
        f"max relu'(z ≤ 0) = {r['max_derivative_z_le_0']}, max leaky_relu'(z ≤ 0) = "
        f"{lr['max_derivative_z_le_0']:.3g}",
    )
    verdict(
        "softmax outputs are positive and sum to 1",
        softmax_min > 0 and softmax_sum_error < 1e-5,
        f"min {softmax_min:.2e}, max |Σ − 1| {softmax_sum_error:.1e}",
    )
    worst = max(p["derivative_error"] for p in props.values())
    verdict(
        "every hand-written derivative equals jax.grad's",
        worst < 1e-5,
        f"largest |f' − jax.grad| over the grid: {worst:.1e}",
    )
    plots.activation_functions(
        (*GALLERY, "softmax"), out / "ex05_activations.png", z_range=(-5.0, 5.0)
    )
    return {
        "properties": props,
        "softmax_sum_error": softmax_sum_error,
        "softmax_min": softmax_min,
        "max_derivative_error": worst,
    }


if __name__ == "__main__":
    cli(main, __doc__)
