"""Claim 2: finite differences cost O(P²), backpropagation O(P) — measured.

Central differences ``∂L/∂θᵢ ≈ (L(θ + εeᵢ) − L(θ − εeᵢ)) / 2ε`` need two forward passes
per parameter: ``2P`` passes of O(P) work each, O(P²) in all. Backpropagation runs
one forward and one backward pass, each O(P). For MLPs of growing width this script

- checks that both give the same gradient (float64, relative error);
- times ``jaxnn.gradcheck.numerical_grad`` and the jitted manual
  ``backprop.value_and_grad`` (compiled first, timed after), and fits the exponent
  ``k`` of ``time ∝ Pᵏ`` over the larger sizes;
- counts the floating-point work with XLA's cost analysis of the compiled programs:
  backprop's FLOPs, and finite differences' ``2P ×`` one forward pass's FLOPs; their
  exponents are the asymptotic ones, free of timer noise and dispatch overhead.

Run: ``python examples/ex02_gradcheck_cost.py [--fast] [--out DIR]``.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import cli, out_dir, table, verdict

from jaxnn import backprop, gradcheck, losses, models, plots

BATCH = 32


def _compile(fn, *args):
    """Compile ``jax.jit(fn)`` for ``args`` once (then time the compiled program)."""
    return jax.jit(fn).lower(*args).compile()


def _flops(fn, *args) -> float:
    """XLA's count of floating-point operations of ``jax.jit(fn)(*args)``."""
    analysis = jax.jit(fn).lower(*args).cost_analysis()
    if isinstance(analysis, list | tuple):  # older jax: one dict per computation
        analysis = analysis[0]
    return float(analysis["flops"])


def _seconds(compiled, *args, repeat: int, burn_in: bool = True) -> float:
    """Best wall time of ``repeat`` calls (after one untimed call if ``burn_in``)."""
    if burn_in:
        jax.block_until_ready(compiled(*args))
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def exponent(sizes, values) -> float:
    """Least-squares slope of ``log(values)`` against ``log(sizes)``."""
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def measure(width: int, repeat: int) -> dict:
    """Gradient agreement, timings and FLOPs for ``mlp([width, width, 1])``.

    The network has ``width`` inputs too, so ``P = 2·width² + 4·width + 1``.
    """
    dtype = jnp.float64
    net = models.mlp([width, width, 1], activation="tanh")
    _, params, state = net.init(jax.random.key(0), (width,))
    params = jax.tree.map(lambda a: a.astype(dtype), params)
    # One draw serves every width (its first ``width`` columns): one compilation.
    x = jax.random.normal(jax.random.key(1), (BATCH, 128), dtype)[:, :width]
    y = jnp.sin(x[:, :1]) + 0.1 * x[:, 1:2]

    def loss(p):
        return losses.mse(net.forward(p, state, x)[0], y)

    num_params = sum(a.size for a in jax.tree.leaves(params))
    manual = backprop.value_and_grad(net, "mse")
    value_and_grad = _compile(manual, params, state, x, y)
    fd = _compile(lambda p: gradcheck.numerical_grad(loss, p), params)
    fd_grads = fd(params)
    grads = value_and_grad(params, state, x, y)[1]
    return {
        "width": width,
        "params": num_params,
        "relative_error": gradcheck.relative_error(fd_grads, grads),
        "fd_seconds": _seconds(fd, params, repeat=1, burn_in=False),  # ran above
        "bp_seconds": _seconds(value_and_grad, params, state, x, y, repeat=repeat),
        "fd_flops": 2 * num_params * _flops(loss, params),
        "bp_flops": _flops(manual, params, state, x, y),
    }


def main(fast: bool = False, out=None) -> dict:
    out = out_dir(out)
    widths = (4, 16) if fast else (8, 16, 32, 48, 64, 96)
    with jax.enable_x64(True):
        rows = [measure(w, repeat=3 if fast else 20) for w in widths]
    sizes = np.array([r["params"] for r in rows], dtype=np.float64)
    fit = slice(-3, None)  # the larger sizes, where arithmetic dominates overheads
    result = {
        "params": sizes.tolist(),
        "max_relative_error": max(r["relative_error"] for r in rows),
        "fd_time_exponent": exponent(sizes[fit], [r["fd_seconds"] for r in rows][fit]),
        "bp_time_exponent": exponent(sizes[fit], [r["bp_seconds"] for r in rows][fit]),
        "fd_flop_exponent": exponent(sizes, [r["fd_flops"] for r in rows]),
        "bp_flop_exponent": exponent(sizes, [r["bp_flops"] for r in rows]),
        "fd_over_bp_time_largest": rows[-1]["fd_seconds"] / rows[-1]["bp_seconds"],
        "rows": rows,
    }
    table(
        f"mlp([w, w, 1]) on w inputs, tanh, batch {BATCH}, float64, backend "
        f"{jax.default_backend()}",
        (
            "P",
            "FD vs backprop rel. error",
            "FD time s",
            "backprop time s",
            "FD FLOPs",
            "backprop FLOPs",
        ),
        [
            (
                r["params"],
                r["relative_error"],
                r["fd_seconds"],
                r["bp_seconds"],
                r["fd_flops"],
                r["bp_flops"],
            )
            for r in rows
        ],
    )
    table(
        "fitted exponent k of cost ∝ Pᵏ (time: largest three sizes)",
        ("method", "time exponent", "FLOP exponent"),
        [
            (
                "finite differences",
                result["fd_time_exponent"],
                result["fd_flop_exponent"],
            ),
            ("backpropagation", result["bp_time_exponent"], result["bp_flop_exponent"]),
        ],
    )
    verdict(
        "finite differences cost O(P²), backprop O(P)",
        result["fd_flop_exponent"] > 1.8 and result["bp_flop_exponent"] < 1.2,
        f"FLOP exponents {result['fd_flop_exponent']:.2f} vs "
        f"{result['bp_flop_exponent']:.2f}; time exponents "
        f"{result['fd_time_exponent']:.2f} vs {result['bp_time_exponent']:.2f}; at "
        f"P={int(sizes[-1])} finite differences take "
        f"{result['fd_over_bp_time_largest']:.0f}× longer",
    )
    plots.curves(
        {
            "finite differences, time": (sizes, [r["fd_seconds"] for r in rows]),
            "backprop, time": (sizes, [r["bp_seconds"] for r in rows]),
        },
        out / "ex02_gradcheck_cost.png",
        xlabel="parameters P",
        ylabel="seconds per gradient",
        title="cost of one gradient: finite differences vs backpropagation",
        logx=True,
        logy=True,
        reference=(
            "∝ P² (through the largest FD point)",
            (sizes, rows[-1]["fd_seconds"] * (sizes / sizes[-1]) ** 2),
        ),
    )
    return result


if __name__ == "__main__":
    cli(main, __doc__)
