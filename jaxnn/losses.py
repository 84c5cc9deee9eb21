"""Losses with their hand-written backward rules.

Every loss takes a batch ``(batch, outputs)`` of predictions (or logits), sums the
per-element loss over the output axis and averages over the batch:
``loss = (1/N) Σₙ ℓ(predₙ, targetₙ)``. Its gradient is therefore the per-example
gradient divided by ``N``. ``get(name)`` bundles a loss with its backward rule into a
``Loss(name, forward, backward)``:

- ``forward(pred, target) -> scalar``;
- ``backward(pred, target) -> d loss / d pred``, which equals
  ``jax.grad(forward)(pred, target)`` and has ``pred``'s shape and dtype.

- ``mse``: ``ℓ = Σⱼ ½(tⱼ − pⱼ)²``; backward ``(p − t)/N``.
- ``binary_cross_entropy``: ``ℓ = Σⱼ −yⱼ log σ(zⱼ) − (1 − yⱼ) log σ(−zⱼ)``; backward
  ``(σ(z) − y)/N``, evaluated as ``((1 − y)·σ(z) − y·σ(−z))/N``, accurate also where
  ``σ(z)`` rounds to 1.
- ``softmax_cross_entropy``: ``ℓ = −Σⱼ yⱼ log softmax(z)ⱼ``; backward
  ``(softmax(z)·Σⱼ yⱼ − y)/N``, i.e. ``(softmax(z) − y)/N`` for rows of ``y`` that sum
  to 1.
- ``softmax_cross_entropy_with_integer_labels``: ``ℓ = logsumexp(z) − z_label``;
  backward ``(softmax(z) − onehot(label))/N``.

``mse`` is the teaching module's ``L = ½(y − ŷ)²``, summed over outputs and averaged
over the batch. The per-example values (the ``*_per_example`` functions, shape
``(batch,)``) equal optax's ``l2_loss`` and ``sigmoid_binary_cross_entropy`` summed over
the output axis, ``softmax_cross_entropy`` and
``softmax_cross_entropy_with_integer_labels``.

All cross-entropies work from logits and are numerically stable:
``log σ(z) = −softplus(−z)`` with ``softplus(z) = max(z, 0) + log1p(e^−|z|)``, and
``log softmax(z) = (z − m) − log Σ e^(z − m)`` with ``m`` the row maximum, so logits
of magnitude ``1e4`` give finite losses and gradients in float32, as accurate as for
small logits (``m`` is subtracted first, never added back). Pair each loss with its
output activation (``output_activation_for``): identity + mse for regression, sigmoid +
binary cross-entropy for binary and multi-label classification, softmax + softmax
cross-entropy for multi-class classification; the network itself outputs the logits.

Shapes and dtypes are static, so they are checked eagerly (also under ``jit``); the
values of labels only when they are concrete (outside ``jit``): integer labels must
be in ``[0, classes)``, probability labels (binary and softmax cross-entropy) in
``[0, 1]``. Under ``jit`` an integer label ``>= classes`` gives a NaN loss for its
row (and, as from ``jax.grad``, a zero gradient row), and a negative one wraps
around as a NumPy index does (``-1`` is the last class), as in optax;
``jaxnn.train.fit`` checks its data set's labels once, before training.

>>> import jax.numpy as jnp
>>> loss = get("mse")
>>> pred, target = jnp.array([[1.0, 2.0]]), jnp.array([[0.0, 0.0]])
>>> float(loss.forward(pred, target)), loss.backward(pred, target).tolist()
(2.5, [[1.0, 2.0]])
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxnn._reduce import sum_in_dtype
from jaxnn._typing import Array
from jaxnn.activations import sigmoid, softmax, softplus

__all__ = [
    "NAMES",
    "Loss",
    "binary_cross_entropy",
    "binary_cross_entropy_per_example",
    "get",
    "mse",
    "mse_per_example",
    "output_activation_for",
    "softmax_cross_entropy",
    "softmax_cross_entropy_per_example",
    "softmax_cross_entropy_with_integer_labels",
    "softmax_cross_entropy_with_integer_labels_per_example",
]

_INTEGER_LOSS = "softmax_cross_entropy_with_integer_labels"


class Loss(NamedTuple):
    """A batch loss and its backward rule.

    Attributes:
        name: the registry name (one of ``NAMES``).
        forward: ``forward(pred, target) -> scalar``, the batch mean of the per-example
            loss.
        backward: ``backward(pred, target) -> d loss / d pred``; equals
            ``jax.grad(forward)(pred, target)`` with ``pred``'s shape and dtype.
    """

    name: str
    forward: Callable[[Array, Array], Array]
    backward: Callable[[Array, Array], Array]


### Validation (shapes and dtypes are static: checked at trace time).


def _check_pred(x: ArrayLike, arg: str) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 2:
        hint = f" For a single output use {arg}[:, None]." if x.ndim == 1 else ""
        raise ValueError(
            f"{arg} must be 2-D (batch, outputs); got {arg}.shape={x.shape}.{hint}"
        )
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(
            f"{arg} must have at least one example and one output; "
            f"got {arg}.shape={x.shape}."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"{arg} must have a floating dtype; got {arg}.dtype={x.dtype.name}."
        )
    return x


def _check_same_shape(
    pred: Array, target: ArrayLike, arg: str, target_arg: str, hint: str = ""
) -> Array:
    target = jnp.asarray(target)
    if target.shape != pred.shape:
        raise ValueError(
            f"{target_arg} must have the shape of {arg} {pred.shape}; "
            f"got {target_arg}.shape={target.shape}.{hint}"
        )
    if not (
        jnp.issubdtype(target.dtype, jnp.floating)
        or jnp.issubdtype(target.dtype, jnp.integer)
        or target.dtype == jnp.bool_
    ):
        raise TypeError(
            f"{target_arg} must have a real (float, integer or bool) dtype; "
            f"got {target_arg}.dtype={target.dtype.name}."
        )
    return target.astype(pred.dtype)


def _check_mse(pred, target) -> tuple[Array, Array]:
    pred = _check_pred(pred, "pred")
    return pred, _check_same_shape(pred, target, "pred", "target")


def _check_bce(logits, labels) -> tuple[Array, Array]:
    logits = _check_pred(logits, "logits")
    labels = _check_same_shape(logits, labels, "logits", "labels")
    _check_probabilities(labels)
    return logits, labels


def _concrete(labels: Array) -> np.ndarray | None:
    """The labels' values, or ``None`` when they are traced (under ``jit``)."""
    try:
        return np.asarray(labels)
    except jax.errors.TracerArrayConversionError:
        return None


def _check_probabilities(labels: Array) -> None:
    """Raise on a label outside ``[0, 1]`` (or NaN) when the labels are concrete;
    traced labels (under ``jit``) cannot be checked."""
    values = _concrete(labels)
    if values is None:
        return
    bad = np.flatnonzero(~((values >= 0) & (values <= 1)))
    if bad.size:
        i = np.unravel_index(int(bad[0]), values.shape)
        raise ValueError(
            f"labels must be probabilities in [0, 1]; got labels[{', '.join(map(str, i))}]"
            f"={values[i]!r} ({bad.size} out of range)."
        )


def _check_softmax_ce(logits, labels) -> tuple[Array, Array]:
    logits = _check_pred(logits, "logits")
    hint = f" For integer class labels use {_INTEGER_LOSS}."
    labels_arr = jnp.asarray(labels)
    if labels_arr.shape == logits.shape and not jnp.issubdtype(
        labels_arr.dtype, jnp.floating
    ):
        raise TypeError(
            "labels must have a floating dtype (one-hot rows or probabilities); "
            f"got labels.dtype={labels_arr.dtype.name}.{hint}"
        )
    labels_arr = _check_same_shape(logits, labels_arr, "logits", "labels", hint)
    _check_probabilities(labels_arr)  # a negative "probability" gives a loss < 0
    return logits, labels_arr


def _check_integer_labels(logits, labels) -> tuple[Array, Array]:
    logits = _check_pred(logits, "logits")
    labels = jnp.asarray(labels)
    batch = logits.shape[0]
    if labels.shape != (batch,):
        raise ValueError(
            f"labels must have shape (batch,)=({batch},) to match logits.shape="
            f"{logits.shape}; got labels.shape={labels.shape}. For one-hot or "
            "probability labels use softmax_cross_entropy."
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"labels must have an integer dtype (class indices in [0, "
            f"{logits.shape[1]})); got labels.dtype={labels.dtype.name}."
        )
    _check_label_range(labels, logits.shape[1])
    return logits, labels


def _check_label_range(labels: Array, classes: int) -> None:
    """Raise on a class index outside ``[0, classes)`` when the labels are concrete.

    Traced labels (under ``jit``) cannot be checked; there an out-of-range index
    gives a NaN loss (``take_along_axis`` fills) or, if negative, wraps around.
    """
    values = _concrete(labels)
    if values is None:
        return
    bad = np.flatnonzero((values < 0) | (values >= classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"labels must be class indices in [0, {classes}) (logits.shape[1]="
            f"{classes}); got labels[{i}]={int(values[i])} ({bad.size} out of range)."
        )


### Stable pieces.


def _log_sigmoid(z: Array) -> Array:
    return -softplus(-z)  # log σ(z) = −log(1 + e^−z)


def _log_softmax(z: Array) -> Array:
    """``log softmax(z) = (z − m) − log Σⱼ e^(zⱼ − m)`` over the last axis, ``m`` the
    row maximum (under ``stop_gradient``). Subtracting ``m`` before, not adding it
    back after, keeps large but close logits exact (``jax.nn.log_softmax``'s order).
    """
    shifted = z - jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True))


def _one_hot(labels: Array, classes: int) -> Array:
    """One-hot rows (bool); a negative label counts from the end, as the forward's
    ``take_along_axis`` reads it, and a label outside ``[−classes, classes)`` gives
    a row of zeros (both only reachable under ``jit``)."""
    labels = jnp.where(labels < 0, labels + classes, labels)
    return labels[:, None] == jnp.arange(classes)


### Per-example losses, shape (batch,).


def mse_per_example(pred: ArrayLike, target: ArrayLike) -> Array:
    """``Σⱼ ½(targetⱼ − predⱼ)²`` per example, shape ``(batch,)``.

    Args:
        pred: predictions, shape ``(batch, outputs)``, floating.
        target: targets with the same shape (cast to ``pred``'s dtype).

    Returns:
        optax's ``l2_loss(pred, target)`` summed over the output axis.
    """
    pred, target = _check_mse(pred, target)
    # pred − target (optax's sign; the square is the same bit for bit) is the very
    # difference that the backward rule takes, so a jitted value-and-grad computes
    # it once: with target − pred XLA:GPU kept both differences and one more buffer.
    return jnp.sum(0.5 * jnp.square(pred - target), axis=-1)


def binary_cross_entropy_per_example(logits: ArrayLike, labels: ArrayLike) -> Array:
    """``Σⱼ −yⱼ log σ(zⱼ) − (1 − yⱼ) log σ(−zⱼ)`` per example, shape ``(batch,)``.

    Args:
        logits: ``z``, shape ``(batch, outputs)``; one independent binary prediction per
            output (one output for binary, several for multi-label classification).
        labels: ``y`` in [0, 1] with the same shape; float, integer or bool (cast to the
            logits' dtype).

    Returns:
        optax's ``sigmoid_binary_cross_entropy(logits, labels)`` summed over outputs.
    """
    logits, labels = _check_bce(logits, labels)
    per_output = -labels * _log_sigmoid(logits) - (1 - labels) * _log_sigmoid(-logits)
    return jnp.sum(per_output, axis=-1)


def softmax_cross_entropy_per_example(logits: ArrayLike, labels: ArrayLike) -> Array:
    """``−Σⱼ yⱼ log softmax(z)ⱼ`` per example, shape ``(batch,)``.

    Args:
        logits: ``z``, shape ``(batch, classes)``.
        labels: ``y``, one-hot rows or class probabilities (each in ``[0, 1]``,
            checked when concrete) with the same shape and a floating dtype (cast
            to the logits' dtype).

    Returns:
        optax's ``softmax_cross_entropy(logits, labels)``.
    """
    logits, labels = _check_softmax_ce(logits, labels)
    return -jnp.sum(labels * _log_softmax(logits), axis=-1)


def softmax_cross_entropy_with_integer_labels_per_example(
    logits: ArrayLike, labels: ArrayLike
) -> Array:
    """``logsumexp(z) − z_label = −log softmax(z)_label`` per example, ``(batch,)``.

    Args:
        logits: ``z``, shape ``(batch, classes)``.
        labels: class indices in ``[0, classes)``, shape ``(batch,)``, integer dtype.

    Returns:
        optax's ``softmax_cross_entropy_with_integer_labels(logits, labels)``, to
        rounding; bit-equal to ``optax.softmax_cross_entropy`` of the one-hot labels.
        optax evaluates ``logsumexp(z) − z_label``, which adds the row maximum back
        and loses ~3e-5 relative in float32 for large, close logits (``1e4 − 0.3``);
        ``−log softmax(z)_label`` does not.
    """
    logits, labels = _check_integer_labels(logits, labels)
    return -jnp.take_along_axis(_log_softmax(logits), labels[:, None], axis=-1)[:, 0]


### Batch losses (mean over the batch) and their backward rules.


def mse(pred: ArrayLike, target: ArrayLike) -> Array:
    """Mean squared error ``(1/N) Σₙ Σⱼ ½(targetₙⱼ − predₙⱼ)²``, the module's ``L``.

    Args:
        pred: predictions, shape ``(batch, outputs)``, floating.
        target: targets with the same shape.

    Returns:
        A scalar of ``pred``'s dtype.
    """
    return jnp.mean(mse_per_example(pred, target))


def binary_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """Sigmoid cross-entropy from logits, summed over outputs, averaged over the batch.

    Args:
        logits: shape ``(batch, outputs)``; multi-label works (one column per label).
        labels: in [0, 1], same shape; float, integer or bool.

    Returns:
        A scalar of the logits' dtype.
    """
    return jnp.mean(binary_cross_entropy_per_example(logits, labels))


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """Categorical cross-entropy from logits with one-hot or probability labels.

    Args:
        logits: shape ``(batch, classes)``.
        labels: same shape, floating; rows are distributions over the classes.

    Returns:
        A scalar of the logits' dtype: the batch mean of ``−Σⱼ yⱼ log softmax(z)ⱼ``.
    """
    return jnp.mean(softmax_cross_entropy_per_example(logits, labels))


def softmax_cross_entropy_with_integer_labels(
    logits: ArrayLike, labels: ArrayLike
) -> Array:
    """Categorical cross-entropy from logits with integer class labels.

    Args:
        logits: shape ``(batch, classes)``.
        labels: shape ``(batch,)``, integer dtype, values in ``[0, classes)``.

    Returns:
        A scalar of the logits' dtype: the batch mean of ``logsumexp(z) − z_label``.
    """
    return jnp.mean(
        softmax_cross_entropy_with_integer_labels_per_example(logits, labels)
    )


def _over_batch(x: Array, n: int) -> Array:
    """``x / n``, the batch mean's factor. In a dtype narrower than float32 as
    ``x · (1/n)`` with ``1/n`` taken in float32 and rounded to ``x``'s dtype, the
    factor ``jax.grad`` of ``jnp.mean`` takes (its mean runs in float32): ``x / n``
    would divide by ``n`` rounded to the dtype (bfloat16 257 is 256, a bias of
    2⁻⁸; a float16 batch over 65504 is inf). Otherwise the plain division."""
    if jnp.finfo(x.dtype).bits < 32:
        return x * jnp.asarray(np.float32(1) / np.float32(n), x.dtype)
    return x / n


def _mse_bwd(pred, target):
    pred, target = _check_mse(pred, target)
    return _over_batch(pred - target, pred.shape[0])


def _binary_cross_entropy_bwd(logits, labels):
    """``(σ(z) − y) / N``, evaluated as ``((1 − y)·σ(z) − y·σ(−z)) / N`` (the terms
    ``jax.grad`` takes of the two log-sigmoids): ``σ(z) − 1`` rounds to 0 where
    ``σ(z)`` rounds to 1 (``z ≳ 17`` in float32, ``≳ 37`` in float64) and loses
    relative accuracy well before, while ``−σ(−z)`` keeps it."""
    logits, labels = _check_bce(logits, labels)
    grad = (1 - labels) * sigmoid(logits) - labels * sigmoid(-logits)
    return _over_batch(grad, logits.shape[0])


def _label_mass(y: Array) -> Array:
    """``Σy`` of each row, ``(N, 1)``, in ``y``'s dtype (as ``jax.grad`` sums it)."""
    return sum_in_dtype(y, (y.ndim - 1,), keepdims=True)


def _softmax_ce_grad_cpu(z: Array, y: Array) -> Array:
    """``(softmax(z)·Σy − y) / N``, scaled after the subtraction."""
    return _over_batch(softmax(z) * _label_mass(y) - y, z.shape[0])


def _softmax_ce_grad_cuda(z: Array, y: Array) -> Array:
    """``softmax(z)·(Σy / N) − y / N``: scaled before the subtraction."""
    n = z.shape[0]
    return softmax(z) * _over_batch(_label_mass(y), n) - _over_batch(y, n)


def _softmax_cross_entropy_bwd(logits, labels):
    """``(softmax(z)·Σy − y) / N``: ∂/∂z of the batch mean of ``−Σ y (z − lse z)``,
    i.e. ``(softmax(z) − y) / N`` when the rows of ``y`` sum to 1.

    Two equal forms, picked per backend at lowering by what XLA makes of them next
    to the forward pass (temp bytes of the compiled value-and-grad and Adam step,
    against ``jax.grad``'s, on an H100 and on this project's 2-core CPU): with the
    CPU form, scaled after the subtraction, XLA:GPU kept a scaled and an unscaled
    copy of the gradient (+256 B in the 4096-wide cells); the CUDA form scales
    before. (An earlier CUDA form, ``e^(log softmax z)`` sharing the forward's
    ``log softmax``, was fused with the loss's sum into a multi-output kernel, +256
    B at 4×4096×4096, and cost XLA:CPU +492 KiB in a 3×512×256 Adam step.) Other
    backends get the CPU form.
    """
    logits, labels = _check_softmax_ce(logits, labels)
    return jax.lax.platform_dependent(
        logits, labels, cuda=_softmax_ce_grad_cuda, default=_softmax_ce_grad_cpu
    )


def _softmax_cross_entropy_with_integer_labels_bwd(logits, labels):
    """``(softmax(z) − onehot(y)) / N``. A row whose label is out of range (only
    reachable under ``jit``) gets 0, as from ``jax.grad``: the forward's
    ``take_along_axis`` fills that row's loss with NaN, and a fill has no gradient."""
    logits, labels = _check_integer_labels(logits, labels)
    onehot = _one_hot(labels, logits.shape[1])
    grad = softmax(logits) - onehot.astype(logits.dtype)
    grad = jnp.where(jnp.any(onehot, axis=1, keepdims=True), grad, 0)
    return _over_batch(grad, logits.shape[0])


### Registry.

_LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", mse, _mse_bwd),
    "binary_cross_entropy": Loss(
        "binary_cross_entropy", binary_cross_entropy, _binary_cross_entropy_bwd
    ),
    "softmax_cross_entropy": Loss(
        "softmax_cross_entropy", softmax_cross_entropy, _softmax_cross_entropy_bwd
    ),
    _INTEGER_LOSS: Loss(
        _INTEGER_LOSS,
        softmax_cross_entropy_with_integer_labels,
        _softmax_cross_entropy_with_integer_labels_bwd,
    ),
}

_OUTPUT_ACTIVATIONS = {
    "mse": "identity",
    "binary_cross_entropy": "sigmoid",
    "softmax_cross_entropy": "softmax",
    _INTEGER_LOSS: "softmax",
}

NAMES: tuple[str, ...] = tuple(_LOSSES)
"""The registered loss names."""


def _resolve_name(name, arg: str) -> str:
    name = name.name if isinstance(name, Loss) else name
    if not isinstance(name, str) or name not in _LOSSES:
        raise ValueError(f"unknown {arg}={name!r}; expected one of {', '.join(NAMES)}.")
    return name


def get(name: str | Loss) -> Loss:
    """Return the named ``Loss`` (forward and backward rule).

    Args:
        name: one of ``NAMES``; a ``Loss`` is returned unchanged.

    Returns:
        ``Loss(name, forward, backward)``.

    Raises:
        ValueError: unknown name (the message lists ``NAMES``).

    >>> get("binary_cross_entropy").name
    'binary_cross_entropy'
    """
    if isinstance(name, Loss):
        return name
    return _LOSSES[_resolve_name(name, "loss name")]


def output_activation_for(loss_name: str | Loss) -> str:
    """The activation that turns the logits into the loss's predictions.

    ``"identity"`` for mse (regression), ``"sigmoid"`` for binary_cross_entropy (binary
    and multi-label), ``"softmax"`` for both softmax cross-entropies (multi-class). The
    from-logits losses apply it themselves: the network should output raw logits.

    Args:
        loss_name: one of ``NAMES`` (or a ``Loss``).

    Returns:
        A name from ``jaxnn.activations.NAMES``.

    Raises:
        ValueError: unknown name (the message lists ``NAMES``).

    >>> output_activation_for("softmax_cross_entropy_with_integer_labels")
    'softmax'
    """
    return _OUTPUT_ACTIVATIONS[_resolve_name(loss_name, "loss_name")]
