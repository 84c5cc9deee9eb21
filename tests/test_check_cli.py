"""`jaxnn check`: the table, the JSON, and exit code 1 when a rule is wrong.

The full self-test runs in `make demo`; here a reduced set of items keeps the suite fast.
"""

import json

import jax
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


@pytest.fixture
def small_check(monkeypatch):
    monkeypatch.setattr(_selfcheck, "_layer_cases", _few_layers)
    monkeypatch.setattr(_selfcheck, "MODEL_CASES", _selfcheck.MODEL_CASES[-2:])


def test_check_prints_table_writes_json_and_passes(small_check, tmp_path, capsys):
    """float32 and float64 rows: layers, every loss, two models; exit 0."""
    out = tmp_path / "check.json"
    assert cli.main(["check", "--dtype", "both", "--quick", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    payload = json.loads(out.read_text())
    items = {r["item"] for r in payload["rows"]}
    assert {"tanh", "batch_norm (eval)", "two_layer_sigmoid, mse"} <= items
    assert set(_selfcheck.losses.NAMES) <= items
    assert payload["backend"] == jax.default_backend()
    rows = payload["rows"]
    assert {r["dtype"] for r in rows} == {"float32", "float64"}
    assert all(r["passed"] for r in rows)
    for r in rows:
        if r["dtype"] == "float64":
            assert r["vs_autodiff"] <= 1e-12 and r["vs_fd"] <= 1e-6, r
        else:
            assert r["vs_autodiff"] <= 1e-5 and r["vs_fd"] is None, r
    assert f"{len(rows)} passed, 0 failed" in text


def test_check_exits_1_on_a_wrong_backward(monkeypatch, capsys):
    monkeypatch.setattr(_selfcheck, "_layer_cases", _planted_layers)
    monkeypatch.setattr(_selfcheck, "MODEL_CASES", ())
    monkeypatch.setattr(_selfcheck.losses, "NAMES", ())
    assert cli.main(["check", "--dtype", "float64", "--quick"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_check_rejects_unknown_dtype(capsys):
    assert cli.main(["check", "--dtype", "float16"]) == 2
    assert "invalid choice: 'float16'" in capsys.readouterr().err
