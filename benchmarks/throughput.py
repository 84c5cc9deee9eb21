"""Training throughput on digits: examples/s for whole epochs, jaxnn vs its peers.

The same network (``mlp([128, 64, 10])``, ReLU, integer-label softmax cross-entropy),
the same initial weights, Adam(1e-3) and batches of 64 (22 steps, 1408 examples per
epoch; the last partial batch is dropped) in every implementation:

- ``scan_manual`` / ``scan_autodiff``: ``jaxnn.train.make_epoch``: one jitted call
  per epoch, a shuffle and a ``lax.scan`` of the train step over the epoch's batches;
- ``step_loop``: the epoch's jitted shuffle, then one jitted ``make_train_step`` call
  per batch from Python (manual backward);
- ``torch`` / ``torch_1t``: PyTorch eager, ``torch.optim.Adam`` (its fused kernel
  where the installed torch has one for the device: on CPU a third faster than its
  per-parameter loop), default threads and one thread;
- ``numpy`` / ``numpy_1t``: hand-written backprop and Adam in NumPy.

Epochs of all implementations are interleaved round by round; the speedups are the
medians of the per-round ratios, against the faster thread setting of each peer.
Every implementation's test accuracy after the timed epochs is recorded as a check
that they trained the same network.
"""

import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _nets, _peers
from benchmarks._timing import ratio_stats, summarize, time_interleaved, timed
from jaxnn import data, optim, train

HIDDEN = (128, 64)
BATCH = 64
LR = 1e-3
# About one NumPy epoch on the 2-core CPU: the pause a timed epoch follows there.
IDLE_S = 0.015


def _jaxnn_thunks(ds, state0, model, loss, batch_size: int, backwards, step_loop):
    optimizer = optim.adam(LR)
    thunks = {}
    for backward in backwards:
        epoch = train.make_epoch(
            model, loss, optimizer, batch_size=batch_size, backward=backward
        )
        box = [state0]

        def scan_epoch(epoch=epoch, box=box):
            box[0], metrics, _ = epoch(box[0], ds.x_train, ds.y_train)
            return box[0], metrics

        thunks[f"scan_{backward}"] = (scan_epoch, box)
    if not step_loop:
        return thunks

    shuffle = train.make_epoch(  # lru-cached: the scan_manual epoch's shuffle
        model, loss, optimizer, batch_size=batch_size, backward="manual"
    ).shuffle
    step = train.make_train_step(model, loss, optimizer, backward="manual")
    box = [state0]

    def step_loop():
        state, xb, yb = shuffle(box[0], ds.x_train, ds.y_train)
        for xi, yi in zip(xb, yb, strict=True):
            state, metrics = step(state, xi, yi)
        box[0] = state
        return state, metrics

    thunks["step_loop"] = (step_loop, box)
    return thunks


def _numpy_thunk(net, layers0, ds, batch_size: int, seed: int):
    layers = [{k: v.copy() for k, v in p.items()} for p in layers0]
    adam = _peers.NumpyAdam(layers, lr=LR)
    fn = _peers.numpy_value_and_grad(net)
    x = np.asarray(ds.x_train)
    y = np.eye(net.sizes[-1], dtype=x.dtype)[np.asarray(ds.y_train)]
    rng = np.random.default_rng(seed)
    num_batches = x.shape[0] // batch_size

    def epoch():
        perm = rng.permutation(x.shape[0])[: num_batches * batch_size]
        for idx in perm.reshape(num_batches, batch_size):
            _, grads = fn(layers, x[idx], y[idx])
            adam.step(layers, grads)

    return epoch, layers


def _torch_adam(torch, leaves):
    """``torch.optim.Adam`` at its fastest: ``fused=True``, unless this torch has no
    fused Adam for the leaves' device (it then raises at construction)."""
    kwargs = dict(lr=LR, betas=(0.9, 0.999), eps=1e-8)
    try:
        return torch.optim.Adam(leaves, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(leaves, **kwargs)


def _torch_thunk(net, layers0, ds, batch_size: int, seed: int):
    """PyTorch eager on jax's device kind (CUDA when jax runs on a GPU)."""
    torch = _peers.torch_or_none()
    torch.manual_seed(seed)
    device = _peers.torch_device(jax.default_backend())
    tensors = _peers.torch_tensors(layers0, device, "float32")
    leaves = [t for p in tensors for t in p.values()]
    opt = _torch_adam(torch, leaves)
    x = torch.tensor(np.asarray(ds.x_train), device=device)
    y = torch.tensor(np.asarray(ds.y_train), dtype=torch.long, device=device)
    num_batches = x.shape[0] // batch_size
    cross_entropy = torch.nn.functional.cross_entropy

    def epoch():
        perm = torch.randperm(x.shape[0], device=device)
        for i in range(num_batches):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            loss = cross_entropy(_peers.torch_forward(net, tensors, x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _peers.torch_sync(device)

    return epoch, tensors


def step_matmuls(weights, x):
    """A training step's matmuls alone, for ``jax.numpy`` or NumPy arrays alike.

    The forward chain ``h_{i+1} = h_i w_i`` and the backward ``dw_i = h_iᵀ d``,
    ``d ← d w_iᵀ`` (not below the first layer), with ``d`` the output itself: the
    dense layers' matmuls with none of the bias, activation, loss or optimizer work.
    Returns the ``dw_i``.
    """
    hs = [x]
    for w in weights:
        hs.append(hs[-1] @ w)
    d, grads = hs[-1], []
    for i in reversed(range(len(weights))):
        grads.append(hs[i].T @ d)
        if i:
            d = d @ weights[i].T
    return grads[::-1]


@jax.jit
def scan_matmuls(weights, xb):
    """A scan of ``step_matmuls`` over the batches ``xb``, the floor under any step
    (the gradients are carried out, so none is dead code)."""

    def body(_, x):
        return step_matmuls(weights, x), None

    init = [jnp.zeros_like(w) for w in weights]
    return jax.lax.scan(body, init, xb)[0]


def numpy_matmuls(weights, xb) -> Callable[[], list]:
    """A thunk: ``step_matmuls`` over the batches ``xb`` in NumPy, from Python, with
    its BLAS on one thread when threadpoolctl can set it (else its default).

    The same GEMMs outside XLA. Each of them also pays NumPy's ~1 µs of Python per
    call, so their time is an upper bound on the BLAS kernels'.
    """
    ws = [np.asarray(w) for w in weights]
    xs = np.asarray(xb)

    def run():
        for x in xs:
            grads = step_matmuls(ws, x)
        return grads

    setter = _peers.thread_setter("numpy")
    return run if setter is None else _peers.threads_thunk(run, setter[0], 1)


def after_idle(thunk, idle_s: float, repeats: int) -> list[float]:
    """Seconds of ``thunk``, each call timed after ``idle_s`` of sleep.

    What a call pays when it starts on an idle machine (clocks, caches, a sleeping
    worker thread), as a timed epoch does when it follows another implementation's.
    """
    samples = []
    for _ in range(repeats):
        time.sleep(idle_s)
        samples.append(timed(thunk))
    return samples


def _peer_thunks(net, state0, ds, batch_size: int, seed: int):
    """``(thunks, threads, models)`` of the NumPy and (if installed) PyTorch epochs,
    each at its default thread count and at one thread (``_1t``), from ``state0``'s
    weights; ``models`` holds each variant's trained weights, by name. Each thread
    setting trains its own copy, so each has had as many epochs as jaxnn's."""
    layers0 = _nets.layer_arrays(net, state0.params)
    makers = {"numpy": _numpy_thunk}
    if _peers.torch_or_none() is not None:
        makers["torch"] = _torch_thunk

    thunks, threads, models = {}, {}, {}
    for pinned in (False, True):  # a fresh copy of every peer for each setting
        built = {
            p: make(net, layers0, ds, batch_size, seed) for p, make in makers.items()
        }
        variants, counts = _peers.peer_variants({p: t for p, (t, _) in built.items()})
        threads.update(counts)
        for name, thunk in variants.items():
            if name.endswith("_1t") == pinned:
                thunks[name] = thunk
                models[name] = built[name.removesuffix("_1t")][1]
    return thunks, threads, models


def batch_sweep(
    ds, run_, net, state0, batch_sizes, *, epochs: int, peers: bool, seed: int
) -> list[dict]:
    """The scanned manual epoch against the peers at several batch sizes.

    Per batch size, the implementations' epochs are interleaved (after two untimed
    epochs each, the first of which compiles); each row has the ms per epoch of
    each and the pairwise speedups of ``scan_manual`` over each peer's faster
    thread setting.
    A peer's cost per step is mostly Python's, the same at every batch size, while
    the scan's grows with the matmuls: the speedup falls as the batch grows.
    """
    rows = []
    for b in batch_sizes:
        built = _jaxnn_thunks(ds, state0, run_.model, run_.loss, b, ("manual",), False)
        thunks = {"scan_manual": built["scan_manual"][0]}
        if peers:
            thunks.update(_peer_thunks(net, state0, ds, b, seed)[0])
        samples = time_interleaved(thunks, repeats=epochs, warmup=2, seed=seed)
        speedups = {}
        for peer in ("numpy", "torch"):
            if peer in samples:
                best = _peers.best_peer(samples, peer)
                r = ratio_stats(samples[best], samples["scan_manual"])
                speedups[peer] = {**r._asdict(), "config": best}
        rows.append(
            {
                "batch_size": b,
                "steps_per_epoch": ds.x_train.shape[0] // b,
                "epoch_s": {k: summarize(v).median for k, v in samples.items()},
                "speedups": speedups,
            }
        )
    return rows


def breakdown(model, loss, net, state, ds, *, repeats: int = 30, seed: int = 0) -> dict:
    """Where a scanned epoch's time goes: µs per step of nested scans, interleaved.

    ``matmuls alone``: ``scan_matmuls`` with the network's weights, the floor;
    ``value_and_grad``: a scan of the manual value-and-grad alone (its gradients
    are carried out of the scan, so none is dead code); ``+ adam``: with the
    optimizer update and ``apply_updates``; ``epoch.run``: the real scanned epoch
    (adds the step keys, the finiteness check and the gradient norm); ``epoch``:
    the whole jitted epoch (adds the shuffle); ``epoch.shuffle``: the shuffle alone,
    as its own jitted call. Two controls, not part of the chain: on CPU,
    ``matmuls alone, NumPy``: the same matmuls by NumPy's BLAS (``numpy_matmuls``);
    and ``epoch after idle``: the whole epoch, each call after ``IDLE_S`` of sleep
    (``after_idle``, timed after the interleaved rounds).
    """
    from jaxnn import backprop

    optimizer = optim.adam(LR)
    epoch = train.make_epoch(model, loss, optimizer, batch_size=BATCH)
    _, xb, yb = epoch.shuffle(state, ds.x_train, ds.y_train)
    vg = backprop.value_and_grad(model, loss)

    @jax.jit
    def scan_vg(params, model_state, xb, yb):
        def body(carry, batch):
            (value, _), grads = vg(params, model_state, *batch)
            return (carry[0] + value, grads), None

        init = (jnp.zeros((), xb.dtype), jax.tree.map(jnp.zeros_like, params))
        return jax.lax.scan(body, init, (xb, yb))[0]

    @jax.jit
    def scan_adam(params, model_state, opt_state, xb, yb):
        def body(carry, batch):
            p, o = carry
            (value, _), grads = vg(p, model_state, *batch)
            updates, o = optimizer.update(grads, o, p)
            return (optim.apply_updates(p, updates), o), value

        return jax.lax.scan(body, (params, opt_state), (xb, yb))

    p, ms, os_ = state.params, state.model_state, state.opt_state
    weights = [jnp.asarray(layer["w"]) for layer in _nets.layer_arrays(net, p)]
    thunks = {
        "matmuls alone": lambda: scan_matmuls(weights, xb),
        **(
            {"matmuls alone, NumPy": numpy_matmuls(weights, xb)}
            if jax.default_backend() == "cpu"
            else {}
        ),
        "value_and_grad": lambda: scan_vg(p, ms, xb, yb),
        "+ adam": lambda: scan_adam(p, ms, os_, xb, yb),
        "epoch.run": lambda: epoch.run(state, xb, yb),
        "epoch": lambda: epoch(state, ds.x_train, ds.y_train),
        "epoch.shuffle": lambda: epoch.shuffle(state, ds.x_train, ds.y_train),
    }
    samples = time_interleaved(thunks, repeats=repeats, warmup=2, seed=seed)
    samples["epoch after idle"] = after_idle(thunks["epoch"], IDLE_S, repeats)
    steps = xb.shape[0]
    return {k: summarize(v).median / steps * 1e6 for k, v in samples.items()}


def _accuracy(logits, labels) -> float:
    return float(np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(labels)))


def setup(seed: int = 0):
    """``(dataset, run, net, state)``: digits split by ``seed``, jaxnn's model and loss
    for it (``train.model_for``), the peers' description of the same network and
    jaxnn's initial training state (Adam)."""
    ds = data.load("digits", seed=seed)
    run_ = train.model_for(ds, hidden=HIDDEN)
    net = _nets.Net(
        (*HIDDEN, ds.num_outputs), "relu", False, False, "softmax_cross_entropy"
    )
    state = train.init_state(
        run_.model, optim.adam(LR), jax.random.key(seed), (ds.num_features,)
    )
    return ds, run_, net, state


def run(
    *,
    epochs: int = 30,
    warmup: int = 2,
    peers: bool = True,
    backwards=("manual", "autodiff"),
    step_loop: bool = True,
    with_breakdown: bool = True,
    batch_sizes=(16, 32, 64, 128),
    sweep_epochs: int = 30,
    seed: int = 0,
) -> dict:
    """Measure examples/s of whole training epochs on digits; the JSON record.

    Args:
      epochs: timed epochs of each implementation (interleaved).
      warmup: untimed epochs of each after its first (compiling) one.
      peers: include NumPy and PyTorch.
      backwards: the scanned epochs' backward modes (``manual`` is needed).
      step_loop: include the per-step jitted loop.
      with_breakdown: also time ``breakdown`` (µs per step of each part).
      batch_sizes: the batch sizes of ``batch_sweep`` (empty: skipped).
      sweep_epochs: timed epochs per implementation and batch size in the sweep.
      seed: seeds data split, initialisation and shuffles.
    """
    ds, run_, net, state0 = setup(seed)
    num_batches = ds.x_train.shape[0] // BATCH
    examples = num_batches * BATCH

    built = _jaxnn_thunks(
        ds, state0, run_.model, run_.loss, BATCH, backwards, step_loop
    )
    thunks = {name: thunk for name, (thunk, _) in built.items()}
    first_epoch_s = {}
    for name, thunk in thunks.items():  # compile + first epoch, reported apart
        t = time_interleaved({name: thunk}, repeats=1, warmup=0)[name][0]
        first_epoch_s[name] = t

    notes, threads = [], {}
    peer_models = {}
    if peers:
        peer_thunks, threads, peer_models = _peer_thunks(net, state0, ds, BATCH, seed)
        thunks.update(peer_thunks)
        if "torch" not in peer_models:
            notes.append(_peers.TORCH_MISSING)

    samples = time_interleaved(thunks, repeats=epochs, warmup=warmup, seed=seed)
    per_impl = {}
    for name, seconds in samples.items():
        stats = summarize(seconds)
        per_impl[name] = {
            "epoch_s": stats._asdict(),
            "examples_per_s": examples / stats.median,
            "threads": threads.get(name),
        }
    for name in built:
        per_impl[name]["first_epoch_s"] = first_epoch_s[name]

    # Test accuracy after training: all implementations should agree roughly.
    for name, (_, box) in built.items():
        logits = train.predict(run_.model, box[0].params, box[0].model_state, ds.x_test)
        per_impl[name]["test_accuracy"] = _accuracy(logits, ds.y_test)
    x_test = np.asarray(ds.x_test)
    for peer, model_state in peer_models.items():
        if peer.removesuffix("_1t") == "numpy":
            logits = _peers.numpy_forward(net, model_state, x_test)
        else:
            torch = _peers.torch_or_none()
            device = model_state[0]["w"].device
            with torch.no_grad():
                x_t = torch.tensor(x_test, device=device)
                logits = _peers.torch_forward(net, model_state, x_t).cpu().numpy()
        per_impl[peer]["test_accuracy"] = _accuracy(logits, ds.y_test)

    speedups = {}
    for base in [f"scan_{b}" for b in backwards]:
        for other in ("step_loop", "torch", "numpy"):
            if other not in samples:
                continue
            best = _peers.best_peer(samples, other) if other != "step_loop" else other
            r = ratio_stats(samples[best], samples[base])
            speedups[f"{base}_vs_{other}"] = {**r._asdict(), "config": best}
    parts = None
    if with_breakdown:
        parts = breakdown(
            run_.model, run_.loss, net, state0, ds, repeats=epochs, seed=seed
        )
    sweep = batch_sweep(
        ds, run_, net, state0, batch_sizes, epochs=sweep_epochs, peers=peers, seed=seed
    )
    return {
        "batch_sweep": sweep,
        "breakdown_us_per_step": parts,
        "data": "digits",
        "network": f"mlp{[ds.num_features, *HIDDEN, ds.num_outputs]} relu, Adam({LR})",
        "batch_size": BATCH,
        "steps_per_epoch": num_batches,
        "examples_per_epoch": examples,
        "epochs_timed": len(samples["scan_manual"]),
        "implementations": per_impl,
        "speedups": speedups,
        "notes": notes,
        "dtype": str(jnp.dtype(ds.x_train.dtype)),
    }
