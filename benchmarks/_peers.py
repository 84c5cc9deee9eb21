"""Peers of jaxnn: a NumPy manual-backprop baseline and PyTorch eager autograd.

Both run the network of ``benchmarks._nets`` with the same weights as jaxnn. PyTorch
is an optional extra, never a dependency: it is imported lazily, and every benchmark
skips it with a note when it is not installed (``torch_or_none``). On CPU use its CPU
build (``pip install torch --index-url .../cpu``, or a local ``+cpu`` wheel).

Threads. Three thread pools share the cores in one process: XLA's, OpenBLAS's (NumPy)
and OpenMP's (PyTorch). OpenMP's threads spin after each parallel region by default,
which on a small, shared machine starves the others (measured here: a 2×64×32 step
10× slower for jax and torch alike); so ``OMP_WAIT_POLICY=PASSIVE`` is set before
torch is imported unless the caller set it. Each peer is also timed pinned to one
thread (``threads_thunk``), and comparisons use the faster of its two settings.
"""

import functools
import importlib
import math
import os
from collections.abc import Callable

import numpy as np

from benchmarks._nets import Net, residual_blocks

# Python floats: a NumPy float64 scalar would promote a float32 cell to float64.
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715
BN_EPS = 1e-5
NUMPY_DTYPES = ("float32", "float64")


# ### NumPy ##########################################################################


def _act_forward(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(a, t)``: the activation and, for GELU, its ``tanh`` (kept for backward)."""
    if name == "relu":
        return np.maximum(z, 0), None
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(0.5 * z)), None  # σ(z) without exp overflow
    if name == "tanh":
        return np.tanh(z), None
    if name == "gelu":  # z * z * z: NumPy's z**3 calls pow() per element, ~100x slower
        t = np.tanh(_GELU_C * (z + _GELU_CUBIC * (z * z * z)))
        return 0.5 * z * (1 + t), t
    raise ValueError(f"numpy peer: unsupported activation {name!r}.")


def _act_backward(name: str, z, a, t, da: np.ndarray):
    if name == "relu":
        return da * (z > 0)  # as np.where(z > 0, da, 0), bit for bit, and faster
    if name == "sigmoid":
        return da * a * (1 - a)
    if name == "tanh":
        return da * (1 - a * a)
    du = _GELU_C * (1 + 3 * _GELU_CUBIC * (z * z))  # gelu, tanh form
    return da * (0.5 * (1 + t) + 0.5 * z * (1 - t * t) * du)


def _loss_and_grad(loss: str, out: np.ndarray, y: np.ndarray):
    n = out.shape[0]
    if loss == "mse":
        diff = out - y
        return 0.5 * np.sum(diff * diff) / n, diff / n
    m = out.max(axis=1, keepdims=True)
    e = np.exp(out - m)
    s = e.sum(axis=1, keepdims=True)
    log_probs = out - m - np.log(s)
    return -np.sum(y * log_probs) / n, (e / s - y) / n


def _affine(h, p):
    """``h @ w + b``, or ``h @ w`` for a dense layer without bias (before batch_norm)."""
    return h @ p["w"] + p["b"] if "b" in p else h @ p["w"]


def numpy_value_and_grad(net: Net) -> Callable:
    """Loss and gradients of ``net`` by hand-written backprop in NumPy.

    Returns:
      ``fn(layers, x, y) -> (loss, grads)`` with ``layers`` and ``grads`` lists of
      dicts as ``benchmarks._nets.layer_arrays`` gives; ``y`` one-hot (or
      probabilities) for softmax cross-entropy, targets for MSE.
    """
    shortcuts = residual_blocks(net)

    def fn(layers, x, y):
        h, caches = x, []
        for p, shortcut in zip(layers[:-1], shortcuts, strict=True):
            z = _affine(h, p)
            xhat = inv_std = None
            if net.batch_norm:
                centred = z - z.mean(axis=0)
                inv_std = 1 / np.sqrt((centred * centred).mean(axis=0) + BN_EPS)
                xhat = centred * inv_std
                z = p["gamma"] * xhat + p["beta"]
            a, t = _act_forward(net.activation, z)
            caches.append((h, z, a, t, xhat, inv_std))
            h = a + h if shortcut else a
        out = h @ layers[-1]["w"] + layers[-1]["b"]
        value, d = _loss_and_grad(net.loss, out, y)
        grads = [{"w": h.T @ d, "b": d.sum(axis=0)}]
        dh = d @ layers[-1]["w"].T
        n = x.shape[0]
        for i in reversed(range(len(caches))):
            h_in, z, a, t, xhat, inv_std = caches[i]
            p = layers[i]
            dz = _act_backward(net.activation, z, a, t, dh)
            g = {}
            if net.batch_norm:
                g["gamma"] = np.sum(dz * xhat, axis=0)
                g["beta"] = np.sum(dz, axis=0)
                dz = (p["gamma"] * inv_std) * (
                    dz - g["beta"] / n - xhat * (g["gamma"] / n)
                )
            g = {"w": h_in.T @ dz, **({"b": dz.sum(axis=0)} if "b" in p else {}), **g}
            grads.append(g)
            if i > 0:
                dh_in = dz @ p["w"].T
                dh = dh_in + dh if shortcuts[i] else dh_in
        return value, grads[::-1]

    return fn


def numpy_forward(net: Net, layers, x) -> np.ndarray:
    """The network's output in NumPy (batch statistics for batch_norm)."""
    h = x
    for p, shortcut in zip(layers[:-1], residual_blocks(net), strict=True):
        z = _affine(h, p)
        if net.batch_norm:
            centred = z - z.mean(axis=0)
            z = p["gamma"] * centred / np.sqrt((centred**2).mean(axis=0) + BN_EPS)
            z = z + p["beta"]
        a, _ = _act_forward(net.activation, z)
        h = a + h if shortcut else a
    return h @ layers[-1]["w"] + layers[-1]["b"]


class NumpyAdam:
    """Adam as optax's ``adam`` (bias-corrected, eps outside the square root), on one
    flat buffer: NumPy's counterpart of torch's fused Adam. The arrays of ``layers``
    become views into that buffer (so each step updates them in place); a step
    concatenates the gradients into one vector and makes ~10 ufunc calls over all
    parameters, where a loop over the leaves made ~10 per leaf."""

    def __init__(self, layers, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.p = np.concatenate([v.ravel() for p in layers for v in p.values()])
        offset = 0
        for p in layers:
            for k, v in p.items():
                p[k] = self.p[offset : offset + v.size].reshape(v.shape)
                offset += v.size
        self.m, self.v, self.tmp = (np.zeros_like(self.p) for _ in range(3))

    def step(self, layers, grads) -> None:
        """Update ``layers`` in place."""
        self.t += 1
        c1, c2 = 1 - self.b1**self.t, 1 - self.b2**self.t
        pairs = zip(layers, grads, strict=True)
        g = np.concatenate([gp[k].ravel() for p, gp in pairs for k in p])
        m, v, tmp = self.m, self.v, self.tmp
        m *= self.b1
        m += np.multiply(g, 1 - self.b1, out=tmp)
        v *= self.b2
        np.multiply(g, g, out=tmp)
        v += np.multiply(tmp, 1 - self.b2, out=tmp)
        np.sqrt(np.divide(v, c2, out=tmp), out=tmp)  # sqrt(v / c2) + eps
        tmp += self.eps
        np.divide(m, tmp, out=tmp)  # (m / c1) / (...) * lr, as lr / c1 * m / (...)
        tmp *= self.lr / c1
        self.p -= tmp


# ### PyTorch (optional) ###############################################################


def torch_or_none():
    """The ``torch`` module, or ``None`` when it is not installed.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` first unless it is set (see the module doc).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def _blas_controllers() -> list:
    try:
        import threadpoolctl
    except ImportError:
        return []
    return [
        lc
        for lc in threadpoolctl.ThreadpoolController().lib_controllers
        if lc.user_api == "blas"
    ]


@functools.cache  # the default is read once, before any thunk changed it
def thread_setter(peer: str) -> tuple[Callable[[int], None], int] | None:
    """``(set_threads(n), default n)`` of a peer's thread pool, or ``None``.

    ``numpy``: its BLAS library (via threadpoolctl); ``torch``: ``torch.set_num_threads``.
    """
    if peer == "numpy":
        blas = _blas_controllers()
        if not blas:
            return None

        def set_blas(n):
            for lc in blas:
                lc.set_num_threads(n)

        return set_blas, max(lc.num_threads for lc in blas)
    if peer == "torch" and (torch := torch_or_none()) is not None:
        return torch.set_num_threads, int(torch.get_num_threads())
    return None


def threads_thunk(thunk: Callable, set_threads: Callable[[int], None], n: int):
    """``thunk`` run with its peer's thread pool set to ``n`` threads (≈ 1 µs)."""

    def run():
        set_threads(n)
        return thunk()

    return run


def peer_variants(thunks: dict[str, Callable]) -> tuple[dict[str, Callable], dict]:
    """Each peer thunk at its default thread count and pinned to 1 thread (``_1t``).

    Returns:
      ``(thunks, threads)``: the thunks by name, and name -> thread count.
    """
    out, threads = {}, {}
    for name, thunk in thunks.items():
        setter = thread_setter(name)
        if setter is None:
            out[name] = thunk
            continue
        set_threads, default = setter
        out[name] = threads_thunk(thunk, set_threads, default)
        threads[name] = default
        if default > 1:
            out[f"{name}_1t"] = threads_thunk(thunk, set_threads, 1)
            threads[f"{name}_1t"] = 1
    return out, threads


def best_peer(samples: dict, peer: str) -> str:
    """The faster (lower median) of ``peer`` and ``peer_1t`` among ``samples``."""
    names = [n for n in (peer, f"{peer}_1t") if n in samples]
    return min(names, key=lambda n: float(np.median(samples[n])))


TORCH_MISSING = (
    "PyTorch not installed: torch peers skipped (optional extra; on CPU install its "
    "CPU build, e.g. `pip install torch==2.13.0` from a local +cpu wheel)."
)


def torch_device(backend: str) -> str:
    """``"cuda"`` when jax runs on a GPU and torch sees one, else ``"cpu"``."""
    torch = torch_or_none()
    if torch is not None and backend == "gpu" and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def torch_sync(device: str) -> None:
    """Wait for queued torch work (CUDA is asynchronous, CPU eager is not)."""
    if device == "cuda":
        torch_or_none().cuda.synchronize()


def torch_tensors(layers, device: str, dtype: str):
    """NumPy layer dicts as torch leaf tensors that require grad."""
    torch = torch_or_none()
    tdtype = getattr(torch, dtype)
    return [
        {
            k: torch.tensor(
                np.asarray(v, np.float32 if dtype == "bfloat16" else v.dtype)
            )
            .to(device=device, dtype=tdtype)
            .requires_grad_(True)
            for k, v in p.items()
        }
        for p in layers
    ]


def torch_forward(net: Net, layers, x):
    """The network's output in torch (training mode: batch statistics)."""
    torch = torch_or_none()
    act = _torch_activation(net.activation)
    addmm, batch_norm = torch.addmm, torch.nn.functional.batch_norm  # looked up once
    h = x
    for p, shortcut in zip(layers[:-1], residual_blocks(net), strict=True):
        z = addmm(p["b"], h, p["w"]) if "b" in p else h @ p["w"]
        if net.batch_norm:
            z = batch_norm(z, None, None, p["gamma"], p["beta"], True, 0.0, BN_EPS)
        a = act(z)
        h = a + h if shortcut else a
    return addmm(layers[-1]["b"], h, layers[-1]["w"])


@functools.cache
def _torch_activation(name: str) -> Callable:
    torch = torch_or_none()
    gelu = functools.partial(torch.nn.functional.gelu, approximate="tanh")
    acts = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    return {**acts, "gelu": gelu}[name]


def torch_loss(net: Net, out, y):
    """The batch loss of ``net.loss`` in torch (mean over the batch)."""
    import torch.nn.functional as F

    if net.loss == "mse":
        return 0.5 * ((out - y) ** 2).sum(dim=1).mean()
    return F.cross_entropy(out, y)  # y holds probabilities (one-hot rows)


def torch_value_and_grad(net: Net, layers) -> Callable:
    """``fn(x, y) -> (loss, grads)`` by torch eager autograd over ``layers``."""
    torch = torch_or_none()
    leaves = [t for p in layers for t in p.values()]
    keys = [(i, k) for i, p in enumerate(layers) for k in p]

    def fn(x, y):
        value = torch_loss(net, torch_forward(net, layers, x), y)
        flat = torch.autograd.grad(value, leaves)
        grads = [{} for _ in layers]
        for (i, k), g in zip(keys, flat, strict=True):
            grads[i][k] = g
        return value, grads

    return fn


def torch_to_numpy(grads) -> list[dict[str, np.ndarray]]:
    """torch gradient dicts as float64 NumPy arrays."""
    return [
        {k: v.detach().to("cpu").double().numpy() for k, v in g.items()} for g in grads
    ]
