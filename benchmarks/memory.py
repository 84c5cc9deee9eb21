"""Temp memory of every cell of a grid, manual against autodiff, by compiling only.

    python -m benchmarks.memory [--grid NAME] [--cells START:STOP] [--out FILE]

The memory target (manual temp bytes ≤ autodiff's in every cell: the summary of the
timed grid counts the value-and-grad, and records the Adam step beside it) is a
property of the compiled programs, not of their timing. This compiles each cell's six programs (``cells.abstract_jobs``: the same
jobs as ``cells.run_cell``, from ``jax.ShapeDtypeStruct`` arguments, so nothing is
allocated or run) and records XLA's ``memory_analysis`` of each: the temp, argument,
output and alias bytes that the timed benchmark records, in a small fraction of its
time, so that a whole accelerator grid fits in a short lease. Writes a JSON record
(rewritten after every cell, so a stopped run keeps what it compiled) and prints one
line per cell.
"""

import argparse
import datetime
import os
import sys
import time
from collections.abc import Sequence

import jax

from benchmarks import backprop, cells
from benchmarks._timing import analyse

FIELDS = ("temp_bytes", "argument_bytes", "output_bytes", "alias_bytes")


def cell_memory(cell: cells.Cell) -> dict:
    """``{variant: {field: bytes}}`` and the target's comparison for one cell."""
    sizes = {}
    for name, (make, args) in cells.abstract_jobs(cell).items():
        analysis = analyse(make().lower(*args).compile())._asdict()
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
) -> dict:
    """Compile every cell of ``grid`` (or ``cells_range`` of it); the JSON record,
    with a ``summary`` (see ``_summary``)."""
    say = progress or (lambda *a: None)
    backend = jax.default_backend()
    if isinstance(grid, str):
        grid_name, cell_list = backprop.grid_for(grid, backend)
    else:
        grid_name, cell_list = "custom", list(grid)
    start, cell_list = backprop.select_cells(cell_list, cells_range, grid_name)
    if any(c.dtype == "float64" for c in cell_list):
        jax.config.update("jax_enable_x64", True)
    results = {
        **backprop.environment(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "grid": grid_name,
        "cells_range": [start, start + len(cell_list)],
        "cells": [],
    }
    t0 = time.perf_counter()
    for i, cell in enumerate(cell_list):
        record = cell_memory(cell)
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
    args = parser.parse_args(argv)
    results = run(
        args.grid,
        cells_range=args.cells,
        out=args.out,
        progress=lambda *a: print(*a, flush=True),
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
