"""Finite-difference gradients and three-way gradient checks.

``numerical_grad`` perturbs one scalar at a time (central differences), so a gradient
of ``P`` parameters costs ``2P`` evaluations of ``f`` — O(P²) work for a network whose
forward pass is O(P) — which is why backpropagation (O(P)) is used to train and finite
differences only to check it.

``check_layer`` is the oracle for any object following the Layer protocol: its
hand-written ``backward`` against ``jax.vjp`` of its ``forward`` and against central
finite differences, with tree structure, shapes and dtypes compared too.
"""

import collections
import weakref
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxnn._tree import path_str, tree_cast
from jaxnn._typing import PyTree
from jaxnn.layers import Layer, _is_int, _positive_int
from jaxnn.optim import _validate

#: Default tolerances: manual vs autodiff is exact up to rounding; finite differences
#: with eps = 1e-6 in float64 carry O(eps²) truncation and O(1e-16/eps) rounding error.
RTOL_VJP = {"float64": 1e-12, "float32": 1e-5}
RTOL_FD = 1e-6


def numerical_grad(
    f: Callable, params: PyTree, *, eps: float = 1e-6, batch_size: int | None = None
) -> PyTree:
    """Gradient of scalar ``f`` at ``params`` by central differences.

    ``∂f/∂θᵢ ≈ (f(θ + hᵢ eᵢ) − f(θ − hᵢ' eᵢ)) / (hᵢ + hᵢ')`` for every scalar ``θᵢ``
    of every leaf, with the step ``ε·max(1, |θᵢ|)`` (relative for large ``θᵢ``, whose
    spacing of floats would swamp an absolute ``ε``) rounded in the leaf's own dtype:
    ``hᵢ = (θᵢ + ε·max(1, |θᵢ|)) − θᵢ`` and ``hᵢ' = θᵢ − (θᵢ − hᵢ)``, the steps
    actually taken (``hᵢ' = hᵢ`` unless ``θᵢ − hᵢ`` rounds; a float32 leaf beside
    float64 ones is perturbed in float32): ``2P`` evaluations of ``f``, run one after
    another (``lax.map``), or ``batch_size`` parameters at a time (vectorised with
    ``vmap``, ``batch_size`` perturbed copies of the parameters in memory): on a GPU
    one evaluation of a small ``f`` is a few µs of kernel launches, and batches let
    the time follow the work. Use float64: in float32 rounding error ``~1e-7/ε`` swamps the result.
    ``f`` is traced afresh at every call, so what it reads besides ``params`` (a data
    batch in a global or a closure, a Python scalar) is read as it is now, as by an
    eager ``jax.grad``; the compiled differences are cached per ``f`` (while it
    lives) and traced program, with the arrays it closes over as arguments, so
    checking the same ``f`` again, on new data too, costs no new compilation.

    Args:
      f: a jax-traceable function of ``params`` returning a scalar.
      params: any pytree of floating arrays.
      eps: the relative step ``ε``.
      batch_size: parameters perturbed per step, a Python or NumPy int ≥ 1 (not a
        bool), or ``None`` for one.

    Returns:
      A pytree like ``params`` holding ``∂f/∂params``, each leaf in its own dtype
      (as from ``jax.grad``).

    Raises:
      ValueError: ``eps`` not a finite number > 0 or below the machine epsilon of a
        leaf's dtype (its step could round to 0, giving NaN), a bad ``batch_size``,
        or ``f`` not scalar.
      TypeError: a leaf that is not floating, or ``f`` not real floating.
    """
    _validate.positive("eps", eps)  # a bool is refused, not taken as 1
    eps = float(eps)  # a NumPy float64 would turn a float32 leaf's steps float64
    if batch_size is not None:
        # A Python or NumPy int (layers._is_int), never a bool: True is not 1.
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(
                f"batch_size must be an int ≥ 1 or None; got batch_size={batch_size!r}."
            )
        batch_size = int(batch_size)  # np.int64(4) and 4 share one compilation
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dtype = jnp.asarray(leaf).dtype
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(
                f"numerical_grad needs floating leaves; params{path_str(path)} has "
                f"dtype {dtype}."
            )
        if eps < jnp.finfo(dtype).eps:
            raise ValueError(
                f"eps must be at least the machine epsilon of every leaf's dtype; "
                f"got eps={eps!r} but params{path_str(path)} has dtype {dtype}, "
                f"whose epsilon is {float(jnp.finfo(dtype).eps):.3g} (a smaller step "
                "can round to 0)."
            )
    # A fresh function: jax caches traces by function, which would freeze f's globals.
    closed = jax.make_jaxpr(lambda p: f(p))(params)
    outs = [tuple(a.shape) for a in closed.out_avals]
    if outs != [()]:
        got = (
            f"an output of shape {outs[0]}"
            if len(outs) == 1
            else f"{len(outs)} outputs"
        )
        raise ValueError(f"f must return a scalar; got {got}.")
    out_dtype = closed.out_avals[0].dtype
    if not jnp.issubdtype(out_dtype, jnp.floating):  # complex parts would be dropped
        raise TypeError(
            f"f must return a real floating scalar, as jax.grad requires; got "
            f"dtype {out_dtype}."
        )
    return _compiled_differences(f, closed.jaxpr, eps, batch_size)(
        closed.consts, params
    )


def _central_differences(f, eps, batch_size, params):
    flat, unravel = ravel_pytree(params)
    if flat.size == 0:  # no parameters (or only empty leaves): nothing to perturb
        return unravel(flat)

    def in_leaf_dtypes(v):
        """``v`` rounded entry by entry to its leaf's dtype (``flat``'s is widest)."""
        return ravel_pytree(unravel(v))[0]

    # The steps actually taken, exact in flat's dtype: a float32 leaf in a tree with
    # float64 ones must not be divided by a float64 step it was never moved by.
    h_up = in_leaf_dtypes(flat + eps * jnp.maximum(1, jnp.abs(flat))) - flat
    h_down = flat - in_leaf_dtypes(flat - h_up)

    def partial_i(i):
        up, down = flat.at[i].add(h_up[i]), flat.at[i].add(-h_down[i])
        return (f(unravel(up)) - f(unravel(down))) / (h_up[i] + h_down[i])

    partials = jax.lax.map(partial_i, jnp.arange(flat.size), batch_size=batch_size)
    # In each leaf's dtype, as jax.grad's: unravel casts only a tree of mixed dtypes,
    # and a float64 f of float32 leaves gives float64 partials.
    return jax.tree.map(
        lambda g, p: g.astype(jnp.asarray(p).dtype), unravel(partials), params
    )


#: f -> {(program text, eps, batch_size): jitted differences}, held while f lives
#: (the programs hold what f closes over), at most _PER_F programs per f.
_COMPILED: "weakref.WeakKeyDictionary[Callable, collections.OrderedDict]" = (
    weakref.WeakKeyDictionary()
)
_PER_F = 8


def _compiled_differences(f, jaxpr, eps: float, batch_size) -> Callable:
    """``jit((consts, params) -> ∂f/∂params)`` for ``f`` traced to ``jaxpr``, one per
    ``f`` and program text (every operation, literal and shape), with the arrays
    ``f`` closes over as arguments (``consts``), so that a new data batch reuses it.
    Keyed by ``f`` too: two functions can print the same program and differ (an
    inner ``jit``'s closed-over arrays, a callback, print without values). An ``f``
    that cannot be weakly referenced is compiled per call."""
    try:
        per_f = _COMPILED.setdefault(f, collections.OrderedDict())
    except TypeError:
        per_f = collections.OrderedDict()
    key = (str(jaxpr), eps, batch_size)
    if key in per_f:
        per_f.move_to_end(key)
        return per_f[key]

    def differences(consts, params):
        g = jex.core.jaxpr_as_fun(jex.core.ClosedJaxpr(jaxpr, consts))
        scalar_g = lambda p: g(*jax.tree.leaves(p))[0]
        return _central_differences(scalar_g, eps, batch_size, params)

    per_f[key] = jax.jit(differences)
    if len(per_f) > _PER_F:
        per_f.popitem(last=False)
    return per_f[key]


def _norm(x) -> float:
    """``‖x‖₂`` in float64, as ``m·‖x/m‖`` with ``m = max|x|``: ``Σx²`` itself
    underflows to 0 below ``|x| ≈ 1e-162`` and overflows above ``1e154``."""
    x = np.abs(np.asarray(x)).astype(np.float64).ravel()  # |x| of complex leaves too
    m = x.max(initial=0.0)
    if not 0 < m < np.inf:  # all zero (or empty), or an inf or NaN to propagate
        return float(np.sqrt(np.sum(np.square(x))))
    return float(m * np.linalg.norm(x / m))


def _difference(x, y) -> np.ndarray:
    """``x − y`` in float64, or complex128 when either is complex."""
    complex_ = np.iscomplexobj(x) or np.iscomplexobj(y)
    return np.subtract(x, y, dtype=np.complex128 if complex_ else np.float64)


def _tree_norm(tree: PyTree) -> float:
    """``‖tree‖``, the 2-norm over all leaves, in float64."""
    return _norm([_norm(x) for x in jax.tree.leaves(tree)])


def relative_error(a: PyTree, b: PyTree) -> float:
    """``‖a − b‖ / max(‖a‖, ‖b‖, tiny)``, norms over all leaves of the two pytrees.

    Raises:
      ValueError: the trees differ in structure or a leaf's shape.
    """
    la, lb = _leaves_checked(a, b)
    diff = _norm([_norm(_difference(x, y)) for x, y in zip(la, lb, strict=True)])
    na, nb = _tree_norm(la), _tree_norm(lb)
    return float(diff / max(na, nb, np.finfo(np.float64).tiny))


def _leaves_checked(a, b):
    ta, tb = jax.tree.structure(a), jax.tree.structure(b)
    if ta != tb:
        raise ValueError(f"pytree structures differ: {ta} vs {tb}.")
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), lb, strict=True):
        if np.shape(x) != np.shape(y):
            raise ValueError(
                f"leaf {path_str(path)} has shape {np.shape(x)} vs {np.shape(y)}."
            )
    return la, lb


def _name_args(path: str, names: tuple[str, ...]) -> str:
    """Turn ``[0].w`` (a path into an argument tuple) into ``params.w``."""
    for i, arg in enumerate(names):
        if path.startswith(f"[{i}]"):
            return arg + path[len(f"[{i}]") :]
    return path


class Report(NamedTuple):
    """Outcome of a gradient check.

    Attributes:
      name: what was checked.
      passed: every comparison within its tolerance and no structure/shape/dtype problem.
      errors: comparison name → whole-tree relative error (e.g. ``"backward vs vjp"``).
      rtol: comparison name → tolerance used.
      worst_leaf: pytree path of the leaf contributing most to the worst comparison.
      problems: structure, shape or dtype mismatches found.
    """

    name: str
    passed: bool
    errors: dict
    rtol: dict
    worst_leaf: str
    problems: tuple = ()

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        parts = [
            f"{k} {v:.2e} (rtol {self.rtol[k]:.0e})" for k, v in self.errors.items()
        ]
        text = f"{status} {self.name}: " + "; ".join(parts)
        text += f"; worst leaf {self.worst_leaf}"
        return text + "".join(f"\n  problem: {p}" for p in self.problems)


def _compare(got: PyTree, want: PyTree, got_name: str, want_name: str, args=()):
    """Relative error of ``got`` vs ``want``, the worst leaf and any mismatch found.

    ``args`` names the entries of a top-level argument tuple in leaf paths.
    """
    problems = []
    tg, tw = jax.tree.structure(got), jax.tree.structure(want)
    if tg != tw:
        problems.append(f"tree structure: {got_name} {tg} vs {want_name} {tw}")
        return float("inf"), "<root>", problems
    paths = [
        _name_args(path_str(p), args)
        for p, _ in jax.tree_util.tree_leaves_with_path(want)
    ]
    lg, lw = jax.tree.leaves(got), jax.tree.leaves(want)
    bad_paths = []
    for path, g, w in zip(paths, lg, lw, strict=True):
        if np.shape(g) != np.shape(w):
            problems.append(
                f"shape of {path}: {got_name} {np.shape(g)} vs {want_name} {np.shape(w)}"
            )
            bad_paths.append(path)
        elif jnp.asarray(g).dtype != jnp.asarray(w).dtype:
            problems.append(
                f"dtype of {path}: {got_name} {jnp.asarray(g).dtype} vs "
                f"{want_name} {jnp.asarray(w).dtype}"
            )
            bad_paths.append(path)
    if problems:
        return float("inf"), bad_paths[0], problems
    scale = max(
        _tree_norm(lg),
        _tree_norm(lw),
        np.finfo(np.float64).tiny,
    )
    contributions = [
        _norm(_difference(g, w)) / scale for g, w in zip(lg, lw, strict=True)
    ]
    if not contributions:
        return 0.0, "<root>", problems
    error = float(np.sqrt(np.sum(np.square(contributions))))
    worst = paths[int(np.argmax(contributions))]
    return error, worst, problems


def check_grads(
    f: Callable,
    grad_fn: Callable,
    params: PyTree,
    *,
    rtol: float = RTOL_FD,
    atol: float | None = None,
    eps: float = 1e-6,
    name: str = "gradient",
    raise_on_fail: bool = True,
) -> Report:
    """Compare ``grad_fn(params)`` with the central finite differences of ``f``.

    Passes when ``‖g − g_fd‖ ≤ rtol·max(‖g‖, ‖g_fd‖) + atol`` (norms over all
    leaves). ``atol`` covers a gradient that is zero or nearly so (at an optimum),
    where only the finite differences' rounding error is left: by default
    ``100·√P·ε₆₄·|f(θ)| / eps``, that error's size for ``P`` parameters (each
    difference of two evaluations of ``f`` rounds by about ``ε₆₄·|f|``).

    Args:
      f: scalar function of ``params``.
      grad_fn: the gradient under test, ``params -> grads``.
      params: the point, a pytree of float64 arrays (in float32 the finite
        differences themselves are off by ~1e-2).
      rtol: relative tolerance.
      atol: absolute tolerance, ``None`` for the default above.
      eps: finite-difference step (relative, see ``numerical_grad``).
      name: label for the report.
      raise_on_fail: raise ``AssertionError`` (with the worst leaf's path) on failure.

    Returns:
      A ``Report`` whose error is the relative one and whose tolerance is
      ``rtol + atol / max(‖g‖, ‖g_fd‖)``.

    Raises:
      TypeError: a leaf of ``params`` that is not float64.
      ValueError: ``rtol`` or ``atol`` not a finite number ≥ 0 (a bool is refused:
        ``rtol=True`` would pass any gradient), or a bad ``eps``.
    """
    _validate.non_negative("rtol", rtol)
    if atol is not None:
        _validate.non_negative("atol", atol)
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if jnp.asarray(leaf).dtype != jnp.float64:
            raise TypeError(
                f"check_grads needs float64 params (enable jax_enable_x64); "
                f"params{path_str(path)} has dtype {jnp.asarray(leaf).dtype}."
            )
    got = grad_fn(params)
    want = numerical_grad(f, params, eps=eps)
    error, worst, problems = _compare(got, want, "grad_fn", "finite differences")
    if atol is None:
        size = sum(np.size(x) for x in jax.tree.leaves(params))
        eps64 = np.finfo(np.float64).eps
        atol = 100 * np.sqrt(size) * eps64 * abs(float(f(params))) / eps
    scale = max(_tree_norm(got), _tree_norm(want), np.finfo(np.float64).tiny)
    key = "grad vs finite differences"
    tolerance = rtol + atol / scale
    report = Report(
        name,
        error <= tolerance and not problems,
        {key: error},
        {key: tolerance},
        worst,
        tuple(problems),
    )
    if raise_on_fail and not report.passed:
        raise AssertionError(str(report))
    return report


def away_from_init(params: PyTree, state: PyTree, rng: np.random.Generator):
    """``(params, state)`` with every floating leaf moved off its value, in its own
    dtype: times ``e^(0.25·n)`` entry by entry (signs kept, so a positive scale or
    running variance stays positive), and an all-zero leaf plus ``0.1·n`` in
    ``params`` (a bias, β) or ``0.1·|n|`` in ``state`` (a running mean, or a mean
    square that must stay ≥ 0); ``n ~ N(0, 1)`` from ``rng``. Initial values are
    special (``γ = 1``, ``β = 0``, one PReLU slope for every unit): a backward rule
    that drops ``γ`` or reads ``α[0]`` is exact there."""

    def mover(shift):
        def move(leaf):
            dtype = jnp.asarray(leaf).dtype
            if not jnp.issubdtype(dtype, jnp.floating):
                return leaf
            a = np.asarray(leaf, np.float64)
            a = a * np.exp(0.25 * rng.standard_normal(a.shape))
            if not np.any(a):
                a = a + 0.1 * shift(rng.standard_normal(a.shape))
            return jnp.asarray(a, dtype)

        return move

    return (
        jax.tree.map(mover(lambda n: n), params),
        jax.tree.map(mover(np.abs), state),
    )


def check_layer(
    layer: Layer,
    input_shape: tuple[int, ...],
    *,
    batch: int = 4,
    dtype=jnp.float64,
    train: bool = True,
    key=None,
    rtol: float | None = None,
    finite_differences: bool = True,
    name: str = "layer",
    raise_on_fail: bool = True,
    perturb: bool = True,
) -> Report:
    """Three-way check of a Layer's hand-written ``backward``.

    Initialises the layer, moves its parameters and state off their initial values
    (``perturb``: a rule that is right only at ``γ = 1``, ``β = 0``, a running
    variance of 1 or equal slopes per unit would pass there), draws ``x``
    (``(batch, *input_shape)``) and a cotangent ``dy`` from normal distributions,
    and compares:

    1. ``backward(cache, dy)`` with ``jax.vjp`` of ``forward(...)[0]`` with respect to
       ``(params, x)`` — tree structure, shapes, dtypes and values (``rtol``, default
       1e-12 in float64 and 1e-5 in float32);
    2. in float64 only, ``backward`` with central finite differences of
       ``Σ forward(...)[0] ⊙ dy`` (relative error ≤ 1e-6).

    Args:
      layer: any object with ``init``, ``forward``, ``backward`` (the Layer protocol).
      input_shape: the input shape without the batch axis.
      batch: batch size, a Python or NumPy int ≥ 1 (not a bool).
      dtype: float64 (all three checks; needs ``jax_enable_x64``) or float32.
      train: forward in training mode (batch statistics, dropout masks).
      key: PRNG key for init, inputs and dropout; default ``jax.random.key(0)``.
      rtol: tolerance of the backward-vs-vjp comparison.
      finite_differences: in float64, also compare with finite differences (2P
        evaluations of the layer for P parameters and inputs).
      name: label for the report.
      raise_on_fail: raise ``AssertionError`` naming the worst leaf on failure.
      perturb: move every floating leaf of the initial parameters and state off its
        value first (``away_from_init``: signs kept, zero state made ≥ 0); ``False``
        checks at the initial values, for a layer whose parameters or state must
        stay in some other range.

    Returns:
      A ``Report`` with errors ``"backward vs vjp"`` and, in float64,
      ``"backward vs finite differences"``.

    Raises:
      ValueError: ``batch`` not a positive int, ``dtype`` not float32 or float64
        (float64 without ``jax_enable_x64``), or ``rtol`` not a finite number ≥ 0.
    """
    batch = _positive_int("batch", batch)  # a bool is refused, not taken as 1
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "check_layer with dtype=float64 needs 64-bit mode: call "
            "jax.config.update('jax_enable_x64', True) first, or pass dtype=float32."
        )
    if dtype.name not in RTOL_VJP:
        raise ValueError(f"dtype must be float32 or float64; got dtype={dtype.name}.")
    if rtol is not None:
        _validate.non_negative("rtol", rtol)
    rtol = RTOL_VJP[dtype.name] if rtol is None else rtol
    key = jax.random.key(0) if key is None else key
    k_init, k_x, k_fwd = jax.random.split(key, 3)

    _, params, state = layer.init(k_init, tuple(input_shape))
    params, state = tree_cast(params, dtype), tree_cast(state, dtype)
    # Test inputs come from numpy's generator, seeded by the key: a jax.random draw
    # inside a new jitted function costs a second of XLA compilation on CPU.
    rng = np.random.default_rng(np.asarray(jax.random.key_data(k_x)).tolist())
    if perturb:
        params, state = away_from_init(params, state, rng)
    x = jnp.asarray(rng.standard_normal((batch, *input_shape)), dtype)
    fwd_key = k_fwd if train else None
    with_fd = finite_differences and dtype == jnp.float64
    output = lambda p, x: layer.forward(p, state, x, train=train, key=fwd_key)[0]
    y = jax.eval_shape(output, params, x)  # dy in y's dtype: a cotangent's, as vjp's
    dy = jnp.asarray(rng.standard_normal(y.shape), y.dtype)

    @jax.jit  # one compile for the whole comparison
    def gradients(params, state, x, dy):
        _, _, cache = layer.forward(params, state, x, train=train, key=fwd_key)
        manual = layer.backward(cache, dy)
        auto = jax.vjp(output, params, x)[1](dy)
        numeric = None
        if with_fd:
            inner = lambda args: jnp.sum(output(*args) * dy)
            numeric = numerical_grad(inner, (params, x))
        return manual, auto, numeric

    manual, auto, numeric = gradients(params, state, x, dy)
    errors, rtols = {}, {}
    err, worst, problems = _compare(
        manual, auto, "backward", "jax.vjp", ("params", "x")
    )
    errors["backward vs vjp"], rtols["backward vs vjp"] = err, rtol
    if with_fd:
        err_fd, worst_fd, probs = _compare(
            manual, numeric, "backward", "finite differences", ("params", "x")
        )
        errors["backward vs finite differences"] = err_fd
        rtols["backward vs finite differences"] = RTOL_FD
        problems += probs
        if err_fd / RTOL_FD > err / rtol:
            worst = worst_fd
    passed = not problems and all(errors[k] <= rtols[k] for k in errors)
    report = Report(name, passed, errors, rtols, worst, tuple(problems))
    if raise_on_fail and not passed:
        raise AssertionError(str(report))
    return report
