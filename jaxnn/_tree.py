"""Small pytree helpers used across jaxnn."""

import jax
import jax.numpy as jnp

from jaxnn._typing import PyTree


def tree_cast(tree: PyTree, dtype) -> PyTree:
    """Cast every floating leaf of ``tree`` to ``dtype``; other leaves are kept."""

    def cast(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(cast, tree)


def tree_zeros_like(tree: PyTree, dtype=None) -> PyTree:
    """Zeros with the shape of every leaf, and its dtype or ``dtype``."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def tree_add(a: PyTree, b: PyTree) -> PyTree:
    """Leaf-wise ``a + b``."""
    return jax.tree.map(jnp.add, a, b)


def tree_scale(tree: PyTree, s) -> PyTree:
    """Leaf-wise ``s * tree``."""
    return jax.tree.map(lambda x: s * x, tree)


def _abs_sq(x) -> jax.Array:
    """``|x|²`` element-wise; ``Re(x)² + Im(x)²`` for complex ``x`` (as optax)."""
    if jnp.iscomplexobj(x):
        return jnp.square(jnp.real(x)) + jnp.square(jnp.imag(x))
    return jnp.square(x)


def tree_sq_norm(tree: PyTree) -> jax.Array:
    """``Σ_leaves Σ |x|²``, real also for complex leaves; the leaf sums are added left
    to right, as optax's ``tree.norm`` adds them. Leaves narrower than float32 are
    squared and summed in float32: in float16 the sum overflows from a norm of 256
    (optax's, in the leaf dtype, does), and in bfloat16 it loses all but 8 bits."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros([])
    return sum(jnp.sum(_abs_sq(at_least_float32(x))) for x in leaves)


def at_least_float32(x) -> jax.Array:
    """``x`` in float32 if its dtype is narrower (float16, bfloat16), else as it is:
    where a sum of squares or a mean must not overflow or lose its bits."""
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def tree_norm(tree: PyTree) -> jax.Array:
    """Global L2 norm of all leaves: ``sqrt(Σ_leaves Σ |x|²)``."""
    return jnp.sqrt(tree_sq_norm(tree))


def path_str(path) -> str:
    """Readable pytree path, e.g. ``[1].w`` or ``['layer0']['b']``."""
    return jax.tree_util.keystr(path) or "<root>"


def check_same_tree(a: PyTree, b: PyTree, a_name: str, b_name: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same structure and shapes.

    The message names both structures, or the first leaf path whose shapes differ
    and both shapes; nothing is broadcast. Shapes are static, so this also holds
    under ``jax.jit``.
    """
    ta, tb = jax.tree.structure(a), jax.tree.structure(b)
    if ta != tb:
        raise ValueError(
            f"{a_name} and {b_name} must have the same pytree structure; "
            f"got {a_name}={ta} and {b_name}={tb}."
        )
    leaves_b = jax.tree.leaves(b)
    for (path, x), y in zip(jax.tree.leaves_with_path(a), leaves_b, strict=True):
        if jnp.shape(x) != jnp.shape(y):
            raise ValueError(
                f"{a_name} and {b_name} must have the same leaf shapes; at "
                f"{path_str(path)} got {a_name} shape {jnp.shape(x)} and "
                f"{b_name} shape {jnp.shape(y)}."
            )
