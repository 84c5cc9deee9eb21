"""`jaxnn diagnose --quick`: the report's table and its PNG figures."""

import json
import math

import matplotlib.image
import numpy as np
import pytest

from jaxnn import _study, cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table(report: str) -> tuple[list[str], list[list[str]]]:
    lines = report.split("## Table", 1)[1].strip().splitlines()
    rows = [line.strip("|").split("|") for line in lines if line.startswith("|")]
    header, _, *body = ([c.strip() for c in row] for row in rows)
    return header, body


def test_diagnose_quick_writes_report_and_figures(tmp_path, capsys):
    out = tmp_path / "diagnose"
    assert cli.main(["diagnose", "--quick", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    for name in ("heatmap.png", "curves.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC
        image = matplotlib.image.imread(out / name)
        assert min(image.shape[:2]) > 100 and float(image[..., :3].std()) > 0

    report = (out / "report.md").read_text()
    assert "](heatmap.png)" in report and "](curves.png)" in report
    header, body = _table(report)
    config = _study.QUICK
    assert header == ["activation", "initializer", "variant"] + [
        f"depth {d}" for d in config.depths
    ]
    expected = {
        (a, i, v)
        for a in config.activations
        for i in config.initializers
        for v in config.variants
    }
    assert {tuple(row[:3]) for row in body} == expected
    assert len(body) == len(expected)
    ratios = {tuple(row[:3]): [float(c) for c in row[3:]] for row in body}
    assert all(math.isfinite(r) and r > 0 for values in ratios.values() for r in values)
    # The study's point: sigmoid vanishes with depth, ReLU + He and batch norm do not.
    assert ratios["sigmoid", "xavier", "plain"][-1] < 1e-3
    assert 1e-1 < ratios["relu", "he", "plain"][-1] < 1e1
    assert ratios["sigmoid", "xavier", "batch_norm"][-1] > 1e-1
    sigmoid = ratios["sigmoid", "xavier", "plain"]
    assert sigmoid == sorted(sigmoid, reverse=True)  # shrinks as depth grows

    payload = json.loads((out / "results.json").read_text())
    assert len(payload["rows"]) == len(expected)
    assert payload["config"]["depths"] == list(config.depths)


def test_diagnose_out_under_a_file_exits_2_before_the_study(monkeypatch, capsys):
    monkeypatch.setattr(_study, "run", lambda *a, **k: pytest.fail("study ran"))
    for out in (__file__, f"{__file__}/sub"):
        assert cli.main(["diagnose", "--quick", "--out", out]) == 2
        err = capsys.readouterr().err
        assert f"{__file__} is a file; expected a directory" in err
        assert len(err.splitlines()) == 1, err


def test_diagnose_out_through_a_broken_symlink_exits_2_before_the_study(
    monkeypatch, tmp_path, capsys
):
    """It used to run the whole study, then fail in mkdir with a traceback."""
    monkeypatch.setattr(_study, "run", lambda *a, **k: pytest.fail("study ran"))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    assert cli.main(["diagnose", "--quick", "--out", str(link)]) == 2
    err = capsys.readouterr().err
    assert f"--out {link} is a broken symbolic link; expected a directory" in err
    assert len(err.splitlines()) == 1, err


def test_diagnose_rejects_unknown_options(capsys):
    assert cli.main(["diagnose", "--bogus"]) == 2
    assert "--bogus" in capsys.readouterr().err


TINY = _study.StudyConfig(
    activations=("relu",),
    initializers=("normal(1)",),
    variants=("plain",),
    depths=(1,),
    width=8,
    batch=8,
    classes=3,
    seeds=(0, 1),
)


def test_study_grid_validation_and_non_finite_cells(tmp_path):
    tiny = TINY._replace(width=64, batch=64, classes=_study.FULL.classes, seeds=(0,))
    result = _study.run(tiny)
    assert result.ratio.shape == (1, 1, 1, 1)
    assert np.isfinite(result.ratio).all()
    # A non-finite cell is written as nan in the table and null in the JSON.
    broken = result._replace(ratio=np.full_like(result.ratio, np.nan))
    paths = _study.write_report(broken, tmp_path)
    assert "| relu | normal(1) | plain | nan |" in paths["report"].read_text()
    assert json.loads(paths["json"].read_text())["rows"][0]["ratio"] == [None]
    assert math.isnan(_study._geomean([1.0, math.inf]))
    for bad in (
        {"activations": ("swish",)},
        {"initializers": ("lecun",)},
        {"variants": ("dense",)},
        {"depths": ()},
        {"seeds": ()},
        {"activations": ()},  # these three used to give a report of an empty grid
        {"initializers": ()},
        {"variants": []},
    ):
        with pytest.raises(ValueError):
            _study.run(tiny._replace(**bad))


def _run_with_norms(monkeypatch, norms_by_seed):
    """The study of TINY with ``(‖∂L/∂W_1‖, ‖∂L/∂W_out‖)`` planted per seed."""
    monkeypatch.setattr(
        _study, "gradient_norms", lambda net, config, seed: norms_by_seed[seed]
    )
    return _study.run(TINY)


def test_study_zero_output_norm_gives_nan_not_zero_division(monkeypatch):
    """Python's 1.0 / 0.0 raised ZeroDivisionError despite np.errstate."""
    result = _run_with_norms(monkeypatch, {0: (1.0, 0.0), 1: (2.0, 1.0)})
    assert np.isnan(result.ratio).all()
    assert result.first.item() == pytest.approx(math.sqrt(2.0))
    assert result.last.item() == 0.0
    (line,) = [x for x in _study._findings(result) if "no finite ratio" in x]
    assert "relu/normal(1)/plain" in line


def test_study_zero_first_layer_norm_is_vanishing_not_non_finite(monkeypatch):
    """A ratio of 0 is the geometric mean's 0, listed as vanishing."""
    result = _run_with_norms(monkeypatch, {0: (0.0, 1.0), 1: (1e-2, 1.0)})
    assert result.ratio.item() == 0.0 and result.first.item() == 0.0
    findings = "\n".join(_study._findings(result))
    assert "(vanishing): relu/normal(1)/plain." in findings
    assert "finite" not in findings
    assert _study._geomean([4.0, 0.0]) == 0.0
    assert _study._geomean([4.0, 1.0]) == pytest.approx(2.0)
    for bad in ([4.0, math.inf], [4.0, math.nan], [4.0, -1.0]):
        assert math.isnan(_study._geomean(bad))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"depths": (2, 2.5)}, "depths[1] must be a positive int; got depths[1]=2.5"),
        ({"depths": (0,)}, "depths[0] must be a positive int; got depths[0]=0"),
        ({"depths": (True,)}, "depths[0] must be a positive int; got depths[0]=True"),
        ({"width": 0}, "width must be a positive int; got width=0"),
        ({"batch": 0}, "batch must be a positive int; got batch=0"),
        ({"classes": -1}, "classes must be a positive int; got classes=-1"),
        ({"seeds": (0, 1.5)}, "seeds[1] must be an int; got seeds[1]=1.5"),
    ],
)
def test_study_bad_config_names_the_field_before_any_network(monkeypatch, bad, message):
    monkeypatch.setattr(_study, "network", lambda *a: pytest.fail("network built"))
    with pytest.raises(ValueError) as info:
        _study.run(TINY._replace(**bad))
    assert message in str(info.value)


def test_study_report_of_numpy_int_config_is_written(monkeypatch, tmp_path):
    """NumPy ints pass the config check, but results.json failed on them after the
    whole grid (``int64 is not JSON serializable``), with report.md never written."""
    monkeypatch.setattr(_study, "gradient_norms", lambda net, config, seed: (1.0, 2.0))
    config = TINY._replace(
        depths=(np.int64(1), np.int32(2)), seeds=(np.int64(0),), width=np.int64(8)
    )
    paths = _study.write_report(_study.run(config), tmp_path)
    payload = json.loads(paths["json"].read_text())
    assert payload["config"]["depths"] == [1, 2] and payload["config"]["seeds"] == [0]
    assert payload["config"]["width"] == 8
    assert payload["rows"][0]["depths"] == [1, 2]
    assert "seeds [0]." in paths["report"].read_text()
