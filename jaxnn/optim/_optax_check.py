"""Differential self-test: every jaxnn optimizer side by side with its optax twin.

Used by ``jaxnn check``. optax is imported lazily, so jaxnn runs without it.
"""

import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import optim

#: Largest relative error accepted, per dtype name.
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def _configurations(optax) -> list[tuple[str, object, object]]:
    """``(name, jaxnn transformation, optax transformation)`` for each row."""
    return [
        ("sgd", optim.sgd(0.05), optax.sgd(0.05)),
        (
            "sgd momentum=0.9",
            optim.sgd(0.05, momentum=0.9),
            optax.sgd(0.05, momentum=0.9),
        ),
        (
            "sgd momentum=0.9 nesterov",
            optim.sgd(0.05, momentum=0.9, nesterov=True),
            optax.sgd(0.05, momentum=0.9, nesterov=True),
        ),
        (
            "momentum beta=0.9 (EMA)",
            optim.momentum(0.05, beta=0.9),
            optax.chain(
                optax.ema(0.9, debias=False), optax.scale_by_learning_rate(0.05)
            ),
        ),
        ("rmsprop", optim.rmsprop(0.01), optax.rmsprop(0.01)),
        (
            "rmsprop eps_in_sqrt=False",
            optim.rmsprop(0.01, eps_in_sqrt=False),
            optax.rmsprop(0.01, eps_in_sqrt=False),
        ),
        ("adam", optim.adam(0.01), optax.adam(0.01)),
        (
            "nadam eps_root=1e-3 mu_dtype=bfloat16",
            optim.adam(0.01, eps_root=1e-3, mu_dtype="bfloat16", nesterov=True),
            optax.adam(0.01, eps_root=1e-3, mu_dtype="bfloat16", nesterov=True),
        ),
        (
            "adamw weight_decay=0.01",
            optim.adamw(0.01, weight_decay=0.01),
            optax.adamw(0.01, weight_decay=0.01),
        ),
        (
            "adam warmup_cosine schedule",
            optim.adam(optim.warmup_cosine_decay_schedule(0.0, 0.01, 10, 40, 1e-3)),
            optax.adam(optax.warmup_cosine_decay_schedule(0.0, 0.01, 10, 40, 1e-3)),
        ),
    ]


def max_relative_error(ours, theirs) -> float:
    """Largest ``‖a − b‖ / max(‖a‖, ‖b‖, tiny)`` over leaves and steps.

    ``ours`` and ``theirs`` are pytrees whose leaves are stacked over steps (axis
    0); their leaves are paired in flattening order, so the two trees may differ
    in node types (jaxnn's and optax's state classes) but not in leaves. A
    mismatch in leaf count or shape, or a NaN, gives ``inf``.
    """
    ours, theirs = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    if len(ours) != len(theirs):
        return math.inf
    tiny = np.finfo(np.float64).tiny
    worst = 0.0
    for a, b in zip(ours, theirs, strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            return math.inf
        a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)  # (steps, size)
        diff = np.linalg.norm(a - b, axis=1)
        scale = np.maximum(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
        errors = diff / np.maximum(scale, tiny)
        if np.isnan(errors).any():
            return math.inf
        worst = max(worst, float(errors.max(initial=0.0)))
    return worst


def _side_by_side(pair, params, grads, optax):
    """Run ``(ours, theirs)`` over the stacked ``grads`` in one ``lax.scan``.

    Returns ``(ours, theirs)`` histories ``(updates, params, state)`` stacked over
    steps.
    """
    ours, theirs = pair

    def step(carry, g):
        (p1, s1), (p2, s2) = carry
        u1, s1 = ours.update(g, s1, p1)
        p1 = optim.apply_updates(p1, u1)
        u2, s2 = theirs.update(g, s2, p2)
        p2 = optax.apply_updates(p2, u2)
        return ((p1, s1), (p2, s2)), ((u1, p1, s1), (u2, p2, s2))

    carry = ((params, ours.init(params)), (params, theirs.init(params)))
    return jax.lax.scan(step, carry, grads)[1]


def compare_with_optax(dtype, steps: int = 50) -> list[tuple[str, float, bool]]:
    """Compare each optimizer with optax for ``steps`` steps of random gradients.

    Both run on the same small nested pytree (a dict holding a tuple and a list of
    arrays of mixed shapes, a scalar among them) and the same fresh gradients at
    every step. At every step the updates, the parameters and every state leaf
    are compared; a row's error is the largest relative error
    ``‖a − b‖ / max(‖a‖, ‖b‖, tiny)`` over steps and leaves.

    Args:
        dtype: ``jnp.float32`` or ``jnp.float64`` (64-bit mode is switched on
            for the duration of a float64 run).
        steps: Number of optimizer steps.

    Returns:
        One ``(name, max relative error, passed)`` per configuration; ``passed``
        means the error is at most 1e-5 (float32) or 1e-12 (float64).

    Raises:
        ImportError: When optax is not installed.
        ValueError: On a dtype other than float32/float64, or ``steps < 1``.
    """
    try:
        import optax
    except ImportError as err:
        raise ImportError("compare_with_optax needs optax: pip install optax") from err
    name = jnp.dtype(dtype).name
    if name not in TOLERANCE:
        raise ValueError(f"dtype must be float32 or float64; got dtype={name}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got steps={steps!r}")
    # A float64 run needs 64-bit mode; a float32 run leaves the mode as it is.
    x64 = jax.enable_x64(True) if name == "float64" else contextlib.nullcontext()
    with x64:
        return _compare(optax, jnp.dtype(dtype), steps, TOLERANCE[name])


def _nest(arrays):
    """A dict holding a tuple and a list: ``{"layers": (w, b), "extra": [s]}``."""
    w, b, s = arrays
    return {"layers": (w, b), "extra": [s]}


def _compare(optax, dtype, steps, tol):
    # numpy draws: jax.random would compile a kernel per shape, slower than the
    # whole comparison.
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), ()]
    params = _nest([jnp.asarray(rng.standard_normal(s), dtype) for s in shapes])
    grads = _nest(
        [jnp.asarray(rng.standard_normal((steps, *s)), dtype) for s in shapes]
    )
    configurations = _configurations(optax)
    pairs = [(ours, theirs) for _, ours, theirs in configurations]
    # One scan per pair, all in one program: one compilation for every row.
    run_all = jax.jit(lambda p, g: [_side_by_side(x, p, g, optax) for x in pairs])
    histories = run_all(params, grads)
    rows = []
    for (name, _, _), (ours, theirs) in zip(configurations, histories, strict=True):
        error = max_relative_error(ours, theirs)
        rows.append((name, error, error <= tol))
    return rows
