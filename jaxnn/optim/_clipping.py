r"""Gradient clipping: element-wise and by global norm, as optax does it."""

import jax
import jax.numpy as jnp

from jaxnn._tree import path_str, tree_norm
from jaxnn._typing import PyTree
from jaxnn.optim import _validate
from jaxnn.optim._base import GradientTransformation, init_empty_state


def global_norm(tree: PyTree) -> jax.Array:
    r"""The L2 norm of all leaves together; optax's ``optax.tree.norm``.

    .. math:: \|g\| = \sqrt{\textstyle\sum_{\text{leaves}} \sum_i |g_i|^2}

    A complex leaf contributes :math:`\operatorname{Re}(g_i)^2 +
    \operatorname{Im}(g_i)^2`, as in optax, so the norm is always real. Leaves
    narrower than float32 are summed in float32 (so their norm is float32): in
    float16 the sum of squares overflows from a norm of 256, where optax's norm is
    ``inf`` and its ``clip_by_global_norm`` zeroes every update.

    Args:
        tree: A pytree of real or complex arrays.

    Returns:
        A scalar (0 for a tree without leaves).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxnn import optim
        >>> print(optim.global_norm({"a": jnp.array([3.0]), "b": jnp.array(4.0)}))
        5.0
    """
    return tree_norm(tree)


def clip(max_delta: float) -> GradientTransformation:
    r"""Clip every element to :math:`[-\delta, \delta]`; optax's ``clip``.

    .. math:: u_i = \min(\max(g_i, -\delta), \delta)

    Args:
        max_delta: :math:`\delta \ge 0` (``inf`` allowed: no clipping).

    Returns:
        A stateless :class:`GradientTransformation`.

    Raises:
        ValueError: When ``max_delta`` is negative or NaN.
    """
    _validate.non_negative("max_delta", max_delta, allow_inf=True)

    def update(updates, state, params=None):
        del params
        return jax.tree.map(
            lambda g: jnp.clip(g, -max_delta, max_delta), updates
        ), state

    return GradientTransformation(init_empty_state, update)


def clip_by_global_norm(max_norm: float) -> GradientTransformation:
    r"""Rescale all updates together when their global norm reaches a threshold.

    .. math::
        u = \begin{cases} g & \|g\| < c \\ c\, g / \|g\| & \text{otherwise}
        \end{cases}

    Same as optax's ``clip_by_global_norm`` for float32 and float64 updates
    (bfloat16 and float16 leaves: the norm is summed in float32, see
    :func:`global_norm`, where optax sums in the leaves' dtype, so the decision
    and the scale can differ from optax's by an ulp or so): the norm has no epsilon (some
    libraries divide by :math:`\|g\| + 10^{-6}`), and the test is strict, so a
    norm exactly equal to :math:`c` is rescaled (by a factor that is 1 up to
    rounding). All-zero updates come out unchanged when :math:`c > 0`. Every
    leaf keeps its dtype: :math:`c` is cast to it, as a Python float would be,
    also when ``max_norm`` is a float32/float64 scalar next to narrower leaves
    (where optax raises a ``lax.select`` dtype error).

    Note:
        With ``max_norm=0`` and all-zero updates the result is ``0/0 = NaN``, as
        in optax. Differentiating through this transformation at zero updates
        also gives NaN (the derivative of the square root at 0).

    Args:
        max_norm: :math:`c \ge 0` (``inf`` allowed: no clipping).

    Returns:
        A stateless :class:`GradientTransformation`.

    Raises:
        ValueError: When ``max_norm`` is negative or NaN.
        TypeError: At ``update``, an integer leaf of the updates.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxnn import optim
        >>> tx = optim.clip_by_global_norm(1.0)
        >>> updates, _ = tx.update(jnp.array([3.0, 4.0]), tx.init(None))
        >>> print(updates)
        [0.6 0.8]
    """
    _validate.non_negative("max_norm", max_norm, allow_inf=True)

    def update(updates, state, params=None):
        del params
        for path, g in jax.tree.leaves_with_path(updates):
            if not jnp.issubdtype(jnp.result_type(g), jnp.inexact):
                raise TypeError(
                    "clip_by_global_norm: updates must be floating (an integer "
                    f"leaf cannot be rescaled); got dtype {jnp.result_type(g)} at "
                    f"leaf {path_str(path)}."
                )
        g_norm = global_norm(updates)
        keep = g_norm < max_norm

        def clip_leaf(g):
            # max_norm is cast to each leaf's dtype, as a Python float would be, so
            # a leaf narrower than a float32/float64 max_norm (bfloat16 next to
            # float32, float32 under x64) keeps its dtype; optax's lax.select
            # raises a dtype error there.
            scale = jnp.asarray(max_norm, g.dtype)
            clipped = (g / g_norm.astype(g.dtype)) * scale
            big = jnp.finfo(g.dtype).max
            if big < jnp.finfo(g_norm.dtype).max:  # float16: the norm may not fit
                # optax's numbers wherever its norm is finite in g's dtype.
                wider = jnp.promote_types(g.dtype, g_norm.dtype)  # complex stays
                wide = (g.astype(wider) / g_norm * max_norm).astype(g.dtype)
                clipped = jnp.where(g_norm > big, wide, clipped)
            return jax.lax.select(keep, g, clipped)

        return jax.tree.map(clip_leaf, updates), state

    return GradientTransformation(init_empty_state, update)
