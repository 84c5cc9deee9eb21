"""Matplotlib figures (headless ``Agg`` backend): training curves and diagnostics.

Every function draws one figure, saves it to ``path`` as PNG and returns the path.
"""

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def training_curves(history: list[dict], path, title: str = "training") -> pathlib.Path:
    """Loss per epoch (train and test) and the test metric(s) per epoch."""
    epochs = [r["epoch"] for r in history]
    metric_keys = [
        k for k in ("test_accuracy", "test_label_accuracy", "test_r2") if history and k in history[0]
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(epochs, [r["train_loss"] for r in history], marker="o", label="train loss")
    axes[0].plot(epochs, [r["test_loss"] for r in history], marker="o", label="test loss")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("loss")
    axes[0].set_yscale("log")
    axes[0].legend()
    for key in metric_keys:
        axes[1].plot(epochs, [r[key] for r in history], marker="o", label=key)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("test metric")
    axes[1].legend()
    fig.suptitle(title)
    return _save(fig, path)
