"""Recount the FLOPs of a finished run and redraw its tables and plots.

    python -m benchmarks.recount DIR

A run's FLOPs are ``count_flops`` of each cell's programs: ``cost_analysis`` of the
program as jax lowers it for the CPU, before XLA. That count does not depend on the
device, so it can be made afterwards, on any machine, from the cell's shapes alone
(``jax.ShapeDtypeStruct``, nothing is allocated or run). Runs written before
``count_flops`` existed took XLA:GPU's own count, which is −1 inside cuBLAS calls;
this rewrites their FLOPs, GFLOP/s and peak fractions (each fraction is linear in
the two counts, so its round-by-round statistics are rescaled exactly; a peak
reference that records ``matmuls_per_call`` was counted by ``count_flops`` already
and is kept), recomputes the summary and rewrites ``results.json``, ``results.md``
and the plots. Timings are not touched.
"""

import argparse
import json
import pathlib
import sys

import jax
import jax.numpy as jnp

from benchmarks import _report, backprop, cells
from benchmarks._timing import count_flops


def cell_flops(cell: cells.Cell) -> dict[str, float | None]:
    """``count_flops`` of every jax variant of ``cell``, from its shapes alone
    (``cells.abstract_jobs``: the same networks and jobs as ``cells.run_cell``)."""
    jobs = cells.abstract_jobs(cell)
    return {name: count_flops(make(), *args) for name, (make, args) in jobs.items()}


def matmul_flops(n: int, dtype: str) -> float | None:
    """FLOPs of the peak reference of runs that timed one plain matmul per call."""
    a = jax.ShapeDtypeStruct((n, n), jnp.dtype(dtype))
    return count_flops(jax.jit(jnp.matmul), a, a)


def _rescale(stats: dict, factor: float) -> dict:
    """Statistics of ``factor × samples`` from those of ``samples`` (any sign)."""
    q25, q75 = sorted((stats["q25"] * factor, stats["q75"] * factor))
    median = stats["median"] * factor
    return {**stats, "median": median, "q25": q25, "q75": q75, "iqr": q75 - q25}


def recount(results: dict) -> dict:
    """Rewrite FLOPs, GFLOP/s and peak fractions of ``results`` in place."""
    for dtype, rows in results.get("peak_matmul", {}).items():
        for row in rows:
            if "matmuls_per_call" not in row:  # else counted by count_flops
                row["flops"] = matmul_flops(row["n"], dtype)
                row["gflops"] = row["flops"] / row["time_s"]["median"] / 1e9
    for record in results["cells"]:
        cell = cells.Cell(**record["cell"])
        new = cell_flops(cell)
        old = {k: v["analysis"]["flops"] for k, v in record["variants"].items()}
        for name, v in record["variants"].items():
            v["analysis"]["flops"] = new[name]
            v["gflops"] = new[name] / v["time_s"]["median"] / 1e9
        peak = record.get("peak")
        if peak:
            old_peak = peak["flops"]
            if "matmuls_per_call" not in peak:  # else counted by count_flops
                peak["flops"] = matmul_flops(peak["matmul_n"], cell.dtype)
            peak["gflops"] = peak["flops"] / peak["time_s"]["median"] / 1e9
            for mode in cells.MODES:
                key = f"{mode}_fraction"
                if key in peak and old[mode]:
                    factor = (new[mode] / old[mode]) * (old_peak / peak["flops"])
                    peak[key] = _rescale(peak[key], factor)
    note = (
        "FLOPs recounted after the run (python -m benchmarks.recount): count_flops "
        "of each program as jax lowers it for the CPU, before XLA; GFLOP/s and peak "
        "fractions rescaled from the measured times."
    )
    if note not in results["notes"]:
        results["notes"].append(note)
    results["summary"] = _report.summarize_run(results)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.recount", description=__doc__.splitlines()[0]
    )
    parser.add_argument("dir", help="a run's output directory (with results.json)")
    args = parser.parse_args(argv)
    path = pathlib.Path(args.dir) / "results.json"
    results = recount(json.loads(path.read_text()))
    backprop.write(results, args.dir)
    print(
        f"rewrote {args.dir}: results.json, results.md, {len(results['plots'])} plots"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
