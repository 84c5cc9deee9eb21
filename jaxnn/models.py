"""Ready networks built from ``jaxnn.layers``: ``mlp`` and the module's two-layer net."""

from collections.abc import Sequence

from jaxnn import activations as _activations
from jaxnn import initializers as _initializers
from jaxnn import layers as L


def mlp(
    sizes: Sequence[int],
    *,
    activation: str = "relu",
    output: str | None = None,
    initializer=None,
    batch_norm: bool = False,
    residual: bool = False,
    dropout: float = 0.0,
) -> L.Layer:
    """Multi-layer perceptron: hidden blocks, then an output ``dense``.

    Each hidden block of width ``h`` is ``dense(h) → [batch_norm] → activation →
    [dropout]``. With ``residual=True`` a hidden block becomes ``y = block(x) + x``
    wherever its input width equals its output width (a block after a hidden block of
    the same width); the input width is unknown until ``init``, so the first block is
    never residual. The output layer is ``dense(sizes[-1])`` followed by the
    ``output`` activation if one is given.

    Args:
      sizes: the hidden widths and, last, the output width; positive ints.
      activation: hidden activation, a name from ``jaxnn.activations.NAMES``.
      output: output activation name, or ``None`` for raw logits / a linear output
        (what the from-logits losses and ``mse`` take).
      initializer: weight initializer name or function; ``None`` picks
        ``jaxnn.initializers.default_for(activation)`` (He for the ReLU family,
        Xavier for sigmoid/tanh).
      batch_norm: insert ``batch_norm()`` after each hidden ``dense``, which then
        has no bias (``β`` takes its place).
      residual: add identity shortcuts around equal-width hidden blocks.
      dropout: dropout rate after each hidden activation (0 for none).

    Returns:
      A ``Layer`` (a ``serial`` of the blocks).

    >>> import jax, jaxnn
    >>> net = jaxnn.models.mlp([32, 10], activation="tanh")
    >>> out_shape, params, state = net.init(jax.random.key(0), (64,))
    >>> out_shape
    (10,)
    """
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(
            "sizes must be a sequence of positive ints (the hidden widths, then the "
            f"output width); got sizes={sizes!r}."
        ) from None
    if not sizes:
        raise ValueError("sizes must list at least the output width; got sizes=().")
    for i, size in enumerate(sizes):
        L._positive_int(f"sizes[{i}]", size)
    L._flag("batch_norm", batch_norm)  # a truthy "no" would insert batch_norm
    L._flag("residual", residual)
    _activations.get(activation)  # validates the name early
    if output is not None:
        _activations.get(output)
    if initializer is None:
        initializer = _initializers.default_for(activation)
    # ``0.0 <= "0.2"`` would raise a TypeError that names neither; a bool is refused.
    if not 0.0 <= L._real("dropout", dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got dropout={dropout!r}.")

    blocks = []
    for i, width in enumerate(sizes[:-1]):
        # batch_norm subtracts the batch mean: a bias before it would cancel out,
        # its gradient would be rounding noise (that Adam turns into steps).
        block = [L.dense(width, initializer, use_bias=not batch_norm)]
        if batch_norm:
            block.append(L.batch_norm())
        # After batch_norm, ReLU masks with z, which XLA recomputes from what
        # batch_norm's backward keeps (see activations.RELU_MASKED_BY_Z).
        bn_relu = batch_norm and activation == "relu"
        block.append(
            L.activation(_activations.RELU_MASKED_BY_Z if bn_relu else activation)
        )
        if dropout > 0.0:
            block.append(L.dropout(dropout))
        block = L.serial(*block)
        if residual and i > 0 and sizes[i - 1] == width:
            block = L.residual(block)
        blocks.append(block)
    blocks.append(L.dense(sizes[-1], initializer))
    if output is not None:
        blocks.append(L.activation(output))
    return L.serial(*blocks)


def two_layer_sigmoid(hidden: int, out: int, initializer="xavier_normal") -> L.Layer:
    """The teaching module's network (section 6.1), batched.

    Per example (column vectors)::

        h = σ(W₁x + b₁)        ŷ = σ(W₂h + b₂)        L = ½ Σ (y − ŷ)²

    and, with ``z₂ = W₂h + b₂`` and ``z₁ = W₁x + b₁``, the hand-derived gradients::

        ∂L/∂ŷ  = −(y − ŷ)
        ∂L/∂W₂ = (∂L/∂ŷ ⊙ σ'(z₂)) hᵀ        ∂L/∂b₂ = ∂L/∂ŷ ⊙ σ'(z₂)
        ∂L/∂h  = W₂ᵀ (∂L/∂ŷ ⊙ σ'(z₂))
        ∂L/∂W₁ = (∂L/∂h ⊙ σ'(z₁)) xᵀ        ∂L/∂b₁ = ∂L/∂h ⊙ σ'(z₁)

    with the update ``W ← W − α ∂L/∂W``. jaxnn stores weights as ``(in, out)`` and
    computes ``y = x @ w + b`` on a batch of rows, so ``w = Wᵀ``; the batch loss
    (``jaxnn.losses.mse``) is the mean of the per-example ``L``, and its gradient the
    mean of the per-example gradients. ``σ'(z) = σ(z)(1 − σ(z))`` is evaluated from
    the cached pre-activation as ``e^−|z|/(1 + e^−|z|)²``, the same number without
    the cancellation of ``y(1 − y)`` where ``y`` rounds to 1 (see
    ``jaxnn.activations``).

    Returns:
      ``serial(dense(hidden), σ, dense(out), σ)``.
    """
    # Named here: dense would report a bad width as its own ``features``.
    L._positive_int("hidden", hidden)
    L._positive_int("out", out)
    return L.serial(
        L.dense(hidden, initializer),
        L.activation("sigmoid"),
        L.dense(out, initializer),
        L.activation("sigmoid"),
    )
