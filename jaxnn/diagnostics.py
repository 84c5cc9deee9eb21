"""Gradient-flow and activation diagnostics (vanishing/exploding gradients, dead ReLU)."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn._tree import path_str
from jaxnn._typing import PyTree


def nonfinite_mask(tree: PyTree) -> PyTree:
    """Per leaf, a scalar bool: does the leaf hold a NaN or an Inf? Jit-able."""
    return jax.tree.map(lambda x: ~jnp.all(jnp.isfinite(x)), tree)


def all_finite(tree: PyTree) -> jax.Array:
    """True when no leaf of ``tree`` holds a NaN or an Inf. Jit-able."""
    flags = jax.tree.leaves(nonfinite_mask(tree))
    return ~jnp.any(jnp.stack(flags)) if flags else jnp.array(True)


def locate_nonfinite(tree: PyTree) -> list[str]:
    """Pytree paths (in leaf order) of the leaves of ``tree`` holding NaN or Inf.

    >>> import jax.numpy as jnp
    >>> locate_nonfinite({"a": jnp.ones(2), "b": (jnp.array([1.0, jnp.nan]),)})
    ["['b'][0]"]
    """
    flags = jax.tree_util.tree_leaves_with_path(nonfinite_mask(tree))
    return [path_str(path) for path, bad in flags if bool(np.asarray(bad))]
