"""The measurement functions every benchmark shares.

Timing rules (nanoGPT's ``bench.py`` and the project's STYLE.md): inputs already on the
device, a burn-in, ``jax.block_until_ready`` before every clock read, and compile time
measured apart from run time. Variants that are compared are timed *interleaved*: one
call of each per round, in an order that rotates every round, so that a change of load
on a shared machine hits all of them alike; ratios are taken round by round (pair by
pair) and summarised by their median. A round of tiny jitted calls costs the
asynchronous-dispatch overhead of each call (tens of µs on CPU), which is part of what
is measured.
"""

import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np

Thunk = Callable[[], Any]


class Stats(NamedTuple):
    """Summary of repeated measurements (seconds, or a ratio)."""

    median: float
    q25: float
    q75: float
    iqr: float
    n: int


class Analysis(NamedTuple):
    """What XLA says about one program (``cost_analysis``/``memory_analysis``).

    ``flops`` are counted by ``cost_analysis`` on the program as jax lowered it,
    before XLA's optimisations (``count_flops``): after them XLA:GPU counts nothing
    inside cuBLAS calls (it reports ``-1``), so the optimised count is kept apart,
    as ``flops_optimized`` (``None`` where not a positive number). Sizes are bytes;
    ``None`` where the backend reports nothing.
    """

    flops: float | None
    flops_optimized: float | None
    transcendentals: float | None
    bytes_accessed: float | None
    temp_bytes: int | None
    argument_bytes: int | None
    output_bytes: int | None
    alias_bytes: int | None
    generated_code_bytes: int | None
    ops: int  # instructions of the optimised entry computation: kernels per call
    program: str | None  # ``program_fingerprint``: equal for identical programs


# Rounds a budget never exceeds: medians of tiny, noisy calls need many.
MAX_REPEATS = 2000


def config_flag(name: str):
    """A jax config value by name, or ``None`` where this jax version has no such flag."""
    try:
        return jax.config.read(name)
    except (AttributeError, KeyError, ValueError):
        return None


def summarize(samples) -> Stats:
    """Median, quartiles and interquartile range of ``samples``."""
    a = np.asarray(samples, dtype=np.float64)
    q25, med, q75 = np.percentile(a, [25, 50, 75])
    return Stats(float(med), float(q25), float(q75), float(q75 - q25), int(a.size))


def ratio_stats(numerator, denominator) -> Stats:
    """Summary of the pairwise ratios ``numerator[i] / denominator[i]``."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    n = min(num.size, den.size)
    return summarize(num[:n] / den[:n])


def timed(thunk: Thunk) -> float:
    """Seconds of one call of ``thunk``, read after ``jax.block_until_ready``."""
    t0 = time.perf_counter()
    jax.block_until_ready(thunk())
    return time.perf_counter() - t0


def time_interleaved(
    thunks: Mapping[str, Thunk],
    *,
    repeats: int = 30,
    warmup: int = 3,
    budget_s: float | None = None,
    min_repeats: int = 5,
    max_repeats: int = MAX_REPEATS,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Wall-clock seconds of every thunk, one call of each per round.

    Each thunk runs ``warmup`` times first. Then rounds run until ``repeats`` rounds are
    done. With ``budget_s`` the budget decides instead, both ways: cheap thunks keep
    going past ``repeats`` until the budget is spent (at most ``max_repeats`` rounds:
    medians of tiny, noisy calls need many), and expensive ones stop before
    ``repeats`` once it is spent (but never before ``min_repeats``). The order within a round is a fresh (seeded)
    random permutation, so that no thunk always follows the same one: whatever one call
    leaves behind (a spinning thread pool, a cold cache) falls on all alike. Every call
    is followed by ``jax.block_until_ready`` before the clock is read.

    Args:
      thunks: name -> zero-argument callable returning what to wait for.
      repeats: rounds wanted (without a budget, exactly these).
      warmup: untimed calls of each thunk before the first round.
      budget_s: optional wall-clock budget for the timed rounds.
      min_repeats: rounds always done, whatever the budget.
      max_repeats: rounds never exceeded, whatever the budget.
      seed: seeds the order of the calls within the rounds.

    Returns:
      name -> list of seconds, one per round (the i-th entries form a pair).
    """
    names = list(thunks)
    for name in names:
        for _ in range(warmup):
            jax.block_until_ready(thunks[name]())
    samples = {name: [] for name in names}
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    rounds = repeats if budget_s is None else max(repeats, max_repeats)
    for r in range(rounds):
        if budget_s is not None and r >= min_repeats:
            if time.perf_counter() - start > budget_s:
                break
        for i in rng.permutation(len(names)):
            samples[names[i]].append(timed(thunks[names[i]]))
    return samples


def stateful(step: Callable, carry, *args) -> Thunk:
    """A thunk that threads ``carry`` through ``step(carry, *args) -> (carry, out)``.

    For steps that donate their state: every call consumes the previous call's output.
    """
    box = [carry]

    def thunk():
        box[0], out = step(box[0], *args)
        return box[0], out

    return thunk


def _count_entry_ops(hlo_text: str) -> int:
    """Instructions of the ENTRY computation that do work (kernels per call)."""
    ops, inside = 0, False
    skip = (" parameter(", " constant(", " tuple(", " get-tuple-element(", " bitcast(")
    for line in hlo_text.splitlines():
        if line.startswith("ENTRY"):
            inside = True
            continue
        if inside:
            if line.startswith("}"):
                break
            if " = " in line and not any(s in line for s in skip):
                ops += 1
    return ops


def program_fingerprint(compiled) -> str | None:
    """A hash of the optimised program, blind to names, source lines and metadata.

    XLA prints the compiled modules canonically (instructions numbered in order,
    called computations inline, no metadata; every constant in full), the module's
    and the computations' names are dropped, and the text is hashed: two programs
    with the same fingerprint run the same kernels in the same order, on the same
    shapes, layouts and constants, whatever jax function they were traced from.
    Where a manual and an autodiff program share one, their time ratio can only be
    noise. ``None`` where this jaxlib does not expose the compiled modules.
    """
    try:
        from jaxlib import _hlo

        options = _hlo.HloPrintOptions.canonical()
        options.print_large_constants = True
        options.print_backend_config = True
        modules = compiled.runtime_executable().hlo_modules()
        text = "\n".join(m.to_string(options) for m in modules)
    except (ImportError, AttributeError, NotImplementedError, RuntimeError):
        return None
    text = re.sub(r"^HloModule \S+,", "HloModule,", text, flags=re.M)
    text = re.sub(r"^(ENTRY )?\S+ \{$", r"\1{", text, flags=re.M)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _positive(x) -> float | None:
    return float(x) if isinstance(x, int | float) and x > 0 else None


def _bare(a) -> jax.ShapeDtypeStruct:
    """Shape and dtype of ``a`` with no device or sharding attached."""
    a = a if hasattr(a, "dtype") else np.asarray(a)
    return jax.ShapeDtypeStruct(np.shape(a), a.dtype)


def count_flops(fn, *args) -> float | None:
    """FLOPs of jitted ``fn`` at ``args`` (arrays or ``jax.ShapeDtypeStruct``).

    ``cost_analysis`` of the program as jax lowers it for the CPU, before XLA
    optimises it: the count of its dots and elementwise ops does not depend on the
    device that runs it, while XLA:GPU counts nothing inside cuBLAS calls (its
    compiled analysis reports −1) and a plugin backend (CUDA, TPU) has no
    ``Lowered.cost_analysis`` at all. So the arguments are lowered as bare shapes
    with the CPU as the default device: the lowering's backend is the CPU's
    whatever device the arrays live on. ``None`` where no positive count comes back.
    """
    shapes = jax.tree.map(_bare, args)
    try:
        with jax.default_device(jax.devices("cpu")[0]):
            lowered = fn.trace(*shapes).lower(lowering_platforms=("cpu",))
        return _positive(_cost(lowered).get("flops"))
    except (NotImplementedError, RuntimeError, TypeError, ValueError):
        return None


def _cost(compiled) -> dict:
    cost = compiled.cost_analysis()
    if isinstance(cost, list | tuple):  # jax < 0.4.38 returned one dict per device
        cost = cost[0] if cost else None
    return dict(cost or {})


def analyse(compiled, flops: float | None = None) -> Analysis:
    """FLOPs, bytes and memory of a ``jax.stages.Compiled`` program.

    ``flops``: the count of ``count_flops`` for the same function (see
    ``Analysis``); without it, the optimised count.
    """
    cost = _cost(compiled)
    optimized = _positive(cost.get("flops"))
    flops = optimized if flops is None else flops
    try:
        mem = compiled.memory_analysis()
    except (NotImplementedError, RuntimeError):
        mem = None

    def m(attr):
        return None if mem is None else int(getattr(mem, attr))

    try:
        ops = _count_entry_ops(compiled.as_text())
    except (NotImplementedError, RuntimeError):
        ops = 0
    return Analysis(
        flops=flops,
        flops_optimized=optimized,
        transcendentals=cost.get("transcendentals"),
        bytes_accessed=cost.get("bytes accessed"),
        temp_bytes=m("temp_size_in_bytes"),
        argument_bytes=m("argument_size_in_bytes"),
        output_bytes=m("output_size_in_bytes"),
        alias_bytes=m("alias_size_in_bytes"),
        generated_code_bytes=m("generated_code_size_in_bytes"),
        ops=ops,
        program=program_fingerprint(compiled),
    )


class CompileTimes(NamedTuple):
    """Seconds to trace and lower (``jit(f).lower``) and to compile (``.compile()``)."""

    lower: list[float]
    compile: list[float]


def compile_interleaved(
    jobs: Mapping[str, tuple[Callable[[], Callable], tuple]],
    *,
    repeats: int = 1,
    warmup: int = 1,
) -> tuple[dict[str, CompileTimes], dict[str, tuple[Callable, Any]]]:
    """Lower and compile fresh jitted functions, interleaved like ``time_interleaved``.

    Args:
      jobs: name -> ``(factory, args)``; each call of ``factory`` returns a new jitted
        function (a new Python closure, so no trace or compilation cache is hit),
        lowered for ``args``.
      repeats: timed compilations of each job.
      warmup: untimed rounds first. They fill what a process caches across
        programs (XLA:GPU's GEMM autotuning results per shape, one-time
        initialisation), which would otherwise be charged to whichever job of a
        cell compiles first.

    Returns:
      ``(name -> CompileTimes, name -> (jitted, compiled))`` with the last jitted
      function built for each job and its ``jax.stages.Compiled`` program (calling
      that jitted function reuses the program). Lowering (tracing to StableHLO)
      and XLA compilation are timed separately; the order alternates between rounds.
    """
    names = list(jobs)
    times = {name: CompileTimes([], []) for name in names}
    built = {}
    for r in range(warmup + repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            factory, args = jobs[name]
            fn = factory()
            t0 = time.perf_counter()
            lowered = fn.lower(*args)
            t1 = time.perf_counter()
            built[name] = (fn, lowered.compile())
            t2 = time.perf_counter()
            if r >= warmup:
                times[name].lower.append(t1 - t0)
                times[name].compile.append(t2 - t1)
    return times, built


def fit_exponent(sizes, seconds) -> tuple[float, float]:
    """Least-squares fit of ``log t = a + k log P``; returns ``(k, a)``."""
    x = np.log(np.asarray(sizes, dtype=np.float64))
    y = np.log(np.asarray(seconds, dtype=np.float64))
    k, a = np.polyfit(x, y, 1)
    return float(k), float(a)


def finite_positive(x) -> bool:
    """Whether ``x`` is a finite number > 0."""
    return isinstance(x, int | float) and math.isfinite(x) and x > 0
