"""One grid cell: every backward mode of one network, timed side by side.

A cell is a network (depth × width, a variant, a loss), a batch size and a dtype. For
it this module times, interleaved round by round:

- ``manual``: ``jit(jaxnn.backprop.value_and_grad)``, the hand-written backward pass;
- ``autodiff``: ``jit(jaxnn.backprop.autodiff_value_and_grad)`` (``jax.value_and_grad``);
- ``custom_vjp``: ``jax.value_and_grad`` of the network wrapped by
  ``jaxnn.backprop.custom_vjp``, so that ``jax.grad`` runs the manual rules;
- ``step_<mode>``: a full jitted Adam train step (state donated) with each mode;
- peers, when present: ``numpy`` (hand-written backprop) and ``torch`` (eager autograd);
- ``peak_matmul``: a square ``width × width`` matmul of the cell's dtype, the peak that
  the cell's achieved GFLOP/s is compared with under the same load;
- ``autodiff_again`` and ``step_autodiff_again``: the A/A controls, the autodiff
  value-and-grad and Adam step jitted and compiled a second time, separate
  executables of the same programs. Their ratios to ``autodiff`` and
  ``step_autodiff`` are what the machine alone makes of two identical programs in
  that cell, beside which manual/autodiff is read. (Not the same executable called
  twice: a variant called twice per round keeps its code and buffers warmer and ran
  3–5 % faster in dispatch-bound cells, which biased every other ratio against it.)

Each pair compared is also checked for being the *same* compiled program
(``program_fingerprint``): XLA may optimise the manual and the autodiff backward
into identical kernels, and then their ratio is noise by construction.

FLOPs, bytes and memory come from XLA (``cost_analysis``, ``memory_analysis``) of the
compiled programs; compile time is measured apart, on fresh jitted functions.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _nets, _peers
from benchmarks._timing import (
    analyse,
    compile_interleaved,
    count_flops,
    program_fingerprint,
    ratio_stats,
    stateful,
    summarize,
    time_interleaved,
)
from jaxnn import backprop, losses, optim

MODES = ("manual", "autodiff", "custom_vjp")
STEPS = tuple(f"step_{m}" for m in MODES)
JAX_VARIANTS = MODES + STEPS
#: The A/A controls: a second compiled copy of each autodiff variant, by name.
CONTROLS = {"autodiff_again": "autodiff", "step_autodiff_again": "step_autodiff"}
CONTROL, STEP_CONTROL = CONTROLS
#: (numerator, denominator) of the time ratios of a cell.
RATIOS = (
    ("manual", "autodiff"),
    ("custom_vjp", "autodiff"),
    ("step_manual", "step_autodiff"),
    ("step_custom_vjp", "step_autodiff"),
    (CONTROL, "autodiff"),
    (STEP_CONTROL, "step_autodiff"),
)


class Cell(NamedTuple):
    """A point of the grid."""

    depth: int
    width: int
    batch: int
    variant: str
    loss: str
    dtype: str

    @property
    def shape(self) -> str:
        return f"{self.depth}×{self.width}×{self.batch}"

    @property
    def label(self) -> str:
        loss = _nets.LOSS_LABELS[self.loss]
        return f"{self.shape} {self.variant} {loss} {self.dtype}"


class Settings(NamedTuple):
    """How hard to measure each cell."""

    repeats: int = 30
    warmup: int = 3
    budget_s: float | None = 4.0  # per cell for the modes: fills or caps the rounds
    peer_budget_s: float | None = 3.0  # per cell for the peers
    # The "≥ 30 runs": a budget may add rounds, never cut below 30 (10 rounds
    # of a 73 ms cell gave an IQR of 0.16 and a median ratio off by 0.06).
    min_repeats: int = 30
    compile_repeats: int = 2
    peers: bool = True
    peak_min_width: int = 512  # narrower cells are dispatch-bound: no peak fraction


def custom_vjp_value_and_grad(model, loss) -> Callable:
    """``jax.value_and_grad`` through ``jaxnn.backprop.custom_vjp(model)``.

    Same signature as ``jaxnn.backprop.value_and_grad``; the network's derivative is
    its own ``backward``, the loss's is autodiff's.
    """
    apply = backprop.custom_vjp(model)
    loss = losses.get(loss)

    def fn(params, state, x, y, *, train=True, key=None):
        def objective(p):
            pred, new_state = apply(p, state, x, train=train, key=key)
            return loss.forward(pred, y), new_state

        return jax.value_and_grad(objective, has_aux=True)(params)

    return fn


def value_and_grad_for(mode: str, model, loss) -> Callable:
    """The (unjitted) value-and-grad function of a backward ``mode``."""
    if mode == "manual":
        return backprop.value_and_grad(model, loss)
    if mode == "autodiff":
        return backprop.autodiff_value_and_grad(model, loss)
    if mode == "custom_vjp":
        return custom_vjp_value_and_grad(model, loss)
    raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}.")


def train_step(value_and_grad: Callable, optimizer) -> Callable:
    """A jitted ``step((params, state, opt_state), x, y) -> (carry, loss)``.

    The carry is donated: parameters and optimizer state are updated in place, as a
    training loop would run it.
    """

    def step(carry, x, y):
        params, model_state, opt_state = carry
        (value, model_state), grads = value_and_grad(params, model_state, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optim.apply_updates(params, updates)
        return (params, model_state, opt_state), value

    return jax.jit(step, donate_argnums=0)


def _factories(model, loss: str, optimizer) -> dict[str, Callable[[], Callable]]:
    """name -> a function building a *fresh* jitted variant (no cache hits)."""
    out = {}
    for mode in MODES:
        out[mode] = lambda m=mode: jax.jit(value_and_grad_for(m, model, loss))
        out[f"step_{mode}"] = lambda m=mode: train_step(
            value_and_grad_for(m, model, loss), optimizer
        )
    return out


#: Square matmuls per call of the peak reference on an accelerator.
ACCELERATOR_MATMUL_CHAIN = 8

#: On an accelerator, wider cells skip the NumPy peer (it runs on the host CPU).
NUMPY_MAX_WIDTH_ON_ACCELERATORS = 2048


def _copy(tree):
    return jax.tree.map(jnp.copy, tree)


def _peer_thunks(cell: Cell, net, params, x, y, manual_grads, backend: str):
    """Thunks and notes for the NumPy and PyTorch peers of a cell."""
    thunks, info = {}, {}
    layers = _nets.layer_arrays(net, params)
    reference = _nets.layer_arrays(net, manual_grads)
    if backend != "cpu" and cell.width >= NUMPY_MAX_WIDTH_ON_ACCELERATORS:
        info["numpy"] = {
            "skipped": f"width ≥ {NUMPY_MAX_WIDTH_ON_ACCELERATORS} on an accelerator: "
            "NumPy on the host would take minutes per cell."
        }
    elif cell.dtype in _peers.NUMPY_DTYPES:
        np_fn = _peers.numpy_value_and_grad(net)
        xn, yn = np.asarray(x), np.asarray(y)
        _, grads = np_fn(layers, xn, yn)
        got = {str(g.dtype) for p in grads for g in p.values()}
        if got != {cell.dtype}:  # its time would be another dtype's
            raise RuntimeError(
                f"the NumPy peer of {cell.label} computed in {sorted(got)}, not "
                f"{cell.dtype}."
            )
        thunks["numpy"] = lambda: np_fn(layers, xn, yn)
        info["numpy"] = {"grad_rel_error": _nets.relative_error(grads, reference)}
    else:
        info["numpy"] = {"skipped": f"NumPy has no native {cell.dtype}."}
    if _peers.torch_or_none() is None:
        info["torch"] = {"skipped": _peers.TORCH_MISSING}
        return thunks, info
    torch = _peers.torch_or_none()
    device = _peers.torch_device(backend)
    tdtype = getattr(torch, cell.dtype)
    tensors = _peers.torch_tensors(layers, device, cell.dtype)
    as_f32 = lambda a: np.asarray(a, np.float32 if cell.dtype == "bfloat16" else None)
    xt = torch.tensor(as_f32(x)).to(device=device, dtype=tdtype)
    yt = torch.tensor(as_f32(y)).to(device=device, dtype=tdtype)
    t_fn = _peers.torch_value_and_grad(net, tensors)

    def torch_thunk():
        out = t_fn(xt, yt)
        _peers.torch_sync(device)
        return out

    _, grads = torch_thunk()
    thunks["torch"] = torch_thunk
    info["torch"] = {
        "device": device,
        "grad_rel_error": _nets.relative_error(_peers.torch_to_numpy(grads), reference),
    }
    return thunks, info


def matmul_chain(backend: str) -> int:
    """Square matmuls per call of the peak reference (see ``matmul_thunk``)."""
    return 1 if backend == "cpu" else ACCELERATOR_MATMUL_CHAIN


def matmul_thunk(n: int, dtype: str, key, backend: str):
    """``(thunk, flops)`` of the peak reference: square ``n×n`` matmuls.

    On CPU one matmul per call. On an accelerator one call of one matmul is mostly
    dispatch and synchronisation (an H100 took 0.59 ms for a 4096³ float32 product,
    a third of its speed), so a call chains ``ACCELERATOR_MATMUL_CHAIN`` of them,
    ``c ← (c·b)/√n`` in a ``fori_loop``; the FLOPs are the chain length times
    ``count_flops`` of one link (``cost_analysis`` counts a loop body once).
    """
    ka, kb = jax.random.split(key)
    a = jax.random.normal(ka, (n, n), dtype)
    b = jax.random.normal(kb, (n, n), dtype)
    chain = matmul_chain(backend)
    scale = jnp.asarray(1 / n**0.5, dtype)
    link = jax.jit(lambda c, b: (c @ b) * scale)
    fn = jax.jit(lambda a, b: jax.lax.fori_loop(0, chain, lambda _, c: link(c, b), a))
    flops = count_flops(link, a, b)
    return (lambda: fn(a, b)), (None if flops is None else chain * flops)


def cell_network(cell: Cell):
    """``(net, model)`` of a cell: ``mlp([width] * depth + [10])`` and its variant."""
    net = _nets.net_for(cell.variant, cell.depth, cell.width, cell.loss)
    return net, _nets.model(net)


def cell_arrays(cell: Cell, net, k_init, k_data):
    """``(params, state, x, y)`` of a cell. Traceable: under ``jax.eval_shape`` it
    gives the shapes alone (``benchmarks.recount``)."""
    dtype = jnp.dtype(cell.dtype)
    params, state = _nets.init(net, k_init, cell.width, dtype)
    x, y = _nets.batch(net, k_data, cell.batch, cell.width, dtype)
    return params, state, x, y


def cell_jobs(model, loss: str, params, state, x, y, *, init_opt=None) -> dict:
    """name -> ``(factory, args)`` of every jax variant (``compile_interleaved``'s
    jobs): the value-and-grad modes at ``(params, state, x, y)``, the Adam steps at
    ``((params, state, opt_state), x, y)``. ``init_opt`` builds the optimizer
    state from ``(optimizer.init, params)`` (``jax.eval_shape`` for shapes alone)."""
    optimizer = optim.adam(1e-3)
    opt_state = (init_opt or (lambda f, p: f(p)))(optimizer.init, params)
    carry = (params, state, opt_state)
    factories = _factories(model, loss, optimizer)
    jobs = {m: (factories[m], (params, state, x, y)) for m in MODES}
    jobs.update({s: (factories[s], (carry, x, y)) for s in STEPS})
    return jobs


def abstract_jobs(cell: Cell) -> dict:
    """``cell_jobs`` of ``cell`` from its shapes alone (``jax.ShapeDtypeStruct``
    arguments, through ``jax.eval_shape``): enough to lower and compile every
    program, with nothing allocated or run."""
    net, model = cell_network(cell)
    keys = jax.random.split(jax.random.key(0))
    shapes = jax.eval_shape(lambda k: cell_arrays(cell, net, k[0], k[1]), keys)
    return cell_jobs(model, cell.loss, *shapes, init_opt=jax.eval_shape)


def temp_comparison(temp_bytes: dict) -> dict:
    """The memory target's fields from temp bytes by variant: for the value-and-grad
    and the Adam step, ``temp_<manual>_le_<autodiff>`` and the difference in bytes
    (omitted where the backend reports no size)."""
    memory = {}
    for num, den in (("manual", "autodiff"), ("step_manual", "step_autodiff")):
        t_num, t_den = temp_bytes.get(num), temp_bytes.get(den)
        if t_num is not None and t_den is not None:
            memory[f"temp_{num}_le_{den}"] = bool(t_num <= t_den)
            memory[f"temp_{num}_minus_{den}_bytes"] = int(t_num - t_den)
    return memory


def temp_le_count(memories, key: str = "temp_manual_le_autodiff") -> int:
    """How many ``temp_comparison`` records have ``key`` true: a cell whose backend
    reports no size has no comparison and does not count as at or below. The one
    rule of the timed grid's summary and of ``benchmarks.memory``."""
    return sum(m.get(key) is True for m in memories)


def run_cell(cell: Cell, settings: Settings, *, backend: str, key) -> dict:
    """Measure one cell; returns its JSON record (see ``_record``)."""
    net, model = cell_network(cell)
    k_init, k_data, k_peak = jax.random.split(key, 3)
    params, state, x, y = cell_arrays(cell, net, k_init, k_data)
    jobs = cell_jobs(model, cell.loss, params, state, x, y)
    carry = jobs[STEPS[0]][1][0]
    compile_times, built = compile_interleaved(jobs, repeats=settings.compile_repeats)
    jitted = {name: f for name, (f, _) in built.items()}
    compiled = {
        name: (c, count_flops(jitted[name], *jobs[name][1]))
        for name, (_, c) in built.items()
    }

    # Group 1: the backward modes (and the peak matmul) interleaved round by round.
    thunks = {m: (lambda f=jitted[m]: f(params, state, x, y)) for m in MODES}
    for s in STEPS:
        thunks[s] = stateful(jitted[s], _copy(carry), x, y)
    for control, original in CONTROLS.items():  # fresh jits: executables of their own
        factory, args = jobs[original]
        jitted[control] = factory()
        compiled[control] = (jitted[control].lower(*args).compile(), None)
    thunks[CONTROL] = lambda f=jitted[CONTROL]: f(params, state, x, y)
    thunks[STEP_CONTROL] = stateful(jitted[STEP_CONTROL], _copy(carry), x, y)
    peak_flops = None
    if cell.width >= settings.peak_min_width:
        thunks["peak_matmul"], peak_flops = matmul_thunk(
            cell.width, cell.dtype, k_peak, backend
        )
    timing = dict(
        repeats=settings.repeats,
        warmup=settings.warmup,
        min_repeats=min(settings.min_repeats, settings.repeats),
    )
    samples = time_interleaved(thunks, budget_s=settings.budget_s, **timing)

    # Group 2: each peer variant against the manual pass in rounds of those two
    # alone, apart from group 1 so that the peers' thread pools (OpenMP, OpenBLAS)
    # do not disturb the jaxnn-only ratios, and apart from each other: a peer right
    # after its own other-thread twin ran on warm caches (NumPy at 2×64×32: 91 µs
    # after its twin, 141–157 after anything else).
    peer_info, pairs = {}, {}
    if settings.peers:
        _, manual_grads = jitted["manual"](params, state, x, y)
        peer_thunks, peer_info = _peer_thunks(
            cell, net, params, x, y, manual_grads, backend
        )
        peer_thunks, threads = _peers.peer_variants(peer_thunks)
        budget = settings.peer_budget_s
        for name, thunk in peer_thunks.items():
            pair = {"manual": thunks["manual"], name: thunk}
            share = None if budget is None else budget / len(peer_thunks)
            s = time_interleaved(pair, budget_s=share, **timing)
            pairs[name] = (s[name], s["manual"])
        for name, n in threads.items():
            peer_info.setdefault(name, {})["threads"] = n

    record = _record(cell, params, samples, compile_times, compiled)
    record["peers"] = peer_info
    for name, (peer_s, manual_s) in pairs.items():
        peer_info.setdefault(name, {}).update(
            time_s=summarize(peer_s)._asdict(),
            manual_time_s=summarize(manual_s)._asdict(),  # manual in the same rounds
            over_manual=ratio_stats(peer_s, manual_s)._asdict(),
        )
    for peer in ("numpy", "torch"):
        if peer in pairs:
            best = _peers.best_peer({n: p for n, (p, _) in pairs.items()}, peer)
            record["ratios"][f"{peer}_over_manual"] = {
                **peer_info[best]["over_manual"],
                "config": best,
            }
    if peak_flops:
        record["peak"] = _peak_record(record, samples, peak_flops, cell.width)
        record["peak"]["matmuls_per_call"] = matmul_chain(backend)
    return record


def _record(cell: Cell, params, samples, compile_times, compiled) -> dict:
    """The JSON record of a cell: per variant time, compile time, cost and memory."""
    variants = {}
    for name in JAX_VARIANTS:
        a = analyse(*compiled[name])
        t = summarize(samples[name])
        variants[name] = {
            "time_s": t._asdict(),
            "lower_s": summarize(compile_times[name].lower)._asdict(),
            "compile_s": summarize(compile_times[name].compile)._asdict(),
            "analysis": a._asdict(),
            "gflops": a.flops / t.median / 1e9 if a.flops else None,
        }
    controls = {
        name: {
            "time_s": summarize(samples[name])._asdict(),
            "program": program_fingerprint(compiled[name][0]),
        }
        for name in CONTROLS
    }
    programs = {name: v["analysis"]["program"] for name, v in variants.items()}
    programs.update({name: c["program"] for name, c in controls.items()})
    ratios, same_program = {}, {}
    for num, den in RATIOS:
        ratios[f"{num}_over_{den}"] = ratio_stats(samples[num], samples[den])._asdict()
        pair = programs[num], programs[den]
        same_program[f"{num}_over_{den}"] = None if None in pair else pair[0] == pair[1]
    for num, den in (("manual", "autodiff"), ("step_manual", "step_autodiff")):
        c_num, c_den = compile_times[num], compile_times[den]
        key = f"{num}_over_{den}"
        # Time to a first call: tracing and lowering, then XLA; and XLA alone.
        total_num = np.add(c_num.lower, c_num.compile)
        total_den = np.add(c_den.lower, c_den.compile)
        ratios[f"compile_{key}"] = ratio_stats(total_num, total_den)._asdict()
        ratios[f"xla_compile_{key}"] = ratio_stats(
            c_num.compile, c_den.compile
        )._asdict()
        ratios[f"lower_{key}"] = ratio_stats(c_num.lower, c_den.lower)._asdict()
    memory = temp_comparison(
        {name: v["analysis"]["temp_bytes"] for name, v in variants.items()}
    )
    return {
        "cell": cell._asdict(),
        "label": cell.label,
        "shape": cell.shape,
        "num_params": int(sum(leaf.size for leaf in jax.tree.leaves(params))),
        "variants": variants,
        "ratios": ratios,
        "same_program": same_program,
        "controls": controls,
        "memory": memory,
    }


def _peak_record(record: dict, samples, peak_flops: float, width: int) -> dict:
    """Achieved GFLOP/s of each value-and-grad mode as a fraction of the peak matmul.

    The fraction is taken round by round: ``(flops/t_mode) / (peak_flops/t_peak)``.
    """
    peak_t = summarize(samples["peak_matmul"])
    out = {
        "matmul_n": width,
        "flops": peak_flops,
        "time_s": peak_t._asdict(),
        "gflops": peak_flops / peak_t.median / 1e9,
    }
    for mode in MODES:
        flops = record["variants"][mode]["analysis"]["flops"]
        if not flops:
            continue
        r = ratio_stats(samples["peak_matmul"], samples[mode])
        scale = flops / peak_flops
        out[f"{mode}_fraction"] = {
            k: (v * scale if k != "n" else v) for k, v in r._asdict().items()
        }
    return out
