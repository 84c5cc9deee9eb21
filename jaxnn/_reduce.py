"""The batch sums of the hand-written backward rules."""

from collections.abc import Sequence

import jax
import numpy as np

from jaxnn._typing import Array


def sum_in_dtype(x: Array, axes: Sequence[int], *, keepdims: bool = False) -> Array:
    """``Σ`` of ``x`` over ``axes`` (non-negative), accumulated in ``x``'s own dtype.

    The reduction that ``jax.grad`` emits when it transposes a broadcast (a bias or
    a scale shared over the batch, a per-example total shared over its outputs).
    ``jnp.sum`` would accumulate bfloat16 and float16 in float32: it rounds
    differently from ``jax.grad``, and XLA:CPU then keeps a float32 copy of the
    summed array (up to 128 MiB per program in the benchmark's bfloat16 cells). In
    float32 and float64 the two are the same ``reduce_sum``.
    """
    axes = tuple(axes)
    total = jax.lax.reduce(x, np.zeros((), x.dtype), jax.lax.add, axes)  # reduce_sum
    return jax.lax.expand_dims(total, axes) if keepdims else total
