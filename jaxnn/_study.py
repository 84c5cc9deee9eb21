"""The vanishing/exploding-gradient study behind ``jaxnn diagnose``.

For every cell of a grid ``activation × initializer × variant × depth`` it builds
``models.mlp([width] * depth + [classes])`` (``depth`` hidden layers, then the output
``dense``), draws its parameters, one batch of standard-normal inputs and random class
labels, runs the hand-written backward pass of the softmax cross-entropy, and records
``‖∂L/∂W_1‖ / ‖∂L/∂W_out‖``, the first-layer over the output-layer gradient norm
(``diagnostics.first_last_ratio``). A ratio far below 1 means the first layer barely
learns (vanishing gradients); far above 1, that its updates blow up (exploding
gradients). Each cell is the geometric mean over ``seeds``.

The variants are ``plain`` (``dense → activation``), ``batch_norm`` (``dense →
batch_norm → activation``) and ``residual`` (every hidden block after the first is
``y = block(x) + x``). The batch norm runs in training mode, with batch statistics, as
during training. Everything is float32.

The networks run eagerly: each shape compiles its few primitives once, which is far
cheaper over the grid than compiling every depth as its own program.
"""

import json
import math
import pathlib
import time
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import backprop, diagnostics, initializers, models
from jaxnn.checkpoint import _write_atomically
from jaxnn.layers import _int, _positive_int

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")
#: Initializer labels and the ``jaxnn.initializers`` factories they stand for.
INITIALIZERS = {
    "normal(1)": lambda: initializers.normal(1.0),
    "xavier": initializers.xavier_normal,
    "he": initializers.he_normal,
}
VARIANTS = ("plain", "batch_norm", "residual")
LOSS = "softmax_cross_entropy_with_integer_labels"


class StudyConfig(NamedTuple):
    """The grid and the network/batch sizes of a study."""

    activations: tuple[str, ...] = ACTIVATIONS
    initializers: tuple[str, ...] = tuple(INITIALIZERS)
    variants: tuple[str, ...] = VARIANTS
    depths: tuple[int, ...] = tuple(range(2, 21, 2))
    width: int = 64
    batch: int = 128
    classes: int = 10
    seeds: tuple[int, ...] = (0, 1)


FULL = StudyConfig()
QUICK = StudyConfig(
    activations=("sigmoid", "relu"),
    depths=(2, 6, 10),
    batch=64,  # = width: the inputs' normal draw has the weights' shape
    seeds=(0,),
)


class StudyResult(NamedTuple):
    """Ratios of a study.

    Attributes:
      config: the grid.
      ratio: ``(activations, initializers, variants, depths)`` array of
        ``‖∂L/∂W_1‖ / ‖∂L/∂W_out‖`` (geometric mean over the seeds; 0 when a seed's
        first-layer norm is 0, ``nan`` when a seed gave a non-finite norm or a zero
        output-layer norm).
      first: the first-layer norms ``‖∂L/∂W_1‖`` (geometric mean), same shape.
      last: the output-layer norms ``‖∂L/∂W_out‖`` (geometric mean), same shape.
      seconds: wall time of the grid.
    """

    config: StudyConfig
    ratio: np.ndarray
    first: np.ndarray
    last: np.ndarray
    seconds: float


def _validate(config: StudyConfig) -> None:
    for field in ("activations", "initializers", "variants"):
        if not getattr(config, field):  # an empty grid: a report of nothing
            raise ValueError(
                f"{field} must name at least one {field[:-1]}; "
                f"got {getattr(config, field)!r}."
            )
    for name in config.activations:
        if name not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {name!r}; expected one of {ACTIVATIONS}."
            )
    for name in config.initializers:
        if name not in INITIALIZERS:
            raise ValueError(
                f"unknown initializer {name!r}; expected one of {tuple(INITIALIZERS)}."
            )
    for name in config.variants:
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; expected one of {VARIANTS}.")
    if not config.depths:
        raise ValueError("depths must name at least one depth; got ().")
    for k, depth in enumerate(config.depths):
        _positive_int(f"depths[{k}]", depth)
    for name in ("width", "batch", "classes"):
        _positive_int(name, getattr(config, name))
    if not config.seeds:
        raise ValueError("seeds must name at least one seed; got ().")
    for k, seed in enumerate(config.seeds):
        _int(f"seeds[{k}]", seed)


def _plain(config: StudyConfig) -> StudyConfig:
    """``config`` with Python ints: NumPy ints pass ``_validate`` but not ``json`` (and
    print as ``np.int64(2)`` in the report)."""
    return config._replace(
        depths=tuple(int(d) for d in config.depths),
        seeds=tuple(int(s) for s in config.seeds),
        width=int(config.width),
        batch=int(config.batch),
        classes=int(config.classes),
    )


def network(activation: str, initializer: str, variant: str, depth: int, config=FULL):
    """The study's network for one cell: ``depth`` hidden layers, then the output."""
    return models.mlp(
        [config.width] * depth + [config.classes],
        activation=activation,
        initializer=INITIALIZERS[initializer](),
        batch_norm=variant == "batch_norm",
        residual=variant == "residual",
    )


def gradient_norms(net, config: StudyConfig, seed: int) -> tuple[float, float]:
    """``(‖∂L/∂W_1‖, ‖∂L/∂W_out‖)`` of ``net`` at its initialisation with ``seed``."""
    k_init, k_x, k_y = jax.random.split(jax.random.key(seed), 3)
    _, params, state = net.init(k_init, (config.width,))
    x = jax.random.normal(k_x, (config.batch, config.width), jnp.float32)
    y = jax.random.randint(k_y, (config.batch,), 0, config.classes)
    _, grads = backprop.value_and_grad(net, LOSS)(params, state, x, y)
    norms = np.asarray(diagnostics.layer_grad_norms(grads), dtype=np.float64)
    return float(norms[0]), float(norms[-1])


def _geomean(values: Sequence[float]) -> float:
    """``(Π vᵢ)^(1/n)`` of non-negative ``values``: 0 if one is 0, ``nan`` if one is
    not finite (``inf``, ``nan``)."""
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v) & (v >= 0)):
        return math.nan
    if np.any(v == 0):
        return 0.0
    return float(np.exp(np.mean(np.log(v))))


def run(config: StudyConfig = FULL, progress=None) -> StudyResult:
    """Measure the first/last gradient-norm ratio over the whole grid.

    Args:
      config: the grid (``FULL`` or ``QUICK`` or your own).
      progress: optional ``progress(done, total, label)`` callback.

    Returns:
      A ``StudyResult``.
    """
    _validate(config)
    shape = (
        len(config.activations),
        len(config.initializers),
        len(config.variants),
        len(config.depths),
    )
    ratio, first, last = (np.full(shape, np.nan) for _ in range(3))
    total, done = int(np.prod(shape)), 0
    t0 = time.perf_counter()
    for index in np.ndindex(shape):
        a, i, v, d = index
        act, init = config.activations[a], config.initializers[i]
        variant, depth = config.variants[v], config.depths[d]
        net = network(act, init, variant, depth, config)
        pairs = [gradient_norms(net, config, seed) for seed in config.seeds]
        f, n = np.asarray(pairs, dtype=np.float64).T
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = f / n  # inf or nan where ‖∂L/∂W_out‖ = 0
        ratio[index] = _geomean(ratios)
        first[index] = _geomean(f)
        last[index] = _geomean(n)
        done += 1
        if progress is not None:
            progress(done, total, f"{act}/{init}/{variant}/depth {depth}")
    return StudyResult(config, ratio, first, last, time.perf_counter() - t0)


# ### report #########################################################################


def _fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.1e}"


def table_rows(result: StudyResult) -> list[tuple[str, str, str, list[float]]]:
    """``(activation, initializer, variant, ratios per depth)`` for every table row."""
    c = result.config
    rows = []
    for a, act in enumerate(c.activations):
        for i, init in enumerate(c.initializers):
            for v, variant in enumerate(c.variants):
                rows.append(
                    (act, init, variant, [float(r) for r in result.ratio[a, i, v]])
                )
    return rows


def markdown_table(result: StudyResult) -> str:
    """The report's table: one row per activation × initializer × variant."""
    depths = result.config.depths
    head = "| activation | initializer | variant | " + " | ".join(
        f"depth {d}" for d in depths
    )
    lines = [head + " |", "|---|---|---|" + "---:|" * len(depths)]
    for act, init, variant, values in table_rows(result):
        cells = " | ".join(_fmt(r) for r in values)
        lines.append(f"| {act} | {init} | {variant} | {cells} |")
    return "\n".join(lines)


def _findings(result: StudyResult) -> list[str]:
    c = result.config
    d = int(np.argmin([abs(depth - 10) for depth in c.depths]))
    depth = c.depths[d]
    lines = []
    cells = {
        (act, init, variant): result.ratio[a, i, v, d]
        for a, act in enumerate(c.activations)
        for i, init in enumerate(c.initializers)
        for v, variant in enumerate(c.variants)
    }
    sig = cells.get(("sigmoid", "xavier", "plain"))
    if sig is not None:
        lines.append(
            f"- sigmoid, Xavier, plain, depth {depth}: ratio {_fmt(sig)}; the module's "
            f"bound σ' ≤ 0.25 gives 0.25^{depth} = {_fmt(0.25**depth)}."
        )
    vanishing = sorted(k for k, r in cells.items() if np.isfinite(r) and r < 1e-3)
    exploding = sorted(k for k, r in cells.items() if np.isfinite(r) and r > 1e3)
    broken = sorted(k for k, r in cells.items() if not np.isfinite(r))
    healthy = sum(1 for r in cells.values() if np.isfinite(r) and 1e-1 <= r <= 1e1)

    def names(keys):
        return ", ".join("/".join(k) for k in keys) or "none"

    lines.append(f"- depth {depth}, ratio < 1e-3 (vanishing): {names(vanishing)}.")
    lines.append(f"- depth {depth}, ratio > 1e3 (exploding): {names(exploding)}.")
    if broken:
        lines.append(
            f"- depth {depth}, no finite ratio (non-finite gradients or a zero "
            f"output-layer gradient): {names(broken)}."
        )
    lines.append(
        f"- depth {depth}: {healthy} of {len(cells)} configurations keep the ratio "
        "within [0.1, 10]."
    )
    return lines


def write_report(result: StudyResult, out) -> dict[str, pathlib.Path]:
    """Write ``report.md``, ``results.json``, ``heatmap.png`` and ``curves.png``.

    Returns:
      ``{"report": ..., "json": ..., "heatmap": ..., "curves": ...}`` paths.
    """
    from jaxnn import plots

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    c = _plain(result.config)
    row_labels = [f"{act} / {init}" for act in c.activations for init in c.initializers]
    panels = {
        variant: result.ratio[:, :, v, :].reshape(len(row_labels), len(c.depths))
        for v, variant in enumerate(c.variants)
    }
    heatmap = plots.ratio_heatmap(
        panels,
        row_labels,
        [str(d) for d in c.depths],
        out / "heatmap.png",
        title="log₁₀ ‖∂L/∂W_1‖ / ‖∂L/∂W_out‖ at initialisation",
        xlabel="depth (hidden layers)",
    )
    grid = {}
    for v, variant in enumerate(c.variants):
        for i, init in enumerate(c.initializers):
            grid[f"{variant}, {init}"] = {
                act: (list(c.depths), result.ratio[a, i, v, :])
                for a, act in enumerate(c.activations)
            }
    depths = np.asarray(c.depths, dtype=np.float64)
    curves = plots.curve_grid(
        grid,
        out / "curves.png",
        ncols=len(c.initializers),
        xlabel="depth (hidden layers)",
        ylabel="‖∂L/∂W_1‖ / ‖∂L/∂W_out‖",
        logy=True,
        reference=("0.25^depth", (depths, 0.25**depths)),
        title="first-layer over output-layer gradient norm",
    )
    payload = {
        "config": c._asdict(),
        "loss": LOSS,
        "dtype": "float32",
        "backend": jax.default_backend(),
        "jax_version": jax.__version__,
        "seconds": result.seconds,
        "rows": [
            {
                "activation": act,
                "initializer": init,
                "variant": variant,
                "depths": list(c.depths),
                "ratio": [None if not np.isfinite(r) else r for r in values],
            }
            for act, init, variant, values in table_rows(result)
        ],
    }
    json_path = out / "results.json"
    _write_atomically(json_path, json.dumps(payload, indent=2).encode())
    text = [
        "# Vanishing and exploding gradients: jaxnn diagnose",
        "",
        "Ratio of the first-layer to the output-layer gradient norm, "
        "`‖∂L/∂W_1‖_F / ‖∂L/∂W_out‖_F`, at initialisation, for "
        f"`mlp([{c.width}] * depth + [{c.classes}])` on one batch of {c.batch} "
        f"standard-normal inputs with random labels, softmax cross-entropy, "
        f"hand-written backward pass, float32, geometric mean over seeds "
        f"{list(c.seeds)}. Below 1e-3 the first layer barely learns (vanishing); "
        "above 1e3 its steps blow up (exploding). `normal(1)` is N(0, 1), `xavier` "
        "N(0, 2/(n_in+n_out)), `he` N(0, 2/n_in); `batch_norm` inserts batch "
        "normalization before each activation, `residual` wraps every hidden block "
        "after the first as `y = F(x) + x`.",
        "",
        "## Findings",
        "",
        *_findings(result),
        "",
        "## Figures",
        "",
        f"![heatmap of log10 ratio]({heatmap.name})",
        "",
        f"![ratio against depth]({curves.name})",
        "",
        "## Table",
        "",
        markdown_table(result),
        "",
        f"Backend {jax.default_backend()}, jax {jax.__version__}, "
        f"{result.seconds:.1f} s for {result.ratio.size} networks.",
        "",
    ]
    report = out / "report.md"
    _write_atomically(report, "\n".join(text).encode())
    return {"report": report, "json": json_path, "heatmap": heatmap, "curves": curves}


def command(*, quick: bool, out) -> int:
    """``jaxnn diagnose``: run the study with a progress bar, write the report.

    Returns:
      The exit code, 0.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    config = QUICK if quick else FULL
    console = Console()
    console.print(
        f"[bold]jaxnn diagnose[/bold] {'quick' if quick else 'full'} grid: "
        f"{len(config.activations)} activations × {len(config.initializers)} "
        f"initializers × {len(config.variants)} variants × depths {list(config.depths)}"
        f", backend {jax.default_backend()}"
    )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} networks"),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        task = progress.add_task("gradient norms", total=None)

        def on_cell(done, total, label):
            progress.update(task, completed=done, total=total, description=label)

        result = run(config, progress=on_cell)
    paths = write_report(result, out)
    for line in _findings(result):
        console.print(line)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0
