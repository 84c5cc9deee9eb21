"""The benchmarks run end to end on a tiny grid and write well-formed outputs.

No timing assertions: only the schema of ``results.json``, that every ratio is
positive and finite, and that the Markdown and PNG files exist and are valid.
"""

import json
import math
import os
import pathlib
import sys

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest
from _subprocess import run_python

# `python -m pytest` (make test) has the repository root on sys.path; plain `pytest`
# has only tests/, and benchmarks/ is not an installed package.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks import (  # noqa: E402
    _nets,
    _peers,
    _report,
    _timing,
    backprop,
    fd_scaling,
    memory,
    throughput,
)
from benchmarks._timing import fit_exponent, ratio_stats, summarize  # noqa: E402
from benchmarks.cells import (  # noqa: E402
    CONTROLS,
    JAX_VARIANTS,
    RATIOS,
    Cell,
    Settings,
    temp_le_count,
)

TINY_GRID = [
    Cell(1, 8, 4, "relu", "softmax_cross_entropy", "float32"),
    Cell(2, 8, 4, "batch_norm", "mse", "float64"),
]
TINY = dict(
    settings=Settings(
        repeats=3,
        warmup=1,
        budget_s=None,
        peer_budget_s=None,
        compile_repeats=1,
        peak_min_width=8,
    ),
    peak_sizes=(16, 32),
    peak_repeats=3,
    throughput_epochs=2,
    throughput_options=dict(
        backwards=("manual",),
        step_loop=False,
        warmup=0,
        with_breakdown=False,
        batch_sizes=(128,),
        sweep_epochs=2,
    ),
    fd_sizes=(30, 100),
    fd_repeats=3,
    fd_budget_s=0.1,
    dispatch_repeats=10,
    dispatch_configs=("sync",),  # the subprocess that sets the flag first
)
# The grid part only, with its budget spent before the first cell: nothing compiles.
GRID_SPENT = dict(
    settings=TINY["settings"],
    peak_sizes=(16,),
    peak_repeats=2,
    throughput_epochs=None,
    fd_sizes=None,
    dispatch_repeats=None,
    grid_budget_s=0.0,
)


def test_tiny_run_writes_valid_outputs(tmp_path):
    """One run (under pytest-xdist a module fixture could run once per worker)."""
    res = backprop.run(TINY_GRID, out=tmp_path, **TINY)
    _check_json_schema(res, tmp_path)
    _check_ratios_positive_and_finite(res)
    _check_peers_present_or_noted(res)
    _check_markdown_and_plots(res, tmp_path)
    _check_recount_leaves_a_correct_count_alone(res)
    _check_memory_from_shapes_equals_the_timed_runs(res, tmp_path)


def _check_recount_leaves_a_correct_count_alone(res):
    """``benchmarks.recount`` on a run that already used ``count_flops`` changes no
    FLOPs, GFLOP/s or peak fraction (it recounts the same programs from shapes)."""
    import copy

    from benchmarks import recount

    again = recount.recount(copy.deepcopy(res))
    for old, new in zip(res["cells"], again["cells"], strict=True):
        for name, v in old["variants"].items():
            assert new["variants"][name]["analysis"]["flops"] == v["analysis"]["flops"]
        for key, frac in old.get("peak", {}).items():
            if key.endswith("_fraction"):
                assert new["peak"][key]["median"] == pytest.approx(frac["median"])


def _check_memory_from_shapes_equals_the_timed_runs(res, tmp_path):
    """``benchmarks.memory`` (compiled from shapes, nothing run) finds the same
    temp, argument, output and alias bytes and the same comparison as the timed run,
    writes them as JSON, and sums them up."""
    out = tmp_path / "memory" / "memory.json"
    mem = memory.run(TINY_GRID, out=out)
    assert json.loads(out.read_text()) == mem
    assert mem["cells_range"] == [0, len(TINY_GRID)] and mem["device"] == res["device"]
    for timed, compiled in zip(res["cells"], mem["cells"], strict=True):
        assert compiled["label"] == timed["label"]
        assert compiled["memory"] == timed["memory"] and compiled["memory"]
        for name, v in timed["variants"].items():
            for field in memory.FIELDS:
                assert compiled["variants"][name][field] == v["analysis"][field]
    over = [
        c["label"] for c in mem["cells"] if not c["memory"]["temp_manual_le_autodiff"]
    ]
    assert mem["summary"]["value_and_grad_over"] == over
    assert mem["summary"]["cells"] == len(TINY_GRID)


def test_grid_budget_skips_the_rest_and_partial_results_survive(tmp_path):
    """A spent grid budget skips the remaining cells, names them, and the partial
    ``results.json`` written after each cell is replaced by the final one."""
    res = backprop.run(TINY_GRID, out=tmp_path, **GRID_SPENT)
    assert res["cells"] == []
    assert res["skipped_cells"] == [c.label for c in TINY_GRID]
    assert any("grid budget" in n for n in res["notes"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert "partial" not in saved and saved["skipped_cells"] == res["skipped_cells"]
    backprop._write_partial({"cells": [1]}, tmp_path / "p")
    assert json.loads((tmp_path / "p" / "results.json").read_text()) == {
        "cells": [1],
        "partial": True,
    }


def test_grid_budget_counts_the_grids_time_not_the_peak_matmuls(monkeypatch):
    """The peak matmuls before the grid took its budget's seconds: with a 1.5 s
    budget and 2 s of peak matmul no cell was measured ("grid budget of 2 s
    spent", the budget rounded too)."""
    import time

    def slow_peak(*args, **kwargs):
        time.sleep(0.3)
        return {}

    monkeypatch.setattr(backprop, "peak_matmul", slow_peak)
    grid = TINY_GRID[:1]
    res = backprop.run(grid, **{**GRID_SPENT, "grid_budget_s": 0.25})
    assert [c["label"] for c in res["cells"]] == [grid[0].label]
    res = backprop.run(grid, **{**GRID_SPENT, "grid_budget_s": 1e-9})
    assert "grid budget of 1e-09 s spent: 1 of 1 cells skipped." in res["notes"]


def _ratios(results: dict):
    """Every (name, ratio stats) pair of a run: cells, throughput, FD scaling."""
    for cell in results["cells"]:
        for name, r in cell["ratios"].items():
            yield f"{cell['label']}: {name}", r
        for name, p in cell["peers"].items():
            if "over_manual" in p:
                yield f"{cell['label']}: {name}/manual", p["over_manual"]
        if "peak" in cell:
            yield f"{cell['label']}: peak fraction", cell["peak"]["manual_fraction"]
    for name, r in results["throughput"]["speedups"].items():
        yield f"throughput: {name}", r
    for row in results["throughput"]["batch_sweep"]:
        for peer, r in row["speedups"].items():
            yield f"throughput batch {row['batch_size']}: vs {peer}", r
    for p in results["fd_scaling"]["points"]:
        yield f"fd: P={p['num_params']}", p["fd_over_backprop"]


def _check_json_schema(res, out):
    saved = json.loads((out / "results.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(res["summary"]))
    for key in ("device", "backend", "jax_version", "jaxlib_version", "dtypes"):
        assert saved[key], key
    assert saved["dtypes"] == ["float32", "float64"]
    assert set(_report.SUMMARY_KEYS) <= set(saved["summary"])
    assert len(saved["cells"]) == len(TINY_GRID)
    for cell in saved["cells"]:
        assert set(JAX_VARIANTS) <= set(cell["variants"])
        for variant in cell["variants"].values():
            assert variant["time_s"]["n"] == 3
            assert variant["time_s"]["median"] > 0
            assert variant["compile_s"]["median"] > 0
            assert variant["analysis"]["flops"] > 0
            assert variant["analysis"]["ops"] > 0
        assert cell["variants"]["manual"]["analysis"]["temp_bytes"] is not None
        assert set(cell["same_program"]) == {f"{n}_over_{d}" for n, d in RATIOS}
        assert all(isinstance(v, bool) for v in cell["same_program"].values())
        for control, original in CONTROLS.items():  # compiled again: same program
            assert cell["same_program"][f"{control}_over_{original}"] is True
            assert cell["controls"][control]["time_s"]["n"] == 3
    s = saved["summary"]
    for prefix, den in (("control", "autodiff"), ("step_control", "step_autodiff")):
        low, high = s[f"{prefix}_over_{den}_min"], s[f"{prefix}_over_{den}_max"]
        assert low <= s[f"{prefix}_in_worst_cell"] <= high
    for key in ("same_program_cells", "same_program_step_cells"):
        assert 0 <= s[key] <= len(TINY_GRID), key
    for key in ("dispatch", "throughput", "fd_scaling", "peak_matmul"):
        assert saved[key], key
    if hasattr(os, "sched_getaffinity"):
        assert saved["host"]["usable_cores"] == len(os.sched_getaffinity(0))
    assert saved["dispatch"]["sync"]["per_call_us"]["manual"]["median"] > 0
    assert saved["dispatch"]["sync"]["async_dispatch"] is False
    # The dispatch target is a ratio like the others: pair by pair within the rounds.
    pair = saved["dispatch"]["sync"]["manual_over_numpy_best"]
    assert pair["n"] == TINY["dispatch_repeats"]
    assert s["tiny_manual_over_numpy_best"] == pair["median"]


def _check_ratios_positive_and_finite(res):
    names = []
    for name, r in _ratios(res):
        names.append(name)
        for stat in ("median", "q25", "q75"):
            assert math.isfinite(r[stat]) and r[stat] > 0, (name, stat, r[stat])
    assert len(names) >= 10 * len(TINY_GRID) + 2
    torch_missing = _peers.torch_or_none() is None
    for key in _report.SUMMARY_KEYS:
        value = res["summary"][key]
        if torch_missing and key.endswith("_vs_torch"):
            assert value is None, key  # not measured: null, as API.md says
            continue
        assert value is not None and math.isfinite(value), key
        if "exponent" not in key:
            assert value > 0, key


def _check_peers_present_or_noted(res):
    torch_missing = _peers.torch_or_none() is None
    for cell in res["cells"]:
        assert "numpy_over_manual" in cell["ratios"]
        assert cell["peers"]["numpy"]["grad_rel_error"] < 1e-4
        # Each peer ratio comes with manual's time from its own rounds, and is the
        # ratio of the best thread setting's pair.
        ratio = cell["ratios"]["numpy_over_manual"]
        best = cell["peers"][ratio["config"]]
        assert best["manual_time_s"]["median"] > 0
        assert ratio["median"] == best["over_manual"]["median"]
        if torch_missing:
            assert "skipped" in cell["peers"]["torch"]
        else:
            assert cell["peers"]["torch"]["grad_rel_error"] < 1e-4
    assert torch_missing == any("PyTorch" in n for n in res["notes"])


def _check_markdown_and_plots(res, out):
    md = (out / "results.md").read_text()
    assert "## Targets" in md and "## Grid" in md
    assert "Noise: the A/A control" in md and "| A/A |" in md
    from jaxnn import data

    steps = data.load("digits", seed=0).x_train.shape[0] // 128  # the sweep's row
    assert f"| 128 | {steps} |" in md
    assert set(res["plots"]) == {
        "cells_time.png",
        "cells_ratio.png",
        "fd_scaling.png",
        "throughput.png",
    }
    for name in res["plots"]:
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and min(image.shape[:2]) > 100
        assert f"]({name})" in md


def test_program_fingerprint_ignores_names_and_sees_the_program():
    """Two jits of the same computation under other names (and source lines) share a
    fingerprint; another constant or another layout of the same values does not."""

    def affine(x, w):
        return jnp.tanh(x @ w) * 2.0

    x, w = jnp.ones((4, 3)), jnp.ones((3, 5))
    fp = lambda f, *a: _timing.program_fingerprint(jax.jit(f).lower(*a).compile())
    base = fp(affine, x, w)
    assert isinstance(base, str) and base
    assert fp(lambda a, b: jnp.tanh(a @ b) * 2.0, x, w) == base
    assert fp(lambda a, b: jnp.tanh(a @ b) * 3.0, x, w) != base
    assert fp(lambda a, b: jnp.tanh(a @ b).T * 2.0, x, w) != base


def test_summary_statistics():
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (s.median, s.q25, s.q75, s.iqr, s.n) == (3.0, 2.0, 4.0, 2.0, 5)
    r = ratio_stats([2.0, 4.0, 9.0], [1.0, 2.0, 3.0])
    assert r.median == 2.0 and r.n == 3
    p = np.array([1e2, 1e3, 1e4])
    k, _ = fit_exponent(p, 3e-9 * p**2)
    assert k == pytest.approx(2.0)
    assert fd_scaling.hidden_for(10_000) == 556
    assert fd_scaling.in_features_for("cpu") == fd_scaling.IN_FEATURES == 16
    assert fd_scaling.hidden_for(316, fd_scaling.in_features_for("gpu")) == 52


def test_cli_rejects_unknown_part():
    with pytest.raises(SystemExit) as exc:
        backprop.main(["--skip", "everything"])
    assert exc.value.code == 2


def test_cli_skips_the_grid_and_refuses_grid_options_then(monkeypatch, tmp_path):
    """``--skip grid`` runs the other parts alone (the committed throughput-only runs);
    an option that selects cells of the skipped grid is an error, not ignored."""
    seen = {}

    def fake_run(grid, **kwargs):
        seen.update(grid=grid, **kwargs)
        return {"plots": [], "summary": dict.fromkeys(_report.SUMMARY_KEYS)}

    monkeypatch.setattr(backprop, "run", fake_run)
    assert backprop.main(["--skip", "grid,dispatch,fd", "--out", str(tmp_path)]) == 0
    assert seen["grid"] == []
    assert seen["dispatch_repeats"] is None and seen["fd_sizes"] is None
    assert "throughput_epochs" not in seen  # run's default: timed
    for extra in (["--grid", "cpu"], ["--cells", "0:2"], ["--grid-budget", "5"]):
        with pytest.raises(SystemExit) as exc:
            backprop.main(["--skip", "grid", *extra])
        assert exc.value.code == 2, extra


@pytest.mark.parametrize(("argv", "floor"), [([], 30), (["--quick"], 5)])
def test_repeats_sets_the_floor_of_rounds_and_the_report_says_so(
    monkeypatch, tmp_path, argv, floor
):
    """``--repeats 100`` ran 30 rounds of a slow cell (the budget decided above the
    fixed floor of 30), and ``--repeats 10`` 25 while the JSON said 30."""
    seen = {}

    def fake_run(grid, **kwargs):
        seen.update(kwargs)
        return {"plots": [], "summary": dict.fromkeys(_report.SUMMARY_KEYS)}

    monkeypatch.setattr(backprop, "run", fake_run)
    backprop.main([*argv, "--out", str(tmp_path)])
    settings = seen["settings"]._asdict()
    assert min(settings["repeats"], settings["min_repeats"]) == floor
    for n in (10, 100):
        backprop.main([*argv, "--repeats", str(n), "--out", str(tmp_path)])
        settings = seen["settings"]._asdict()
        assert settings["repeats"] == settings["min_repeats"] == n
        text = _report._rounds_text(settings)
        assert text.startswith(f"at least {n} rounds per cell, more within a ")
    assert _report._rounds_text({**settings, "budget_s": None}) == "100 rounds per cell"


def test_a_run_without_a_grid_says_so():
    res = backprop.run(
        [],
        peak_sizes=(64,),
        peak_repeats=2,
        throughput_epochs=None,
        fd_sizes=None,
        dispatch_repeats=None,
    )
    assert res["grid"] == "none" and res["cells"] == []
    assert res["peak_matmul"]


def test_fd_batch_size_is_bounded_per_backend():
    assert fd_scaling.fd_batch_size(100, "cpu") == 100
    assert fd_scaling.fd_batch_size(10**6, "cpu") == 1
    assert fd_scaling.fd_batch_size(31623, "cpu") * 31623 <= fd_scaling.CPU_FD_ELEMENTS
    assert fd_scaling.fd_batch_size(100, "gpu") == 100
    big = fd_scaling.fd_batch_size(31623, "gpu")
    assert 1 <= big and big * 31623 <= fd_scaling.ACCELERATOR_FD_ELEMENTS
    # The hidden activations bound the step too: with 4 096 examples the copies
    # alone would allow 530 parameters per step at P = 31 621, 92 GB of activations.
    hidden = fd_scaling.hidden_for(31623, fd_scaling.in_features_for("gpu"))
    assert hidden == 5270  # 4 inputs: h·6 + 1 parameters
    acts = fd_scaling.examples_for("gpu") * hidden
    bounded = fd_scaling.fd_batch_size(31623, "gpu", acts)
    assert 1 <= bounded < big
    assert bounded * acts <= fd_scaling.ACCELERATOR_FD_ACTIVATIONS
    # ...but not on the CPU, whose 32 examples leave the copies' bound in charge.
    for size in fd_scaling.FULL_SIZES:
        acts = fd_scaling.examples_for("cpu") * fd_scaling.hidden_for(size)
        assert fd_scaling.fd_batch_size(size, "cpu", acts) == fd_scaling.fd_batch_size(
            size, "cpu"
        )


def test_flops_are_counted_before_xla_optimises():
    """``count_flops`` counts a matmul's 2n³ on the program jax lowered, from
    arrays or shapes alone (any dtype)."""

    from benchmarks._timing import analyse, count_flops

    mm = jax.jit(jnp.matmul)
    a = jnp.ones((64, 64), jnp.float32)
    assert count_flops(mm, a, a) == 2 * 64**3
    shape = jax.ShapeDtypeStruct((64, 64), jnp.bfloat16)
    assert count_flops(mm, shape, shape) == 2 * 64**3
    analysis = analyse(mm.lower(a, a).compile(), count_flops(mm, a, a))
    assert analysis.flops == 2 * 64**3
    # Arrays committed to a device and pytrees of them: counted from shapes alone,
    # detached from the device (on a GPU the arrays' own backend, a PJRT plugin, has
    # no Lowered.cost_analysis; that case itself needs a GPU to run).
    committed = jax.device_put(a, jax.devices()[0])
    bare = _timing._bare(committed)
    assert (bare.shape, bare.dtype, bare.sharding) == (a.shape, a.dtype, None)
    pair = jax.jit(lambda t: t["x"] @ t["y"])
    assert count_flops(pair, {"x": committed, "y": np.ones((64, 64), np.float32)}) == (
        2 * 64**3
    )
    assert analysis.flops_optimized in (None, 2 * 64**3)


def test_rescaled_statistics_of_a_negative_factor_swap_the_quartiles():
    from benchmarks.recount import _rescale

    stats = {"median": 2.0, "q25": 1.0, "q75": 4.0, "iqr": 3.0, "n": 7}
    assert _rescale(stats, -0.5) == {
        "median": -1.0,
        "q25": -2.0,
        "q75": -0.5,
        "iqr": 1.5,
        "n": 7,
    }


def test_largest_cell_is_the_worst_of_those_tied_on_flops():
    def cell(label, flops, fraction):
        peak = {} if fraction is None else {"manual_fraction": {"median": fraction}}
        return {
            "label": label,
            "variants": {"manual": {"analysis": {"flops": flops}}},
            "peak": peak,
        }

    cells_ = [
        cell("small", 1e9, 0.5),
        cell("bf16", 8.0001e12, 1.03),
        cell("f32", 8e12, 0.89),
    ]
    assert _report._largest(cells_)["label"] == "f32"
    assert _report._largest([cell("a", 2e9, None), cell("b", 2e9, 0.7)])["label"] == "b"
    assert _report._largest([cell("none", None, None)]) is None


def test_cells_range_selects_part_of_the_grid(tmp_path):
    """``cells_range`` keeps ``grid[start:stop]`` (here skipped at once by a spent
    grid budget, so nothing is compiled) and records the range; a range that selects
    nothing, or a malformed ``--cells``, is refused."""
    res = backprop.run(TINY_GRID, out=tmp_path, cells_range=(1, None), **GRID_SPENT)
    assert res["skipped_cells"] == [TINY_GRID[1].label]
    assert res["cells_range"] == [1, 2]
    md = (tmp_path / "results.md").read_text()
    assert "grid `custom` (cells 2–2 of the grid)" in md
    for bad in ((2, None), (1, 1), (-1, None)):
        with pytest.raises(ValueError, match="cells_range"):
            backprop.run(TINY_GRID, out=None, cells_range=bad, **GRID_SPENT)
    for arg in ("17", "a:b"):
        for main in (backprop.main, memory.main):
            with pytest.raises(SystemExit) as exc:
                main(["--cells", arg])
            assert exc.value.code == 2
    with pytest.raises(ValueError, match="cells_range"):
        memory.run(TINY_GRID, cells_range=(2, None))


def _dispatch_result(manual_us, numpy_us, pairwise_median):
    stats = lambda us: {"median": us, "q25": us, "q75": us, "iqr": 0.0, "n": 3}
    return {
        "per_call_us": {
            "noop": stats(50.0),
            "manual": stats(manual_us),
            "autodiff": stats(manual_us),
            "manual_pipelined": stats(manual_us),
            "numpy": stats(numpy_us),
        },
        "numpy_best": "numpy",
        "manual_over_numpy_best": {
            "median": pairwise_median,
            "q25": pairwise_median,
            "q75": pairwise_median,
            "iqr": 0.0,
            "n": 3,
        },
    }


def test_dispatch_target_is_the_median_of_per_round_ratios():
    """``tiny_manual_over_numpy_best`` is the median of the round-by-round ratios of
    the best configuration, not the ratio of two medians: rounds manual 1, 4, 4 µs
    against NumPy 2, 2, 8 µs have medians 4 and 2 (ratio 2.0) but per-round ratios
    0.5, 2, 0.5 (median 0.5): the target is met, which a ratio of medians denies."""
    from benchmarks._timing import ratio_stats

    manual, numpy_ = [1.0, 4.0, 4.0], [2.0, 2.0, 8.0]
    pairwise = ratio_stats(manual, numpy_).median
    assert pairwise == 0.5
    results = {
        "dispatch": {
            "async": _dispatch_result(4.0, 3.0, 1.2),
            "sync": _dispatch_result(float(np.median(manual)), 2.0, pairwise),
        }
    }
    s = _report.summarize_run(results)
    assert s["tiny_manual_over_numpy_best"] == 0.5
    assert s["targets"]["tiny_manual_over_numpy_best"]["met"] is True
    # Runs made before the per-round ratio was recorded: the ratio of the medians.
    for d in results["dispatch"].values():
        del d["manual_over_numpy_best"]
    assert _report.summarize_run(results)["tiny_manual_over_numpy_best"] == 4.0 / 3.0


def test_memory_counts_a_cell_without_sizes_as_not_at_or_below(monkeypatch, capsys):
    """A cell whose backend reports no temp bytes has no comparison: ``benchmarks.
    memory`` does not count it among the cells at or below autodiff (the timed
    grid's ``temp_manual_le_autodiff_cells`` does not either)."""

    def record(label, le):
        m = {} if le is None else {"temp_manual_le_autodiff": le}
        if le is not None:
            m["temp_step_manual_le_step_autodiff"] = le
        return {"label": label, "memory": m}

    records = [record("a", True), record("b", False), record("c", None)]
    summary = memory._summary(records)
    assert summary["value_and_grad_le"] == summary["step_le"] == 1
    assert summary["value_and_grad_over"] == summary["step_over"] == ["b"]
    monkeypatch.setattr(memory, "run", lambda *a, **k: {"summary": summary})
    assert memory.main([]) == 0
    out = capsys.readouterr().out
    assert "value-and-grad: manual temp ≤ autodiff in 1 of 3 cells; over: b" in out
    assert "Adam step: manual temp ≤ autodiff in 1 of 3 cells; over: b" in out
    # The timed grid's summary counts with the same function.
    assert temp_le_count(r["memory"] for r in records) == 1


def _committed_cpu_results() -> dict:
    """The committed CPU run's ``results.json``, parsed afresh (the file is only read)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    return json.loads((root / "benchmarks/results/cpu/results.json").read_text())


def test_markdown_shows_unreported_temp_bytes_as_missing_not_zero():
    """``results.md`` shows ``—`` where ``results.json`` has no temp bytes (null),
    not 0 bytes, which would read as a cell that needs no temp memory at all."""
    results = _committed_cpu_results()
    cell = results["cells"][0]
    cell["variants"]["manual"]["analysis"]["temp_bytes"] = None
    row = next(
        line
        for line in _report.markdown(results).splitlines()
        if line.startswith(f"| {cell['label']} |")
    )
    autodiff = cell["variants"]["autodiff"]["analysis"]["temp_bytes"] / 1024
    assert f"| —/{_report._fmt(autodiff, 4)} |" in row


def test_markdown_names_a_run_pinned_to_fewer_cores():
    """A run under ``taskset`` says so in ``results.md``: its times are not the
    machine's default configuration's (XLA's thread pool follows the affinity)."""
    results = _committed_cpu_results()
    results["host"]["cores"] = 2
    results["host"]["usable_cores"] = 1
    assert "2 cores, 1 usable by the run;" in _report.markdown(results)
    results["host"]["usable_cores"] = 2
    assert "2 cores;" in _report.markdown(results)
    del results["host"]["usable_cores"]  # results written before it was recorded
    assert "2 cores;" in _report.markdown(results)


def test_write_json_is_atomic_and_leaves_no_temporary(tmp_path, monkeypatch):
    """A failed write keeps the previous results.json whole and leaves no temporary
    file; two writes use different temporaries (a fixed name would collide between
    two runs writing the same file)."""
    import os

    path = tmp_path / "out" / "results.json"
    backprop.write_json(path, {"run": 1})
    names = []
    real_replace = os.replace

    def failing_replace(src, dst):
        names.append(pathlib.Path(src).name)
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    for _ in range(2):
        with pytest.raises(OSError, match="disk full"):
            backprop.write_json(path, {"run": 2})
    monkeypatch.setattr(os, "replace", real_replace)
    assert json.loads(path.read_text()) == {"run": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]
    assert len(set(names)) == 2


def test_memory_compiles_for_a_given_device_as_for_the_default(monkeypatch, tmp_path):
    """``--gpu-target`` plumbing, with this machine's CPU standing in for the
    compile-only GPU: placing the shapes on a device compiles the same programs
    (equal bytes), the JSON says the run compiled only, and a missing CUDA plugin
    is a clear error naming the packages."""
    from jax.experimental import topologies

    cell = TINY_GRID[0]
    cpu = jax.devices("cpu")[0]
    assert memory.cell_memory(cell, cpu) == memory.cell_memory(cell)
    placed = memory.on_device(jax.ShapeDtypeStruct((2, 3), jnp.float32), cpu)
    assert placed.sharding == jax.sharding.SingleDeviceSharding(cpu)
    assert memory._compile_only(cpu)["compile_only"] is True
    # The backend (and so the grid "auto" picks) is the device's, not assumed GPU.
    assert memory._compile_only(cpu)["backend"] == "cpu"
    assert memory.run("auto", cells_range=(0, 1), device=cpu)["grid"] == "cpu"

    def no_plugin(*args, **kwargs):
        raise NotImplementedError("topology not implemented for cuda")

    monkeypatch.setattr(topologies, "get_topology_desc", no_plugin)
    with pytest.raises(RuntimeError, match="jax-cuda12-plugin==.*JAX_PLATFORMS=cpu"):
        memory.compile_only_gpu("gpu_device_info {}")

    config = tmp_path / "gpu.txtpb"
    config.write_text("gpu_device_info { core_count: 1 }")
    seen = {}

    def fake_gpu(text, topology="1x1x1"):
        seen["config"] = text
        return cpu

    def fake_run(*args, **kwargs):
        seen.update(kwargs)
        return {"summary": memory._summary([])}

    monkeypatch.setattr(memory, "compile_only_gpu", fake_gpu)
    monkeypatch.setattr(memory, "run", fake_run)
    platforms = jax.config.jax_platforms
    try:
        assert memory.main(["--gpu-target", str(config)]) == 0
    finally:
        jax.config.update("jax_platforms", platforms)
    assert seen["config"] == config.read_text() and seen["device"] is cpu


def test_throughput_breakdown_has_its_chain_and_two_controls():
    """Every row of the breakdown is a positive, finite µs per step; the NumPy control
    runs on CPU (this suite's backend) and the idle control comes last. No timing is
    compared."""
    ds, run_, net, state = throughput.setup(0)
    parts = throughput.breakdown(run_.model, run_.loss, net, state, ds, repeats=2)
    assert list(parts) == [
        "matmuls alone",
        "matmuls alone, NumPy",
        "value_and_grad",
        "+ adam",
        "epoch.run",
        "epoch",
        "epoch.shuffle",
        "epoch after idle",
    ]
    assert all(math.isfinite(v) and v > 0 for v in parts.values())


def test_numpy_matmuls_compute_what_scan_matmuls_computes(getkey):
    """float32: the NumPy control's last-batch weight gradients equal the scan's
    (``scan_matmuls`` carries the last batch's out) to 1e-5 of their largest entry,
    so both time the same GEMMs."""
    sizes = [(16, 32), (32, 8), (8, 4)]
    weights = [jax.random.normal(getkey(), s, jnp.float32) for s in sizes]
    xb = jax.random.normal(getkey(), (3, 5, 16), jnp.float32)
    ours = throughput.numpy_matmuls(weights, xb)()
    theirs = throughput.scan_matmuls(weights, xb)
    assert [g.shape for g in ours] == sizes
    for a, b in zip(ours, theirs, strict=True):
        # Relative to the largest entry: float32 sums in another order.
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(np.abs(b).max()))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("variant", _nets.VARIANTS)
def test_numpy_peer_computes_in_the_cells_dtype(variant, dtype, getkey):
    """GELU's constant √(2/π) was a NumPy float64 scalar, which under NumPy 2's
    promotion made a float32 cell's NumPy peer compute in float64 from the first
    GELU on (and its time 1.1–1.3× a float32 one's). Every variant, both losses."""
    for loss in _nets.LOSSES:
        net = _nets.net_for(variant, 2, 8, loss, classes=3)
        params, _ = _nets.init(net, getkey(), 5, dtype)
        x, y = _nets.batch(net, getkey(), 4, 5, dtype)
        value, grads = _peers.numpy_value_and_grad(net)(
            _nets.layer_arrays(net, params), np.asarray(x), np.asarray(y)
        )
        assert np.asarray(value).dtype == dtype, (variant, loss)
        assert {str(g.dtype) for p in grads for g in p.values()} == {dtype}


def test_each_peer_thread_setting_trains_its_own_model(monkeypatch):
    """numpy and numpy_1t trained one shared model, so each peer's test accuracy
    came from twice jaxnn's epochs; now an epoch of one leaves the other as it was.
    NumPy's thread pool is stood in for by one of two threads, so that the _1t
    variant exists on any machine (a one-core one has none)."""
    setter = (lambda n: None, 2)
    monkeypatch.setattr(
        _peers, "thread_setter", lambda peer: setter if peer == "numpy" else None
    )
    ds, _, net, state0 = throughput.setup(0)
    thunks, threads, models = throughput._peer_thunks(net, state0, ds, 64, 0)
    assert {"numpy", "numpy_1t"} <= set(thunks)
    start = [{k: v.copy() for k, v in p.items()} for p in models["numpy_1t"]]
    thunks["numpy"]()
    for before, after in zip(start, models["numpy_1t"], strict=True):
        for k in before:
            np.testing.assert_array_equal(before[k], after[k])
    assert any(
        not np.array_equal(a[k], b[k])
        for a, b in zip(start, models["numpy"], strict=True)
        for k in a
    )
    assert threads["numpy_1t"] == 1


def test_only_the_fd_part_runs_in_64_bit_mode_in_a_float32_run():
    """x64 was switched on for the whole process whenever the FD part ran, so a
    float32 run's Adam step and epoch compiled other programs than with --skip fd
    or in benchmarks.memory. (A fresh process: the suite runs in 64-bit mode.)"""
    script = f"""
import sys, jax
sys.path.insert(0, {str(pathlib.Path(__file__).resolve().parents[1])!r})
from benchmarks import backprop
from benchmarks.cells import Cell, Settings
res = backprop.run(
    [Cell(1, 8, 4, "relu", "softmax_cross_entropy", "float32")],
    settings=Settings(repeats=2, warmup=1, budget_s=None, peer_budget_s=None,
                      compile_repeats=1, peers=False),
    peak_sizes=(16,), peak_repeats=2, throughput_epochs=None, dispatch_repeats=None,
    fd_sizes=(10, 30), fd_repeats=1,
)
errors = [p["relative_error"] for p in res["fd_scaling"]["points"]]
print("x64 after:", jax.config.jax_enable_x64, "fd errors below 1e-6:", max(errors) < 1e-6)
"""
    run_python(script, expect="x64 after: False fd errors below 1e-6: True")
