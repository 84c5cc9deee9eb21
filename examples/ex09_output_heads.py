"""Claim 9: the output layer and loss by task, on the bundled data sets.

The module's table, ``jaxnn.data.head_for``:

============ ============================ ==============================================
task         output activation            loss
============ ============================ ==============================================
binary       sigmoid                      binary cross-entropy
multi-class  softmax                      categorical cross-entropy
multi-label  sigmoid per class            binary cross-entropy (summed over labels)
regression   linear (identity)            MSE
============ ============================ ==============================================

For each task this script trains ``mlp([64, outputs])`` with Adam on a bundled data
set (the network emits logits; the losses apply the head's activation themselves),
applies the head's activation to the test outputs, checks what it promises
(probabilities in (0, 1); softmax rows summing to 1; multi-label rows free to hold
several 1s), and compares the test metric with a constant-prediction baseline.

Run: ``python examples/ex09_output_heads.py [--fast] [--out DIR]``.
"""

import jax.numpy as jnp
import numpy as np
from _common import cli, out_dir, table, verdict

from jaxnn import activations, data, optim, plots, train

TASKS = {
    "binary": "breast_cancer",
    "multiclass": "digits",
    "multilabel": "digits_multilabel",
    "regression": "diabetes",
}
METRIC = {
    "binary": "test_accuracy",
    "multiclass": "test_accuracy",
    "multilabel": "test_label_accuracy",
    "regression": "test_r2",
}


def baseline(dataset) -> float:
    """The test metric of the best constant prediction fitted on the training set."""
    y_train, y_test = np.asarray(dataset.y_train), np.asarray(dataset.y_test)
    if dataset.task == "multiclass":
        return float(np.mean(y_test == np.bincount(y_train).argmax()))
    if dataset.task in ("binary", "multilabel"):
        majority = (y_train.mean(axis=0) > 0.5).astype(y_test.dtype)
        return float(np.mean(y_test == majority))
    return 0.0  # R² of predicting the training mean is ≈ 0


def head_check(task: str, activation: str, logits) -> str:
    """What the head's activation promises, measured on the test outputs."""
    out = np.asarray(activations.get(activation).forward(jnp.asarray(logits)))
    if task == "multiclass":
        return f"rows sum to 1 (max |Σ − 1| = {np.max(np.abs(out.sum(-1) - 1)):.1e})"
    if task == "binary":
        return f"p ∈ [{out.min():.3f}, {out.max():.3f}]"
    if task == "multilabel":
        several = float(np.mean((out > 0.5).sum(-1) > 1))
        return f"p ∈ [{out.min():.3f}, {out.max():.3f}]; {several:.0%} rows predict >1 label"
    return f"ŷ ∈ [{out.min():.2f}, {out.max():.2f}] (unbounded)"


def main(fast: bool = False, out=None) -> dict:
    out = out_dir(out)
    epochs = 3 if fast else 30
    results, curves = {}, {}
    for task, name in TASKS.items():
        dataset = data.load(name)
        activation, loss = data.head_for(task)
        run = train.model_for(dataset, hidden=(64,))
        state, history = train.fit(
            run, dataset, optim.adam(3e-3), epochs=epochs, batch_size=32, seed=0
        )
        logits = train.predict(
            run.model, state.params, state.model_state, dataset.x_test
        )
        metric = METRIC[task]
        results[task] = {
            "data": name,
            "activation": activation,
            "loss": loss,
            "metric": metric.removeprefix("test_"),
            "value": history[-1][metric],
            "baseline": baseline(dataset),
            "head": head_check(task, activation, logits),
        }
        curves[f"{task} ({name})"] = {
            metric.removeprefix("test_"): (
                [r["epoch"] for r in history],
                [r[metric] for r in history],
            )
        }
    table(
        f"output heads, mlp([64, outputs]), Adam α=3e-3, {epochs} epochs",
        (
            "task",
            "data",
            "output activation",
            "loss",
            "test metric",
            "value",
            "constant baseline",
            "head's outputs",
        ),
        [
            (
                t,
                r["data"],
                r["activation"],
                r["loss"],
                r["metric"],
                r["value"],
                r["baseline"],
                r["head"],
            )
            for t, r in results.items()
        ],
    )
    margins = {t: r["value"] - r["baseline"] for t, r in results.items()}
    verdict(
        "each task's activation/loss pair learns its task",
        all(m > 0.05 for m in margins.values()),
        ", ".join(
            f"{t}: {r['metric']} {r['value']:.3f} vs baseline {r['baseline']:.3f}"
            for t, r in results.items()
        ),
    )
    plots.curve_grid(
        curves,
        out / "ex09_output_heads.png",
        ncols=2,
        xlabel="epoch",
        ylabel="test metric",
        title="output head by task: test metric per epoch",
    )
    return results


if __name__ == "__main__":
    cli(main, __doc__)
