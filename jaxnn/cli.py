"""The ``jaxnn`` command: ``check`` (the differential self-test), ``train``, ``diagnose``.

Exit codes: 0 on success, 1 when a check fails, 2 on bad arguments (one-line reason).
"""

import argparse
import json
import math
import pathlib
import sys
import tempfile
from collections.abc import Sequence


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, exit 2
        raise UsageError(message)


def _in_the_way(path) -> tuple[pathlib.Path, str] | None:
    """What stops ``mkdir`` making ``path`` a directory: ``(p, "a file")`` or
    ``(p, "a broken symbolic link")`` for the first such ``p`` at ``path`` or above
    it; ``None`` when the nearest existing ancestor is a directory."""
    path = pathlib.Path(path)
    for p in (path, *path.parents):
        if p.is_symlink() and not p.exists():
            return p, "a broken symbolic link"
        if p.exists():
            return None if p.is_dir() else (p, "a file")
    return None


def _check_output_dir(flag: str, path: str) -> None:
    """Make ``path`` a directory (with its parents) and check that a file can be
    written in it, before any work: a UsageError naming ``flag`` otherwise (a file
    in the way, ``_in_the_way``; no permission, a read-only or pseudo filesystem)."""
    blocker = _in_the_way(path)
    if blocker is not None:
        p, kind = blocker
        where = "" if p == pathlib.Path(path) else f": {p}"
        raise UsageError(f"{flag} {path}{where} is {kind}; expected a directory")
    try:
        pathlib.Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot make the directory ({e})") from None
    _check_writable(flag, path, pathlib.Path(path))


def _check_writable(flag: str, path, directory: pathlib.Path) -> None:
    """A file can be created in ``directory`` (a probe, removed at once)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot write in {directory} ({e})") from None


def _finite_or_none(obj):
    """``obj`` with every non-finite float as ``None``: strict JSON has no NaN."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def _write_json(path: pathlib.Path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically (never a half-written file), as strict
    JSON: a NaN or infinite number (a failed check, a diverged run) is ``null``."""
    from jaxnn.checkpoint import _write_atomically

    text = json.dumps(_finite_or_none(payload), indent=2, allow_nan=False)
    _write_atomically(path, text.encode())


# ### check ##########################################################################


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.1e}"


# The result column of ``jaxnn check`` per ``Row.status``; a skipped row (optax not
# installed) counts as neither passed nor failed.
_RESULT = {
    "passed": "[green]pass[/green]",
    "failed": "[bold red]FAIL[/bold red]",
    "skipped": "[yellow]skipped[/yellow]",
}


def cmd_check(args) -> int:
    if args.json:  # before the run, not after it
        path = pathlib.Path(args.json)
        if path.is_dir():
            raise UsageError(f"--json {path} is a directory; expected a file")
        if not path.parent.is_dir():
            raise UsageError(f"--json {path}: {path.parent} is not a directory")
        _check_writable("--json", path, path.parent)
    import jax

    jax.config.update("jax_enable_x64", True)
    from rich.console import Console
    from rich.table import Table

    from jaxnn import _selfcheck

    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    console = Console()
    backend = jax.default_backend()
    device = jax.devices()[0].device_kind
    table = Table(
        title=f"jaxnn check — backend {backend} ({device}), jax {jax.__version__}"
    )
    for column in ("kind", "item", "dtype", "vs autodiff", "vs finite diff", "result"):
        table.add_column(column)
    rows = []
    for row in _selfcheck.run(dtypes, optimizers=not args.quick):
        rows.append(row)
        result = _RESULT[row.status]
        if row.note:
            result += f" ({row.note})"
        table.add_row(
            row.category,
            row.item,
            row.dtype,
            _fmt(row.vs_autodiff),
            _fmt(row.vs_fd),
            result,
        )
    console.print(table)
    counts = {s: sum(r.status == s for r in rows) for s in _RESULT}
    summary = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        summary += f", {counts['skipped']} skipped"
    console.print(summary)
    if args.json:
        payload = {
            "backend": backend,
            "device": device,
            "jax_version": jax.__version__,
            # "passed" is true only for a check that ran and passed; "skipped" and
            # "status" ("passed", "failed" or "skipped") tell a skip from a failure.
            "rows": [{**r._asdict(), "status": r.status} for r in rows],
        }
        _write_json(pathlib.Path(args.json), payload)
    return 1 if counts["failed"] else 0


# ### train ##########################################################################

SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup_cosine")
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")


def _number(kind, text):
    """``text`` as a ``kind`` (int or float); a float must be finite: ``inf`` (a
    ``--clip`` that clips nothing, an infinite ``--lr``) and ``nan`` are mistakes."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a {kind.__name__}; got {text!r}"
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number; got {text}")
    return value


def _finite_float(text):
    return _number(float, text)


def _positive(kind):
    def parse(text):
        value = _number(kind, text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a value > 0; got {text}")
        return value

    return parse


def _rate(text):
    value = _number(float, text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate in [0, 1); got {text}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int ≥ 0; got {text}")
    return value


def _path(text):
    """A file or directory name: not empty (``""`` would be the current directory
    to one part of the program and "not given" to another)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path; got ''")
    return text


def _seed(text):
    value = _non_negative_int(text)
    if value > 2**63 - 2:  # jax.random.key takes an int64; the check uses seed + 1
        raise argparse.ArgumentTypeError(f"expected an int ≤ 2**63 - 2; got {text}")
    return value


def _hidden_sizes(text):
    try:
        sizes = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive ints such as 128,64; got {text!r}"
        ) from None
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"every hidden size must be a positive int; got {text!r}"
        )
    return sizes


# Options that may change when a run is resumed; every other one fixes its trajectory.
RESUMABLE = ("epochs", "resume", "out", "checkpoint_dir", "devices")
# Schedules whose length is the whole run (--epochs × steps per epoch).
RUN_LONG_SCHEDULES = ("step", "cosine", "warmup_cosine")


def _run_steps(args, steps_per_epoch: int) -> int:
    """The run's length in steps, ``--epochs × steps per epoch`` (at least 1)."""
    return max(1, args.epochs * steps_per_epoch)


def _options(args) -> dict:
    """The parsed options as plain data: without the command's function and the
    record of which options were given (``_Given``)."""
    return {k: v for k, v in vars(args).items() if k not in ("func", "given")}


def _run_config(args, steps_per_epoch: int) -> dict:
    """What a resumed run must share with its checkpoint (``train.fit``'s config):
    every option but ``RESUMABLE``, and the length of a run-long schedule."""
    config = {k: v for k, v in _options(args).items() if k not in RESUMABLE}
    if args.schedule in RUN_LONG_SCHEDULES:
        config["schedule_steps"] = _run_steps(args, steps_per_epoch)
    return config


def _learning_rate(args, steps_per_epoch: int):
    from jaxnn import optim

    total = _run_steps(args, steps_per_epoch)
    if args.schedule == "constant":
        return args.lr
    if args.schedule == "step":  # halve three times over the run, at its quarters
        return optim.step_decay(args.lr, step_size=total / 4, factor=0.5)
    if args.schedule == "exponential":  # ×0.9 per epoch
        return optim.exponential_decay(
            args.lr, transition_steps=steps_per_epoch, decay_rate=0.9
        )
    if args.schedule == "cosine":
        return optim.cosine_decay_schedule(args.lr, decay_steps=total)
    warmup = min(steps_per_epoch, total // 2)
    return optim.warmup_cosine_decay_schedule(
        0.0, args.lr, warmup_steps=warmup, decay_steps=total, end_value=args.lr * 0.01
    )


# The optimizer settings and the optimizers that use them; any other ignores them.
OPTIMIZER_OPTIONS = {
    "momentum": ("sgd", "momentum"),
    "decay": ("rmsprop",),
    "b1": ("adam", "adamw"),
    "b2": ("adam", "adamw"),
    "eps": ("rmsprop", "adam", "adamw"),
    "weight_decay": ("adamw",),
}


# The other optimizer settings' defaults and symbols (``--momentum``'s help is longer).
_OPTIMIZER_SETTINGS = {
    "decay": (0.9, "β"),
    "b1": (0.9, "β₁"),
    "b2": (0.999, "β₂"),
    "eps": (1e-8, "ε"),
    "weight_decay": (1e-4, "λ"),
}


def _and(names) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if names[1:] else names)


class _Given(argparse.Action):
    """Store the value and record the option as given on the command line
    (``args.given``), so that a setting the chosen optimizer ignores can be named."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = (*getattr(namespace, "given", ()), self.dest)


def ignored_options(args) -> list[str]:
    """The optimizer options given on the command line that ``--optimizer`` ignores,
    each with the optimizers that use it (e.g. ``--momentum`` with adam)."""
    return [
        f"--{dest.replace('_', '-')} (used by {', '.join(OPTIMIZER_OPTIONS[dest])})"
        for dest in dict.fromkeys(getattr(args, "given", ()))
        if args.optimizer not in OPTIMIZER_OPTIONS[dest]
    ]


def _check_optimizer_options(args) -> None:
    """Check the options ``--optimizer`` uses, by their flags' names: the optimizers'
    own messages name their parameters (``beta`` for ``--momentum``)."""
    from jaxnn.optim import _validate

    check = {
        "momentum": _validate.unit_interval,
        "decay": _validate.unit_interval,
        "b1": _validate.unit_interval,
        "b2": _validate.unit_interval,
        "eps": _validate.non_negative,
        "weight_decay": _validate.non_negative,
    }
    for dest, users in OPTIMIZER_OPTIONS.items():
        if args.optimizer in users:
            check[dest](f"--{dest.replace('_', '-')}", getattr(args, dest))


def build_optimizer(args, steps_per_epoch: int):
    """The optimizer the options describe, with clipping and schedule."""
    from jaxnn import optim

    lr = _learning_rate(args, steps_per_epoch)
    if args.optimizer == "sgd":
        opt = optim.sgd(lr, momentum=args.momentum or None)
    elif args.optimizer == "momentum":
        opt = optim.momentum(lr, beta=args.momentum)
    elif args.optimizer == "rmsprop":
        opt = optim.rmsprop(lr, decay=args.decay, eps=args.eps)
    elif args.optimizer == "adam":
        opt = optim.adam(lr, b1=args.b1, b2=args.b2, eps=args.eps)
    else:
        opt = optim.adamw(
            lr, b1=args.b1, b2=args.b2, eps=args.eps, weight_decay=args.weight_decay
        )
    if args.clip is not None:
        opt = optim.chain(optim.clip_by_global_norm(args.clip), opt)
    return opt


def _metric_name(record: dict) -> str:
    for key in ("test_accuracy", "test_label_accuracy", "test_r2"):
        if key in record:
            return key
    return "test_loss"


def cmd_train(args) -> int:
    import time

    import jax

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from jaxnn import backprop, data, gradcheck, plots, train
    from jaxnn import parallel as par

    console = Console()
    for option in ignored_options(args):  # a warning: a sweep may pass them all
        print(
            f"jaxnn: warning: {option} does not apply to --optimizer "
            f"{args.optimizer}; ignored",
            file=sys.stderr,
        )
    _check_optimizer_options(args)
    # Reached without x64 only (with it, _seed's bound is lower); train.fit would
    # refuse the seed too, but by its own name. The gradient check uses seed + 1.
    if args.seed + 1 >= train.seed_limit():
        raise UsageError(
            f"--seed {args.seed}: a float32 run keeps 32 bits of the seed (jax "
            "without x64: 2**32 would be seed 0), so it must be ≤ 2**32 - 2 (the "
            "gradient check uses seed + 1); larger seeds need --dtype float64"
        )
    dtype = jnp.dtype(args.dtype)
    dataset = data.load(args.data, seed=args.seed, dtype=dtype)
    n_train = dataset.x_train.shape[0]
    if args.batch_size > n_train:
        raise UsageError(
            f"--batch-size {args.batch_size} is larger than the training set of "
            f"{args.data} ({n_train} examples)"
        )
    if args.resume and not args.checkpoint_dir:
        raise UsageError("--resume needs --checkpoint-dir")
    for flag, path in (("--out", args.out), ("--checkpoint-dir", args.checkpoint_dir)):
        if path:
            _check_output_dir(flag, path)
    place = None
    if args.devices is not None:
        if args.devices > len(jax.devices()):
            raise UsageError(
                f"--devices {args.devices}: jax sees only {len(jax.devices())} device(s)"
            )
        if args.batch_size % args.devices:
            raise UsageError(
                f"--batch-size {args.batch_size} must be divisible by --devices {args.devices}"
            )
        place = par.placer(par.mesh(args.devices), args.batch_size)
    run = train.model_for(
        dataset,
        hidden=args.hidden,
        activation=args.activation,
        initializer=args.init,
        batch_norm=args.batch_norm,
        residual=args.residual,
        dropout=args.dropout,
    )
    steps_per_epoch = n_train // args.batch_size
    optimizer = build_optimizer(args, steps_per_epoch)
    config = _options(args)
    console.print(
        f"[bold]jaxnn train[/bold] {args.data} ({dataset.task}, {n_train} train / "
        f"{dataset.x_test.shape[0]} test), hidden {args.hidden}, {args.optimizer} lr "
        f"{args.lr}, backward {args.backward}, backend {jax.default_backend()}"
    )

    # Verify the manual gradient against autodiff on the first batch before training.
    state0 = train.init_state(
        run.model, optimizer, jax.random.key(args.seed), (dataset.num_features,), dtype
    )
    xb, yb = dataset.x_train[: args.batch_size], dataset.y_train[: args.batch_size]
    key = jax.random.key(args.seed + 1)
    args_ = (state0.params, state0.model_state, xb, yb)
    manual = backprop.value_and_grad(run.model, run.loss)(*args_, key=key)[1]
    auto = backprop.autodiff_value_and_grad(run.model, run.loss)(*args_, key=key)[1]
    grad_error = gradcheck.relative_error(manual, auto)
    console.print(
        f"gradient check on the first batch: manual vs autodiff relative error {grad_error:.2e}"
    )

    progress = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs"),
        TimeElapsedColumn(),
        console=console,
    )
    t0 = time.perf_counter()
    with progress:
        task = progress.add_task("training", total=args.epochs)

        def on_epoch(record):
            metric = _metric_name(record)
            progress.update(
                task,
                completed=record["epoch"],
                description=f"epoch {record['epoch']}: loss {record['train_loss']:.4f}, "
                f"{metric} {record[metric]:.4f}",
            )

        try:
            state, history = train.fit(
                run,
                dataset,
                optimizer,
                epochs=args.epochs,
                batch_size=args.batch_size,
                backward=args.backward,
                seed=args.seed,
                dtype=dtype,
                checkpoint_dir=args.checkpoint_dir,
                resume=args.resume,
                config=_run_config(args, steps_per_epoch),
                place=place,
                on_epoch=on_epoch,
            )
        except train.NonFiniteError as e:
            console.print(f"[bold red]error:[/bold red] {e}")
            return 1
    seconds = time.perf_counter() - t0
    final = train.test_metrics(run, state, dataset)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # made before training; again if removed
    payload = {
        "config": config,
        "gradient_check_relative_error": grad_error,
        "history": history,
        "final": final,
        "train_seconds": seconds,
    }
    _write_json(out / "metrics.json", payload)
    outputs = [out / "metrics.json"]
    if history:  # nothing to draw after --epochs 0
        outputs.append(
            plots.training_curves(
                history,
                out / "training.png",
                title=f"{args.data}: {args.optimizer}, {args.backward}",
            )
        )

    table = Table(title="result")
    table.add_column("quantity")
    table.add_column("value")
    table.add_row("epochs", str(args.epochs))
    table.add_row("steps", str(int(state.step)))
    for key, value in final.items():
        if not isinstance(value, list):
            table.add_row(key, f"{value:.4f}")
    table.add_row("training time", f"{seconds:.1f} s")
    table.add_row("outputs", ", ".join(str(p) for p in outputs))
    console.print(table)
    return 0


# ### diagnose #######################################################################


def cmd_diagnose(args) -> int:
    from jaxnn import _study

    _check_output_dir("--out", args.out)
    return _study.command(quick=args.quick, out=args.out)


# ### entry point ####################################################################


def _data_names():
    from jaxnn import data

    return data.NAMES


def _activation_names():
    from jaxnn import activations

    return activations.NAMES


def _initializer_names():
    from jaxnn import initializers

    def needs_no_hyperparameter(name):  # the command line cannot pass one
        try:
            initializers.get(name)
        except TypeError:
            return False
        return True

    return tuple(filter(needs_no_hyperparameter, initializers.NAMES))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = sub.add_parser(
        "check", help="differential self-test of every backward rule"
    )
    check.add_argument(
        "--dtype",
        choices=("float32", "float64", "both"),
        default="both",
        help="the rows' dtype; float64 rows also compare with finite differences; "
        "default: %(default)s",
    )
    check.add_argument(
        "--json", type=_path, metavar="FILE", help="also write the rows as JSON"
    )
    check.add_argument(
        "--quick", action="store_true", help="skip the optimizer-vs-optax rows"
    )
    check.set_defaults(func=cmd_check)

    tr = sub.add_parser(
        "train",
        help="train an MLP on a bundled data set",
        description="Train an MLP on a bundled data set: a gradient check on the "
        "first batch, then one jitted call per epoch; OUT/metrics.json and "
        "OUT/training.png (after at least one epoch) at the end.",
    )
    tr.add_argument(
        "--data", default="digits", choices=_data_names(), help="default: %(default)s"
    )
    tr.add_argument(
        "--hidden",
        type=_hidden_sizes,
        default=(128, 64),
        help="hidden layer widths, comma-separated; default: 128,64",
    )
    tr.add_argument(
        "--activation",
        default="relu",
        choices=_activation_names(),
        help="of every hidden layer; default: %(default)s",
    )
    tr.add_argument(
        "--init",
        default=None,
        choices=_initializer_names(),
        help="default: He for ReLU-like, Xavier for sigmoid/tanh",
    )
    tr.add_argument(
        "--batch-norm", action="store_true", help="batch_norm after each hidden dense"
    )
    tr.add_argument(
        "--residual",
        action="store_true",
        help="y = block(x) + x around each hidden block after the first whose "
        "input has its width",
    )
    tr.add_argument(
        "--dropout",
        type=_rate,
        default=0.0,
        help="dropout rate after each hidden activation, in [0, 1); default: 0",
    )
    tr.add_argument(
        "--optimizer",
        default="adam",
        choices=OPTIMIZERS,
        help="default: %(default)s (adamw: decoupled weight decay)",
    )
    tr.add_argument(
        "--lr",
        type=_positive(float),
        default=1e-3,
        help="learning rate, the peak of a schedule; default: %(default)s",
    )
    tr.add_argument(
        "--momentum",
        type=_finite_float,
        default=0.9,
        action=_Given,
        help="β of sgd (heavy-ball momentum; 0 gives plain SGD) and of momentum "
        "(EMA of the gradients); default %(default)s, so --optimizer sgd has "
        "momentum %(default)s unless --momentum 0",
    )
    for dest, (default, symbol) in _OPTIMIZER_SETTINGS.items():
        users = OPTIMIZER_OPTIONS[dest]
        tr.add_argument(
            f"--{dest.replace('_', '-')}",
            type=_finite_float,
            default=default,
            action=_Given,
            help=f"{symbol} of {_and(users)}; default: %(default)s",
        )
    tr.add_argument(
        "--schedule",
        default="constant",
        choices=SCHEDULES,
        help="of the learning rate: step halves it three times over the run, "
        "exponential by 0.9 per epoch (continuously), cosine decays it to 0 over "
        "the run, warmup_cosine rises from 0 over the first epoch (at most half "
        "the run) and decays to lr/100; default: %(default)s",
    )
    tr.add_argument(
        "--clip",
        type=_positive(float),
        default=None,
        help="clip the gradients' global norm to this value; default: no clipping",
    )
    tr.add_argument(
        "--epochs",
        type=_non_negative_int,
        default=20,
        help="epochs to train; with --resume the total, counting the checkpoint's; "
        "default: %(default)s",
    )
    tr.add_argument(
        "--batch-size",
        type=_positive(int),
        default=64,
        help="examples per step; an epoch drops the last partial batch; "
        "default: %(default)s",
    )
    tr.add_argument(
        "--backward",
        default="manual",
        choices=("manual", "autodiff"),
        help="hand-written backprop or jax.grad; default: %(default)s",
    )
    tr.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seeds the data split, initialisation, shuffles and dropout; "
        "default: %(default)s",
    )
    tr.add_argument(
        "--devices",
        type=_positive(int),
        default=None,
        help="data-parallel over this many devices (the batch size must divide "
        "by it); default: one device, no mesh",
    )
    tr.add_argument(
        "--checkpoint-dir",
        type=_path,
        default=None,
        help="save a checkpoint after every epoch here (the newest 3 kept); "
        "default: none",
    )
    tr.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in --checkpoint-dir; every option "
        "but --epochs, --out and --devices must be those of the run that wrote it "
        "(--epochs too with --schedule step, cosine or warmup_cosine, whose length "
        "it sets)",
    )
    tr.add_argument(
        "--out",
        type=_path,
        default="runs/train",
        help="directory for metrics.json and training.png; default: %(default)s",
    )
    tr.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="of the data, parameters and training; default: %(default)s",
    )
    tr.set_defaults(func=cmd_train, given=())

    dg = sub.add_parser(
        "diagnose",
        help="vanishing/exploding-gradient study: Markdown report and PNG figures",
    )
    dg.add_argument("--quick", action="store_true", help="a small grid (seconds)")
    dg.add_argument(
        "--out",
        type=_path,
        default="runs/diagnose",
        help="output directory; default: %(default)s",
    )
    dg.set_defaults(func=cmd_diagnose)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (UsageError, ValueError, TypeError) as e:
        print(f"jaxnn: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
