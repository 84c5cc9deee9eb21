"""`jaxnn train|diagnose` option parsing: help text, non-finite numbers, empty paths.

None of these runs a training: bad values stop at argument parsing (exit 2).
"""

import pytest

from jaxnn import cli


def _commands():
    """The subcommands' parsers by name."""
    return cli.build_parser()._subparsers._group_actions[0].choices


def _train_parser():
    return _commands()["train"]


def test_momentum_help_states_its_default_and_what_it_means_for_sgd(
    monkeypatch, capsys
):
    """The help said only "β of sgd/momentum": not that ``--optimizer sgd`` gets the
    shared default 0.9, nor that 0 gives plain SGD."""
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "default 0.9" in text, text
    assert "so --optimizer sgd has momentum 0.9 unless --momentum 0" in text, text
    assert "0 gives plain SGD" in text, text


def test_sgd_momentum_behaviour_is_unchanged():
    """sgd uses --momentum (default 0.9) as heavy-ball momentum; 0 is plain SGD."""
    import jax.numpy as jnp

    from jaxnn import optim

    def run(tx):
        params = {"w": jnp.array([1.0, -2.0])}
        state = tx.init(params)
        for g in ([1.0, 1.0], [0.5, -1.0], [2.0, 0.0]):
            updates, state = tx.update({"w": jnp.array(g)}, state, params)
            params = optim.apply_updates(params, updates)
        return params["w"]

    parser = cli.build_parser()
    for argv, expected in [
        ([], optim.sgd(0.1, momentum=0.9)),
        (["--momentum", "0.5"], optim.sgd(0.1, momentum=0.5)),
        (["--momentum", "0"], optim.sgd(0.1)),
    ]:
        args = parser.parse_args(["train", "--optimizer", "sgd", "--lr", "0.1", *argv])
        assert (args.momentum == 0.9) == (argv == [])
        got = run(cli.build_optimizer(args, steps_per_epoch=10))
        assert jnp.array_equal(got, run(expected)), (argv, got)
    assert not jnp.array_equal(run(optim.sgd(0.1, momentum=0.9)), run(optim.sgd(0.1)))


FLOAT_OPTIONS = (
    "--clip",
    "--lr",
    "--momentum",
    "--decay",
    "--b1",
    "--b2",
    "--eps",
    "--weight-decay",
    "--dropout",
)


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
@pytest.mark.parametrize("flag", FLOAT_OPTIONS)
def test_train_non_finite_float_options_exit_2_naming_option_and_value(
    monkeypatch, tmp_path, flag, value, capsys
):
    """``--clip inf`` clipped nothing and ``--lr inf`` passed the parser; a NaN or
    infinite optimizer setting was only caught (if that optimizer was chosen) after
    the data was loaded, under its Python name. All stop at parsing now."""
    from jaxnn import data, train

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("data was loaded"))
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("fit was called"))
    argv = ["train", "--data", "xor", "--out", str(tmp_path), f"{flag}={value}"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: expected a finite number; got {value}" in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_finite_values_still_parse_and_old_messages_are_kept(capsys):
    parser = _train_parser()
    args = parser.parse_args(
        ["--clip", "1e300", "--lr", "0.5", "--momentum", "0", "--weight-decay", "0"]
    )
    assert (args.clip, args.lr, args.momentum, args.weight_decay) == (1e300, 0.5, 0, 0)
    assert parser.parse_args([]).clip is None
    for argv, reason in [
        (["--lr", "-1"], "argument --lr: expected a value > 0; got -1"),
        (["--clip", "0"], "argument --clip: expected a value > 0; got 0"),
        (["--clip", "x"], "argument --clip: expected a float; got 'x'"),
        (["--b1", "x"], "argument --b1: expected a float; got 'x'"),
        (["--batch-size", "inf"], "argument --batch-size: expected a int; got 'inf'"),
    ]:
        assert cli.main(["train", *argv]) == 2
        assert reason in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "flag"),
    [("train", "--out"), ("train", "--checkpoint-dir"), ("diagnose", "--out")],
)
def test_empty_output_paths_exit_2_naming_the_option(
    monkeypatch, tmp_path, command, flag, capsys
):
    """``--out ''`` was taken as the current directory: ``train`` wrote metrics.json
    and training.png there, ``diagnose`` its report and figures."""
    from jaxnn import _study, train

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("fit was called"))
    monkeypatch.setattr(_study, "command", lambda **k: pytest.fail("study was run"))
    argv = [command, flag, ""]
    if command == "train":
        argv += ["--data", "xor", "--hidden", "4", "--epochs", "0"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: expected a path; got ''" in err, err
    assert len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_optimizer_options_the_chosen_optimizer_ignores_are_named(monkeypatch, capsys):
    """``--optimizer adam --momentum 0.5`` trained adam as if --momentum were absent,
    without a word. Such options are now named in a warning (not an error: a sweep
    over optimizers may pass every setting), and the resume config is unchanged."""
    from jaxnn import data

    parser = cli.build_parser()

    def parse(*argv):
        return parser.parse_args(["train", *argv])

    args = parse("--optimizer", "adam", "--momentum", "0.5", "--b1", "0.8")
    assert cli.ignored_options(args) == ["--momentum (used by sgd, momentum)"]
    args = parse(
        "--optimizer", "rmsprop", "--b1", "0.8", "--weight-decay", "0", "--eps", "1e-7"
    )
    assert cli.ignored_options(args) == [
        "--b1 (used by adam, adamw)",
        "--weight-decay (used by adamw)",
    ]
    assert cli.ignored_options(parse("--optimizer", "sgd", "--momentum", "0")) == []
    assert cli.ignored_options(parse()) == []  # defaults are never "given"
    # The run config (what a resume must match) is what it was: no record of "given".
    given = cli._run_config(parse("--optimizer", "adam", "--b2", "0.99"), 10)
    assert "given" not in given and given["b2"] == 0.99
    assert given.keys() == cli._run_config(parse(), 10).keys()

    def stop(*a, **k):
        raise ValueError("stopped before loading data")

    monkeypatch.setattr(data, "load", stop)
    assert cli.main(["train", "--optimizer", "adam", "--momentum", "0.5"]) == 2
    err = capsys.readouterr().err
    assert (
        "jaxnn: warning: --momentum (used by sgd, momentum) does not apply to "
        "--optimizer adam; ignored" in err
    ), err
    assert cli.main(["train", "--optimizer", "momentum", "--momentum", "0.5"]) == 2
    assert "warning" not in capsys.readouterr().err


def test_the_table_of_optimizer_options_matches_what_build_optimizer_uses():
    """``OPTIMIZER_OPTIONS`` (which warnings name) must say exactly which settings
    each optimizer's update depends on: change each setting and step every optimizer."""
    import jax.numpy as jnp

    parser = cli.build_parser()
    changed = {"momentum": "0.5", "decay": "0.5", "b1": "0.5", "b2": "0.5",
               "eps": "0.5", "weight_decay": "0.5"}  # fmt: skip
    assert changed.keys() == cli.OPTIMIZER_OPTIONS.keys()

    def step(*argv):
        args = parser.parse_args(["train", "--lr", "0.1", *argv])
        tx = cli.build_optimizer(args, steps_per_epoch=10)
        params = {"w": jnp.array([1.0, -2.0, 0.5])}
        state = tx.init(params)
        for g in ([1.0, 1.0, -1.0], [0.5, -1.0, 2.0]):
            updates, state = tx.update({"w": jnp.array(g)}, state, params)
        return updates["w"]

    for optimizer in cli.OPTIMIZERS:
        base = step("--optimizer", optimizer)
        for dest, value in changed.items():
            flag = f"--{dest.replace('_', '-')}"
            moved = not jnp.array_equal(
                base, step("--optimizer", optimizer, flag, value)
            )
            assert moved == (optimizer in cli.OPTIMIZER_OPTIONS[dest]), (
                optimizer,
                flag,
            )


def test_every_option_has_help_and_train_options_state_their_defaults():
    """``jaxnn CMD --help`` is the reference for its options: each says what it
    does, and each with a default names it (the flags default to off)."""
    for name, sub in _commands().items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            assert action.help, (name, action.option_strings)
            if action.default not in (False, None):
                assert "default" in action.help, action.option_strings


@pytest.mark.parametrize(
    "schedule, epochs, expected",
    [
        # step: halved three times over the run (80 steps: at 20, 40 and 60).
        ("step", 8, {0: 1.0, 19: 1.0, 20: 0.5, 40: 0.25, 60: 0.125, 79: 0.125}),
        # exponential: × 0.9 per epoch of 10 steps, continuously.
        ("exponential", 8, {0: 1.0, 5: 0.9**0.5, 10: 0.9, 30: 0.9**3}),
        # cosine: from lr to 0 over the run.
        ("cosine", 8, {0: 1.0, 40: 0.5, 80: 0.0}),
        # warmup_cosine: 0 → lr over the first epoch, then down to lr/100.
        ("warmup_cosine", 8, {0: 0.0, 5: 0.5, 10: 1.0, 80: 0.01}),
        # ... warming up over at most half the run (10 steps: 5).
        ("warmup_cosine", 1, {0: 0.0, 5: 1.0, 10: 0.01}),
        ("constant", 8, {0: 1.0, 80: 1.0}),
    ],
)
def test_schedules_do_what_the_help_says(schedule, epochs, expected):
    args = cli.build_parser().parse_args(
        ["train", "--lr", "1", "--schedule", schedule, "--epochs", str(epochs)]
    )
    lr = cli._learning_rate(args, steps_per_epoch=10)
    for step, value in expected.items():
        got = lr if isinstance(lr, float) else float(lr(step))
        assert got == pytest.approx(value, rel=1e-6, abs=1e-7), (schedule, step)


@pytest.mark.parametrize("total", [22, 7, 5, 81])
def test_step_schedule_halves_exactly_three_times_whatever_the_run_length(total):
    """With ``total // 4`` steps between halvings, a run of 22 steps (one digits
    epoch at batch 64) was halved four times and one of 7 six times."""
    args = cli.build_parser().parse_args(
        ["train", "--lr", "1", "--schedule", "step", "--epochs", "1"]
    )
    lr = cli._learning_rate(args, steps_per_epoch=total)
    values = [float(lr(step)) for step in range(total)]
    assert sorted(set(values), reverse=True) == [1.0, 0.5, 0.25, 0.125]
    assert values == sorted(values, reverse=True)
    # each quarter of the run (to the step) at its own rate
    assert values[-1] == 0.125 and values[(total + 3) // 4 - 1] == 1.0


@pytest.mark.parametrize(
    "optimizer, flag, value, expected",
    [
        ("sgd", "--momentum", "1.5", "a number in [0, 1)"),
        ("momentum", "--momentum", "-0.5", "a number in [0, 1)"),
        ("rmsprop", "--decay", "2", "a number in [0, 1)"),
        ("adam", "--b1", "1", "a number in [0, 1)"),
        ("adamw", "--b2", "-0.1", "a number in [0, 1)"),
        ("rmsprop", "--eps", "-1", "a finite number >= 0"),
        ("adamw", "--weight-decay", "-1", "a finite number >= 0"),
    ],
)
def test_out_of_range_optimizer_options_exit_2_naming_the_flag(
    monkeypatch, tmp_path, capsys, optimizer, flag, value, expected
):
    """``--optimizer momentum --momentum -0.5`` was refused as "beta must be ...",
    the optimizer's parameter, which the command line does not have."""
    from jaxnn import data

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("data was loaded"))
    argv = ["train", "--optimizer", optimizer, flag, value, "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"jaxnn: error: {flag} must be {expected}; got {flag}=" in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
