"""The benchmarked networks: one description shared by jaxnn and its peers.

A cell's network is ``mlp([width] * depth + [classes])`` on inputs of ``width``
features: ``depth`` hidden blocks ``dense → [batch_norm] → activation`` (the dense
layers before batch_norm without bias; with identity shortcuts around the
equal-width blocks for the ``residual`` variant) and a linear output layer producing
logits (softmax cross-entropy) or predictions (MSE).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import models

VARIANTS = ("relu", "sigmoid", "tanh", "gelu", "batch_norm", "residual")
LOSSES = ("softmax_cross_entropy", "mse")
LOSS_LABELS = {"softmax_cross_entropy": "softmax-CE", "mse": "MSE"}
CLASSES = 10


class Net(NamedTuple):
    """A network of the grid, independent of the framework that runs it."""

    sizes: tuple[int, ...]  # hidden widths, then the output width
    activation: str  # hidden activation (jax.nn name; gelu is the tanh form)
    batch_norm: bool
    residual: bool
    loss: str  # a jaxnn.losses name


def net_for(variant: str, depth: int, width: int, loss: str, classes: int = CLASSES):
    """The network of one grid cell.

    Raises:
      ValueError: unknown variant or loss.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}.")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}.")
    activation = variant if variant in ("relu", "sigmoid", "tanh", "gelu") else "relu"
    return Net(
        sizes=(width,) * depth + (classes,),
        activation=activation,
        batch_norm=variant == "batch_norm",
        residual=variant == "residual",
        loss=loss,
    )


def model(net: Net):
    """The jaxnn ``Layer`` of ``net``."""
    return models.mlp(
        net.sizes,
        activation=net.activation,
        batch_norm=net.batch_norm,
        residual=net.residual,
    )


def residual_blocks(net: Net) -> tuple[bool, ...]:
    """Which hidden blocks have a shortcut (``models.mlp``'s rule)."""
    hidden = net.sizes[:-1]
    return tuple(
        net.residual and i > 0 and hidden[i - 1] == hidden[i]
        for i in range(len(hidden))
    )


def init(net: Net, key, in_features: int, dtype):
    """jaxnn parameters and state of ``net``, cast to ``dtype``."""
    _, params, state = model(net).init(key, (in_features,))
    cast = lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a
    return jax.tree.map(cast, params), jax.tree.map(cast, state)


def batch(net: Net, key, batch_size: int, in_features: int, dtype):
    """Inputs ``x ~ N(0, 1)`` and targets: one-hot classes or ``N(0, 1)`` values."""
    kx, ky = jax.random.split(key)
    x = jax.random.normal(kx, (batch_size, in_features), dtype)
    classes = net.sizes[-1]
    if net.loss == "mse":
        y = jax.random.normal(ky, (batch_size, classes), dtype)
    else:
        labels = jax.random.randint(ky, (batch_size,), 0, classes)
        y = jax.nn.one_hot(labels, classes, dtype=dtype)
    return x, y


def layer_arrays(net: Net, params) -> list[dict[str, np.ndarray]]:
    """jaxnn parameters as one dict per dense layer (``w``, ``b``, ``gamma``, ``beta``).

    Works on gradients too (they have the structure of the parameters).
    """
    layers = []
    for block in params[:-1]:
        dense = block[0]
        entry = {"w": np.asarray(dense.w)}
        if dense.b is not None:  # no bias before batch_norm
            entry["b"] = np.asarray(dense.b)
        if net.batch_norm:
            entry["gamma"] = np.asarray(block[1].gamma)
            entry["beta"] = np.asarray(block[1].beta)
        layers.append(entry)
    out = params[-1]
    layers.append({"w": np.asarray(out.w), "b": np.asarray(out.b)})
    return layers


def relative_error(a: list[dict], b: list[dict]) -> float:
    """``‖a − b‖ / max(‖a‖, ‖b‖)`` over all arrays of two ``layer_arrays`` lists."""
    diff = norm_a = norm_b = 0.0
    for la, lb in zip(a, b, strict=True):
        for k in la:
            x = np.asarray(la[k], np.float64)
            y = np.asarray(lb[k], np.float64)
            diff += float(np.sum((x - y) ** 2))
            norm_a += float(np.sum(x**2))
            norm_b += float(np.sum(y**2))
    return float(np.sqrt(diff) / max(np.sqrt(norm_a), np.sqrt(norm_b), 1e-300))
