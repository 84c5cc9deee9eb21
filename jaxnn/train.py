"""Training: a jitted step, a whole epoch as one ``lax.scan``, evaluation and ``fit``.

Every step is ``grads = backward(...)`` (hand-written or autodiff), then the optimizer's
``update`` and ``apply_updates``. An epoch shuffles the training set with the state's
key and scans the step over its mini-batches inside one jitted call, so Python
dispatches twice per epoch, not once per batch. A step whose loss, gradient or new
parameters hold a NaN/Inf is not applied: the epoch keeps the last good state, and
``fit`` stops with ``NonFiniteError`` naming the step and the first parameter leaf that
went non-finite.
"""

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import backprop, checkpoint, data, diagnostics
from jaxnn import optim as _optim
from jaxnn._tree import tree_cast
from jaxnn._typing import Array, OptState, Params, PRNGKey, State
from jaxnn.layers import Layer

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
    finite: Array  # loss, gradients and new parameters all finite


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


def make_train_step(
    model: Layer, loss, optimizer, *, backward: str = "manual"
) -> Callable:
    """A jitted ``train_step(state, x, y) -> (new_state, StepMetrics)``.

    Args:
      model: the network (a ``Layer``) producing what ``loss`` takes (logits).
      loss: a ``jaxnn.losses.Loss`` or its name.
      optimizer: a ``GradientTransformation`` (jaxnn.optim or optax).
      backward: ``"manual"`` (hand-written rules) or ``"autodiff"`` (``jax.grad``).
    """
    value_and_grad = _value_and_grad(model, loss, backward)

    def train_step(state: TrainState, x, y):
        key, k_step = jax.random.split(state.key)
        (value, model_state), grads = value_and_grad(
            state.params, state.model_state, x, y, train=True, key=k_step
        )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = _optim.apply_updates(state.params, updates)
        finite = diagnostics.all_finite((value, grads, params))
        new = TrainState(params, model_state, opt_state, state.step + 1, key)
        return new, StepMetrics(value, _optim.global_norm(grads), finite)

    return jax.jit(train_step)


@functools.partial(jax.jit, static_argnums=3)  # shared by every model: one compile
def _shuffle(key, x, y, batch_size: int):
    key, k_perm = jax.random.split(key)
    xb, yb = data.epoch_batches(k_perm, x, y, batch_size)
    return key, xb, yb


@functools.lru_cache(maxsize=32)  # same model, loss and optimizer: no recompilation
def make_epoch(
    model: Layer, loss, optimizer, *, batch_size: int, backward: str = "manual"
):
    """Build ``epoch(state, x, y) -> (state, StepMetrics per step, first_bad)``.

    The epoch is two jitted calls: a shuffle into ``(num_batches, batch_size, ...)``
    batches with a key split from ``state.key``, and a ``lax.scan`` of the train step
    over them. ``first_bad`` is the index of the first non-finite step in the epoch
    (−1 if none); from that step on the state is frozen at the last good one.
    The returned function has ``.shuffle``, ``.run`` and ``.step`` attributes for callers
    that place the batches themselves (``jaxnn.parallel``) or diagnose a bad step.
    """
    step = make_train_step(model, loss, optimizer, backward=backward)

    def shuffle(state: TrainState, x, y):
        key, xb, yb = _shuffle(state.key, x, y, batch_size)
        return state._replace(key=key), xb, yb

    @jax.jit
    def run(state: TrainState, xb, yb):
        def body(carry, batch):
            state, first_bad, i = carry
            new, metrics = step(state, *batch)
            ok = metrics.finite & (first_bad < 0)
            state = jax.lax.cond(ok, lambda: new, lambda: state)
            first_bad = jnp.where((first_bad < 0) & ~metrics.finite, i, first_bad)
            return (state, first_bad, i + 1), metrics

        init = (state, jnp.int32(-1), jnp.int32(0))
        (state, first_bad, _), metrics = jax.lax.scan(body, init, (xb, yb))
        return state, metrics, first_bad

    def epoch(state: TrainState, x, y):
        state, xb, yb = shuffle(state, x, y)
        return run(state, xb, yb)

    epoch.shuffle, epoch.run, epoch.step = shuffle, run, step
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
    ``R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²``.
    """
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
    if task == "regression":
        ss_res = jnp.sum((y - logits) ** 2)
        ss_tot = jnp.sum((y - jnp.mean(y, axis=0)) ** 2)
        return {"r2": float(1 - ss_res / ss_tot)}
    raise ValueError(f"unknown task {task!r}; expected one of {tuple(data.HEADS)}.")


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
    model = models.mlp((*hidden, dataset.num_outputs), **mlp_kwargs)
    return Run(model, loss, dataset.task)


def _diagnose(epoch_fn, state: TrainState, xb, yb, index: int) -> NonFiniteError:
    """Re-run the first bad step to name the first parameter leaf that went non-finite."""
    new, metrics = epoch_fn.step(state, xb[index], yb[index])
    step = int(state.step) + 1
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
    return NonFiniteError(message, step, leaf, state)


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
        (atomically, keeping the last ``keep``).
      resume: continue from the latest checkpoint in ``checkpoint_dir``.
      place: optional ``(state, xb, yb) -> (state, xb, yb)`` placing arrays on
        devices (``jaxnn.parallel`` shards the batches over a mesh).
      on_epoch: called with each epoch's history record.

    Returns:
      ``(final TrainState, history)`` with one dict per epoch: ``epoch``,
      ``train_loss`` (mean over its steps), ``test_loss``, the test metric(s),
      ``grad_norm`` (mean) and ``seconds``.

    Raises:
      NonFiniteError: a step produced a NaN/Inf (the message names step and leaf).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int ≥ 0; got epochs={epochs!r}.")
    n_train = dataset.x_train.shape[0]
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= n_train
    ):
        raise ValueError(
            f"batch_size must be an int in [1, {n_train}] (the training set size); "
            f"got batch_size={batch_size!r}."
        )
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir.")
    state = init_state(
        run.model, optimizer, jax.random.key(seed), (dataset.num_features,), dtype
    )
    start = 0
    if resume and checkpoint.latest_step(checkpoint_dir) is not None:
        state, meta = checkpoint.restore(checkpoint_dir, state)
        start = int(meta["epoch"])
    epoch_fn = make_epoch(
        run.model, run.loss, optimizer, batch_size=batch_size, backward=backward
    )
    history = []
    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        state, xb, yb = epoch_fn.shuffle(state, dataset.x_train, dataset.y_train)
        if place is not None:
            state, xb, yb = place(state, xb, yb)
        state, metrics, first_bad = epoch_fn.run(state, xb, yb)
        if int(first_bad) >= 0:  # state is frozen just before the bad step
            raise _diagnose(epoch_fn, state, xb, yb, int(first_bad))
        record = {
            "epoch": epoch,
            "train_loss": float(np.mean(metrics.loss)),
            "grad_norm": float(np.mean(metrics.grad_norm)),
        }
        record.update(test_metrics(run, state, dataset))
        record["seconds"] = time.perf_counter() - t0
        history.append(record)
        if checkpoint_dir is not None:
            checkpoint.save(
                checkpoint_dir, epoch, state, keep=keep, metadata={"epoch": epoch}
            )
        if on_epoch is not None:
            on_epoch(record)
    return state, history
