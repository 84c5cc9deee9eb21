"""Training on the bundled data: accuracy, manual == autodiff, resume, guard, parallel."""

import functools
import json
import pathlib
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _subprocess import run_python

from jaxnn import backprop, checkpoint, data, optim, train


@pytest.mark.parametrize(
    ("name", "hidden", "lr", "epochs", "metric", "threshold"),
    [
        ("breast_cancer", (32,), 1e-3, 20, "test_accuracy", 0.95),
        ("diabetes", (32,), 1e-3, 30, "test_r2", 0.35),
        ("digits_multilabel", (64,), 2e-3, 15, "test_label_accuracy", 0.9),
        ("spirals", (64, 64), 5e-3, 40, "test_accuracy", 0.95),  # 2-hidden-layer ReLU
    ],
)
def test_fit_reaches_the_target_on_bundled_data(
    name, hidden, lr, epochs, metric, threshold
):
    """float32, Adam, manual backward: each task's head and metric, above its target."""
    ds = data.load(name, seed=0)
    run = train.model_for(ds, hidden=hidden, activation="relu")
    assert run.loss == data.head_for(ds.task)[1]
    state, history = train.fit(run, ds, optim.adam(lr), epochs=epochs, batch_size=32)
    assert len(history) == epochs
    assert int(state.step) == epochs * (ds.x_train.shape[0] // 32)
    assert history[-1][metric] >= threshold, history[-1]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_manual_gradient_equals_autodiff_at_every_step_of_an_epoch():
    """float32: along one digits epoch, each step's manual grad == autodiff grad (1e-5)."""
    ds = data.load("digits")
    run = train.model_for(ds, hidden=(64, 32), batch_norm=True, dropout=0.1)
    optimizer = optim.adam(1e-3)
    state = train.init_state(
        run.model, optimizer, jax.random.key(0), (ds.num_features,)
    )
    manual = backprop.value_and_grad(run.model, run.loss)
    auto = backprop.autodiff_value_and_grad(run.model, run.loss)
    xb, yb = data.epoch_batches(jax.random.key(1), ds.x_train, ds.y_train, 64)

    @jax.jit
    def epoch(state, xb, yb):
        def body(state, batch):
            key, k = jax.random.split(state.key)
            args = (state.params, state.model_state, *batch)
            (_, model_state), g = manual(*args, key=k)
            (_, _), g_ad = auto(*args, key=k)
            sq = lambda t: sum(jnp.sum(jnp.square(a)) for a in jax.tree.leaves(t))
            diff = jax.tree.map(jnp.subtract, g, g_ad)
            rel = jnp.sqrt(sq(diff)) / jnp.maximum(jnp.sqrt(sq(g)), jnp.sqrt(sq(g_ad)))
            updates, opt_state = optimizer.update(g, state.opt_state, state.params)
            params = optim.apply_updates(state.params, updates)
            return train.TrainState(
                params, model_state, opt_state, state.step + 1, key
            ), rel

        return jax.lax.scan(body, state, (xb, yb))

    _, errors = epoch(state, xb, yb)
    assert errors.shape == (xb.shape[0],)
    assert np.all(np.asarray(errors) <= 1e-5), np.max(errors)


def test_manual_and_autodiff_training_agree_in_float64():
    """float64: one epoch from the same seed ends with parameters equal to rtol 1e-8."""
    ds = data.load("digits", dtype=jnp.float64)
    run = train.model_for(ds, hidden=(32,), activation="tanh")
    results = {
        backward: train.fit(
            run,
            ds,
            optim.sgd(0.05, momentum=0.9),
            epochs=1,
            batch_size=32,
            backward=backward,
            dtype=jnp.float64,
        )[0]
        for backward in train.BACKWARDS
    }
    leaves = [jax.tree.leaves(results[b].params) for b in train.BACKWARDS]
    assert leaves[0][0].dtype == jnp.float64
    for a, b in zip(*leaves, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=0)


@pytest.mark.parametrize(
    "adam_options", [{}, {"mu_dtype": "bfloat16", "nesterov": True}]
)
def test_resume_is_bit_identical(tmp_path, adam_options):
    """float32: 2 epochs + resume to 3 == 3 epochs straight, bit for bit (dropout
    and a cosine schedule over the 3 epochs too), and the history continues; also
    with NAdam keeping a bfloat16 first moment (scan carry and checkpoint keep it)."""
    ds = data.load("xor", n_samples=400)
    run = train.model_for(ds, hidden=(16,), dropout=0.2)
    steps = 3 * (ds.x_train.shape[0] // 32)
    opt = optim.adam(optim.cosine_decay_schedule(1e-2, steps), **adam_options)
    straight, straight_history = train.fit(run, ds, opt, epochs=3, batch_size=32)
    train.fit(run, ds, opt, epochs=2, batch_size=32, checkpoint_dir=tmp_path)
    assert checkpoint.all_steps(tmp_path) == [1, 2]
    resumed, history = train.fit(
        run, ds, opt, epochs=3, batch_size=32, checkpoint_dir=tmp_path, resume=True
    )
    assert [r["epoch"] for r in history] == [1, 2, 3]
    for ours, theirs in zip(history, straight_history, strict=True):
        assert {k: v for k, v in ours.items() if k != "seconds"} == {
            k: v for k, v in theirs.items() if k != "seconds"
        }
    mu_dtype = adam_options.get("mu_dtype", "float32")
    assert all(m.dtype == mu_dtype for m in jax.tree.leaves(resumed.opt_state[0].mu))
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed), strict=True):
        assert a.dtype == b.dtype
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(a, b)


def test_fit_refuses_bad_arguments_before_training(tmp_path, monkeypatch):
    """Each was found late or not at all: keep=0 and a checkpoint_dir that is a
    file (or below one) by the first save, one epoch in (that epoch lost); seed=1.5
    by jax, without naming seed; seed=True or -1 trained (data.load refuses them);
    place=3 after the shuffle; config=[1, 2] as "'list' object is not a mapping"."""
    ds = data.load("xor", n_samples=400)
    run = train.model_for(ds, hidden=(4,))
    monkeypatch.setattr(train, "make_epoch", lambda *a, **k: pytest.fail("trained"))
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    ckpt = tmp_path / "ckpt"
    fit = functools.partial(train.fit, run, ds, optim.sgd(0.1), epochs=1, batch_size=32)
    for kwargs, message in [
        *(
            (
                {"checkpoint_dir": ckpt, "keep": keep},
                f"keep must be a positive int; got keep={keep!r}",
            )
            for keep in (0, -1, 2.0, True)
        ),
        *(
            ({"seed": seed}, f"seed must be an int >= 0; got seed={seed!r}")
            for seed in (1.5, True, -1)
        ),
        # With x64 (this suite) jax.random.key takes an int64; without it, below.
        ({"seed": 2**63}, r"seed must be an int in \[0, 2\*\*63 - 1\]"),
        ({"config": [1, 2]}, r"config must be a dict or None; got config=\[1, 2\]"),
        ({"place": 3}, "place must be callable or None; got place=3"),
        (
            {"on_epoch": "print"},
            "on_epoch must be callable or None; got on_epoch='print'",
        ),
        (
            {"checkpoint_dir": a_file},
            f"checkpoint_dir must be a directory, .*got checkpoint_dir='{a_file}'",
        ),
        ({"checkpoint_dir": a_file / "sub"}, f"got checkpoint_dir='{a_file / 'sub'}'"),
    ]:
        with pytest.raises(ValueError, match=message):
            fit(**kwargs)
    assert sorted(tmp_path.iterdir()) == [a_file]
    with pytest.raises(ValueError, match=r"hidden must be a sequence .*got hidden=32"):
        train.model_for(ds, hidden=32)


def test_seeds_of_2_to_the_32_are_refused_without_x64(tmp_path):
    """Without x64 jax.random.key keeps a seed's low 32 bits (key(2**32) is key(0)):
    seed 2**32 trained seed 0's run, bit for bit. fit and jaxnn train (float32)
    refuse it; with --dtype float64 (x64) it is a seed of its own. A fresh process:
    this suite runs with x64."""
    script = f"""
import jax
from jaxnn import cli, data, optim, train
assert not jax.config.jax_enable_x64
ds = data.load("xor", n_samples=100)
try:
    train.fit(train.model_for(ds, hidden=(4,)), ds, optim.sgd(0.1), epochs=1,
              batch_size=8, seed=2**32)
except ValueError as e:
    print("fit:", e)
rc = cli.main(["train", "--data", "xor", "--seed", str(2**32 - 1), "--epochs", "1",
               "--out", {str(tmp_path)!r}])
print("cli rc", rc)
"""
    out = run_python(script, expect="cli rc 2")
    assert "fit: seed must be an int in [0, 2**32 - 1]" in out, out


def test_float16_gradient_norm_is_summed_in_float32():
    """A float16 step whose gradient norm is ~360 (finite loss, gradients and
    parameters) was flagged non-finite: the float16 sum of squares overflowed (max
    65504), so fit stopped with "gradient norm=inf — parameters still finite"."""
    ds = data.load("digits", seed=0, dtype=jnp.float16)
    run = train.model_for(ds, hidden=(32,))
    opt = optim.sgd(1e-4)
    state = train.init_state(run.model, opt, jax.random.key(0), (64,), jnp.float16)
    x, y = ds.x_train[:64] * 150, ds.y_train[:64]
    step = train.make_train_step(run.model, run.loss, opt)
    _, metrics = step(state, x, y)
    grads = backprop.value_and_grad(run.model, run.loss)(
        state.params, state.model_state, x, y, key=None
    )[1]
    norm = np.sqrt(
        sum(
            np.sum(np.square(np.asarray(g, np.float32))) for g in jax.tree.leaves(grads)
        )
    )
    assert 256 < norm < 1e4  # its square overflows float16
    assert bool(metrics.finite)
    np.testing.assert_allclose(float(metrics.grad_norm), norm, rtol=1e-3)


def test_resume_refuses_another_run_and_fresh_runs_keep_checkpoints(tmp_path):
    """Checkpoints are never mixed or overwritten across runs: a fresh run into a
    directory with checkpoints, a resume without one, from another run's or past
    ``epochs`` all raise, naming what differs; the checkpoints stay as they were."""
    ds = data.load("xor", n_samples=400)
    run = train.model_for(ds, hidden=(16,))
    opt = optim.sgd(0.1)
    fit = functools.partial(train.fit, run, ds, opt, checkpoint_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="holds no checkpoint"):
        fit(epochs=1, batch_size=32, resume=True)
    fit(epochs=2, batch_size=32, config={"lr": 0.1})
    saved = checkpoint._path_for(tmp_path / "a", 2).read_bytes()
    cases = [
        (
            dict(epochs=3, batch_size=32, config={"lr": 0.1}),
            "already holds checkpoints",
        ),
        (
            dict(epochs=3, batch_size=16, config={"lr": 0.1}, resume=True),
            "batch_size (checkpoint 32, now 16)",
        ),
        (
            dict(epochs=3, batch_size=32, config={"lr": 0.5}, resume=True),
            "lr (checkpoint 0.1, now 0.5)",
        ),
        (
            dict(epochs=1, batch_size=32, config={"lr": 0.1}, resume=True),
            "at epoch 2, beyond epochs=1",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            fit(**kwargs)
    assert checkpoint.all_steps(tmp_path / "a") == [1, 2]
    assert checkpoint._path_for(tmp_path / "a", 2).read_bytes() == saved
    _, history = fit(epochs=2, batch_size=32, config={"lr": 0.1}, resume=True)
    assert [r["epoch"] for r in history] == [1, 2]  # nothing left to train


def test_non_finite_guard_names_step_and_leaf_and_keeps_checkpoint(tmp_path):
    """float32: an absurd learning rate stops training, naming the step and the leaf."""
    ds = data.load("xor", n_samples=400)
    run = train.model_for(ds, hidden=(16,))
    train.fit(
        run, ds, optim.sgd(0.01), epochs=1, batch_size=32, checkpoint_dir=tmp_path
    )
    with pytest.raises(train.NonFiniteError, match=r"step \d+.*params\[\d\]") as info:
        train.fit(
            run,
            ds,
            optim.sgd(1e30),
            epochs=3,
            batch_size=32,
            checkpoint_dir=tmp_path,
            resume=True,
        )
    steps_per_epoch = ds.x_train.shape[0] // 32
    assert info.value.step > steps_per_epoch  # it failed during epoch 2
    assert info.value.leaf is not None
    assert checkpoint.all_steps(tmp_path) == [1]
    state, _ = checkpoint.restore(tmp_path, info.value.state)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state.params))
    # the state handed back is the last good one: finite
    assert all(
        bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(info.value.state.params)
    )


@pytest.mark.parametrize("bad", [None, 3])
def test_epoch_run_equals_its_steps_and_stops_before_a_bad_one(bad):
    """float64: ``run`` == its steps one by one with ``step_keys``; a NaN batch at
    step 3 returns the state after steps 0–2 (the replayed good steps) and
    ``first_bad == 3``."""
    ds = data.load("xor", n_samples=200, dtype=jnp.float64)
    run = train.model_for(ds, hidden=(8,), dropout=0.2)
    optimizer = optim.adam(1e-2)
    epoch = train.make_epoch(run.model, run.loss, optimizer, batch_size=16)
    state0 = train.init_state(
        run.model, optimizer, jax.random.key(0), (2,), jnp.float64
    )
    before, xb, yb = epoch.shuffle(state0, ds.x_train, ds.y_train)
    if bad is not None:
        xb = xb.at[bad, 0, 0].set(jnp.nan)
    state, metrics, first_bad = epoch.run(before, xb, yb)
    _, keys = epoch.step_keys(before.key, xb.shape[0])
    expected = before
    for i in range(xb.shape[0] if bad is None else bad):
        expected, _ = epoch.step(expected, xb[i], yb[i], keys[i])
    assert int(first_bad) == (-1 if bad is None else bad)
    assert int(state.step) == int(expected.step)
    assert bool(
        np.all(np.asarray(metrics.finite)[: xb.shape[0] if bad is None else bad])
    )
    for a, b in zip(
        jax.tree.leaves((state.params, state.opt_state)),
        jax.tree.leaves((expected.params, expected.opt_state)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("nan_row", [None, 50])
def test_epoch_equals_run_of_shuffle(nan_row):
    """float64 with dropout: the fused epoch (each step gathers its batch) gives,
    bit for bit, the state, metrics and ``first_bad`` of ``run(*shuffle(...))``,
    also when a NaN example stops the epoch."""
    ds = data.load("xor", n_samples=200, dtype=jnp.float64)
    x = ds.x_train if nan_row is None else ds.x_train.at[nan_row, 1].set(jnp.nan)
    run = train.model_for(ds, hidden=(8,), dropout=0.2)
    optimizer = optim.adam(1e-2)
    epoch = train.make_epoch(run.model, run.loss, optimizer, batch_size=16)
    state0 = train.init_state(
        run.model, optimizer, jax.random.key(0), (2,), jnp.float64
    )
    fused = epoch(state0, x, ds.y_train)
    parts = epoch.run(*epoch.shuffle(state0, x, ds.y_train))
    assert (int(fused[2]) >= 0) == (nan_row is not None)
    for a, b in zip(jax.tree.leaves(fused), jax.tree.leaves(parts), strict=True):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(a, b)


def _blows_up_at(step: int, inner):
    """``inner``, but its updates at optimizer step ``step`` are multiplied by inf."""

    def init(params):
        return inner.init(params), jnp.zeros([], jnp.int32)

    def update(grads, state, params=None):
        inner_state, count = state
        updates, inner_state = inner.update(grads, inner_state, params)
        scale = jnp.where(count == step, jnp.inf, 1.0)
        updates = jax.tree.map(lambda u: u * scale, updates)
        return updates, (inner_state, count + 1)

    return optim.GradientTransformation(init, update)


@pytest.mark.parametrize("bad", [3, "last"])
def test_epoch_run_finds_a_step_whose_parameters_alone_went_non_finite(bad):
    """The bad step's loss and gradient are finite but its update is inf. At step 3
    the scan's own checks flag only step 4 (its loss is NaN); at the last step they
    flag nothing, and only the parameter check after the scan sees it. Either way
    the replay puts ``first_bad`` at the bad step and returns the state before it."""
    ds = data.load("xor", n_samples=200, dtype=jnp.float64)
    num_steps = ds.x_train.shape[0] // 16
    bad = num_steps - 1 if bad == "last" else bad
    run = train.model_for(ds, hidden=(8,))
    optimizer = _blows_up_at(bad, optim.sgd(1e-2))
    epoch = train.make_epoch(run.model, run.loss, optimizer, batch_size=16)
    state0 = train.init_state(
        run.model, optimizer, jax.random.key(0), (2,), jnp.float64
    )
    before, xb, yb = epoch.shuffle(state0, ds.x_train, ds.y_train)
    state, metrics, first_bad = epoch.run(before, xb, yb)
    assert int(first_bad) == bad
    assert np.isfinite(np.asarray(metrics.loss)[bad])  # the step itself looked fine
    finite = np.asarray(metrics.finite)
    assert finite[:bad].all() and not finite[bad]
    _, keys = epoch.step_keys(before.key, num_steps)
    expected = before
    for i in range(bad):
        expected, _ = epoch.step(expected, xb[i], yb[i], keys[i])
    assert int(state.step) == bad
    for a, b in zip(
        jax.tree.leaves(state.params), jax.tree.leaves(expected.params), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_fit_rejects_bad_arguments():
    ds = data.load("xor", n_samples=100)
    run = train.model_for(ds, hidden=(4,))
    with pytest.raises(
        ValueError, match=r"batch_size must be an int in \[1, 80\].*batch_size=81"
    ):
        train.fit(run, ds, optim.sgd(0.1), epochs=1, batch_size=81)
    with pytest.raises(ValueError, match="epochs must be an int >= 0; got epochs=-1"):
        train.fit(run, ds, optim.sgd(0.1), epochs=-1, batch_size=8)
    with pytest.raises(
        ValueError, match=r"backward must be one of \('manual', 'autodiff'\)"
    ):
        train.make_train_step(run.model, run.loss, optim.sgd(0.1), backward="symbolic")


def test_epoch_refuses_x_and_y_of_different_lengths():
    """The epoch gathers with clipped indices: 160 inputs with 100 labels trained
    silently, the last label repeated. ``epoch``, ``shuffle`` and ``fit`` refuse it."""
    ds = data.load("xor", n_samples=200)
    run = train.model_for(ds, hidden=(4,))
    optimizer = optim.sgd(0.1)
    epoch = train.make_epoch(run.model, run.loss, optimizer, batch_size=16)
    state0 = train.init_state(run.model, optimizer, jax.random.key(0), (2,))
    message = re.escape("x.shape=(160, 2) and y.shape=(100, 1)")
    short = ds.y_train[:100]
    with pytest.raises(ValueError, match=message):
        epoch(state0, ds.x_train, short)
    with pytest.raises(ValueError, match=message):
        epoch.shuffle(state0, ds.x_train, short)
    with pytest.raises(ValueError, match=message):
        train.fit(run, ds._replace(y_train=short), optimizer, epochs=1, batch_size=16)


def test_make_epoch_cache_keeps_a_float_batch_size_apart():
    """``batch_size=16.0`` is refused when the epoch is traced; its cached epoch was
    handed back for a later ``batch_size=16`` (16.0 == 16), which then failed too."""
    ds = data.load("xor", n_samples=200)
    run = train.model_for(ds, hidden=(4,))
    optimizer = optim.sgd(0.1)
    state0 = train.init_state(run.model, optimizer, jax.random.key(0), (2,))
    bad = train.make_epoch(run.model, run.loss, optimizer, batch_size=16.0)
    with pytest.raises(ValueError, match=r"got batch_size=16\.0"):
        bad(state0, ds.x_train, ds.y_train)
    good = train.make_epoch(run.model, run.loss, optimizer, batch_size=16)
    assert int(good(state0, ds.x_train, ds.y_train)[0].step) == 10


@pytest.mark.parametrize(
    ("task", "logits_shape", "y_shape"),
    [
        ("binary", (6, 1), (6,)),
        ("multiclass", (6, 3), (6, 1)),
        ("multilabel", (6, 3), (6, 1)),
        ("regression", (6, 1), (6,)),
    ],
)
def test_metrics_for_refuses_labels_of_another_shape(task, logits_shape, y_shape):
    """Labels that broadcast against the logits gave a wrong metric (an (N, N)
    comparison) instead of an error."""
    logits = jnp.linspace(-1.0, 1.0, np.prod(logits_shape)).reshape(logits_shape)
    y = jnp.zeros(y_shape, jnp.int32 if task == "multiclass" else jnp.float32)
    with pytest.raises(
        ValueError, match=re.escape(f"for the {task} task with logits.shape=")
    ):
        train.metrics_for(task, logits, y)


PARALLEL_SCRIPT = textwrap.dedent(
    """
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    import numpy as np
    from jaxnn import data, optim, parallel, train

    assert len(jax.devices()) == 8
    ds = data.load("digits")
    ds = ds._replace(x_train=ds.x_train[:320], y_train=ds.y_train[:320])  # 5 steps
    run = train.model_for(ds, hidden=(32,), batch_norm=True)
    opt = optim.sgd(0.1, momentum=0.9)
    out = {}
    for backward in train.BACKWARDS:
        for n in (1, 8):
            mesh = parallel.mesh(n)
            state, _ = train.fit(run, ds, opt, epochs=1, batch_size=64,
                                 backward=backward, place=parallel.placer(mesh, 64))
            out[backward, n] = state.params
            sharding = jax.tree.leaves(state.params)[0].sharding
            assert sharding.mesh.devices.size == n, sharding
    for backward in train.BACKWARDS:
        for a, b in zip(jax.tree.leaves(out[backward, 1]), jax.tree.leaves(out[backward, 8])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    print("parallel ok")
    """
)


def test_data_parallel_on_8_devices_equals_one_device():
    """float32: 8 simulated CPU devices (subprocess) give the 1-device parameters.

    SGD with momentum over 5 steps: Adam's g/√v would magnify the float32 rounding
    differences of the cross-device sums on near-zero gradients into lr-sized steps.
    """
    run_python(PARALLEL_SCRIPT, expect="parallel ok")


def test_parallel_rejects_bad_device_counts():
    from jaxnn import parallel

    with pytest.raises(ValueError, match=r"num_devices must be an int in \[1, 1\]"):
        parallel.mesh(2)
    mesh = parallel.mesh(1)
    assert mesh.devices.size == 1
    parallel.placer(mesh, 7)  # any batch size divides over one device


# ### the command line ###############################################################


def test_cli_train_writes_metrics_and_plot_and_resumes(tmp_path, capsys):
    from jaxnn import cli

    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    common = [
        "train",
        "--data",
        "xor",
        "--hidden",
        "8",
        "--batch-size",
        "32",
        "--out",
        str(out),
        "--checkpoint-dir",
        str(ckpt),
        "--schedule",
        "warmup_cosine",
        "--clip",
        "1.0",
    ]
    assert cli.main([*common, "--epochs", "2"]) == 0
    # The warmup-cosine schedule spans --epochs: a longer resumed run would
    # change the first epochs' schedule, so it is refused, naming the lengths.
    assert cli.main([*common, "--epochs", "3", "--resume"]) == 2
    per_epoch = data.load("xor").x_train.shape[0] // 32
    assert f"schedule_steps (checkpoint {2 * per_epoch}, now {3 * per_epoch})" in (
        capsys.readouterr().err
    )
    # A fresh run would overwrite the checkpoints: refused too.
    assert cli.main([*common, "--epochs", "2"]) == 2
    assert "already holds checkpoints" in capsys.readouterr().err
    exponential = [*common[:-4], "--schedule", "exponential", "--clip", "1.0"]
    ckpt2 = str(tmp_path / "ckpt2")
    assert cli.main([*exponential, "--epochs", "2", "--checkpoint-dir", ckpt2]) == 0
    resume = [*exponential, "--epochs", "3", "--checkpoint-dir", ckpt2, "--resume"]
    assert cli.main(resume) == 0
    text = capsys.readouterr().out
    assert "gradient check on the first batch" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["history"]] == [1, 2, 3]
    assert metrics["config"]["data"] == "xor"
    assert 0.0 <= metrics["final"]["test_accuracy"] <= 1.0
    assert metrics["gradient_check_relative_error"] < 1e-5
    png = (out / "training.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert checkpoint.all_steps(ckpt) == [1, 2]
    assert checkpoint.all_steps(ckpt2) == [1, 2, 3]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--data", "mnist"], "invalid choice: 'mnist'"),
        (["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["--epochs", "-3"], "expected an int ≥ 0; got -3"),
        (["--hidden", "64,0"], "every hidden size must be a positive int; got '64,0'"),
        (["--batch-size", "5000"], "larger than the training set of digits"),
        (["--lr", "-1"], "expected a value > 0; got -1"),
        (["--optimizer", "adam", "--b1", "1.5"], "b1"),
        (["--hidden", "8,,4"], "expected comma-separated positive ints"),
        # Was reported by the library as "dropout must be ...", after --out was made.
        (
            ["--dropout", "1.0"],
            "argument --dropout: expected a rate in [0, 1); got 1.0",
        ),
        (["--out", __file__], f"--out {__file__} is a file; expected a directory"),
        (["--checkpoint-dir", __file__], "is a file; expected a directory"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(argv, reason, capsys, tmp_path):
    from jaxnn import cli

    assert cli.main(["train", "--out", str(tmp_path / "out"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err


def test_cli_entry_point_exit_code_and_no_traceback():
    """The installed console script exits 2 with one line for a bad data set."""
    exe = pathlib.Path(sys.executable).parent / "jaxnn"
    proc = subprocess.run(
        [str(exe), "train", "--data", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "invalid choice: 'nope'" in proc.stderr


def test_fit_refuses_bad_data_and_types_before_training(monkeypatch):
    """Found training on: inside the jitted epoch a label of -1 wrapped to the last
    class, binary labels {0, 2} trained, a NaN feature stopped the run with a
    NonFiniteError blaming the learning rate; dtype=float64 without x64 (below, in a
    fresh process) trained in float32 while the config said float64; an optimizer
    name, resume="no", a bfloat16 dtype beside float32 data failed late or wrongly;
    NumPy ints for batch_size and seed failed as "config must be JSON-serialisable"."""
    digits, binary = data.load("digits"), data.load("breast_cancer")
    reg = data.load("diabetes")
    fit = functools.partial(
        train.fit, optimizer=optim.sgd(0.1), epochs=1, batch_size=32
    )
    cases = [
        (
            digits,
            {"y_train": digits.y_train.at[:3].set(-1)},
            {},
            ValueError,
            r"dataset.y_train does not fit .*got labels\[0\]=-1 \(3 out of range\)",
        ),
        (
            digits,
            {"y_test": digits.y_test.at[5].set(10)},
            {},
            ValueError,
            r"dataset.y_test does not fit .*\[0, 10\).*labels\[5\]=10",
        ),
        (
            binary,
            {"y_train": binary.y_train.at[2, 0].set(2.0)},
            {},
            ValueError,
            r"dataset.y_train does not fit .*probabilities in \[0, 1\]",
        ),
        (
            digits,
            {"x_train": digits.x_train.at[3, 4].set(jnp.nan)},
            {},
            ValueError,
            r"dataset.x_train must be finite; got 1 NaN or inf entries, the first "
            r"dataset.x_train\[3, 4\]",
        ),
        (
            reg,
            {"y_test": reg.y_test.at[1, 0].set(jnp.inf)},
            {},
            ValueError,
            r"dataset.y_test must be finite",
        ),
        (
            digits,
            {},
            {"optimizer": "adam"},
            TypeError,
            "optimizer must be a GradientTransformation .*got optimizer='adam'",
        ),
        (
            digits,
            {},
            {"dtype": jnp.bfloat16},
            TypeError,
            "dataset.x_train must have the parameter dtype dtype=bfloat16; got "
            "dataset.x_train.dtype=float32",
        ),
        (digits, {}, {"dtype": "foo"}, TypeError, "dtype must be a floating dtype"),
        (digits, {}, {"dtype": jnp.int32}, TypeError, "got dtype=int32"),
        (digits, {}, {"resume": "no"}, ValueError, "resume must be a bool"),
    ]
    monkeypatch.setattr(train, "make_epoch", lambda *a, **k: pytest.fail("trained"))
    for ds, fields, kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            fit(train.model_for(ds, hidden=(4,)), ds._replace(**fields), **kwargs)
    monkeypatch.undo()
    _, history = fit(
        train.model_for(digits, hidden=(4,)),
        digits,
        batch_size=np.int64(32),
        seed=np.int64(1),
        checkpoint_dir=None,
    )
    assert len(history) == 1


def test_float64_without_x64_is_refused_by_fit_and_load():
    """Without x64 jax makes float32 arrays from a float64 request (a warning only):
    fit trained in float32 and recorded "float64" in the run config."""
    code = """
import jax.numpy as jnp
from jaxnn import data, optim, train
for call in (lambda: data.load("xor", n_samples=100, dtype=jnp.float64),
             lambda: train.fit(train.model_for(data.load("xor", n_samples=100)),
                               data.load("xor", n_samples=100), optim.sgd(0.1),
                               epochs=1, batch_size=8, dtype=jnp.float64)):
    try:
        call()
    except ValueError as err:
        print(err)
"""
    out = run_python(code, expect="dtype=float64 needs 64-bit mode")
    assert out.count("dtype=float64 needs 64-bit mode") == 2, out
