"""Temp memory of every cell of a grid, manual against autodiff, by compiling only.

    python -m benchmarks.memory [--grid NAME] [--cells START:STOP] [--out FILE]
                                [--gpu-target CONFIG]

The memory target (manual temp bytes ≤ autodiff's in every cell: the summary of the
timed grid counts the value-and-grad, and records the Adam step beside it) is a
property of the compiled programs, not of their timing. This compiles each cell's six programs (``cells.abstract_jobs``: the same
jobs as ``cells.run_cell``, from ``jax.ShapeDtypeStruct`` arguments, so nothing is
allocated or run) and records XLA's ``memory_analysis`` of each: the temp, argument,
output and alias bytes that the timed benchmark records, in a small fraction of its
time, so that a whole accelerator grid fits in a short lease. Writes a JSON record
(rewritten after every cell, so a stopped run keeps what it compiled) and prints one
line per cell.

With ``--gpu-target CONFIG`` the programs are compiled for a GPU that is not there:
XLA:GPU compiles for a device described by a ``GpuTargetConfig`` text proto
(``benchmarks/gpu_targets/``), on any machine with jax's CUDA plugin installed
(``pip install jax-cuda12-plugin==V jax-cuda12-pjrt==V`` for jax ``V``; no GPU, no
CUDA libraries). Nothing is autotuned there (no device to time kernels on), so the
GEMM kernels may differ from a real run's; the temp bytes of the small cells equal
those measured on an H100 (``benchmarks/README.md``).
"""

import argparse
import datetime
import os
import pathlib
import sys
import time
from collections.abc import Sequence

import jax

from benchmarks import backprop, cells
from benchmarks._timing import analyse

FIELDS = ("temp_bytes", "argument_bytes", "output_bytes", "alias_bytes")


def compile_only_gpu(target_config: str, topology: str = "1x1x1"):
    """A compile-only CUDA device described by ``target_config`` (the text of an
    XLA ``GpuTargetConfig`` proto): jax compiles for it without a GPU.

    Needs jax's CUDA plugin, registered though no GPU is visible (``jax_platforms``
    ``cpu``: the plugin then skips its CUDA checks). Raises ``RuntimeError`` naming
    the packages when it is missing.
    """
    from jax.experimental import topologies

    try:
        topology_desc = topologies.get_topology_desc(
            "", platform="cuda", target_config=target_config, topology=topology
        )
    except NotImplementedError as e:  # no CUDA plugin: "topology not implemented"
        raise RuntimeError(
            "compiling for a GPU target needs jax's CUDA plugin: pip install "
            f"jax-cuda12-plugin=={jax.__version__} jax-cuda12-pjrt=={jax.__version__} "
            f"(no GPU needed), and JAX_PLATFORMS=cpu; jax said: {e}"
        ) from e
    return topology_desc.devices[0]


def on_device(tree, device):
    """``tree``'s ``jax.ShapeDtypeStruct`` leaves, placed on ``device`` (so that
    ``jit(...).lower`` compiles for it); ``device=None`` leaves them as they are."""
    if device is None:
        return tree
    sharding = jax.sharding.SingleDeviceSharding(device)
    return jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), tree
    )


def cell_memory(cell: cells.Cell, device=None) -> dict:
    """``{variant: {field: bytes}}`` and the target's comparison for one cell,
    compiled for ``device`` (default: jax's default device)."""
    sizes = {}
    for name, (make, args) in cells.abstract_jobs(cell).items():
        lowered = make().lower(*on_device(args, device))
        analysis = analyse(lowered.compile())._asdict()
        sizes[name] = {field: analysis[field] for field in FIELDS}
    temps = {name: s["temp_bytes"] for name, s in sizes.items()}
    return {
        "label": cell.label,
        "cell": cell._asdict(),
        "variants": sizes,
        "memory": cells.temp_comparison(temps),
    }


def run(
    grid: str | Sequence[cells.Cell] = "auto",
    *,
    cells_range: tuple[int, int | None] | None = None,
    out: str | os.PathLike | None = None,
    progress=None,
    device=None,
) -> dict:
    """Compile every cell of ``grid`` (or ``cells_range`` of it) for ``device``
    (default: jax's default device; a ``compile_only_gpu`` one, say); the JSON
    record, with a ``summary`` (see ``_summary``)."""
    say = progress or (lambda *a: None)
    backend = jax.default_backend() if device is None else device.platform
    if isinstance(grid, str):
        grid_name, cell_list = backprop.grid_for(grid, backend)
    else:
        grid_name, cell_list = "custom", list(grid)
    start, cell_list = backprop.select_cells(cell_list, cells_range, grid_name)
    if any(c.dtype == "float64" for c in cell_list):
        jax.config.update("jax_enable_x64", True)
    results = {
        **backprop.environment(),
        **({} if device is None else _compile_only(device)),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "grid": grid_name,
        "cells_range": [start, start + len(cell_list)],
        "cells": [],
    }
    t0 = time.perf_counter()
    for i, cell in enumerate(cell_list):
        record = cell_memory(cell, device)
        results["cells"].append(record)
        m = record["memory"]
        say(
            f"[{start + i + 1}] {cell.label:42s} manual − autodiff temp bytes: "
            f"value-and-grad {m.get('temp_manual_minus_autodiff_bytes')}, "
            f"Adam step {m.get('temp_step_manual_minus_step_autodiff_bytes')}"
        )
        results["summary"] = _summary(results["cells"])
        results["wall_s"] = time.perf_counter() - t0
        if out is not None:
            backprop.write_json(out, results)
    return results


def _compile_only(device) -> dict:
    """The JSON fields that say the programs were compiled for ``device``, not run."""
    return {
        "device": device.device_kind,
        "device_count": 1,
        "backend": device.platform,  # "gpu" for a compile_only_gpu device
        "platform": device.platform,
        "compile_only": True,
    }


def _summary(records: list[dict]) -> dict:
    """The cells compiled, how many of them have manual temp bytes ≤ autodiff's
    (``*_le``: a cell whose backend reports no size is not counted, as in the timed
    grid's summary), and the labels of those where manual holds more: in the
    value-and-grad (the target's figure) and in the Adam step."""

    def over(key):
        return [r["label"] for r in records if r["memory"].get(key) is False]

    def le(key):
        return cells.temp_le_count((r["memory"] for r in records), key)

    return {
        "cells": len(records),
        "value_and_grad_le": le("temp_manual_le_autodiff"),
        "value_and_grad_over": over("temp_manual_le_autodiff"),
        "step_le": le("temp_step_manual_le_step_autodiff"),
        "step_over": over("temp_step_manual_le_step_autodiff"),
    }


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.memory", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--grid", default="auto", choices=("auto", *backprop.GRIDS), help="which grid"
    )
    parser.add_argument(
        "--cells",
        default=None,
        type=backprop.cells_arg,
        metavar="START:STOP",
        help="compile only these cells of the grid (a Python slice, e.g. 17:60)",
    )
    parser.add_argument("--out", default=None, help="JSON file to write")
    parser.add_argument(
        "--gpu-target",
        default=None,
        metavar="CONFIG",
        help="compile for the GPU this GpuTargetConfig text proto describes "
        "(benchmarks/gpu_targets/*.txtpb), without one: needs jax's CUDA plugin",
    )
    args = parser.parse_args(argv)
    device = None
    if args.gpu_target is not None:
        jax.config.update("jax_platforms", "cpu")  # the plugin registers, unchecked
        device = compile_only_gpu(pathlib.Path(args.gpu_target).read_text())
    results = run(
        args.grid,
        cells_range=args.cells,
        out=args.out,
        progress=lambda *a: print(*a, flush=True),
        device=device,
    )
    summary = results["summary"]
    for name, key in (("value-and-grad", "value_and_grad"), ("Adam step", "step")):
        over = summary[f"{key}_over"]
        print(
            f"{name}: manual temp ≤ autodiff in {summary[f'{key}_le']} of "
            f"{summary['cells']} cells" + (f"; over: {', '.join(over)}" if over else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
