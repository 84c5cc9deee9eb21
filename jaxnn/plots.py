"""Matplotlib figures (headless ``Agg`` backend): training curves and diagnostics.

Every function draws one figure, saves it to ``path`` as PNG (creating the parent
directory) and returns the path as a ``pathlib.Path``. Inputs are plain Python or NumPy
data (``jax.Array`` works too); nothing here is traced.

- ``training_curves``: loss and test metric per epoch.
- ``grad_norms``: gradient norm per layer, log scale, one line per network.
- ``activation_stats``: per-layer activation statistics, one panel per statistic.
- ``activation_functions``: each activation and its derivative.
- ``optimizer_trajectories``: optimizer paths over the contour plot of a 2-D loss.
- ``ratio_heatmap``: log10 of a positive quantity over a grid (gradient-norm ratios).
- ``curves`` and ``curve_grid``: labelled lines, in one panel or a grid of panels.
- ``bars``: one bar per label.
"""

import io
import math
import pathlib
import warnings
from collections.abc import Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = [
    "activation_functions",
    "activation_stats",
    "bars",
    "curve_grid",
    "curves",
    "grad_norms",
    "optimizer_trajectories",
    "ratio_heatmap",
    "training_curves",
]


def _write(fig, path, **savefig_kwargs) -> pathlib.Path:
    """Save ``fig`` to ``path`` atomically and close it.

    The figure is drawn in memory and written with ``checkpoint._write_atomically``
    (a temporary file beside ``path``, then a rename): a save that fails or is
    interrupted leaves the previous file whole (``jaxnn train`` rewrites its
    training.png). The format is matplotlib's choice for ``path``: its suffix, else
    ``savefig.format`` (PNG).
    """
    from jaxnn.checkpoint import _write_atomically

    path = pathlib.Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        fmt = path.suffix[1:] or fig.canvas.get_default_filetype()
        fig.savefig(buffer, format=fmt, **savefig_kwargs)
        _write_atomically(path, buffer.getvalue())
    finally:
        plt.close(fig)
    return path


def _save(fig, path, *, tight: bool = True) -> pathlib.Path:
    """Save as PNG; ``tight=False`` keeps the figure's own spacing (a fixed grid)."""
    if tight:
        with warnings.catch_warnings():  # a crowded figure keeps its default layout
            warnings.simplefilter("ignore", UserWarning)
            fig.tight_layout()
    return _write(fig, path, dpi=110)


def _array(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def training_curves(history: list[dict], path, title: str = "training") -> pathlib.Path:
    """Loss per epoch (train and test) and the test metric(s) per epoch."""
    epochs = [r["epoch"] for r in history]
    metric_keys = [
        k
        for k in ("test_accuracy", "test_label_accuracy", "test_r2")
        if history and k in history[0]
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(
        epochs, [r["train_loss"] for r in history], marker="o", label="train loss"
    )
    axes[0].plot(
        epochs, [r["test_loss"] for r in history], marker="o", label="test loss"
    )
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


# ### lines ##########################################################################


def _xy(label, x, y) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of one line as float arrays of the same shape (ValueError naming
    the line otherwise: matplotlib's message names neither the line nor the fix)."""
    x, y = _array(x), _array(y)
    if x.shape != y.shape:
        raise ValueError(
            f"line {label!r}: x and y must have the same shape (one y per x); got "
            f"x.shape={x.shape} and y.shape={y.shape}."
        )
    return x, y


def _draw_lines(ax, series, *, xlabel, ylabel, title, logx, logy, reference=None):
    """Draw ``label -> (x, y)`` lines into ``ax`` (its figure is closed on bad input)."""
    try:
        lines = [(label, *_xy(label, x, y)) for label, (x, y) in series.items()]
        if reference is not None:
            ref_label, (ref_x, ref_y) = reference
            ref_x, ref_y = _xy(ref_label, ref_x, ref_y)
    except ValueError:
        plt.close(ax.figure)
        raise
    drawable = False
    for label, x, y in lines:
        if logy:  # non-positive and non-finite values cannot be drawn on a log axis
            y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
        drawable = drawable or bool(np.any(np.isfinite(y)))
        ax.plot(x, y, marker="o", markersize=3, label=label)
    if reference is not None:
        ax.plot(ref_x, ref_y, "k--", linewidth=1, label=ref_label)
        drawable = True
    if logx:
        ax.set_xscale("log")
    if logy and drawable:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    if series or reference is not None:
        ax.legend(fontsize=7)


def curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path,
    *,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    logx: bool = False,
    logy: bool = False,
    reference: tuple[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> pathlib.Path:
    """Labelled lines ``label -> (x, y)`` in one panel.

    Args:
      series: one ``(x, y)`` pair per label.
      path: the PNG to write.
      xlabel: x-axis label.
      ylabel: y-axis label.
      title: figure title.
      logx: logarithmic x axis.
      logy: logarithmic y axis (non-positive or non-finite points are left out).
      reference: an optional ``(label, (x, y))`` drawn as a dashed black line.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    _draw_lines(
        ax,
        series,
        xlabel=xlabel,
        ylabel=ylabel,
        title=title,
        logx=logx,
        logy=logy,
        reference=reference,
    )
    return _save(fig, path)


def curve_grid(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    path,
    *,
    ncols: int = 3,
    xlabel: str = "",
    ylabel: str = "",
    title: str = "",
    logx: bool = False,
    logy: bool = False,
    reference: tuple[str, tuple[Sequence[float], Sequence[float]]] | None = None,
) -> pathlib.Path:
    """A grid of panels, each like ``curves``: ``panel title -> label -> (x, y)``.

    With ``logy`` all panels share the y range, so they can be compared by eye.
    """
    n = max(len(panels), 1)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(4.2 * ncols, 3.4 * nrows),
        squeeze=False,
        sharey=logy,
    )
    flat = axes.ravel()
    for k, (ax, (panel, series)) in enumerate(zip(flat, panels.items(), strict=False)):
        _draw_lines(
            ax,
            series,
            xlabel=xlabel,
            ylabel=ylabel if k % ncols == 0 or not logy else "",
            title=panel,
            logx=logx,
            logy=logy,
            reference=reference,
        )
    for ax in flat[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    # A fixed grid: tight_layout over many log axes costs seconds.
    height = 3.4 * nrows  # inches
    fig.subplots_adjust(
        left=0.08,
        right=0.98,
        bottom=0.55 / height,
        top=1 - 0.65 / height,
        wspace=0.25,
        hspace=0.45,
    )
    return _save(fig, path, tight=False)


def grad_norms(
    norms: Mapping[str, Sequence[float]],
    path,
    *,
    title: str = "gradient norm per layer",
    ylabel: str = "‖∂L/∂W_l‖ (Frobenius)",
) -> pathlib.Path:
    """Gradient norm per layer on a log scale, one line per network.

    Args:
      norms: ``label -> per-layer norms`` (``diagnostics.layer_grad_norms``), first
        layer first.
      path: the PNG to write.
      title: figure title.
      ylabel: y-axis label.
    """
    series = {k: (np.arange(1, len(v) + 1), v) for k, v in norms.items()}
    return curves(
        series, path, xlabel="layer (1 = first)", ylabel=ylabel, title=title, logy=True
    )


def activation_stats(
    stats: Mapping[str, Mapping[str, Sequence[float]]],
    path,
    *,
    title: str = "activation statistics per layer",
    logy: Sequence[str] = (),
) -> pathlib.Path:
    """Per-layer activation statistics: one panel per statistic, one line per network.

    Args:
      stats: ``label -> {statistic name -> per-layer values}``, e.g. ``{"tanh, N(0,1)":
        {"std": ..., "saturation": ...}}`` from ``diagnostics.activation_stats`` and
        ``diagnostics.saturation_fraction``.
      path: the PNG to write.
      title: figure title.
      logy: the statistics to draw on a log scale.
    """
    names = list(dict.fromkeys(k for per in stats.values() for k in per))
    panels = {}
    for name in names:
        panels[name] = {
            label: (np.arange(1, len(per[name]) + 1), per[name])
            for label, per in stats.items()
            if name in per
        }
    n = max(len(names), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.8), squeeze=False)
    for ax, (name, series) in zip(axes[0], panels.items(), strict=False):
        _draw_lines(
            ax,
            series,
            xlabel="layer (1 = first)",
            ylabel=name,
            title=name,
            logx=False,
            logy=name in logy,
        )
    fig.suptitle(title)
    return _save(fig, path)


def bars(
    values: Mapping[str, float],
    path,
    *,
    ylabel: str = "",
    title: str = "",
    logy: bool = False,
) -> pathlib.Path:
    """One bar per label, its value written above it."""
    labels = list(values)
    heights = _array([values[k] for k in labels])
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(labels) + 1.5), 4))
    ax.bar(range(len(labels)), np.where(np.isfinite(heights), heights, 0.0))
    for i, h in enumerate(heights):
        ax.annotate(
            f"{h:.3g}",
            (i, h if np.isfinite(h) else 0.0),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save(fig, path)


# ### activation functions ###########################################################


def _z_range(z_range) -> tuple[float, float]:
    """``(low, high)``, two finite numbers with ``low < high``; ValueError otherwise."""
    try:
        low, high = (float(v) for v in z_range)
    except (TypeError, ValueError):
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(
            f"z_range must be two finite numbers (low, high) with low < high; got "
            f"z_range={z_range!r}."
        )
    return low, high


def activation_functions(
    names: Sequence[str],
    path,
    *,
    z_range: tuple[float, float] = (-5.0, 5.0),
    num: int = 401,
    ncols: int = 4,
) -> pathlib.Path:
    """Each activation ``f(z)`` and its derivative ``f'(z)``, one panel per activation.

    The derivative is the activation's hand-written backward rule applied to
    ``dy = 1`` (``Activation.backward(z, f(z), 1)``); softmax is drawn for the
    two-class logits ``(z, 0)``, whose first output is ``σ(z)``. Names must be
    registered in ``jaxnn.activations`` (a ``ValueError`` says which are).

    Raises:
      ValueError: an unknown name; ``z_range`` not two finite numbers ``low <
        high``, ``num`` not an int >= 2 or ``ncols`` not an int >= 1 (each drew
        empty or reversed panels).
    """
    low, high = _z_range(z_range)
    from jaxnn.layers import _is_int  # a NumPy int too, not a bool

    if not _is_int(num) or num < 2:
        raise ValueError(
            f"num must be an int >= 2 (points per curve); got num={num!r}."
        )
    if not _is_int(ncols) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1; got ncols={ncols!r}.")
    num, ncols = int(num), int(ncols)
    import jax
    import jax.numpy as jnp

    from jaxnn import activations

    @jax.jit
    def evaluate(z):  # one compiled program for every panel
        out = {}
        for name in names:
            act = activations.get(name)
            if name == "softmax":
                logits = jnp.stack([z, jnp.zeros_like(z)], axis=-1)
                y2 = act.forward(logits)
                dy = jnp.stack([jnp.ones_like(z), jnp.zeros_like(z)], axis=-1)
                out[name] = (y2[:, 0], act.backward(logits, y2, dy)[:, 0])
            else:
                y = act.forward(z)
                out[name] = (y, act.backward(z, y, jnp.ones_like(z)))
        return out

    z = jnp.linspace(low, high, num, dtype=jnp.float32)
    values = evaluate(z)
    n = max(len(names), 1)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), squeeze=False
    )
    flat = axes.ravel()
    for ax, name in zip(flat, names, strict=False):
        y, dz = values[name]
        ax.plot(np.asarray(z), np.asarray(y), label=f"{name}(z)")
        ax.plot(np.asarray(z), np.asarray(dz), "--", label=f"{name}'(z)")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.axvline(0.0, color="grey", linewidth=0.5)
        ax.set_title("softmax((z, 0))₁" if name == "softmax" else name, fontsize=10)
        ax.set_xlabel("z")
        ax.legend(fontsize=7)
    for ax in flat[len(names) :]:
        ax.axis("off")
    fig.suptitle("activation functions (solid) and their derivatives (dashed)")
    return _save(fig, path)


# ### optimizer trajectories #########################################################


def optimizer_trajectories(
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray],
    trajectories: Mapping[str, Sequence[Sequence[float]]],
    path,
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    levels: int | Sequence[float] = 20,
    title: str = "optimizer trajectories",
    log_levels: bool = True,
) -> pathlib.Path:
    """Optimizer paths over the contour plot of a two-parameter loss.

    Args:
      loss: ``loss(x, y)`` evaluated element-wise on NumPy grids.
      trajectories: ``label -> (steps, 2)`` array of parameter points.
      path: the PNG to write.
      xlim: x range of the contour plot.
      ylim: y range of the contour plot.
      levels: number of contour levels, or the levels.
      title: figure title.
      log_levels: space the contour levels logarithmically (for a positive loss).

    Raises:
      ValueError: a trajectory not of shape ``(steps >= 1, 2)``.
    """
    gx, gy = np.meshgrid(np.linspace(*xlim, 300), np.linspace(*ylim, 300))
    gz = _array(loss(gx, gy))
    if log_levels and isinstance(levels, int):
        positive = gz[np.isfinite(gz) & (gz > 0)]  # an inf would make every level nan
        lo, hi = (positive.min(), positive.max()) if positive.size else (1e-3, 1.0)
        if lo == hi:  # a flat loss: a decade either side, levels must increase
            lo, hi = lo / 10, hi * 10
        levels = np.geomspace(lo, hi, levels)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    ax.contour(gx, gy, gz, levels=levels, cmap="Greys", linewidths=0.7)
    for label, points in trajectories.items():
        pts = _array(points)
        if pts.ndim != 2 or pts.shape[0] < 1 or pts.shape[1] != 2:
            plt.close(fig)
            raise ValueError(
                f"trajectory {label!r} must have shape (steps >= 1, 2); got {pts.shape}."
            )
        ax.plot(
            pts[:, 0], pts[:, 1], marker=".", markersize=3, linewidth=1, label=label
        )
    first = next(iter(trajectories.values()), None)
    if first is not None:
        start = _array(first)[0]
        ax.plot(*start, "k*", markersize=12, label="start")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("θ₁")
    ax.set_ylabel("θ₂")
    ax.set_title(title)
    if trajectories:
        ax.legend(fontsize=8)
    return _save(fig, path)


# ### heatmap ########################################################################


def ratio_heatmap(
    panels: Mapping[str, Sequence[Sequence[float]]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    path,
    *,
    title: str = "",
    xlabel: str = "",
    cbar_label: str = "log₁₀ ratio",
    annotate: bool | None = None,
) -> pathlib.Path:
    """``log₁₀`` of positive values over a grid, one panel per key of ``panels``.

    The colour map is diverging and centred at 0 (a ratio of 1): blue below, red
    above. Non-finite or non-positive cells are grey.

    Args:
      panels: ``panel title -> (rows, cols)`` array of positive values.
      row_labels: one label per row.
      col_labels: one label per column.
      path: the PNG to write.
      title: figure title.
      xlabel: x-axis label.
      cbar_label: colour-bar label.
      annotate: write the exponent in every cell; default when a panel has ≤ 200
        cells.

    Raises:
      ValueError: a panel whose shape is not ``(len(row_labels), len(col_labels))``.
    """
    logs = {}
    expected = (len(row_labels), len(col_labels))
    for name, values in panels.items():
        v = _array(values)
        if v.shape != expected:
            raise ValueError(
                f"panel {name!r} must have shape (len(row_labels), len(col_labels))="
                f"{expected}; got {v.shape}."
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            logs[name] = np.where(np.isfinite(v) & (v > 0), np.log10(v), np.nan)
    finite = [np.abs(a[np.isfinite(a)]) for a in logs.values()]
    finite = np.concatenate(finite) if finite else np.zeros(0)
    span = max(float(finite.max()) if finite.size else 1.0, 1.0)
    n = max(len(panels), 1)
    fig, axes = plt.subplots(
        1,
        n,
        figsize=(1.2 + (0.45 * len(col_labels) + 1.0) * n, 1.5 + 0.3 * len(row_labels)),
        squeeze=False,
    )
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="lightgrey")
    image = None
    for i, (ax, (name, a)) in enumerate(zip(axes[0], logs.items(), strict=False)):
        image = ax.imshow(
            np.ma.masked_invalid(a), cmap=cmap, vmin=-span, vmax=span, aspect="auto"
        )
        ax.set_xticks(range(len(col_labels)), col_labels, fontsize=7)
        ax.set_yticks(range(len(row_labels)), row_labels if i == 0 else [], fontsize=7)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel)
        if annotate if annotate is not None else a.size <= 200:
            for (r, c), value in np.ndenumerate(a):
                text = "—" if not np.isfinite(value) else str(round(value))
                ax.text(c, r, text, ha="center", va="center", fontsize=6)
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), label=cbar_label, shrink=0.8)
    if title:
        fig.suptitle(title)
    return _write(fig, path, dpi=110, bbox_inches="tight")
