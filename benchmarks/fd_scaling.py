"""Finite differences vs backpropagation: cost against the number of parameters P.

``jaxnn.gradcheck.numerical_grad`` evaluates the loss ``2P`` times, each evaluation
costing O(P), so O(P²) in all; one backward pass costs about one forward pass, O(P).
This benchmark times both (float64, jitted, compile excluded) on ``mlp([h, 1])`` with
tanh, MSE, ``IN_FEATURES`` inputs and a data batch of ``BATCH`` examples on CPU, or
``ACCELERATOR_IN_FEATURES`` inputs and ``ACCELERATOR_BATCH`` examples on an
accelerator, for ``h`` giving P from about 10² to 10⁴·⁵, and fits ``t ∝ P^k`` on
log-log axes. At small P both are dominated by fixed per-call and per-evaluation
overheads, which pulls the fitted exponents down; the fit over the upper half of the
sizes is reported too.

Why the batch differs by backend: an accelerator runs all the evaluations of one
step at once, so until the work of the 2P evaluations exceeds one step's latency
(~0.1–0.2 ms), the time does not grow with P. With 32 examples that held up to
P ≈ 3 000 on an H200 (0.12–0.17 ms from P = 109 to 1 009, then slope 1.86; fitted
exponent 1.04 over the whole range): the fit measured the latency, not the method's
cost. 4 096 examples give each evaluation 128 times the work; on an H100 the time
per hidden-unit evaluation is then 6.6–9.3 ps from P = 1 009 to 31 627 (the P² cost,
slope 1.95), but 35 ps at P = 325 and the P = 109 point sits at the floor, so the
whole-range fit read 1.64 with 16 inputs. On the CPU 32 examples already follow the
work (1.80).

Why the inputs differ by backend: the batched evaluations compute every perturbed
copy's output ``Σ_j tanh(z_j)·w_j`` as a reduction over ``h`` along the minor axis
of one ``(examples, copies·h)`` matmul output. Compiled for an H100 (``--gpu-target``
in ``benchmarks.memory``, no GPU needed), XLA:GPU emits that reduction as a
reduction kernel for ``h`` from 33 up but, for ``h`` of 18 and 25 (P ≈ 316 and 451
with 16 inputs), as an elementwise loop in which each thread reads its own ``h``
consecutive values: the 35 ps point. With 4 inputs (``h = (P − 1)/6``) every size of
``FULL_SIZES`` compiles to the reduction kernel (P ≈ 100 included, at ``h = 16``).
"""

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._timing import fit_exponent, ratio_stats, summarize, time_interleaved
from jaxnn import backprop, gradcheck, losses, models

IN_FEATURES = 16
BATCH = 32
ACCELERATOR_IN_FEATURES = 4
ACCELERATOR_BATCH = 4096
FULL_SIZES = (100, 316, 1000, 3162, 10000, 31623)
QUICK_SIZES = (1000, 3162, 10000)


def hidden_for(num_params: int, in_features: int = IN_FEATURES) -> int:
    """The hidden width ``h`` whose ``mlp([h, 1])`` on ``in_features`` inputs has
    about ``num_params`` params (``h·(in_features + 2) + 1``)."""
    return max(1, round((num_params - 1) / (in_features + 2)))


def examples_for(backend: str) -> int:
    """The data batch of the benchmark's problem on ``backend``."""
    return BATCH if backend == "cpu" else ACCELERATOR_BATCH


def in_features_for(backend: str) -> int:
    """The input width of the benchmark's problem on ``backend``."""
    return IN_FEATURES if backend == "cpu" else ACCELERATOR_IN_FEATURES


def _problem(hidden: int, examples: int, in_features: int, key):
    model = models.mlp([hidden, 1], activation="tanh")
    k_init, kx, ky = jax.random.split(key, 3)
    _, params, state = model.init(k_init, (in_features,))
    params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
    x = jax.random.normal(kx, (examples, in_features), jnp.float64)
    y = jax.random.normal(ky, (examples, 1), jnp.float64)
    return model, params, state, x, y


def _fit(points, key: str, lower: int = 0) -> dict:
    pts = points[lower:]
    k, a = fit_exponent([p["num_params"] for p in pts], [p[key]["median"] for p in pts])
    return {"exponent": k, "log_prefactor": a, "points": len(pts)}


#: Elements of the perturbed parameter copies of one ``lax.map`` step, at most:
#: 512 KiB of float64 on CPU (cache-sized), 128 MiB on an accelerator.
CPU_FD_ELEMENTS = 2**16
ACCELERATOR_FD_ELEMENTS = 2**24
#: Elements of the hidden activations of one step's evaluations (examples × h per
#: perturbed parameter), at most: 16 MiB of float64 on CPU (never reached with
#: ``BATCH`` examples: 37 parameters per step at the largest P), 512 MiB on an
#: accelerator (3 parameters per step at P = 31 621 with ``ACCELERATOR_BATCH`` and
#: ``ACCELERATOR_IN_FEATURES``).
CPU_FD_ACTIVATIONS = 2**21
ACCELERATOR_FD_ACTIVATIONS = 2**26


def fd_batch_size(num_params: int, backend: str, activations_per_param: int = 0) -> int:
    """``numerical_grad``'s ``batch_size``: as many parameters perturbed per step as
    keep ``batch × P`` under ``CPU_FD_ELEMENTS`` (CPU) or ``ACCELERATOR_FD_ELEMENTS``
    and ``batch × activations_per_param`` under ``CPU_FD_ACTIVATIONS`` or
    ``ACCELERATOR_FD_ACTIVATIONS``, at least 1 and at most P."""
    cpu = backend == "cpu"
    copies = (CPU_FD_ELEMENTS if cpu else ACCELERATOR_FD_ELEMENTS) // num_params
    activations = (CPU_FD_ACTIVATIONS if cpu else ACCELERATOR_FD_ACTIVATIONS) // max(
        1, activations_per_param
    )
    return max(1, min(num_params, copies, activations))


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
    examples, in_features = examples_for(backend), in_features_for(backend)
    points = []
    for i, target in enumerate(sizes):
        hidden = hidden_for(target, in_features)
        model, params, state, x, y = _problem(
            hidden, examples, in_features, jax.random.key(seed + i)
        )

        def f(p, model=model, state=state, x=x, y=y):
            return loss.forward(model.forward(p, state, x)[0], y)

        vg = backprop.value_and_grad(model, loss)
        num_params = int(sum(a.size for a in jax.tree.leaves(params)))
        batch = fd_batch_size(num_params, backend, examples * hidden)
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
                "hidden": hidden,
                "fd_batch_size": batch,
                "fd_s": summarize(samples["fd"])._asdict(),
                "backprop_s": summarize(samples["bp"])._asdict(),
                "fd_over_backprop": ratio_stats(samples["fd"], samples["bp"])._asdict(),
                "relative_error": err,
            }
        )
    half = min(len(points) // 2, max(len(points) - 2, 0))  # a fit needs 2 points
    return {
        "network": f"mlp([h, 1]) tanh, MSE, {in_features} inputs, batch {examples}",
        "examples": examples,
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
