"""Finite differences vs backpropagation: cost against the number of parameters P.

``jaxnn.gradcheck.numerical_grad`` evaluates the loss ``2P`` times, each evaluation
costing O(P), so O(P²) in all; one backward pass costs about one forward pass, O(P).
This benchmark times both (float64, jitted, compile excluded) on
``mlp([h, 1])`` with tanh, MSE, ``IN_FEATURES`` inputs and a batch of ``BATCH``, for
``h`` giving P from about 10² to 10⁴·⁵, and fits ``t ∝ P^k`` on log-log axes.
At small P both are dominated by fixed per-call and per-evaluation overheads, which
pulls the fitted exponents down; the fit over the upper half of the sizes is reported
too.
"""

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._timing import fit_exponent, ratio_stats, summarize, time_interleaved
from jaxnn import backprop, gradcheck, losses, models

IN_FEATURES = 16
BATCH = 32
FULL_SIZES = (100, 316, 1000, 3162, 10000, 31623)
QUICK_SIZES = (1000, 3162, 10000)


def hidden_for(num_params: int) -> int:
    """The hidden width ``h`` whose ``mlp([h, 1])`` has about ``num_params`` params."""
    return max(1, round((num_params - 1) / (IN_FEATURES + 2)))


def _problem(hidden: int, key):
    model = models.mlp([hidden, 1], activation="tanh")
    k_init, kx, ky = jax.random.split(key, 3)
    _, params, state = model.init(k_init, (IN_FEATURES,))
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    x = jax.random.normal(kx, (BATCH, IN_FEATURES), jnp.float64)
    y = jax.random.normal(ky, (BATCH, 1), jnp.float64)
    return model, params, state, x, y


def _fit(points, key: str, lower: int = 0) -> dict:
    pts = points[lower:]
    k, a = fit_exponent([p["num_params"] for p in pts], [p[key]["median"] for p in pts])
    return {"exponent": k, "log_prefactor": a, "points": len(pts)}


#: Elements of the perturbed parameter copies of one ``lax.map`` step, at most:
#: 512 KiB of float64 on CPU (cache-sized), 128 MiB on an accelerator.
CPU_FD_ELEMENTS = 2**16
ACCELERATOR_FD_ELEMENTS = 2**24


def fd_batch_size(num_params: int, backend: str) -> int:
    """``numerical_grad``'s ``batch_size``: as many parameters perturbed per step as
    keep ``batch × P`` under ``CPU_FD_ELEMENTS`` (CPU) or ``ACCELERATOR_FD_ELEMENTS``,
    at least 1 and at most P."""
    budget = CPU_FD_ELEMENTS if backend == "cpu" else ACCELERATOR_FD_ELEMENTS
    return max(1, min(num_params, budget // num_params))


def run(
    *, sizes=FULL_SIZES, repeats: int = 10, budget_s: float = 5.0, seed: int = 0
) -> dict:
    """Time ``numerical_grad`` and backprop per size; fit the cost exponents.

    The finite differences are batched (``fd_batch_size``): one at a time, each of
    the 2P evaluations costs a fixed overhead besides its work, a loop iteration of
    ~3–4 µs on XLA:CPU (P = 109 took 0.95 ms one at a time, 0.41 ms batched) and a
    few µs of kernel launches on a GPU (an H100 gave exponent 1.00), and the fit
    measures that overhead, not the work. Batched is faster at every size (P = 31 627:
    9.2 s against 12.4 s on the 2-core CPU).
    Needs float64 (``jax_enable_x64``); the caller enables it.
    """
    backend = jax.default_backend()
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError("fd_scaling needs jax_enable_x64 (float64 differences).")
    loss = losses.get("mse")
    points = []
    for i, target in enumerate(sizes):
        model, params, state, x, y = _problem(
            hidden_for(target), jax.random.key(seed + i)
        )

        def f(p, model=model, state=state, x=x, y=y):
            return loss.forward(model.forward(p, state, x)[0], y)

        vg = backprop.value_and_grad(model, loss)
        num_params = int(sum(a.size for a in jax.tree.leaves(params)))
        batch = fd_batch_size(num_params, backend)
        fd = jax.jit(
            lambda p, f=f, b=batch: gradcheck.numerical_grad(f, p, batch_size=b)
        )
        bp = jax.jit(lambda p, vg=vg, state=state, x=x, y=y: vg(p, state, x, y)[1])
        g_fd, g_bp = fd(params), bp(params)  # compiles; checks the two agree
        err = gradcheck.relative_error(g_fd, g_bp)
        samples = time_interleaved(
            {"fd": lambda fd=fd, p=params: fd(p), "bp": lambda bp=bp, p=params: bp(p)},
            repeats=repeats,
            warmup=1,
            budget_s=budget_s,
            min_repeats=3,
            seed=seed + i,
        )
        points.append(
            {
                "num_params": num_params,
                "hidden": hidden_for(target),
                "fd_batch_size": batch,
                "fd_s": summarize(samples["fd"])._asdict(),
                "backprop_s": summarize(samples["bp"])._asdict(),
                "fd_over_backprop": ratio_stats(samples["fd"], samples["bp"])._asdict(),
                "relative_error": err,
            }
        )
    half = min(len(points) // 2, max(len(points) - 2, 0))  # a fit needs 2 points
    return {
        "network": f"mlp([h, 1]) tanh, MSE, {IN_FEATURES} inputs, batch {BATCH}",
        "dtype": "float64",
        "points": points,
        "fd_fit": _fit(points, "fd_s"),
        "backprop_fit": _fit(points, "backprop_s"),
        "fd_fit_upper_half": _fit(points, "fd_s", half),
        "backprop_fit_upper_half": _fit(points, "backprop_s", half),
        "fd_evaluations": "2P",
        "note": (
            "numerical_grad perturbs fd_batch_size parameters per lax.map step "
            "(vmapped): 2P evaluations of an O(P) loss."
        ),
    }


def exponents(result: dict) -> tuple[float, float]:
    """``(fd exponent, backprop exponent)`` over all sizes."""
    return result["fd_fit"]["exponent"], result["backprop_fit"]["exponent"]


def as_arrays(result: dict):
    """``(P, fd seconds, backprop seconds)`` as NumPy arrays, for plotting."""
    pts = result["points"]
    return (
        np.array([p["num_params"] for p in pts]),
        np.array([p["fd_s"]["median"] for p in pts]),
        np.array([p["backprop_s"]["median"] for p in pts]),
    )
