"""Every figure function writes a valid, non-empty PNG, non-finite inputs included."""

import math
import pathlib
import re

import matplotlib.image
import numpy as np
import pytest

from jaxnn import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_side=100):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) >= min_side
    assert float(image[..., :3].std()) > 0  # something was drawn


def test_training_curves(tmp_path):
    history = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "test_loss": 1.2 / e,
            "test_accuracy": 0.5 + e / 10,
        }
        for e in (1, 2, 3)
    ]
    assert_png(plots.training_curves(history, tmp_path / "a" / "t.png"))


def test_grad_norms_and_curves_with_nonfinite_values(tmp_path):
    norms = {
        "sigmoid": [1e-6, 1e-3, 1.0],
        "relu": [0.5, np.nan, 1.0],
        "dead": [0.0, 0.0, 0.0],
    }
    assert_png(plots.grad_norms(norms, tmp_path / "g.png"))
    series = {"a": ([1, 2, 3], [1.0, np.inf, 3.0]), "b": ([1, 2, 3], [-1.0, 2.0, 4.0])}
    assert_png(
        plots.curves(
            series,
            tmp_path / "c.png",
            logx=True,
            logy=True,
            reference=("ref", ([1, 3], [1.0, 9.0])),
        )
    )
    # A log axis with nothing positive to draw falls back to a linear one.
    assert_png(
        plots.curves({"zero": ([1, 2], [0.0, 0.0])}, tmp_path / "z.png", logy=True)
    )


def test_curve_grid_leaves_spare_panels_empty(tmp_path):
    panels = {
        f"panel {i}": {"x²": ([1, 2, 3], [1.0, 4.0, 9.0]), "x": ([1, 2, 3], [1, 2, 3])}
        for i in range(4)
    }
    path = plots.curve_grid(
        panels, tmp_path / "grid.png", ncols=3, logy=True, title="t"
    )
    assert_png(path)


def test_activation_stats(tmp_path):
    stats = {
        "tanh, N(0,1)": {"std": [0.9, 0.95, 0.97], "saturation": [0.6, 0.7, 0.7]},
        "tanh, Xavier": {"std": [0.6, 0.4, 0.3], "saturation": [0.0, 0.0, 0.0]},
    }
    assert_png(plots.activation_stats(stats, tmp_path / "s.png", logy=("std",)))


def test_activation_functions_gallery(tmp_path):
    path = plots.activation_functions(
        ("sigmoid", "tanh", "relu", "leaky_relu", "softmax"),
        tmp_path / "act.png",
        num=51,
    )
    assert_png(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num": 0}, "num must be an int >= 2 (points per curve); got num=0"),
        ({"num": 1}, "got num=1"),
        ({"num": 50.0}, "got num=50.0"),
        ({"z_range": (5, -5)}, "low < high; got z_range=(5, -5)"),
        ({"z_range": (0, math.inf)}, "got z_range=(0, inf)"),
        ({"z_range": (1, 2, 3)}, "got z_range=(1, 2, 3)"),
        ({"ncols": 0}, "ncols must be an int >= 1; got ncols=0"),
    ],
)
def test_activation_functions_refuses_empty_or_reversed_axes(tmp_path, kwargs, message):
    """num=0 drew empty panels and z_range=(5, -5) a reversed axis, silently."""
    with pytest.raises(ValueError, match=re.escape(message)):
        plots.activation_functions(("relu",), tmp_path / "a.png", **kwargs)
    assert not (tmp_path / "a.png").exists()


def test_optimizer_trajectories_over_contours(tmp_path):
    path_a = np.array([[-2.0, 1.0], [-1.0, 0.5], [0.0, 0.0]])
    path_b = np.array([[-2.0, 1.0], [-1.5, -0.5], [-0.2, 0.1]])
    path = plots.optimizer_trajectories(
        lambda x, y: 0.5 * (x**2 + 10 * y**2) + 1e-3,
        {"SGD": path_a, "Adam": path_b},
        tmp_path / "traj.png",
        xlim=(-2.5, 0.5),
        ylim=(-1.2, 1.2),
    )
    assert_png(path)
    explicit = plots.optimizer_trajectories(
        lambda x, y: x**2 - y**2,
        {},
        tmp_path / "saddle.png",
        xlim=(-1, 1),
        ylim=(-1, 1),
        levels=[-0.5, 0.0, 0.5],
        log_levels=False,
    )
    assert_png(explicit)


def test_optimizer_trajectories_flat_loss_and_bad_trajectory(tmp_path):
    # A constant positive loss made matplotlib refuse equal contour levels; a
    # trajectory of another shape is refused naming its label.
    flat = plots.optimizer_trajectories(
        lambda x, y: np.ones_like(x),
        {"SGD": np.array([[0.0, 0.0], [0.5, 0.5]])},
        tmp_path / "flat.png",
        xlim=(-1, 1),
        ylim=(-1, 1),
    )
    assert_png(flat)
    for bad in (np.zeros((0, 2)), np.zeros((3, 3)), np.zeros(2)):
        with pytest.raises(ValueError, match=r"trajectory 'Adam' must have shape"):
            plots.optimizer_trajectories(
                lambda x, y: x**2 + y**2,
                {"Adam": bad},
                tmp_path / "bad.png",
                xlim=(-1, 1),
                ylim=(-1, 1),
            )


def test_ratio_heatmap_refuses_a_panel_of_another_shape(tmp_path):
    # Three column labels for two columns drew a mislabelled figure.
    with pytest.raises(ValueError, match=r"panel 'plain'.*\(2, 3\); got \(2, 2\)"):
        plots.ratio_heatmap(
            {"plain": np.ones((2, 2))}, ["a", "b"], ["1", "2", "3"], tmp_path / "h.png"
        )


@pytest.mark.parametrize("annotate", [None, False])
def test_ratio_heatmap_with_nan_and_zero_cells(tmp_path, annotate):
    panels = {
        "plain": np.array([[1e-6, 1e-3, 1.0], [10.0, np.nan, 0.0]]),
        "residual": np.array([[0.5, 0.4, 0.3], [1.0, 2.0, 1e4]]),
    }
    path = plots.ratio_heatmap(
        panels,
        ["sigmoid", "relu"],
        ["2", "6", "10"],
        tmp_path / "h.png",
        title="log ratio",
        xlabel="depth",
        annotate=annotate,
    )
    assert_png(path)


def test_bars(tmp_path):
    values = {"relu": 0.68, "leaky_relu": 0.0, "broken": np.inf}
    assert_png(plots.bars(values, tmp_path / "b.png", ylabel="dead fraction"))
    ratios = {"sigmoid": 2e-6, "relu": 0.66}
    assert_png(plots.bars(ratios, tmp_path / "log.png", logy=True, title="ratio"))


def test_optimizer_trajectories_loss_that_overflows_still_gets_contours(
    tmp_path, monkeypatch
):
    """An inf in the loss grid (an overflowing corner) made every log level nan, so
    no contour was drawn; the levels now span the finite positive values."""
    import matplotlib.axes

    seen = []
    contour = matplotlib.axes.Axes.contour

    def spy(self, *args, levels=None, **kwargs):
        seen.append(np.asarray(levels, dtype=np.float64))
        return contour(self, *args, levels=levels, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "contour", spy)
    path = plots.optimizer_trajectories(
        lambda x, y: np.where(x > 0.5, np.inf, x**2 + y**2 + 0.1),
        {"SGD": np.array([[-0.5, 0.5], [0.0, 0.0]])},
        tmp_path / "overflow.png",
        xlim=(-1, 1),
        ylim=(-1, 1),
        levels=5,
    )
    assert_png(path)
    (levels,) = seen
    assert levels.shape == (5,) and np.isfinite(levels).all(), levels
    assert levels[0] == pytest.approx(0.1, rel=1e-3)
    assert levels[-1] == pytest.approx(2.1, rel=1e-3)  # the corner (-1, ±1)


def _bars(path):
    return plots.bars({"a": 1.0, "b": 2.0}, path)


def _heatmap(path):  # the one figure saved with bbox_inches="tight"
    return plots.ratio_heatmap({"p": np.ones((2, 2))}, ["r1", "r2"], ["c1", "c2"], path)


@pytest.mark.parametrize("draw", [_bars, _heatmap], ids=["_save", "ratio_heatmap"])
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_save_leaves_the_previous_file_whole(
    tmp_path, monkeypatch, draw, error
):
    """savefig wrote straight onto the target: a save that failed or was interrupted
    midway left a truncated PNG where a good one was (training.png is rewritten)."""
    import matplotlib.figure

    path = tmp_path / "fig.png"
    assert draw(path) == path
    before = path.read_bytes()
    assert_png(path, min_side=50)
    savefig = matplotlib.figure.Figure.savefig

    def half_then_fail(self, fname, **kwargs):
        """Write the first half of the real PNG, then fail."""
        import io

        buffer = io.BytesIO()
        savefig(self, buffer, **{**kwargs, "format": "png"})
        data = buffer.getvalue()[:1000]
        if hasattr(fname, "write"):
            fname.write(data)
            fname.flush()
        else:
            pathlib.Path(fname).write_bytes(data)
        raise error

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_then_fail)
    with pytest.raises(type(error)):
        draw(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temporary file


def test_saved_file_is_the_returned_path_with_the_usual_mode(tmp_path):
    """Written through a temporary file: same name, format and mode (0o666 less the
    umask, as open gives; mkstemp would give 0o600). Without a suffix, matplotlib
    wrote ``name.png`` while the function returned ``name``."""
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    for name in ("a.png", "noext"):
        path = _bars(tmp_path / "sub" / name)
        assert path == tmp_path / "sub" / name
        assert_png(path, min_side=50)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.png", "noext"]
    svg = _bars(tmp_path / "b.svg")
    assert svg.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))


def test_lines_of_mismatched_lengths_are_refused_naming_the_line(tmp_path):
    """matplotlib's own error names neither the line nor the fix, and left the figure
    open; the curve functions name the line and close the figure."""
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    bad = {"ok": ([1, 2, 3], [1, 2, 3]), "short y": ([1, 2, 3], [1, 2])}
    with pytest.raises(ValueError, match=r"line 'short y': x and y must have"):
        plots.curves(bad, tmp_path / "c.png")
    with pytest.raises(ValueError, match=r"line 'ref': x and y must have"):
        plots.curve_grid(
            {"p": {"ok": ([1, 2], [3, 4])}},
            tmp_path / "g.png",
            reference=("ref", ([1, 2], [1])),
        )
    assert plt.get_fignums() == open_before
    assert not list(tmp_path.iterdir())
