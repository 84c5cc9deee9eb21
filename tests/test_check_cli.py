"""`jaxnn check`: the table, the JSON, and exit code 1 when a rule is wrong.

The full self-test runs in `make demo`; here a reduced set of items keeps the suite fast.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import _selfcheck, cli
from jaxnn import layers as L


def _few_layers():
    yield "activation", "tanh", L.activation("tanh"), (5,)
    yield "layer", "batch_norm", L.batch_norm(), (5,)


def _planted_layers():
    inner = L.dense(3)

    def backward(cache, dy):
        dparams, dx = inner.backward(cache, dy)
        return dparams._replace(b=dparams.b * 1.01), dx

    yield (
        "layer",
        "dense with a 1 % bug",
        L.Layer(inner.init, inner.forward, backward),
        (4,),
    )


def _two_activations():
    return [(name, _selfcheck.activations.get(name)) for name in ("tanh", "relu")]


@pytest.fixture
def small_check(monkeypatch):
    monkeypatch.setattr(_selfcheck, "_layer_cases", _few_layers)
    monkeypatch.setattr(_selfcheck, "_activations", _two_activations)
    monkeypatch.setattr(_selfcheck, "MODEL_CASES", _selfcheck.MODEL_CASES[-2:])


def test_check_prints_table_writes_json_and_passes(small_check, tmp_path, capsys):
    """float32 and float64 rows: layers, every loss, two models; exit 0."""
    out = tmp_path / "check.json"
    assert cli.main(["check", "--dtype", "both", "--quick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    payload = json.loads(out.read_text())
    items = {r["item"] for r in payload["rows"]}
    assert {"tanh", "batch_norm (eval)", "two_layer_sigmoid, mse"} <= items
    assert {"tanh at 0 and −0", "relu at 0 and −0"} <= items
    assert set(_selfcheck.losses.NAMES) <= items
    assert payload["backend"] == jax.default_backend()
    rows = payload["rows"]
    assert {r["dtype"] for r in rows} == {"float32", "float64"}
    assert all(r["passed"] for r in rows)
    for r in rows:
        if r["item"].endswith("at 0 and −0"):  # kinks: vs jax.vjp only
            assert r["vs_autodiff"] <= 1e-5 and r["vs_fd"] is None, r
        elif r["dtype"] == "float64":
            assert r["vs_autodiff"] <= 1e-12 and r["vs_fd"] <= 1e-6, r
        else:
            assert r["vs_autodiff"] <= 1e-5 and r["vs_fd"] is None, r
    assert f"{len(rows)} passed, 0 failed" in text


def test_check_exits_1_on_a_wrong_backward(monkeypatch, capsys):
    monkeypatch.setattr(_selfcheck, "_layer_cases", _planted_layers)
    monkeypatch.setattr(_selfcheck, "_activations", lambda: [])
    monkeypatch.setattr(_selfcheck, "MODEL_CASES", ())
    monkeypatch.setattr(_selfcheck.losses, "NAMES", ())
    assert cli.main(["check", "--dtype", "float64", "--quick"]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.fixture
def without_optax(monkeypatch):
    """``import optax`` raises ImportError, as when it is not installed."""
    monkeypatch.setitem(__import__("sys").modules, "optax", None)


def test_check_without_optax_shows_skipped_rows_not_passes(
    monkeypatch, without_optax, tmp_path, capsys
):
    """The optimizer rows read "pass (skipped: ...)" and counted as passed; they are
    skipped now: neither passed nor failed, and the exit code stays 0."""
    monkeypatch.setenv("COLUMNS", "200")  # rich would shorten the note with "…"
    monkeypatch.setattr(_selfcheck, "_layer_cases", _few_layers)
    monkeypatch.setattr(_selfcheck, "_activations", lambda: [])
    monkeypatch.setattr(_selfcheck, "MODEL_CASES", ())
    monkeypatch.setattr(_selfcheck.losses, "NAMES", ())
    out = tmp_path / "check.json"
    assert cli.main(["check", "--dtype", "both", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    (line,) = [t for t in text.splitlines() if "optimizer" in t and "float64" in t]
    assert "skipped (compare_with_optax needs optax: pip install optax)" in line
    assert "pass" not in line, line
    assert "6 passed, 0 failed, 2 skipped" in text, text
    rows = json.loads(out.read_text())["rows"]
    skipped = [r for r in rows if r["category"] == "optimizer"]
    assert [r["dtype"] for r in skipped] == ["float32", "float64"]
    for r in skipped:
        assert r["status"] == "skipped" and r["skipped"] is True, r
        assert r["passed"] is False, r  # a consumer reading "passed" sees no pass
    others = [r for r in rows if r["category"] != "optimizer"]
    assert len(others) == 6
    assert all(r["status"] == "passed" and r["passed"] for r in others)
    assert not any(r["skipped"] for r in others)


def test_check_with_a_failure_and_a_skip_exits_1_and_counts_both(monkeypatch, capsys):
    """A skipped row does not hide a failure, nor count as one."""
    Row = _selfcheck.Row
    rows = [
        Row("loss", "mse", "float32", 0.0, None, True),
        Row("loss", "bad", "float32", 0.5, None, False),
        Row("optimizer", "(all)", "float32", None, None, False, "no optax", True),
    ]
    monkeypatch.setattr(_selfcheck, "run", lambda *a, **k: iter(rows))
    assert cli.main(["check", "--dtype", "float32"]) == 1
    text = capsys.readouterr().out
    assert "1 passed, 1 failed, 1 skipped" in text, text
    assert [r.status for r in rows] == ["passed", "failed", "skipped"]


def _row(manual_value, manual_grad):
    """The row of a float32 comparison whose autodiff side is ``(Σ p², 2p)``."""

    def compute(p):
        auto = (jnp.sum(p**2), 2 * p)
        return (manual_value(p), manual_grad(p)), auto, None

    return _selfcheck._gradient_row(
        "loss", "planted", "float32", compute, jnp.ones(3, jnp.float32)
    )


def test_gradient_row_fails_a_nan_loss_value():
    """max(err, nan) is err: the NaN value used to be dropped and the row passed."""
    row = _row(lambda p: jnp.sum(p**2) * jnp.nan, lambda p: 2 * p)
    assert not row.passed and np.isnan(row.vs_autodiff)
    assert _row(lambda p: jnp.sum(p**2), lambda p: 2 * p).passed


@pytest.mark.parametrize(
    ("grad", "note"),
    [
        (lambda p: (2 * p)[:2], "gradient is float32[2]; autodiff's is float32[3]"),
        (lambda p: {"w": 2 * p}, "gradient tree PyTreeDef({'w': *}) vs autodiff"),
        (
            lambda p: (2 * p).astype(jnp.bfloat16),
            "gradient is bfloat16[3]; autodiff's is float32[3]",
        ),
    ],
)
def test_gradient_row_fails_a_wrong_tree_shape_or_dtype_with_a_note(grad, note):
    """A FAIL row naming the mismatch; a wrong shape or tree used to raise."""
    row = _row(lambda p: jnp.sum(p**2), grad)
    assert not row.passed and row.vs_autodiff is None, row
    assert note in row.note, row.note


def test_loss_rows_fail_a_wrong_loss_backward(monkeypatch):
    mse = _selfcheck.losses.get("mse")
    broken = mse._replace(backward=lambda p, t: mse.backward(p, t) * 1.01)
    monkeypatch.setattr(_selfcheck.losses, "NAMES", ("mse",))
    monkeypatch.setattr(_selfcheck.losses, "get", lambda name: broken)
    (row,) = _selfcheck._loss_rows(jnp.float32)
    assert not row.passed and 5e-3 < row.vs_autodiff < 2e-2, row


def test_kink_rows_fail_a_rule_wrong_only_at_zero(monkeypatch):
    """relu'(0) = 0 (jax.nn's): a rule masking with z >= 0 is right at every normal
    draw, so no other row sees it; the kink rows compare at ±0 with jax.vjp."""
    relu = _selfcheck.activations.get("relu")
    wrong = relu._replace(backward=lambda z, y, dy: jnp.where(z >= 0, dy, 0.0))
    monkeypatch.setattr(
        _selfcheck, "_activations", lambda: [("relu", wrong), ("ok", relu)]
    )
    rows = list(_selfcheck._kink_rows(jnp.float64))
    assert [(r.item, r.passed) for r in rows] == [
        ("relu at 0 and −0", False),
        ("ok at 0 and −0", True),
    ]


def test_check_covers_relu_after_batch_norm(monkeypatch):
    """models.mlp uses RELU_MASKED_BY_Z after batch_norm (jaxnn train --batch-norm's
    default); no row ran it, so a broken one passed every row. Now its activation,
    kink and model rows fail."""
    broken = _selfcheck.activations.RELU_MASKED_BY_Z._replace(
        backward=lambda z, y, dy: dy
    )
    monkeypatch.setattr(_selfcheck.activations, "RELU_MASKED_BY_Z", broken)
    # Only the rows that could see it, and one that could not: the whole check
    # takes a minute of compiles.
    layers = [
        c
        for c in _selfcheck._layer_cases()
        if c[1].startswith("relu") or c[1] == "dense"
    ]
    acts = [a for a in _selfcheck._activations() if a[0].startswith("relu")]
    monkeypatch.setattr(_selfcheck, "_layer_cases", lambda: iter(layers))
    monkeypatch.setattr(_selfcheck, "_activations", lambda: acts)
    models_ = [m for m in _selfcheck.MODEL_CASES if "relu" in m[0]]
    monkeypatch.setattr(_selfcheck, "MODEL_CASES", models_)
    monkeypatch.setattr(_selfcheck.losses, "NAMES", ())
    rows = list(_selfcheck.run(("float64",), optimizers=False))
    assert len(rows) == len(layers) + len(acts) + len(models_) == 3 + 2 + 2
    failed = [r.item for r in rows if not r.passed]
    assert failed == [
        "relu (mask read from z)",
        "relu (mask read from z) at 0 and −0",
        "mlp depth 3 relu+bn, softmax-CE",
    ], failed


def test_check_rejects_unknown_dtype(capsys):
    assert cli.main(["check", "--dtype", "float16"]) == 2
    assert "invalid choice: 'float16'" in capsys.readouterr().err


def test_check_json_path_is_checked_before_the_run(monkeypatch, tmp_path, capsys):
    """A --json that cannot be written is a usage error (2) before the long run."""
    calls = []
    monkeypatch.setattr(_selfcheck, "run", lambda *a, **k: calls.append(a) or iter(()))
    for path, reason in [
        (tmp_path / "missing" / "x.json", f"{tmp_path / 'missing'} is not a directory"),
        (tmp_path, f"--json {tmp_path} is a directory; expected a file"),
        ("/proc/self/check.json", "--json /proc/self/check.json: cannot write in"),
    ]:
        assert cli.main(["check", "--quick", "--json", str(path)]) == 2
        err = capsys.readouterr().err
        assert reason in err and len(err.splitlines()) == 1, err
    assert calls == []


def test_check_empty_json_path_is_a_usage_error_not_ignored(monkeypatch, capsys):
    """``--json ''`` used to run the whole check and silently write no JSON."""
    calls = []
    monkeypatch.setattr(_selfcheck, "run", lambda *a, **k: calls.append(a) or iter(()))
    assert cli.main(["check", "--quick", "--json", ""]) == 2
    err = capsys.readouterr().err
    assert "argument --json: expected a path; got ''" in err, err
    assert len(err.splitlines()) == 1 and calls == []


def test_check_json_is_never_left_half_written(monkeypatch, tmp_path):
    """A failure while encoding the rows leaves the previous file whole."""
    row = _selfcheck.Row("loss", "mse", "float32", np.float32(1e-7), None, True)
    monkeypatch.setattr(_selfcheck, "run", lambda *a, **k: iter([row]))
    out = tmp_path / "check.json"
    out.write_text('{"previous": true}')
    cli.main(["check", "--json", str(out)])  # np.float32 is not JSON serialisable
    assert json.loads(out.read_text()) == {"previous": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["check.json"]


# `jaxnn train` argument checks that need no training run (the others are in
# tests/test_train.py).


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--seed", str(2**63 - 1)], f"expected an int ≤ 2**63 - 2; got {2**63 - 1}"),
        (["--seed", str(2**70)], f"expected an int ≤ 2**63 - 2; got {2**70}"),
        (["--out", f"{__file__}/sub"], f"{__file__} is a file; expected a directory"),
        (
            ["--checkpoint-dir", f"{__file__}/a/b"],
            f"--checkpoint-dir {__file__}/a/b: {__file__} is a file",
        ),
        # A directory that cannot be made or written in: found before training,
        # not at the first checkpoint or when the metrics are written (after it).
        (
            ["--out", "/proc/jaxnn-out"],
            "--out /proc/jaxnn-out: cannot make the directory",
        ),
        (
            ["--checkpoint-dir", "/proc/self"],
            "--checkpoint-dir /proc/self: cannot write in /proc/self",
        ),
    ],
)
def test_train_bad_seed_or_output_under_a_file_exits_2_before_training(
    monkeypatch, tmp_path, argv, reason, capsys
):
    from jaxnn import train

    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("fit was called"))
    argv = ["train", "--data", "xor", "--hidden", "4", "--out", str(tmp_path), *argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_train_init_choices_are_the_initializers_it_can_build(capsys):
    """``constant`` needs a value the command line cannot pass: not offered."""
    from jaxnn import initializers

    assert cli.main(["train", "--init", "constant"]) == 2
    assert "invalid choice: 'constant'" in capsys.readouterr().err
    train = cli.build_parser()._subparsers._group_actions[0].choices["train"]
    (init,) = [a for a in train._actions if a.dest == "init"]
    assert set(init.choices) == set(initializers.NAMES) - {"constant"}
    for name in init.choices:
        initializers.get(name)


def test_json_outputs_are_strict_json_with_null_for_non_finite_numbers(tmp_path):
    """A failed row's NaN error or a diverged run's inf loss is written as null:
    Python's json would write the tokens NaN/Infinity, which JSON parsers refuse."""
    path = tmp_path / "out.json"
    cli._write_json(path, {"err": float("nan"), "rows": [1.5, float("-inf"), (2.0,)]})

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    assert json.loads(path.read_text(), parse_constant=refuse) == {
        "err": None,
        "rows": [1.5, None, [2.0]],
    }


@pytest.mark.parametrize("flag", ["--out", "--checkpoint-dir"])
def test_train_output_dir_through_a_broken_symlink_exits_2_before_training(
    monkeypatch, tmp_path, flag, capsys
):
    """mkdir cannot make a directory through a dangling link: it used to fail with a
    traceback after the whole run (``--out``) or its first epoch (checkpoints)."""
    from jaxnn import train

    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("fit was called"))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    for path, reason in [
        (link, f"{flag} {link} is a broken symbolic link; expected a directory"),
        (link / "sub", f"{flag} {link / 'sub'}: {link} is a broken symbolic link"),
    ]:
        argv = ["train", "--data", "xor", "--hidden", "4", "--out", str(tmp_path)]
        assert cli.main([*argv, flag, str(path)]) == 2
        err = capsys.readouterr().err
        assert reason in err and len(err.splitlines()) == 1, err


def test_train_empty_checkpoint_dir_is_a_usage_error(monkeypatch, tmp_path, capsys):
    """``--checkpoint-dir ''`` used to write checkpoints into the current directory,
    while ``--resume --checkpoint-dir ''`` said that no directory was given."""
    from jaxnn import train

    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("fit was called"))
    argv = ["train", "--data", "xor", "--hidden", "4", "--out", str(tmp_path)]
    assert cli.main([*argv, "--checkpoint-dir", ""]) == 2
    err = capsys.readouterr().err
    assert "argument --checkpoint-dir: expected a path; got ''" in err, err


def test_train_zero_epochs_lists_only_the_outputs_it_wrote(
    monkeypatch, tmp_path, capsys
):
    """With no epoch there is no training curve: the table named a training.png that
    was never written."""
    monkeypatch.setenv("COLUMNS", "200")  # rich would shorten the paths with "…"
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--data", "xor", "--hidden", "4", "--epochs", "0"]
    assert cli.main([*argv, "--out", "o"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["metrics.json"]
    out = capsys.readouterr().out
    assert "metrics.json" in out and "training.png" not in out, out
