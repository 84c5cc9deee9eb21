"""Summary, Markdown tables and PNG plots of a benchmark run."""

import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._timing import MAX_REPEATS  # noqa: E402
from benchmarks.cells import CONTROL, STEP_CONTROL, temp_le_count  # noqa: E402

SUMMARY_KEYS = (
    "manual_over_autodiff_median",
    "manual_over_autodiff_max",
    "scan_epoch_speedup_vs_torch",
    "scan_epoch_speedup_vs_numpy",
    "peak_fraction_largest",
    "fd_exponent",
    "backprop_exponent",
)

# (summary key, comparison, threshold, what the issue asks)
TARGETS = (
    ("manual_over_autodiff_median", "<=", 1.00, "manual/autodiff median ≤ 1.00"),
    ("manual_over_autodiff_max", "<=", 1.05, "manual/autodiff worst cell ≤ 1.05"),
    ("temp_manual_le_autodiff_cells", "==", 1.0, "manual temp memory ≤ autodiff, all"),
    (
        "compile_manual_over_autodiff_median",
        "<=",
        1.00,
        "manual compile (trace + XLA) ≤ autodiff",
    ),
    ("scan_epoch_speedup_vs_torch", ">=", 3.0, "scan epoch ≥ 3× PyTorch eager"),
    ("scan_epoch_speedup_vs_numpy", ">=", 3.0, "scan epoch ≥ 3× NumPy"),
    ("tiny_manual_over_numpy_best", "<", 1.0, "2×64×32 faster than NumPy (best)"),
    ("peak_fraction_largest", ">=", 0.90, "largest cell ≥ 90 % of peak matmul"),
    ("fd_exponent", ">=", 1.7, "finite-difference exponent ≥ 1.7"),
    ("backprop_exponent", "<=", 1.2, "backprop exponent ≤ 1.2"),
)


def _median(stats):
    return None if stats is None else stats.get("median")


def _largest(cells: list[dict]) -> dict | None:
    """The cell with the most FLOPs in its manual value-and-grad.

    Cells within 1 % of the most FLOPs (one shape in two dtypes: a bfloat16
    program counts a few more for its converts) give the one with the lowest manual
    peak fraction, so the target is met only if it holds for each of them.
    """
    flops = lambda c: c["variants"]["manual"]["analysis"]["flops"] or 0
    most = max((flops(c) for c in cells), default=0)
    if not most:
        return None
    tied = [c for c in cells if flops(c) >= 0.99 * most]
    fraction = lambda c: _median(c.get("peak", {}).get("manual_fraction"))
    return min(tied, key=lambda c: (fraction(c) is None, fraction(c) or 0.0))


def _range_text(results: dict) -> str:
    """`` (cells a–b of the grid)``, 1-based, when a run measured part of its grid."""
    if "cells_range" not in results:
        return ""
    first, stop = results["cells_range"]
    return f" (cells {first + 1}–{stop} of the grid)"


def summarize_run(results: dict) -> dict:
    """The ``summary`` object: the contract's keys (None where not measured) + extras."""
    cells = results.get("cells", [])
    s = dict.fromkeys(SUMMARY_KEYS)
    if cells:
        s.update(_pair(cells, "manual", "autodiff", CONTROL, "control"))
        s.update(
            _pair(cells, "step_manual", "step_autodiff", STEP_CONTROL, "step_control")
        )
        s.update(_same_program_counts(cells))
        cv = [c["ratios"]["custom_vjp_over_autodiff"]["median"] for c in cells]
        s["custom_vjp_over_autodiff_median"] = float(np.median(cv))
        comp = [c["ratios"]["compile_manual_over_autodiff"]["median"] for c in cells]
        s["compile_manual_over_autodiff_median"] = float(np.median(comp))
        s["compile_manual_over_autodiff_max"] = float(np.max(comp))
        for part in ("lower", "xla_compile"):
            r = [c["ratios"][f"{part}_manual_over_autodiff"]["median"] for c in cells]
            s[f"{part}_manual_over_autodiff_median"] = float(np.median(r))
        le = temp_le_count(c["memory"] for c in cells)
        s["temp_manual_le_autodiff_cells"] = le / len(cells)
        for peer in ("numpy", "torch"):
            r = [
                c["ratios"][f"{peer}_over_manual"]["median"]
                for c in cells
                if f"{peer}_over_manual" in c["ratios"]
            ]
            if r:
                s[f"{peer}_over_manual_median"] = float(np.median(r))
    largest = _largest(cells)
    if largest is not None and "peak" in largest:
        frac = largest["peak"].get("manual_fraction")
        s["peak_fraction_largest"] = None if frac is None else frac["median"]
        s["peak_fraction_largest_cell"] = largest["label"]
        s["largest_cell_gflops"] = largest["variants"]["manual"]["gflops"]
        s["largest_cell_peak_gflops"] = largest["peak"]["gflops"]
    tp = results.get("throughput")
    if tp:
        for peer in ("torch", "numpy"):
            sp = tp["speedups"].get(f"scan_manual_vs_{peer}")
            s[f"scan_epoch_speedup_vs_{peer}"] = _median(sp)
        s["scan_epoch_examples_per_s"] = tp["implementations"]["scan_manual"][
            "examples_per_s"
        ]
    fd = results.get("fd_scaling")
    if fd:
        s["fd_exponent"] = fd["fd_fit"]["exponent"]
        s["backprop_exponent"] = fd["backprop_fit"]["exponent"]
        s["fd_exponent_upper_half"] = fd["fd_fit_upper_half"]["exponent"]
        s["backprop_exponent_upper_half"] = fd["backprop_fit_upper_half"]["exponent"]
    dispatch = results.get("dispatch")
    if dispatch:
        best = None
        for name, d in dispatch.items():
            if "per_call_us" not in d:
                continue
            us = d["per_call_us"]
            s[f"tiny_manual_us_{name}"] = us["manual"]["median"]
            s[f"tiny_numpy_us_{name}"] = us[d["numpy_best"]]["median"]
            s[f"noop_us_{name}"] = us["noop"]["median"]
            # The median of the per-round ratios (``dispatch.measure``); runs made
            # before it was recorded give only the ratio of the two medians.
            pair = d.get("manual_over_numpy_best")
            if pair is not None:
                r = pair["median"]
            else:
                r = us["manual"]["median"] / us[d["numpy_best"]]["median"]
            best = r if best is None else min(best, r)
        s["tiny_manual_over_numpy_best"] = best
    s["targets"] = _targets(s)
    return s


def _pair(cells: list[dict], num: str, den: str, control: str, prefix: str) -> dict:
    """Median, maximum and worst cell of ``num/den`` over the cells, and what the
    machine alone does to that ratio: the A/A control (``den`` against a second
    compiled copy of itself, ``control``), its range over the grid and its value in
    the worst cell, as ``{prefix}_*``; left out where a run did not record it."""
    key = f"{num}_over_{den}"
    r = [c["ratios"][key]["median"] for c in cells]
    worst = int(np.argmax(r))
    out = {
        f"{key}_median": float(np.median(r)),
        f"{key}_max": float(np.max(r)),
        f"{key}_worst_cell": cells[worst]["label"],
    }
    aa = f"{control}_over_{den}"
    if all(aa in c["ratios"] for c in cells):
        a = [c["ratios"][aa]["median"] for c in cells]
        out[f"{prefix}_over_{den}_min"] = float(np.min(a))
        out[f"{prefix}_over_{den}_max"] = float(np.max(a))
        out[f"{prefix}_in_worst_cell"] = a[worst]
    return out


def _same_program_counts(cells: list[dict]) -> dict:
    """How many cells compile manual and autodiff to the same program (value-and-grad,
    Adam step); left out for runs made before it was recorded."""
    if not all("same_program" in c for c in cells):
        return {}
    count = lambda k: sum(c["same_program"].get(k) is True for c in cells)
    return {
        "same_program_cells": count("manual_over_autodiff"),
        "same_program_step_cells": count("step_manual_over_step_autodiff"),
    }


def _targets(s: dict) -> dict:
    out = {}
    for key, op, threshold, text in TARGETS:
        value = s.get(key)
        met = None
        if value is not None:
            met = {
                "<=": value <= threshold,
                ">=": value >= threshold,
                "<": value < threshold,
                "==": value == threshold,
            }[op]
        out[key] = {
            "target": f"{op} {threshold}",
            "what": text,
            "value": value,
            "met": met,
        }
    return out


# ### Markdown #########################################################################


def _fmt(x, digits=3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}g}"


def _us(stats) -> str:
    return "—" if stats is None else f"{stats['median'] * 1e6:,.0f}"


def _ratio(r) -> str:
    return "—" if r is None else f"{r['median']:.3f} ±{r['iqr'] / 2:.3f}"


def _rounds_text(settings: dict) -> str:
    """How many timed rounds a cell got, as ``cells`` decides it."""
    floor = min(settings["repeats"], settings.get("min_repeats", settings["repeats"]))
    if settings.get("budget_s") is None:
        return f"{settings['repeats']} rounds per cell"
    return (
        f"at least {floor} rounds per cell, more within a {settings['budget_s']:g} s "
        f"budget (up to {MAX_REPEATS})"
    )


def _cores_text(host: dict) -> str:
    """``"2 cores"``, or ``"2 cores, 1 usable by the run"`` for a run pinned to fewer
    (``taskset``); results without ``usable_cores`` read as unpinned."""
    cores, usable = host["cores"], host.get("usable_cores")
    if usable is None or usable == cores:
        return f"{cores} cores"
    return f"{cores} cores, {usable} usable by the run"


def markdown(results: dict) -> str:
    """``results.md``: machine, targets, and one table per benchmark."""
    s = results["summary"]
    lines = [
        "# jaxnn backprop benchmarks",
        "",
        f"- device: **{results['device']}** (backend `{results['backend']}`), "
        f"jax {results['jax_version']}, jaxlib {results['jaxlib_version']}, "
        f"numpy {results['numpy_version']}, torch {results.get('torch_version') or '—'}",
        f"- host: {results['host']['cpu']}, {_cores_text(results['host'])}; load "
        f"average {results['host']['load_start']} at start, "
        f"{results['host']['load_end']} at end",
        f"- grid `{results['grid']}`{_range_text(results)}, dtypes "
        f"{', '.join(results['dtypes'])}; "
        f"{_rounds_text(results['settings'])}, medians, ± half the IQR; "
        f"wall time {results['wall_s']:.0f} s",
        "",
        "## Targets",
        "",
        "| target | value | met |",
        "|---|---|---|",
    ]
    for t in s["targets"].values():
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['what']} | {_fmt(t['value'])} | {met} |")
    lines += _noise_lines(s)
    cells = results.get("cells", [])
    if cells:
        lines += [
            "",
            "## Grid: time per call (µs), ratios pair by pair",
            "",
            "Ratios < 1 favour the numerator. `peer/manual` uses each peer's faster "
            "thread setting, each timed in rounds with manual alone (manual's time "
            "there, after foreign work, is `peers.*.manual_time_s` in results.json, "
            "not the `manual` column). GFLOP/s from `cost_analysis` FLOPs of the program before "
            "XLA's optimisations; `% peak` against a "
            "square matmul of the cell's width timed in the same rounds. `A/A`: "
            "a second compiled copy of autodiff (of its Adam step) against it, the "
            "noise floor; "
            "`≡`: manual and autodiff compiled to the same program.",
            "",
            "| cell | manual | autodiff | custom_vjp | manual/autodiff | A/A | "
            "cvjp/autodiff | step m/a | step A/A | numpy/manual | torch/manual | "
            "GFLOP/s | % peak | temp KiB m/a | trace+compile ms m/a |",
            "|---|" + "---:|" * 14,
        ]
        for c in cells:
            v, r = c["variants"], c["ratios"]
            frac = c.get("peak", {}).get("manual_fraction")
            pct = "—" if frac is None else f"{100 * frac['median']:.0f}"
            temps = [v[m]["analysis"]["temp_bytes"] for m in ("manual", "autodiff")]
            temp = "/".join(_fmt(None if b is None else b / 1024, 4) for b in temps)
            comp = "/".join(
                f"{(v[m]['lower_s']['median'] + v[m]['compile_s']['median']) * 1e3:.0f}"
                for m in ("manual", "autodiff")
            )
            lines.append(
                f"| {c['label']} | {_us(v['manual']['time_s'])} | "
                f"{_us(v['autodiff']['time_s'])} | {_us(v['custom_vjp']['time_s'])} | "
                f"{_ratio(r['manual_over_autodiff'])}{_same(c, 'manual')} | "
                f"{_ratio(r.get(f'{CONTROL}_over_autodiff'))} | "
                f"{_ratio(r['custom_vjp_over_autodiff'])} | "
                f"{_ratio(r['step_manual_over_step_autodiff'])}{_same(c, 'step_manual')} | "
                f"{_ratio(r.get(f'{STEP_CONTROL}_over_step_autodiff'))} | "
                f"{_ratio(r.get('numpy_over_manual'))} | "
                f"{_ratio(r.get('torch_over_manual'))} | "
                f"{_fmt(v['manual']['gflops'])} | "
                f"{pct} | "
                f"{temp} | {comp} |"
            )
    lines += _peak_lines(results) + _dispatch_lines(results)
    lines += _throughput_lines(results) + _fd_lines(results)
    if results.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
    lines += ["", "Plots: " + ", ".join(f"[{p}]({p})" for p in results["plots"]), ""]
    return "\n".join(lines)


def _same(cell: dict, num: str) -> str:
    """`` ≡`` where ``num`` and its autodiff counterpart are the same program."""
    den = "step_autodiff" if num.startswith("step_") else "autodiff"
    same = cell.get("same_program", {}).get(f"{num}_over_{den}")
    return " ≡" if same else ""


def _noise_lines(s: dict) -> list[str]:
    if "control_over_autodiff_min" not in s:
        return []
    text = (
        "Noise: the A/A controls (a second compiled copy of each autodiff variant, in "
        f"the same rounds) read {s['control_over_autodiff_min']:.3f}–"
        f"{s['control_over_autodiff_max']:.3f} over the cells for the value-and-grad, "
        f"{s['control_in_worst_cell']:.3f} in its manual/autodiff worst cell"
    )
    if "step_control_over_step_autodiff_min" in s:
        text += (
            f", and {s['step_control_over_step_autodiff_min']:.3f}–"
            f"{s['step_control_over_step_autodiff_max']:.3f} for the Adam step, "
            f"{s['step_control_in_worst_cell']:.3f} in its worst cell"
        )
    text += (
        f". Manual and autodiff compile to the same program in "
        f"{s['same_program_cells']} cells (value-and-grad) and "
        f"{s['same_program_step_cells']} (Adam step)."
    )
    return ["", text]


def _peak_lines(results) -> list[str]:
    peak = results.get("peak_matmul")
    if not peak:
        return []
    lines = ["", "## Peak matmul (square, this run)", "", "| dtype | n | GFLOP/s |"]
    lines.append("|---|---:|---:|")
    for dtype, rows in peak.items():
        for row in rows:
            lines.append(f"| {dtype} | {row['n']} | {_fmt(row['gflops'])} |")
    return lines


def _dispatch_lines(results) -> list[str]:
    d = results.get("dispatch")
    if not d:
        return []
    lines = [
        "",
        "## Dispatch: per-call latency of the 2×64×32 cell (µs)",
        "",
        "| configuration | empty jit call | manual | autodiff | manual, pipelined | "
        "NumPy (best) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in d.items():
        if "per_call_us" not in r:
            lines.append(f"| {name} | failed: {r.get('error')} | | | | |")
            continue
        us = r["per_call_us"]
        lines.append(
            f"| {name} dispatch | {us['noop']['median']:.0f} | "
            f"{us['manual']['median']:.0f} | {us['autodiff']['median']:.0f} | "
            f"{us['manual_pipelined']['median']:.0f} | "
            f"{us[r['numpy_best']]['median']:.0f} ({r['numpy_best']}) |"
        )
    return lines


def _throughput_lines(results) -> list[str]:
    tp = results.get("throughput")
    if not tp:
        return []
    lines = [
        "",
        f"## Training throughput: digits, {tp['network']}, batch {tp['batch_size']}",
        "",
        "| implementation | ms / epoch | examples/s | threads | test accuracy |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in tp["implementations"].items():
        lines.append(
            f"| {name} | {r['epoch_s']['median'] * 1e3:.2f} ± "
            f"{r['epoch_s']['iqr'] * 5e2:.2f} | {r['examples_per_s']:,.0f} | "
            f"{_fmt(r.get('threads'))} | {_fmt(r.get('test_accuracy'))} |"
        )
    lines += ["", "| speedup (pairwise, median) | value | against |", "|---|---:|---|"]
    for name, r in tp["speedups"].items():
        lines.append(f"| {name} | {_ratio(r)} | {r['config']} |")
    parts = tp.get("breakdown_us_per_step")
    if parts:
        lines += [
            "",
            "Where the scanned epoch's time goes (µs per step; each row a scan that "
            "adds one part to the row above, the shuffle on its own; two controls: "
            "the same matmuls by NumPy's BLAS on one thread, from Python, and the "
            "epoch timed after an idle pause):",
            "",
            "| scan of | µs / step |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v:.1f} |" for k, v in parts.items()]
    return lines + _sweep_lines(tp.get("batch_sweep"))


def _sweep_lines(rows) -> list[str]:
    if not rows:
        return []
    peers = [p for p in ("numpy", "torch") if any(p in r["speedups"] for r in rows)]
    lines = [
        "",
        "The scanned manual epoch at other batch sizes (ms per epoch; speedups "
        "pairwise against each peer's faster thread setting):",
        "",
        "| batch | steps | scan_manual | "
        + " | ".join(f"{p} | scan vs {p}" for p in peers)
        + " |",
        "|---:|---:|---:|" + "---:|---:|" * len(peers),
    ]
    for r in rows:
        cols = [str(r["batch_size"]), str(r["steps_per_epoch"])]
        cols.append(f"{r['epoch_s']['scan_manual'] * 1e3:.2f}")
        for p in peers:
            sp = r["speedups"].get(p)
            if sp is None:
                cols += ["—", "—"]
                continue
            cols += [f"{r['epoch_s'][sp['config']] * 1e3:.2f}", _ratio(sp)]
        lines.append("| " + " | ".join(cols) + " |")
    return lines


def _fd_lines(results) -> list[str]:
    fd = results.get("fd_scaling")
    if not fd:
        return []
    lines = [
        "",
        f"## Finite differences vs backprop ({fd['network']}, {fd['dtype']})",
        "",
        "| P | numerical_grad (s) | backprop (s) | ratio | rel. error |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in fd["points"]:
        lines.append(
            f"| {p['num_params']} | {p['fd_s']['median']:.4g} | "
            f"{p['backprop_s']['median']:.3g} | {p['fd_over_backprop']['median']:.3g} | "
            f"{p['relative_error']:.1e} |"
        )
    lines += [
        "",
        f"Fitted exponents (t ∝ P^k), all sizes: finite differences "
        f"{fd['fd_fit']['exponent']:.2f}, backprop {fd['backprop_fit']['exponent']:.2f}; "
        f"upper half: {fd['fd_fit_upper_half']['exponent']:.2f} and "
        f"{fd['backprop_fit_upper_half']['exponent']:.2f}.",
    ]
    return lines


# ### Plots ##########################################################################


def _save(fig, path: pathlib.Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def plot_cells(results: dict, out: pathlib.Path) -> list[str]:
    """``cells_time.png`` (time per mode and peer) and ``cells_ratio.png``."""
    cells = results.get("cells", [])
    if not cells:
        return []
    labels = [c["label"] for c in cells]
    y = np.arange(len(cells))
    height = max(3.0, 0.28 * len(cells) + 1.2)
    fig, ax = plt.subplots(figsize=(9, height))
    series = [
        ("manual", "manual"),
        ("autodiff", "autodiff"),
        ("custom_vjp", "custom_vjp"),
    ]
    for k, (name, label) in enumerate(series):
        t = [c["variants"][name]["time_s"]["median"] for c in cells]
        ax.barh(y + (k - 1) * 0.27, t, height=0.27, label=label)
    for peer, marker in (("numpy", "x"), ("torch", "^")):
        pts = [
            (i, c["peers"][best]["time_s"]["median"])
            for i, c in enumerate(cells)
            if (best := c["ratios"].get(f"{peer}_over_manual", {}).get("config"))
        ]
        if pts:
            ax.scatter(
                [t for _, t in pts],
                [i for i, _ in pts],
                marker=marker,
                color="k",
                label=f"{peer} (best threads)",
                zorder=3,
            )
    ax.set_xscale("log")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("median seconds per value-and-grad call")
    ax.set_title(f"time per cell — {results['device']}")
    ax.legend(fontsize=7, loc="lower right")
    names = [_save(fig, out / "cells_time.png")]

    fig, ax = plt.subplots(figsize=(9, height))
    series = [
        ("manual_over_autodiff", "manual / autodiff"),
        ("custom_vjp_over_autodiff", "custom_vjp / autodiff"),
        ("step_manual_over_step_autodiff", "Adam step: manual / autodiff"),
        (f"{CONTROL}_over_autodiff", "A/A control: autodiff / autodiff"),
        (f"{STEP_CONTROL}_over_step_autodiff", "A/A control: Adam step"),
    ]
    series = [(k, label) for k, label in series if all(k in c["ratios"] for c in cells)]
    for k, (key, label) in enumerate(series):
        med = np.array([c["ratios"][key]["median"] for c in cells])
        lo = med - np.array([c["ratios"][key]["q25"] for c in cells])
        hi = np.array([c["ratios"][key]["q75"] for c in cells]) - med
        ax.errorbar(
            med,
            y + (k - (len(series) - 1) / 2) * 0.2,
            xerr=[lo, hi],
            fmt="o",
            ms=3,
            capsize=2,
            label=label,
        )
    ax.axvline(1.0, color="k", lw=0.8)
    ax.axvline(1.05, color="r", lw=0.8, ls="--", label="1.05 (worst-cell target)")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time ratio, pair by pair (median, IQR)")
    ax.set_title("manual backward vs jax autodiff")
    # Below the axes: inside, any corner covers some cell's interval.
    ax.legend(
        fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.5 / height), ncol=3
    )
    names.append(_save(fig, out / "cells_ratio.png"))
    return names


def plot_fd(results: dict, out: pathlib.Path) -> list[str]:
    """``fd_scaling.png``: log-log time vs P with the fitted lines."""
    fd = results.get("fd_scaling")
    if not fd:
        return []
    p = np.array([q["num_params"] for q in fd["points"]], dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for key, fit, label in (
        ("fd_s", fd["fd_fit"], "numerical_grad (central differences)"),
        ("backprop_s", fd["backprop_fit"], "backprop (manual value_and_grad)"),
    ):
        t = np.array([q[key]["median"] for q in fd["points"]])
        line = ax.loglog(p, t, "o", label=f"{label}: k = {fit['exponent']:.2f}")
        ax.loglog(
            p,
            np.exp(fit["log_prefactor"]) * p ** fit["exponent"],
            "-",
            color=line[0].get_color(),
            lw=0.8,
        )
    ax.set_xlabel("parameters P")
    ax.set_ylabel("seconds per gradient")
    ax.set_title("finite differences O(P²) vs backprop O(P)")
    ax.legend(fontsize=8)
    return [_save(fig, out / "fd_scaling.png")]


def plot_throughput(results: dict, out: pathlib.Path) -> list[str]:
    """``throughput.png``: examples/s per implementation on digits."""
    tp = results.get("throughput")
    if not tp:
        return []
    names = list(tp["implementations"])
    rates = [tp["implementations"][n]["examples_per_s"] for n in names]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(names, rates, color=["C0" if n.startswith("scan") else "C7" for n in names])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("training examples / s (whole epochs, median)")
    ax.set_title(f"digits training throughput — {results['device']}")
    return [_save(fig, out / "throughput.png")]


def plot_all(results: dict, out: pathlib.Path) -> list[str]:
    """Every plot of ``results`` into ``out``; returns the file names."""
    return (
        plot_cells(results, out) + plot_fd(results, out) + plot_throughput(results, out)
    )
