"""jaxnn: a JAX functional reference implementation of neural-network fundamentals.

Hand-written backprop for every layer, checked against ``jax.grad`` and finite
differences; optax-exact optimizers; training, diagnostics and benchmarks.
"""

from jaxnn import (
    activations,
    backprop,
    gradcheck,
    initializers,
    layers,
    losses,
    models,
    optim,
)

__version__ = "0.1.0"

__all__ = [
    "activations",
    "backprop",
    "gradcheck",
    "initializers",
    "layers",
    "losses",
    "models",
    "optim",
]
