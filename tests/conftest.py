"""Shared test set-up: float64 is enabled so every test can state its dtype."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# The suite is bound by XLA compile time on CPU. The backend (LLVM) optimisation level
# leaves XLA's HLO passes as they are and only makes the machine code less optimised;
# it halves compile time. Subprocess tests inherit it.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

jax.config.update("jax_enable_x64", True)

settings.register_profile("jaxnn", max_examples=15, deadline=None, derandomize=True)
settings.load_profile("jaxnn")


class _KeyGen:
    def __init__(self, seed: int = 0):
        self.key = jax.random.key(seed)

    def __call__(self):
        self.key, sub = jax.random.split(self.key)
        return sub


@pytest.fixture
def getkey():
    """A fresh PRNG key per call, deterministic per test."""
    return _KeyGen(0)
