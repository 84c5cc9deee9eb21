"""Claim 6: dead ReLUs — a large negative bias kills units; three remedies.

A ReLU unit whose pre-activation is ``≤ 0`` for every example gets zero gradient from
every example and never changes again: it is dead. ``diagnostics.dead_unit_fraction``
measures the share of such units over the whole training set of the bundled digits
(1438 examples), for ``mlp([64, 64, 10])``. Three experiments:

1. every hidden bias set to −8 at initialization (He weights): with ReLU most units
   start dead and stay dead during training with Adam; with Leaky ReLU (slope 0.01)
   the same start gets a small gradient through every unit, and they come back;
2. initialization, bias −1: He weights spread the pre-activations widely enough to
   cross zero; weights drawn from N(0, 0.01²) leave every unit below zero;
3. learning rate, from a healthy He start: Adam at α = 0.1 kills units during
   training, a lower α does not.

Run: ``python examples/ex06_dead_relu.py [--fast] [--out DIR]``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from _common import cli, out_dir, table, verdict

from jaxnn import data, diagnostics, initializers, models, optim, plots, train

HIDDEN = (64, 64)
LOSS = "softmax_cross_entropy_with_integer_labels"
DEAD_BIAS = -8.0  # experiment 1
INIT_BIAS = -1.0  # experiment 2
RECOVERY_LR = 1e-2  # Adam's α in experiment 1


def set_hidden_bias(params, value: float):
    """Every hidden dense layer's bias set to ``value`` (the output layer's kept)."""

    def fix(block):
        dense, *rest = block
        return (dense._replace(b=jnp.full_like(dense.b, value)), *rest)

    *hidden, output = params
    return (*(fix(b) for b in hidden), output)


_dead_unit_fraction = jax.jit(diagnostics.dead_unit_fraction, static_argnums=0)


def dead_fraction(net, params, state, x) -> np.ndarray:
    """Share of dead units of each hidden layer over ``x`` (compiled once per net)."""
    return np.asarray(_dead_unit_fraction(net, params, state, x))


@functools.cache
def network(activation: str, initializer: str = "he_normal"):
    """One network object per configuration, so compiled training steps are reused."""
    return models.mlp([*HIDDEN, 10], activation=activation, initializer=initializer)


@functools.cache
def adam(learning_rate: float):
    return optim.adam(learning_rate)


def run(activation, bias, learning_rate, epochs, dataset) -> dict:
    """Train with Adam; the dead fraction over the training set after every epoch."""
    net, opt = network(activation), adam(learning_rate)
    state = train.init_state(
        net, opt, jax.random.key(0), (dataset.num_features,), jnp.float32
    )
    params = set_hidden_bias(state.params, bias)
    state = state._replace(params=params, opt_state=opt.init(params))
    x = dataset.x_train
    dead = [dead_fraction(net, state.params, state.model_state, x)]
    epoch = train.make_epoch(net, LOSS, opt, batch_size=64)
    for _ in range(epochs):
        state, _, _ = epoch(state, x, dataset.y_train)
        dead.append(dead_fraction(net, state.params, state.model_state, x))
    test = train.evaluate(
        net,
        LOSS,
        dataset.task,
        state.params,
        state.model_state,
        dataset.x_test,
        dataset.y_test,
    )
    dead = np.stack(dead)  # (epochs + 1, hidden layers)
    return {
        "dead_per_epoch": dead.mean(axis=1),
        "before": dead[0],
        "after": dead[-1],
        "overall_before": float(dead[0].mean()),
        "overall_after": float(dead[-1].mean()),
        "test_accuracy": test["accuracy"],
    }


def _layers(values) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def main(fast: bool = False, out=None) -> dict:
    out = out_dir(out)
    epochs = 2 if fast else 10
    dataset = data.load("digits")

    bias = {
        act: run(act, DEAD_BIAS, RECOVERY_LR, epochs, dataset)
        for act in ("relu", "leaky_relu")
    }
    table(
        f"1. hidden biases = {DEAD_BIAS:g}, He init, Adam α={RECOVERY_LR:g}, {epochs} "
        "epochs: dead fraction (layer 1 / layer 2, and all hidden units)",
        (
            "activation",
            "dead at start",
            "all",
            "dead after training",
            "all",
            "test accuracy",
        ),
        [
            (
                a,
                _layers(r["before"]),
                r["overall_before"],
                _layers(r["after"]),
                r["overall_after"],
                r["test_accuracy"],
            )
            for a, r in bias.items()
        ],
    )

    init = {}
    for name, initializer in (
        ("He", initializers.he_normal()),
        ("N(0, 0.01²)", initializers.normal(0.01)),
    ):
        net = models.mlp([*HIDDEN, 10], activation="relu", initializer=initializer)
        _, params, state = net.init(jax.random.key(0), (dataset.num_features,))
        params = set_hidden_bias(params, INIT_BIAS)
        init[name] = dead_fraction(net, params, state, dataset.x_train)
    table(
        f"2. hidden biases = {INIT_BIAS:g}, ReLU: dead fraction at initialization",
        ("weights", "layer 1 / layer 2", "all"),
        [(n, _layers(d), float(d.mean())) for n, d in init.items()],
    )

    rates = (0.1, RECOVERY_LR) if fast else (0.1, RECOVERY_LR, 1e-3)
    lr = {a: run("relu", 0.0, a, epochs, dataset) for a in rates}
    table(
        f"3. healthy start (He, bias 0), ReLU, Adam for {epochs} epochs: dead fraction",
        ("Adam α", "dead after training", "all", "test accuracy"),
        [
            (a, _layers(r["after"]), r["overall_after"], r["test_accuracy"])
            for a, r in lr.items()
        ],
    )

    relu, leaky = bias["relu"], bias["leaky_relu"]
    verdict(
        "a large negative bias kills ReLU units, and they stay dead",
        relu["overall_before"] > 0.5 and relu["overall_after"] > 0.5,
        f"dead {relu['overall_before']:.2f} at start, {relu['overall_after']:.2f} after "
        f"{epochs} epochs",
    )
    verdict(
        "Leaky ReLU recovers most of them from the same start",
        leaky["overall_after"] < 0.5 * leaky["overall_before"],
        f"dead {leaky['overall_before']:.2f} → {leaky['overall_after']:.2f}; test "
        f"accuracy {leaky['test_accuracy']:.3f} vs ReLU's {relu['test_accuracy']:.3f}",
    )
    he, small = float(init["He"].mean()), float(init["N(0, 0.01²)"].mean())
    verdict(
        "He initialization keeps units alive (against too small weights)",
        he < 0.1 < 0.5 < small,
        f"bias {INIT_BIAS:g}: dead {he:.2f} with He, {small:.2f} with N(0, 0.01²)",
    )
    high, low = lr[max(rates)]["overall_after"], lr[min(rates)]["overall_after"]
    verdict(
        "a lower learning rate keeps units alive",
        low < high,
        ", ".join(f"α={a:g}: {r['overall_after']:.2f} dead" for a, r in lr.items()),
    )
    steps = np.arange(epochs + 1)
    plots.curve_grid(
        {
            f"hidden bias {DEAD_BIAS:g} at start (Adam α={RECOVERY_LR:g})": {
                a: (steps, r["dead_per_epoch"]) for a, r in bias.items()
            },
            "healthy start, ReLU: Adam α": {
                f"α={a:g}": (steps, r["dead_per_epoch"]) for a, r in lr.items()
            },
        },
        out / "ex06_dead_relu.png",
        ncols=2,
        xlabel="epoch",
        ylabel="dead fraction of hidden units",
        title="units with z ≤ 0 on every training example",
    )
    summary = {k: v for k, v in relu.items() if k != "dead_per_epoch"}
    return {
        "relu": summary,
        "leaky_relu": {k: v for k, v in leaky.items() if k != "dead_per_epoch"},
        "init_dead": {"he": he, "small": small},
        "lr_dead": {a: r["overall_after"] for a, r in lr.items()},
        "lr_accuracy": {a: r["test_accuracy"] for a, r in lr.items()},
    }


if __name__ == "__main__":
    cli(main, __doc__)
