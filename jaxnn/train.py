"""Training: a jitted step, a whole epoch as one ``lax.scan``, evaluation and ``fit``.

Every step is ``grads = backward(...)`` (hand-written or autodiff), then the optimizer's
``update`` and ``apply_updates``. An epoch shuffles the training set with the state's
key and scans the step over its mini-batches inside one jitted call, so Python
dispatches once per epoch, not once per batch. A step whose loss, gradient norm or
new parameters are non-finite is not applied: the epoch returns the last good state,
and ``fit`` stops with ``NonFiniteError`` naming the step and the first parameter leaf
that went non-finite.
"""

import functools
import json
import pathlib
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn import backprop, checkpoint, data, diagnostics, losses
from jaxnn import optim as _optim
from jaxnn._tree import at_least_float32, tree_cast
from jaxnn._typing import Array, OptState, Params, PRNGKey, State
from jaxnn.layers import Layer, _flag, _is_int, _non_negative_int, _positive_int
from jaxnn.optim._base import check_transformation

BACKWARDS = ("manual", "autodiff")


class TrainState(NamedTuple):
    """Everything a run needs to continue: a checkpoint saves exactly this."""

    params: Params
    model_state: State
    opt_state: OptState
    step: Array  # int32 count of applied steps
    key: PRNGKey  # advanced every step (dropout) and every epoch (shuffle)


class StepMetrics(NamedTuple):
    loss: Array
    grad_norm: Array
    finite: Array  # loss, gradient norm and new parameters all finite


class NonFiniteError(FloatingPointError):
    """Raised by ``fit`` when a step produced a NaN/Inf; the state before it is kept."""

    def __init__(self, message: str, step: int, leaf: str | None, state: TrainState):
        super().__init__(message)
        self.step, self.leaf, self.state = step, leaf, state


def _value_and_grad(model: Layer, loss, backward: str):
    if backward == "manual":
        return backprop.value_and_grad(model, loss)
    if backward == "autodiff":
        return backprop.autodiff_value_and_grad(model, loss)
    raise ValueError(f"backward must be one of {BACKWARDS}; got backward={backward!r}.")


def init_state(
    model: Layer,
    optimizer,
    key: PRNGKey,
    input_shape: tuple[int, ...],
    dtype=jnp.float32,
) -> TrainState:
    """Initialise parameters (cast to ``dtype``), model state and optimizer state."""
    k_init, k_train = jax.random.split(key)
    _, params, model_state = model.init(k_init, tuple(input_shape))
    params, model_state = tree_cast(params, dtype), tree_cast(model_state, dtype)
    return TrainState(
        params, model_state, optimizer.init(params), jnp.zeros([], jnp.int32), k_train
    )


def _finite_and_norm(value, grads) -> tuple[Array, Array]:
    """``(finite, ‖g‖)``: are the loss and ``‖g‖`` finite?

    The gradients are raveled into one vector first, so the norm is one reduction
    whatever the number of leaves (a reduction per leaf costs a kernel each), in at
    least float32. A gradient whose squared norm overflows that counts as
    non-finite, as its reported norm is then ``inf``.
    """
    # At least float32: a float16 sum of squares overflows from a norm of 256.
    flat_g = at_least_float32(ravel_pytree(grads)[0])
    sq_norm = jnp.sum(flat_g * flat_g)
    return jnp.isfinite(value) & jnp.isfinite(sq_norm), jnp.sqrt(sq_norm)


def _all_finite(tree) -> Array:
    """Is every leaf of ``tree`` finite? One ``all(isfinite)`` per leaf: for a
    check made once per epoch, cheaper on CPU than raveling the tree first."""
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
    return functools.reduce(jnp.logical_and, leaves, jnp.bool_(True))


def _keyed_step(
    model: Layer, loss, optimizer, backward: str, *, check_params: bool = True
) -> Callable:
    """``step(state, x, y, key) -> (new_state, StepMetrics)``, not jitted.

    ``key`` is the step's dropout key; ``state.key`` is left as it is, so that an
    epoch can draw all its step keys at once (one PRNG call, not one per step).
    ``StepMetrics.finite`` covers the loss, the gradient norm and, with
    ``check_params``, the new parameters.
    """
    value_and_grad = _value_and_grad(model, loss, backward)

    def step(state: TrainState, x, y, key):
        (value, model_state), grads = value_and_grad(
            state.params, state.model_state, x, y, train=True, key=key
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = _optim.apply_updates(state.params, updates)
        finite, grad_norm = _finite_and_norm(value, grads)
        if check_params:
            finite &= _all_finite(params)
        new = state._replace(
            params=params,
            model_state=model_state,
            opt_state=opt_state,
            step=state.step + 1,
        )
        return new, StepMetrics(value, grad_norm, finite)

    return step


def make_train_step(
    model: Layer, loss, optimizer, *, backward: str = "manual"
) -> Callable:
    """A jitted ``train_step(state, x, y) -> (new_state, StepMetrics)``.

    The step's dropout key is split from ``state.key``, which advances.

    Args:
      model: the network (a ``Layer``) producing what ``loss`` takes (logits).
      loss: a ``jaxnn.losses.Loss`` or its name.
      optimizer: a ``GradientTransformation`` (jaxnn.optim or optax).
      backward: ``"manual"`` (hand-written rules) or ``"autodiff"`` (``jax.grad``).
    """
    step = _keyed_step(model, loss, optimizer, backward)

    def train_step(state: TrainState, x, y):
        key, k_step = jax.random.split(state.key)
        new, metrics = step(state, x, y, k_step)
        return new._replace(key=key), metrics

    return jax.jit(train_step)


def _epoch_indices(key, n: int, batch_size: int):
    """``(next_key, idx)``: the epoch's batches of example indices from ``key``."""
    key, k_perm = jax.random.split(key)
    return key, data.epoch_indices(k_perm, n, batch_size)


@functools.partial(jax.jit, static_argnums=3)  # shared by every model: one compile
def _shuffle(key, x, y, batch_size: int):
    key, idx = _epoch_indices(key, x.shape[0], batch_size)
    return key, data.take_batch(x, idx), data.take_batch(y, idx)


@functools.partial(jax.jit, static_argnums=1)
def step_keys(key: PRNGKey, num_steps: int) -> tuple[PRNGKey, PRNGKey]:
    """``(next_key, keys)``: an epoch's ``num_steps`` dropout keys from ``key``.

    One ``split`` for the whole epoch: on CPU each threefry call is a small loop of
    its own, which per step would cost as much as the optimizer update.
    """
    keys = jax.random.split(key, num_steps + 1)
    return keys[0], keys[1:]


# Same model, loss and optimizer: no recompilation. ``typed``: ``batch_size=16.0``
# (refused when the epoch is traced) must not share an entry with ``16``.
@functools.lru_cache(maxsize=32, typed=True)
def make_epoch(
    model: Layer, loss, optimizer, *, batch_size: int, backward: str = "manual"
):
    """Build ``epoch(state, x, y) -> (state, StepMetrics per step, first_bad)``.

    The epoch is one jitted call: a shuffle of the examples into ``num_batches``
    batches of ``batch_size`` (``data.epoch_indices``, with a key split from
    ``state.key``), then a ``lax.scan`` of the train step over them, each step
    gathering its batch and with its own dropout key from ``step_keys``. ``first_bad``
    is the index of the first step whose loss, gradient norm or new parameters were
    non-finite (−1 if none). The scan itself has no guard, so a good epoch pays
    nothing for it, and its steps check only their loss and gradient norm; the
    parameters are checked once, after the scan. That is as strong as checking them
    after every step: they change only by ``p ← p + u``, and a non-finite ``p``
    gives a non-finite ``p + u`` (IEEE arithmetic). When a check failed, the steps
    are replayed (a ``while_loop`` that a good epoch enters zero times), each fully
    checked, up to the first bad one, and the state just before it is returned; that
    step's ``finite`` is then False even if only its parameters were bad. The
    metrics of the steps after ``first_bad`` describe a diverged run.

    The returned function has ``.shuffle`` and ``.run`` (the two halves, jitted
    apart, for callers that place the batches themselves: ``jaxnn.parallel``;
    ``run(*shuffle(state, x, y))`` equals ``epoch(state, x, y)`` bit for bit),
    ``.step`` (jitted ``step(state, x, y, key)``) and ``.step_keys``, to diagnose a
    bad step.
    """
    step = _keyed_step(model, loss, optimizer, backward)
    scan_step = _keyed_step(model, loss, optimizer, backward, check_params=False)

    def shuffle(state: TrainState, x, y):
        data._check_examples(x, y)
        key, xb, yb = _shuffle(state.key, x, y, batch_size)
        return state._replace(key=key), xb, yb

    def scan(state: TrainState, entries, batch: Callable, num_steps: int):
        """The steps over ``entries`` (one per step, on axis 0); ``batch(entry)``
        is that step's ``(x, y)``."""
        key, keys = step_keys(state.key, num_steps)
        start = state._replace(key=key)

        def scan_body(s, entry_and_key):
            entry, k = entry_and_key
            return scan_step(s, *batch(entry), k)

        final, metrics = jax.lax.scan(scan_body, start, (entries, keys))

        # The rare path, a bad epoch: the steps again from ``start``, each fully
        # checked, up to the first bad one. A loop that a good epoch enters zero
        # times; a ``lax.cond`` instead costs a good epoch ~6 % (copies of the state).
        good = jnp.all(metrics.finite) & _all_finite(final.params)

        def select(c, a, b):
            return jax.tree.map(functools.partial(jnp.where, c), a, b)

        def more(carry):
            i, _, found = carry
            return ~found & (i < num_steps)

        def replay(carry):
            i, s, _ = carry
            s = select(i == 0, start, s)
            entry = jax.tree.map(lambda a: a[i], entries)
            new, m = step(s, *batch(entry), keys[i])
            return i + m.finite, select(m.finite, new, s), ~m.finite

        first = jnp.where(good, num_steps, 0)
        i, state, found = jax.lax.while_loop(more, replay, (first, final, False))
        first_bad = jnp.where(found, i, -1).astype(jnp.int32)
        finite = metrics.finite & (jnp.arange(num_steps) != first_bad)
        return state, metrics._replace(finite=finite), first_bad

    def run(state: TrainState, xb, yb):
        return scan(state, (xb, yb), lambda batch: batch, xb.shape[0])

    @jax.jit
    def epoch(state: TrainState, x, y):
        # One dispatch; each step gathers its own batch, which on CPU is cheaper
        # than gathering the whole shuffled epoch first. The batches are those of
        # ``shuffle``.
        data._check_examples(x, y)  # at trace time: shapes are static
        key, idx = _epoch_indices(state.key, x.shape[0], batch_size)

        def batch(i):
            return data.take_batch(x, i), data.take_batch(y, i)

        return scan(state._replace(key=key), idx, batch, idx.shape[0])

    epoch.shuffle, epoch.run, epoch.step = shuffle, jax.jit(run), jax.jit(step)
    epoch.step_keys = step_keys
    return epoch


# ### evaluation #####################################################################


@functools.lru_cache(maxsize=64)
def _jitted_predict(model: Layer) -> Callable:
    return jax.jit(
        lambda params, model_state, x: model.forward(params, model_state, x)[0]
    )


def predict(model: Layer, params, model_state, x) -> Array:
    """The model's output (logits) in evaluation mode (jitted once per model)."""
    return _jitted_predict(model)(params, model_state, x)


def metrics_for(task: str, logits: Array, y: Array) -> dict[str, Any]:
    """The metric that fits the task: accuracy, per-label accuracy or R².

    ``binary``: accuracy of ``logit > 0``; ``multiclass``: accuracy of the argmax;
    ``multilabel``: accuracy of each label and their mean; ``regression``:
    ``R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²`` (sums over examples and outputs, ``ȳ`` per
    output), undefined for constant targets: ``-inf``, or NaN if also ``ŷ = y``
    (scikit-learn's ``r2_score`` reports 0.0 and 1.0 there by convention). ``y`` has
    the shape of ``logits``, without its class axis for ``multiclass``.

    Raises:
      ValueError: an unknown task, or ``y`` of another shape (which would broadcast
        against ``logits`` into a wrong metric).
    """
    if task not in data.HEADS:
        raise ValueError(f"unknown task {task!r}; expected one of {tuple(data.HEADS)}.")
    expected = logits.shape[:-1] if task == "multiclass" else logits.shape
    if y.shape != expected:
        raise ValueError(
            f"y must have shape {tuple(expected)} for the {task} task with "
            f"logits.shape={tuple(logits.shape)}; got y.shape={tuple(y.shape)}."
        )
    if task == "multiclass":
        return {"accuracy": float(jnp.mean(jnp.argmax(logits, -1) == y))}
    if task == "binary":
        return {"accuracy": float(jnp.mean((logits > 0) == (y > 0.5)))}
    if task == "multilabel":
        per_label = jnp.mean((logits > 0) == (y > 0.5), axis=0)
        return {
            "label_accuracy": float(jnp.mean(per_label)),
            "per_label_accuracy": [float(a) for a in per_label],
        }
    ss_res = jnp.sum((y - logits) ** 2)
    ss_tot = jnp.sum((y - jnp.mean(y, axis=0)) ** 2)
    return {"r2": float(1 - ss_res / ss_tot)}


def evaluate(
    model: Layer, loss, task: str, params, model_state, x, y
) -> dict[str, Any]:
    """Loss and task metric of the model (evaluation mode) on ``(x, y)``."""
    loss = backprop._loss(loss)
    logits = predict(model, params, model_state, x)
    return {"loss": float(loss.forward(logits, y)), **metrics_for(task, logits, y)}


def test_metrics(
    run: "Run", state: TrainState, dataset: data.Dataset
) -> dict[str, Any]:
    """``evaluate`` on the test split, keys prefixed ``test_`` (``test_loss``, ...)."""
    metrics = evaluate(
        run.model,
        run.loss,
        run.task,
        state.params,
        state.model_state,
        dataset.x_test,
        dataset.y_test,
    )
    return {f"test_{k}": v for k, v in metrics.items()}


# ### fit ###########################################################################


class Run(NamedTuple):
    """A model with its head chosen from the data set's task (the module's table)."""

    model: Layer
    loss: str
    task: str


def model_for(dataset: data.Dataset, hidden=(128, 64), **mlp_kwargs) -> Run:
    """An ``mlp`` whose output width, output head and loss fit ``dataset``'s task.

    The network outputs logits (no output activation): the losses take logits, and
    the head's activation (sigmoid/softmax/identity) is implied by the loss.
    """
    from jaxnn import models

    _, loss = data.head_for(dataset.task)
    if isinstance(hidden, str) or not isinstance(hidden, Iterable):
        raise ValueError(
            f"hidden must be a sequence of layer widths, e.g. (128, 64) or (); got "
            f"hidden={hidden!r}."
        )
    model = models.mlp((*hidden, dataset.num_outputs), **mlp_kwargs)
    return Run(model, loss, dataset.task)


def _diagnose(
    epoch_fn, before: TrainState, kept: TrainState, xb, yb, index: int
) -> NonFiniteError:
    """Re-run the first bad step to name the first parameter leaf that went non-finite.

    ``before`` is the state the epoch's run started from (its key gives the step
    keys), ``kept`` the state just before the bad step.
    """
    _, keys = epoch_fn.step_keys(before.key, xb.shape[0])
    new, metrics = epoch_fn.step(kept, xb[index], yb[index], keys[index])
    step = int(kept.step) + 1
    leaves = diagnostics.locate_nonfinite(new.params)
    leaf = leaves[0] if leaves else None
    where = (
        f"first non-finite parameter leaf: params{leaf}"
        if leaf
        else "parameters still finite"
    )
    message = (
        f"training stopped at step {step}: loss={float(metrics.loss):.4g}, gradient "
        f"norm={float(metrics.grad_norm):.4g} — {where}. The state before this step "
        "is kept (and the last good checkpoint, if any). Lower the learning rate or "
        "clip the gradients."
    )
    return NonFiniteError(message, step, leaf, kept)


def _resume_or_start(checkpoint_dir, resume: bool, state, run_config: dict):
    """The restored ``(state, epoch, history)`` with ``resume``, else ``(state, 0, [])``.

    Refuses to resume without a checkpoint or from another run's (a different
    ``run_config``), and to start a new run over existing checkpoints.
    """
    step = checkpoint.latest_step(checkpoint_dir)
    if not resume:
        if step is not None:
            raise ValueError(
                f"checkpoint_dir {checkpoint_dir} already holds checkpoints (epochs "
                f"{checkpoint.all_steps(checkpoint_dir)}); resume to continue that "
                "run, or choose another directory."
            )
        return state, 0, []
    if step is None:
        raise ValueError(
            f"resume=True but checkpoint_dir {checkpoint_dir} holds no checkpoint; "
            "start without resume."
        )
    state, meta = checkpoint.restore(checkpoint_dir, state)
    if not isinstance(meta.get("epoch"), int) or meta["epoch"] != step:
        raise ValueError(
            f"the checkpoint of step {step} in {checkpoint_dir} has metadata "
            f"{meta!r}; expected the epoch {step} that train.fit records."
        )
    saved = meta.get("config", run_config)
    differ = sorted(
        k for k in saved.keys() | run_config.keys() if saved.get(k) != run_config.get(k)
    )
    if differ:
        pairs = ", ".join(
            f"{k} (checkpoint {saved.get(k)!r}, now {run_config.get(k)!r})"
            for k in differ
        )
        raise ValueError(
            f"cannot resume from the checkpoint in {checkpoint_dir}: it belongs to "
            f"another run; {pairs}. Resume with the same settings (only epochs may "
            "grow, unless a setting above depends on it) or start a new run in "
            "another directory."
        )
    return state, step, meta.get("history", [])


def seed_limit() -> int:
    """Seeds are ints in ``[0, seed_limit())``: ``jax.random.key`` takes an int64
    with ``jax_enable_x64`` and keeps 32 bits without it (2**32 would be seed 0)."""
    return 2**63 if jax.config.jax_enable_x64 else 2**32


def _check_fit_arguments(
    n_train: int, *, epochs, batch_size, seed, checkpoint_dir, keep, resume, config,
    place, on_epoch,
) -> None:  # fmt: skip
    """``fit``'s arguments, before any work: a ValueError naming the first bad one.
    A ``checkpoint_dir`` is made here (with its parents), so that a file in its way
    is found now rather than at the first save, an epoch later."""
    _non_negative_int("epochs", epochs)
    if not _is_int(batch_size) or not 1 <= batch_size <= n_train:
        raise ValueError(
            f"batch_size must be an int in [1, {n_train}] (the training set size); "
            f"got batch_size={batch_size!r}."
        )
    _non_negative_int("seed", seed)  # as data.load's
    if seed >= seed_limit():
        raise ValueError(
            f"seed must be an int in [0, 2**{seed_limit().bit_length() - 1} - 1] "
            "(jax.random.key takes an int64 "
            "with jax_enable_x64 and keeps 32 bits without it, where 2**32 would be "
            f"seed 0); got seed={seed!r}."
        )
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"config must be a dict or None; got config={config!r}.")
    for name, fn in (("place", place), ("on_epoch", on_epoch)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name} must be callable or None; got {name}={fn!r}.")
    _flag("resume", resume)
    if checkpoint_dir is None:
        if resume:
            raise ValueError("resume=True needs a checkpoint_dir.")
        return
    _positive_int("keep", keep)
    try:
        pathlib.Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"checkpoint_dir must be a directory, or a path where one can be made; "
            f"got checkpoint_dir={str(checkpoint_dir)!r} ({err})."
        ) from None


def _check_data(run: Run, dataset: data.Dataset, dtype) -> None:
    """The data set, once, on its concrete arrays: inside the jitted epoch a NaN
    feature or an out-of-range label cannot be caught (``-1`` would wrap to the last
    class and train on; ``classes`` would stop the run with a ``NonFiniteError``
    blaming the learning rate). Features in the parameter ``dtype`` and finite;
    labels as the loss's own checks take them (class indices in ``[0, classes)``,
    probabilities in ``[0, 1]``), and finite."""
    loss = losses.get(run.loss)
    for split in ("train", "test"):
        x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
        if jnp.result_type(x) != dtype:
            raise TypeError(
                f"dataset.x_{split} must have the parameter dtype dtype={dtype.name}; "
                f"got dataset.x_{split}.dtype={jnp.result_type(x).name} (data.load "
                "takes a dtype)."
            )
        for name, a in ((f"dataset.x_{split}", x), (f"dataset.y_{split}", y)):
            bad = np.argwhere(~np.isfinite(np.asarray(a)))
            if bad.size:
                where = ", ".join(map(str, bad[0]))
                raise ValueError(
                    f"{name} must be finite; got {len(bad)} NaN or inf entries, the "
                    f"first {name}[{where}]."
                )
        logits = jnp.zeros((y.shape[0], dataset.num_outputs), dtype)
        try:
            loss.forward(logits, y)
        except (TypeError, ValueError) as err:
            raise type(err)(
                f"dataset.y_{split} does not fit {loss.name}: {err}"
            ) from None


def fit(
    run: Run,
    dataset: data.Dataset,
    optimizer,
    *,
    epochs: int,
    batch_size: int,
    backward: str = "manual",
    seed: int = 0,
    dtype=jnp.float32,
    checkpoint_dir=None,
    keep: int = 3,
    resume: bool = False,
    config: dict | None = None,
    place: Callable | None = None,
    on_epoch: Callable | None = None,
) -> tuple[TrainState, list[dict]]:
    """Train ``run.model`` on ``dataset`` for ``epochs`` epochs.

    Args:
      run: model, loss name and task (``model_for``).
      dataset: a ``jaxnn.data.Dataset``.
      optimizer: a ``GradientTransformation``.
      epochs: total number of epochs (with ``resume``, training continues up to it).
      batch_size: examples per step; the last partial batch of an epoch is dropped.
      backward: ``"manual"`` or ``"autodiff"``.
      seed: seeds initialisation, shuffling and dropout.
      dtype: parameter dtype.
      checkpoint_dir: if given, the ``TrainState`` is saved there after every epoch
        (atomically, keeping the last ``keep``), with the run's configuration and
        history. Without ``resume`` it must hold no checkpoint yet.
      resume: continue from the latest checkpoint in ``checkpoint_dir`` (there
        must be one), which must come from the same run: the same ``batch_size``,
        ``backward``, ``seed``, ``dtype`` and ``config``; only ``epochs`` may
        grow. The result is bit-identical to an uninterrupted run.
      config: JSON-serialisable settings that fix the trajectory and that ``fit``
        cannot see in the optimizer (learning rate, schedule length, model), saved
        with every checkpoint and compared on ``resume``.
      place: optional ``(state, xb, yb) -> (state, xb, yb)`` placing arrays on
        devices (``jaxnn.parallel`` shards the batches over a mesh).
      on_epoch: called with each epoch's history record.

    Returns:
      ``(final TrainState, history)`` with one dict per epoch: ``epoch``,
      ``train_loss`` (mean over its steps), ``test_loss``, the test metric(s),
      ``grad_norm`` (mean) and ``seconds``; after ``resume`` it starts with the
      checkpoint's epochs.

    Raises:
      NonFiniteError: a step produced a NaN/Inf (the message names step and leaf).
      ValueError: a bad argument; ``resume`` without a checkpoint, from another
        run's or beyond ``epochs``; a fresh run into a directory with checkpoints;
        a NaN or inf in the data, labels the loss refuses (checked once, before
        training: inside the jitted epoch they could not be), float64 without
        ``jax_enable_x64``.
      TypeError: an ``optimizer`` without ``init``/``update``; a ``dtype`` that is
        not floating or is not the features' dtype.
    """
    _check_fit_arguments(
        dataset.x_train.shape[0], epochs=epochs, batch_size=batch_size, seed=seed,
        checkpoint_dir=checkpoint_dir, keep=keep, resume=resume, config=config,
        place=place, on_epoch=on_epoch,
    )  # fmt: skip
    check_transformation("optimizer", optimizer)
    dtype = data.float_dtype("dtype", dtype)
    _check_data(run, dataset, dtype)
    state = init_state(
        run.model, optimizer, jax.random.key(seed), (dataset.num_features,), dtype
    )
    run_config = {
        **(config or {}),
        "batch_size": int(batch_size),  # a NumPy int is not JSON
        "backward": backward,
        "seed": int(seed),
        "dtype": dtype.name,
    }
    try:  # as a checkpoint holds it
        run_config = json.loads(json.dumps(run_config))
    except TypeError as err:
        raise ValueError(f"config must be JSON-serialisable; got {err}.") from err
    start, history = 0, []
    if checkpoint_dir is not None:
        state, start, history = _resume_or_start(
            checkpoint_dir, resume, state, run_config
        )
    if start > epochs:
        raise ValueError(
            f"the checkpoint in {checkpoint_dir} is at epoch {start}, beyond "
            f"epochs={epochs}; resume with epochs >= {start}."
        )
    epoch_fn = make_epoch(
        run.model, run.loss, optimizer, batch_size=batch_size, backward=backward
    )
    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        x, y = dataset.x_train, dataset.y_train
        if place is None:
            new_state, metrics, first_bad = epoch_fn(state, x, y)
        else:
            new_state, metrics, first_bad = epoch_fn.run(
                *place(*epoch_fn.shuffle(state, x, y))
            )
        if int(first_bad) >= 0:  # new_state is the one just before the bad step
            before, xb, yb = epoch_fn.shuffle(state, x, y)  # the same batches again
            raise _diagnose(epoch_fn, before, new_state, xb, yb, int(first_bad))
        state = new_state
        record = {
            "epoch": epoch,
            "train_loss": float(np.mean(metrics.loss)),
            "grad_norm": float(np.mean(metrics.grad_norm)),
        }
        record.update(test_metrics(run, state, dataset))
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        if checkpoint_dir is not None:
            meta = {"epoch": epoch, "config": run_config, "history": history}
            checkpoint.save(checkpoint_dir, epoch, state, keep=keep, metadata=meta)
        if on_epoch is not None:
            on_epoch(record)
    return state, history
