"""Each optimizer minimizes an ill-conditioned quadratic and the Rosenbrock function.

float64 throughout. Learning rates are tuned per problem and written here; every
run happens in one jitted program (one ``lax.scan`` per run, one compilation).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import optim


def ravine(x):
    """A 2-D quadratic with condition number 100: ``½(x₀² + 100 x₁²)``."""
    return 0.5 * (x[0] ** 2 + 100.0 * x[1] ** 2)


def rosenbrock(x):
    """``(1 − x₀)² + 100 (x₁ − x₀²)²``, minimum 0 at (1, 1)."""
    return (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2


PROBLEMS = {
    # name: (loss, start, target loss)
    "ravine": (ravine, (1.0, 1.0), 1e-6),
    "rosenbrock": (rosenbrock, (-1.2, 1.0), 1e-4),
}

# (optimizer, problem) -> (transformation, steps)
RUNS = {
    ("sgd", "ravine"): (lambda: optim.sgd(0.01), 1000),
    ("sgd", "rosenbrock"): (lambda: optim.sgd(1e-3), 12000),
    ("sgd_momentum", "ravine"): (lambda: optim.sgd(2e-3, momentum=0.9), 500),
    ("sgd_momentum", "rosenbrock"): (lambda: optim.sgd(2e-3, momentum=0.9), 1000),
    ("sgd_nesterov", "ravine"): (
        lambda: optim.sgd(2e-3, momentum=0.9, nesterov=True),
        500,
    ),
    ("sgd_nesterov", "rosenbrock"): (
        lambda: optim.sgd(1e-3, momentum=0.9, nesterov=True),
        1500,
    ),
    ("momentum", "ravine"): (lambda: optim.momentum(0.02, beta=0.9), 500),
    ("momentum", "rosenbrock"): (lambda: optim.momentum(0.02, beta=0.9), 1000),
    # RMSprop's steps stay about lr in size, so it needs a decaying rate to settle.
    ("rmsprop", "ravine"): (
        lambda: optim.rmsprop(optim.exponential_decay(0.01, 100, 0.5)),
        1000,
    ),
    ("rmsprop", "rosenbrock"): (
        lambda: optim.rmsprop(optim.exponential_decay(0.01, 500, 0.5)),
        5000,
    ),
    ("adam", "ravine"): (lambda: optim.adam(0.02), 500),
    ("adam", "rosenbrock"): (lambda: optim.adam(0.02), 3000),
    ("adamw", "ravine"): (lambda: optim.adamw(0.02, weight_decay=1e-4), 500),
    ("adamw", "rosenbrock"): (lambda: optim.adamw(0.02, weight_decay=1e-4), 3000),
}


def minimize(tx, loss, x0, steps):
    """Loss after each of ``steps`` updates, starting from ``x0``."""

    def step(carry, _):
        x, state = carry
        updates, state = tx.update(jax.grad(loss)(x), state, x)
        x = optim.apply_updates(x, updates)
        return (x, state), loss(x)

    return jax.lax.scan(step, (x0, tx.init(x0)), length=steps)[1]


@functools.cache
def loss_curves():
    """``{(optimizer, problem): losses per step}``, all runs in one program."""

    def run_all():
        curves = {}
        for (name, problem), (build, steps) in RUNS.items():
            loss, start, _ = PROBLEMS[problem]
            x0 = jnp.asarray(start, jnp.float64)
            curves[(name, problem)] = minimize(build(), loss, x0, steps)
        return curves

    return {k: np.asarray(v) for k, v in jax.jit(run_all)().items()}


@pytest.mark.parametrize(
    ("name", "problem"), list(RUNS), ids=[f"{n}-{p}" for n, p in RUNS]
)
def test_reaches_target_loss(name, problem):
    """float64: the loss after the stated number of steps is below the target."""
    losses = loss_curves()[(name, problem)]
    _, start, target = PROBLEMS[problem]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < target, (losses[-1], target)
    assert losses[-1] < PROBLEMS[problem][0](jnp.asarray(start)) * 1e-3


def steps_to(losses, target):
    below = np.nonzero(losses < target)[0]
    return int(below[0]) + 1 if below.size else np.inf


def test_momentum_crosses_the_ravine_faster_than_sgd():
    """The module's claim: plain SGD is slow in a narrow ravine, momentum and Adam
    speed it up."""
    curves = loss_curves()
    target = PROBLEMS["ravine"][2]
    sgd_steps = steps_to(curves[("sgd", "ravine")], target)
    assert steps_to(curves[("sgd_momentum", "ravine")], target) < sgd_steps
    assert steps_to(curves[("momentum", "ravine")], target) < sgd_steps
    assert steps_to(curves[("adam", "ravine")], target) < sgd_steps
