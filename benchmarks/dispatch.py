"""Per-call latency of a tiny network: where CPU dispatch, not arithmetic, is the cost.

A jitted call on CPU is, by default, dispatched asynchronously: Python enqueues the
program and a runtime thread executes it, which costs tens of µs per call (more on a
loaded machine) whatever the size of the network. With
``jax_cpu_enable_async_dispatch=False`` the program runs inline in the calling thread.
That flag is read when the CPU client is created, so each configuration runs in a
fresh subprocess (``python -m benchmarks.dispatch --json``), which sets it first.

In each configuration this times, interleaved: an empty jitted call (``x + 1`` on a
scalar: pure dispatch), the manual and autodiff value-and-grad of the 2×64×32 ReLU
softmax-CE cell (latency: one call, then ``block_until_ready``), the same manual call
pipelined (``PIPELINE`` calls, one wait: the per-call cost when calls are queued), and
the NumPy baseline (default threads and one thread).
"""

import argparse
import json
import os
import subprocess
import sys
import time

PIPELINE = 50
CONFIGS = {
    "async": {},
    "sync": {"jax_cpu_enable_async_dispatch": False},
}


def measure(repeats: int = 200, depth: int = 2, width: int = 64, batch: int = 32):
    """Time the tiny cell in this process's dispatch configuration (µs per call)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from benchmarks import _nets, _peers
    from benchmarks._timing import (
        config_flag,
        ratio_stats,
        summarize,
        time_interleaved,
    )
    from benchmarks.cells import value_and_grad_for

    net = _nets.net_for("relu", depth, width, "softmax_cross_entropy")
    model = _nets.model(net)
    params, state = _nets.init(net, jax.random.key(0), width, jnp.float32)
    x, y = _nets.batch(net, jax.random.key(1), batch, width, jnp.float32)
    fns = {
        m: jax.jit(value_and_grad_for(m, model, net.loss))
        for m in ("manual", "autodiff")
    }
    noop = jax.jit(lambda a: a + 1)
    scalar = jnp.zeros((), jnp.float32)

    def pipelined():
        out = None
        for _ in range(PIPELINE):
            out = fns["manual"](params, state, x, y)
        return out

    layers = _nets.layer_arrays(net, params)
    np_fn = _peers.numpy_value_and_grad(net)
    xn, yn = np.asarray(x), np.asarray(y)
    thunks = {
        "noop": lambda: noop(scalar),
        "manual": lambda: fns["manual"](params, state, x, y),
        "autodiff": lambda: fns["autodiff"](params, state, x, y),
        "manual_pipelined": pipelined,
    }
    peers, threads = _peers.peer_variants({"numpy": lambda: np_fn(layers, xn, yn)})
    thunks.update(peers)
    samples = time_interleaved(thunks, repeats=repeats, warmup=20, seed=1)
    samples["manual_pipelined"] = [t / PIPELINE for t in samples["manual_pipelined"]]
    per_call_us = {
        k: {s: v * 1e6 if s != "n" else v for s, v in summarize(t)._asdict().items()}
        for k, t in samples.items()
    }
    best = _peers.best_peer(samples, "numpy")
    # Pair by pair, within the interleaved rounds (as every ratio of the benchmarks),
    # not the ratio of the two medians.
    manual_over_numpy = ratio_stats(samples["manual"], samples[best])
    return {
        "async_dispatch": config_flag("jax_cpu_enable_async_dispatch"),
        "cell": f"{depth}×{width}×{batch} relu softmax-CE float32",
        "per_call_us": per_call_us,
        "numpy_threads": threads,
        "numpy_best": best,
        "manual_over_numpy_best": manual_over_numpy._asdict(),
        "pipeline": PIPELINE,
    }


def run(repeats: int = 200, configs=tuple(CONFIGS), timeout_s: float = 300.0) -> dict:
    """Run ``measure`` in one subprocess per configuration; ``{config: result}``.

    A configuration that fails records ``{"error": ...}`` instead.
    """
    out = {}
    for name in configs:
        cmd = [sys.executable, "-m", "benchmarks.dispatch", "--json"]
        cmd += ["--config", name, "--repeats", str(repeats)]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, env.get("PYTHONPATH")) if p
        )
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=root
        )
        if proc.returncode != 0:
            out[name] = {"error": proc.stderr.strip().splitlines()[-1:]}
            continue
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        out[name]["wall_s"] = time.perf_counter() - t0
    return out


def main(argv=None) -> None:
    """``python -m benchmarks.dispatch [--config async|sync] [--repeats N] [--json]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=tuple(CONFIGS), default="async")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    import jax

    for flag, value in CONFIGS[args.config].items():
        jax.config.update(flag, value)  # before the CPU client exists
    result = measure(args.repeats)
    if args.json:
        print(json.dumps(result))
        return
    for name, stats in result["per_call_us"].items():
        print(f"{name:18s} {stats['median']:9.1f} µs  (IQR {stats['iqr']:.1f})")


if __name__ == "__main__":
    main()
