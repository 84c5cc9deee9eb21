"""Manual backprop vs autodiff (and peers): time, compile time, memory, FLOPs.

    python -m benchmarks.backprop [--quick] [--grid auto|quick|cpu|gpu] [--out DIR]
    python -m benchmarks.backprop --skip grid,dispatch,fd --out DIR  # throughput alone

Writes ``DIR/results.json`` (device, versions, every figure, and a ``summary``),
``DIR/results.md`` and PNG plots. The same script runs on CPU, GPU or TPU: ``--grid
auto`` picks the CPU grid on CPU and the full grid on an accelerator, and the device
name is recorded. Parts of a run:

- the grid (``benchmarks.cells``): depth × width × batch × variant × loss × dtype,
  each backward mode and a full Adam step, with NumPy and PyTorch peers;
- the peak matmul GFLOP/s of each dtype (square matmuls), measured in the run;
- per-call dispatch latency of the smallest cell, async and sync CPU dispatch
  (``benchmarks.dispatch``, in subprocesses);
- digits training throughput of whole epochs (``benchmarks.throughput``);
- finite differences vs backprop scaling (``benchmarks.fd_scaling``).
"""

import argparse
import datetime
import itertools
import json
import os
import pathlib
import platform
import sys
import time
from collections.abc import Sequence

import jax
import jaxlib
import numpy as np

from benchmarks import _nets, _peers, _report, cells, dispatch, fd_scaling, throughput
from benchmarks._timing import MAX_REPEATS, config_flag, summarize, time_interleaved
from benchmarks.cells import Cell, Settings
from jaxnn.checkpoint import _write_atomically

SCHEMA_VERSION = 1
# The parts ``--skip`` can leave out.
SKIPPABLE = ("grid", "dispatch", "throughput", "fd")


def _product(shapes, variants, losses, dtypes) -> list[Cell]:
    return [
        Cell(d, w, b, v, loss, dt)
        for dt, (d, w, b), v, loss in itertools.product(
            dtypes, shapes, variants, losses
        )
    ]


ALL_VARIANTS, ALL_LOSSES = _nets.VARIANTS, _nets.LOSSES
CE = ("softmax_cross_entropy",)

# --quick: a few seconds per cell on 2 CPU cores.
QUICK_GRID = (
    _product([(2, 64, 32)], ("relu", "batch_norm"), CE, ["float32"])
    + _product([(2, 256, 128)], ("relu",), CE, ["float32"])
    + _product([(2, 256, 128)], ("gelu",), ("mse",), ["float32"])
    + _product([(3, 1024, 512)], ("relu",), CE, ["float32"])
)

# The CPU grid (about 20 minutes on 2 cores): every variant and loss where a call
# takes milliseconds, ReLU only where it takes a second, and float64 at 2×256×128.
CPU_GRID = (
    _product([(2, 64, 32), (2, 256, 128)], ALL_VARIANTS, ALL_LOSSES, ["float32"])
    + _product([(3, 512, 256)], ALL_VARIANTS, CE, ["float32"])
    + _product([(3, 1024, 512)], ("relu",), ALL_LOSSES, ["float32"])
    + _product([(3, 2048, 1024)], ("relu",), CE, ["float32"])
    + _product([(2, 256, 128)], ALL_VARIANTS, CE, ["float64"])
)

# The full grid, for a GPU or TPU: from dispatch-bound to GEMM-bound. Its first
# cells span the grid (every shape and variant, both losses, both dtypes), so that
# a run cut short by --grid-budget still covers it; the rest of the product follows.
_ACCELERATOR_FIRST = (
    _product([(2, 64, 32)], ("relu",), ALL_LOSSES, ["float32"])
    + _product([(2, 256, 128)], ALL_VARIANTS, CE, ["float32"])
    + _product([(3, 1024, 512)], ("relu", "gelu", "batch_norm"), CE, ["float32"])
    + _product([(3, 2048, 1024)], ("relu",), ALL_LOSSES, ["float32"])
    + _product([(4, 4096, 4096)], ("relu",), CE, ["float32", "bfloat16"])
    + _product([(3, 2048, 1024)], ("relu", "gelu"), CE, ["bfloat16"])
)
ACCELERATOR_GRID = list(_ACCELERATOR_FIRST) + [
    c
    for c in _product(
        [(2, 64, 32), (2, 256, 128), (3, 1024, 512), (3, 2048, 1024), (4, 4096, 4096)],
        ALL_VARIANTS,
        ALL_LOSSES,
        ["float32", "bfloat16"],
    )
    if c not in _ACCELERATOR_FIRST
]

GRIDS = {"quick": QUICK_GRID, "cpu": CPU_GRID, "gpu": ACCELERATOR_GRID}
GRIDS["tpu"] = ACCELERATOR_GRID
PEAK_SIZES = {"cpu": (256, 512, 1024, 2048), "quick": (256, 512, 1024)}
PEAK_SIZES_ACCELERATOR = (1024, 2048, 4096, 8192)


def grid_for(name: str, backend: str) -> tuple[str, list[Cell]]:
    """``(grid name, cells)``; ``auto`` is ``cpu`` on CPU, else the full grid."""
    if name == "auto":
        name = "cpu" if backend == "cpu" else "gpu"
    if name not in GRIDS:
        raise ValueError(
            f"unknown grid {name!r}; expected auto or one of {tuple(GRIDS)}."
        )
    return name, list(GRIDS[name])


def peak_matmul(
    dtype: str,
    sizes: Sequence[int],
    repeats: int,
    budget_s: float | None = 5.0,
    seed: int = 0,
):
    """GFLOP/s of square matmuls (``cells.matmul_thunk``), one row per size."""
    thunks, flops = {}, {}
    backend = jax.default_backend()
    for i, n in enumerate(sizes):
        key = jax.random.key(seed + i)
        thunks[n], flops[n] = cells.matmul_thunk(n, dtype, key, backend)
    samples = time_interleaved(thunks, repeats=repeats, warmup=2, budget_s=budget_s)
    rows = []
    for n in sizes:
        t = summarize(samples[n])
        rows.append(
            {
                "n": n,
                "matmuls_per_call": cells.matmul_chain(backend),
                "flops": flops[n],
                "time_s": t._asdict(),
                "gflops": flops[n] / t.median / 1e9 if flops[n] else None,
            }
        )
    return rows


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _usable_cores() -> int | None:
    """The CPUs this process may run on (``taskset``, cgroups' cpusets), where the
    OS says; XLA sizes its CPU thread pool by it unless ``NPROC`` is set."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def environment() -> dict:
    """Device, backend, versions and host: what every result is read against."""
    dev = jax.devices()[0]
    torch = _peers.torch_or_none()
    return {
        "device": getattr(dev, "device_kind", str(dev)),
        "device_count": jax.device_count(),
        "backend": jax.default_backend(),
        "platform": dev.platform,
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "numpy_version": np.__version__,
        "torch_version": None if torch is None else torch.__version__,
        "python": platform.python_version(),
        "host": {
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "usable_cores": _usable_cores(),
            "machine": platform.machine(),
            "system": platform.platform(),
            "load_start": _load(),
        },
        "env": {
            k: os.environ.get(k)
            for k in ("XLA_FLAGS", "OMP_WAIT_POLICY", "NPROC", "PJRT_NPROC")
        },
        "async_dispatch": config_flag("jax_cpu_enable_async_dispatch"),
    }


def select_cells(
    cell_list: list[Cell], cells_range: tuple[int, int | None] | None, grid_name: str
) -> tuple[int, list[Cell]]:
    """``(start, cell_list[start:stop])`` for ``cells_range = (start, stop)`` (all
    cells for ``None``); a range that selects no cell raises ``ValueError``."""
    if cells_range is None:
        return 0, cell_list
    total = len(cell_list)
    first, stop = cells_range
    if not 0 <= first < total or (stop is not None and stop <= first):
        raise ValueError(
            f"cells_range {cells_range} selects no cell of the {total} in grid "
            f"{grid_name!r}; expected 0 ≤ start < {total} and stop > start (or None)."
        )
    return first, cell_list[first:stop]


def run(
    grid: str | Sequence[Cell] = "auto",
    *,
    out: str | os.PathLike | None = None,
    settings: Settings | None = None,
    peak_sizes: Sequence[int] | None = None,
    peak_repeats: int = 10,
    throughput_epochs: int | None = 30,
    throughput_options: dict | None = None,
    fd_sizes: Sequence[int] | None = fd_scaling.FULL_SIZES,
    fd_repeats: int = 5,
    fd_budget_s: float = 5.0,
    dispatch_repeats: int | None = 300,
    dispatch_configs: Sequence[str] = tuple(dispatch.CONFIGS),
    seed: int = 0,
    progress=None,
    grid_budget_s: float | None = None,
    cells_range: tuple[int, int | None] | None = None,
) -> dict:
    """Run the benchmarks; write ``results.json``, ``results.md`` and PNGs to ``out``.

    Args:
      grid: a grid name (``auto``, ``quick``, ``cpu``, ``gpu``) or a list of ``Cell``.
      out: output directory (created); ``None`` writes nothing.
      settings: repeats, warm-up, budgets and peers of each cell (default
        ``Settings()``).
      peak_sizes: square matmul sizes for the peak GFLOP/s (default per grid).
      peak_repeats: rounds of the peak matmuls.
      throughput_epochs: timed epochs of the digits benchmark (``None``: skipped).
      throughput_options: more keyword arguments of ``throughput.run``.
      fd_sizes: parameter counts of the scaling benchmark (``None``: skipped).
      fd_repeats: rounds per size of the scaling benchmark, more while
        ``fd_budget_s`` lasts; a size whose rounds outlast it stops after 3.
      fd_budget_s: time budget per size of the scaling benchmark.
      dispatch_repeats: calls per configuration of the dispatch benchmark (``None``:
        skipped; CPU only).
      dispatch_configs: which dispatch configurations (``async``, ``sync``).
      seed: seeds every PRNG key.
      progress: optional ``print``-like callable for progress lines.
      grid_budget_s: wall-clock seconds for the grid: once spent, the remaining
        cells are skipped and listed in ``skipped_cells`` (for a time-limited lease
        of an accelerator). With ``out``, ``results.json`` is rewritten after every
        cell (``"partial": true``), so an interrupted run keeps what it measured.
      cells_range: ``(start, stop)``: measure only ``cells[start:stop]`` of the grid
        (``stop`` ``None``: to the end), so that leases too short for a whole grid
        can measure it in parts; recorded as ``cells_range``.

    Returns:
      The results dict (what ``results.json`` holds).
    """
    say = progress or (lambda *a, **k: None)
    settings = settings or Settings()
    t_start = time.perf_counter()
    backend = jax.default_backend()
    if isinstance(grid, str):
        grid_name, cell_list = grid_for(grid, backend)
    else:
        cell_list = list(grid)
        grid_name = "custom" if cell_list else "none"
    total = len(cell_list)
    first, cell_list = select_cells(cell_list, cells_range, grid_name)
    dtypes = sorted({c.dtype for c in cell_list}) or ["float32"]
    if "float64" in dtypes:  # else only the FD part runs in 64-bit mode (below)
        jax.config.update("jax_enable_x64", True)
    results = {"schema_version": SCHEMA_VERSION, **environment()}
    results["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    results.update(grid=grid_name, dtypes=dtypes, settings=settings._asdict())
    if cells_range is not None:
        results["cells_range"] = [first, first + len(cell_list)]
    results["notes"] = []
    if _peers.torch_or_none() is None:
        results["notes"].append(_peers.TORCH_MISSING)
    results["notes"].append(
        "cost_analysis counts a lax.scan/while body once, not once per iteration."
    )

    if peak_sizes is None:
        default = PEAK_SIZES_ACCELERATOR if backend != "cpu" else PEAK_SIZES["cpu"]
        peak_sizes = PEAK_SIZES.get(grid_name, default) if backend == "cpu" else default
    results["peak_matmul"] = {}
    for dt in dtypes:
        say(f"peak matmul {dt} {tuple(peak_sizes)}")
        results["peak_matmul"][dt] = peak_matmul(
            dt, peak_sizes, peak_repeats, settings.budget_s, seed
        )

    results["cells"], results["skipped_cells"] = [], []
    t_grid = time.perf_counter()  # the budget is the grid's, not the peak matmul's
    for i, cell in enumerate(cell_list):
        t0 = time.perf_counter()
        if grid_budget_s is not None and t0 - t_grid > grid_budget_s:
            results["skipped_cells"] = [c.label for c in cell_list[i:]]
            results["notes"].append(
                f"grid budget of {grid_budget_s:g} s spent: "
                f"{len(cell_list) - i} of {len(cell_list)} cells skipped."
            )
            say(results["notes"][-1])
            break
        rec = cells.run_cell(
            cell, settings, backend=backend, key=jax.random.key(seed + first + i)
        )
        results["cells"].append(rec)
        r = rec["ratios"]["manual_over_autodiff"]
        say(
            f"[{first + i + 1}/{total}] {cell.label}: manual/autodiff "
            f"{r['median']:.3f} (IQR {r['iqr']:.3f}), {time.perf_counter() - t0:.1f} s"
        )
        if out is not None:
            _write_partial(results, out)

    if dispatch_repeats and backend == "cpu":
        say("dispatch latency (subprocesses)")
        results["dispatch"] = dispatch.run(
            repeats=dispatch_repeats, configs=dispatch_configs
        )
    if throughput_epochs:
        say("digits training throughput")
        results["throughput"] = throughput.run(
            epochs=throughput_epochs,
            peers=settings.peers,
            seed=seed,
            **(throughput_options or {}),
        )
    if fd_sizes:
        say(f"finite differences vs backprop {tuple(fd_sizes)}")
        # In a float32 grid the other parts' programs stay those of 32-bit mode, as
        # with --skip fd and in benchmarks.memory (x64 changes the Adam step's).
        with jax.enable_x64(True):
            results["fd_scaling"] = fd_scaling.run(
                sizes=fd_sizes, repeats=fd_repeats, budget_s=fd_budget_s, seed=seed
            )

    results["host"]["load_end"] = _load()
    results["wall_s"] = time.perf_counter() - t_start
    results["summary"] = _report.summarize_run(results)
    if out is not None:
        write(results, out)
    return results


def write_json(path, obj, **dumps_kwargs) -> None:
    """``obj`` as JSON at ``path``, atomically (``checkpoint._write_atomically``: a
    uniquely named temporary file beside it, then a rename), so a reader, a crash or
    a second run writing the same file never sees or leaves half a file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, json.dumps(obj, indent=1, **dumps_kwargs).encode())


def _write_partial(results: dict, out) -> None:
    """``results.json`` of the run so far, marked ``"partial": true`` (atomic)."""
    write_json(pathlib.Path(out) / "results.json", {**results, "partial": True})


def write(results: dict, out) -> pathlib.Path:
    """Write ``results.json``, the PNG plots and ``results.md`` into ``out``."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results["plots"] = _report.plot_all(results, out)
    write_json(out / "results.json", results, allow_nan=False)
    (out / "results.md").write_text(_report.markdown(results))
    return out


QUICK = dict(
    settings=Settings(
        repeats=30, budget_s=1.0, peer_budget_s=1.0, min_repeats=5, compile_repeats=1
    ),
    peak_repeats=5,
    throughput_epochs=10,
    throughput_options=dict(
        with_breakdown=False, batch_sizes=(32, 128), sweep_epochs=3
    ),
    fd_sizes=fd_scaling.QUICK_SIZES,
    fd_repeats=3,
    dispatch_repeats=100,
)


def cells_arg(text: str) -> tuple[int, int | None]:
    """``--cells START:STOP`` as ``(start, stop)`` (``stop`` ``None`` when empty)."""
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        return int(start or 0), int(stop) if stop else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected START:STOP, e.g. 17:60"
        ) from None


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.backprop", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small grid and short runs (< 3 min on 2 CPU cores)",
    )
    parser.add_argument(
        "--grid",
        default=None,
        choices=("auto", *GRIDS),
        help="which grid (default: quick with --quick, else auto)",
    )
    parser.add_argument(
        "--out",
        default="benchmarks/results/latest",
        help="output directory (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed rounds per cell: at least this many, more while the cell's "
        f"--budget lasts (up to {MAX_REPEATS}) (default 30; --quick 5)",
    )
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help="skip NumPy/PyTorch in the grid and the throughput part (the dispatch "
        "part still times NumPy: its target is against it)",
    )
    parser.add_argument(
        "--grid-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wall-clock budget of the grid; later cells are skipped (default: none)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="time budget per cell for the backward modes and for its peers, and "
        "per size of the peak matmul (default 4; the peers 3)",
    )
    parser.add_argument(
        "--compile-repeats",
        type=int,
        default=None,
        help="compilations timed per function (default 2)",
    )
    parser.add_argument(
        "--cells",
        default=None,
        type=cells_arg,
        metavar="START:STOP",
        help="measure only these cells of the grid (a Python slice, e.g. 17:60 or 60:)",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to skip: " + ",".join(SKIPPABLE) + " (the peak "
        "matmul always runs; --skip grid,dispatch,fd times the throughput part alone)",
    )
    args = parser.parse_args(argv)
    kwargs = dict(QUICK) if args.quick else {}
    settings = kwargs.pop("settings", Settings())
    if args.repeats is not None:  # the floor: a budget only adds rounds
        settings = settings._replace(repeats=args.repeats, min_repeats=args.repeats)
    if args.no_peers:
        settings = settings._replace(peers=False)
    if args.budget is not None:
        settings = settings._replace(budget_s=args.budget, peer_budget_s=args.budget)
    if args.compile_repeats is not None:
        settings = settings._replace(compile_repeats=args.compile_repeats)
    kwargs["grid_budget_s"] = args.grid_budget
    if args.cells is not None:
        kwargs["cells_range"] = args.cells
    skip = {s for s in args.skip.split(",") if s}
    unknown = skip - set(SKIPPABLE)
    if unknown:
        parser.error(f"unknown --skip part(s) {sorted(unknown)}")
    if "grid" in skip:
        given = [
            flag
            for flag, value in (
                ("--grid", args.grid),
                ("--cells", args.cells),
                ("--grid-budget", args.grid_budget),
            )
            if value is not None
        ]
        if given:
            parser.error(f"--skip grid leaves no grid for {', '.join(given)}")
    if "dispatch" in skip:
        kwargs["dispatch_repeats"] = None
    if "throughput" in skip:
        kwargs["throughput_epochs"] = None
    if "fd" in skip:
        kwargs["fd_sizes"] = None
    grid = [] if "grid" in skip else args.grid or ("quick" if args.quick else "auto")
    results = run(
        grid,
        out=args.out,
        settings=settings,
        progress=lambda *a: print(*a, file=sys.stderr, flush=True),
        **kwargs,
    )
    print(
        f"wrote {args.out}/results.json, results.md and {len(results['plots'])} plots"
    )
    for key in _report.SUMMARY_KEYS:
        value = results["summary"][key]
        print(f"  {key}: {'—' if value is None else f'{value:.3f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
