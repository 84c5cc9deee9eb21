"""Each example's fast mode, in-process, asserting the direction of its claim."""

import importlib
import os
import pathlib
import subprocess
import sys

import matplotlib.image
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module", autouse=True)
def _examples_on_path():
    sys.path.insert(0, str(EXAMPLES))
    yield
    sys.path.remove(str(EXAMPLES))


def run(name: str, tmp_path) -> dict:
    module = importlib.import_module(name)
    result = module.main(fast=True, out=tmp_path)
    pngs = sorted(tmp_path.glob("*.png"))
    assert pngs, f"{name} saved no PNG"
    for png in pngs:
        assert min(matplotlib.image.imread(png).shape[:2]) > 100
    return result


def test_examples_are_all_tested():
    scripts = {p.stem for p in EXAMPLES.glob("ex*.py")}
    tested = {
        n.removeprefix("test_")
        for n in globals()
        if n[:7] == "test_ex" and n[7:].isdigit()
    }
    assert len(scripts) == 9
    assert {s[:4] for s in scripts} == tested


def test_ex01(tmp_path):
    r = run("ex01_two_layer", tmp_path)
    assert r["max_relative_error"] < 1e-5
    assert set(r["example_errors"]) == {
        "dL/dyhat",
        "dL/dW2",
        "dL/db2",
        "dL/dh",
        "dL/dW1",
        "dL/db1",
    }
    assert r["final_loss"] < r["initial_loss"]


def test_ex02(tmp_path):
    r = run("ex02_gradcheck_cost", tmp_path)
    assert r["max_relative_error"] < 1e-6  # float64 central differences agree
    assert r["fd_flop_exponent"] > 1.8
    assert r["bp_flop_exponent"] < 1.2


def test_ex03(tmp_path):
    r = run("ex03_vanishing_gradients", tmp_path)
    ratios = r["ratios"]
    assert ratios["sigmoid, Xavier"] < 1e-3
    assert ratios["ReLU, He"] > 1e-1
    assert ratios["sigmoid + batch_norm"] > 1e-1
    assert ratios["sigmoid + residual"] > 100 * ratios["sigmoid, Xavier"]
    assert r["derivative_products"]["sigmoid, Xavier"] < 0.25**10 * 10


def test_ex04(tmp_path):
    r = run("ex04_exploding_gradients", tmp_path)
    lr_problem, init_problem = r["nonfinite_seeds"]
    assert r["nonfinite_seeds"][lr_problem] >= 2  # of 4 seeds
    assert r["nonfinite_seeds"][init_problem] == 4
    for key, s in r["summary"].items():
        problem, remedy = key.split(" | ")
        if remedy in ("clip_by_global_norm(1)", "warmup + cosine"):
            assert s["fixed"], key
    assert r["summary"][f"{init_problem} | batch_norm"]["fixed"]
    assert r["nonfinite_leaves"][f"{init_problem} | none"]


def test_ex05(tmp_path):
    r = run("ex05_activations", tmp_path)
    props = r["properties"]
    assert props["sigmoid"]["max_derivative"] <= 0.25 + 1e-7
    assert props["tanh"]["max_derivative"] <= 1 + 1e-7
    assert abs(props["tanh"]["mean_on_normal"]) < 0.01
    assert props["sigmoid"]["mean_on_normal"] > 0.4
    assert props["relu"]["max_derivative_z_le_0"] == 0
    assert r["max_derivative_error"] < 1e-5


def test_ex06(tmp_path):
    r = run("ex06_dead_relu", tmp_path)
    relu, leaky = r["relu"], r["leaky_relu"]
    assert relu["overall_before"] > 0.5 and relu["overall_after"] > 0.5
    assert leaky["overall_after"] < 0.5 * leaky["overall_before"]
    assert r["init_dead"]["he"] < 0.1 and r["init_dead"]["small"] > 0.5
    assert r["lr_dead"][0.1] > r["lr_dead"][1e-2]


def test_ex07(tmp_path):
    r = run("ex07_initialization", tmp_path)
    assert r["zeros_distinct_units"] == [1, 1]
    assert r["zeros_max_difference"] == 0.0
    assert r["zeros_first_layer_moved"] > 0  # the units learned, identically
    assert min(v for k, v in r["saturation"].items() if "N(0, 1)" in k) > 0.5
    assert max(v for k, v in r["saturation"].items() if "Xavier" in k) < 0.05
    assert r["std_spread"]["tanh, Xavier"] < 5 and r["std_spread"]["ReLU, He"] < 5
    assert r["std_spread"]["ReLU, N(0, 1)"] > 1e3
    assert r["bn_std_ratio"][True] < 1.01 < 100 < r["bn_std_ratio"][False]


def test_ex08(tmp_path):
    r = run("ex08_optimizers", tmp_path)
    steps = r["ravine_steps"]
    assert 0 < steps["momentum (EMA, β=0.9)"] < steps["SGD"]
    assert 0 < steps["Adam"] < steps["SGD"]
    assert r["ravine_working_rates"]["Adam"] > r["ravine_working_rates"]["SGD"]


def test_ex09(tmp_path):
    r = run("ex09_output_heads", tmp_path)
    assert {t: (v["activation"], v["loss"]) for t, v in r.items()} == {
        "binary": ("sigmoid", "binary_cross_entropy"),
        "multiclass": ("softmax", "softmax_cross_entropy_with_integer_labels"),
        "multilabel": ("sigmoid", "binary_cross_entropy"),
        "regression": ("identity", "mse"),
    }
    for task, v in r.items():
        assert v["value"] > v["baseline"] + 0.05, task


def test_out_dir_refuses_a_file(tmp_path):
    """``main(out=FILE)`` names the file in the way instead of mkdir's 'File exists'."""
    import _common

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    for out in (blocker, blocker / "sub"):
        with pytest.raises(NotADirectoryError, match="not_a_folder' is a file"):
            _common.out_dir(out)
    assert _common.out_dir(tmp_path / "new" / "dir").is_dir()
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "missing")  # mkdir cannot go through it either
    for out in (link, link / "sub"):
        with pytest.raises(
            NotADirectoryError,
            match="dangling' is a broken symbolic link, not a folder",
        ):
            _common.out_dir(out)


def test_cli_bad_out_is_a_usage_error(tmp_path):
    """``--out FILE``: exit code 2 and a one-line reason, no traceback, before any work.

    Every script parses its arguments with ``_common.cli``; one of them is run.
    """
    script = "ex05_activations.py"
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--fast", "--out", str(blocker)],
        capture_output=True,
        text=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith("is a file, not a folder")
    assert proc.stdout == ""  # nothing was computed
