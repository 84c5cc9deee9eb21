"""Claim 4: exploding gradients — a large initialization or learning rate gives NaN.

Full-batch SGD on the bundled diabetes regression (354 training examples, MSE) with
``mlp([64, 64, 1])``, ReLU. Two ways to blow up:

- a learning rate too large for the loss surface (``α = 1``, He initialization);
- weights too large: ``N(0, 1)`` instead of He, so every layer multiplies the signal
  by about ``√(64/2) ≈ 5.7`` and the first loss is in the thousands (``α = 0.01``).

Each is run, from four initial seeds, as is and with a remedy of the module:
gradient clipping ``clip_by_global_norm(1)`` (``‖∇‖ ≤ 1``), a learning-rate schedule
(linear warmup from 0 over 50 steps, then cosine decay), and batch normalization. The
table gives the first step whose loss is NaN/Inf, the parameter leaves that went
non-finite (``diagnostics.locate_nonfinite``), and the final loss.

Run: ``python examples/ex04_exploding_gradients.py [--fast] [--out DIR]``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from _common import cli, out_dir, table, verdict

from jaxnn import backprop, data, diagnostics, models, optim, plots, train

HIDDEN = (64, 64)
CLIP = 1.0
WARMUP = 50
SEEDS = (0, 1, 2, 3)
PROBLEMS = {  # name: (initializer, learning rate)
    "large learning rate α=1": ("he_normal", 1.0),
    "large init N(0,1), α=0.01": ("normal", 0.01),
}
REMEDIES = ("none", "clip_by_global_norm(1)", "warmup + cosine", "batch_norm")


#: remedy -> (max_norm of clip_by_global_norm, warmup schedule?); max_norm = ∞ leaves
#: every finite gradient unchanged, i.e. no clipping.
SETTINGS = {
    "none": (np.inf, False),
    "clip_by_global_norm(1)": (CLIP, False),
    "warmup + cosine": (np.inf, True),
    "batch_norm": (np.inf, False),
}


def optimizer(lr, max_norm, warmup, steps: int):
    """``clip_by_global_norm(max_norm)`` then SGD at ``lr`` (× the warmup schedule).

    The arguments may be traced, so that one compiled program runs every remedy:
    ``lr`` and the warmup switch enter through a schedule.
    """
    shape = optim.warmup_cosine_decay_schedule(
        0.0, 1.0, warmup_steps=WARMUP, decay_steps=steps, end_value=0.01
    )
    sgd = optim.sgd(lambda count: lr * jnp.where(warmup, shape(count), 1.0))
    return optim.chain(optim.clip_by_global_norm(max_norm), sgd)


def network(batch_norm: bool, initializer: str = "he_normal"):
    return models.mlp(
        [*HIDDEN, 1], activation="relu", initializer=initializer, batch_norm=batch_norm
    )


def _stack(*leaves):
    """Stack one leaf of every state along a new axis 0 (NumPy: nothing to compile)."""
    if jax.dtypes.issubdtype(leaves[0].dtype, jax.dtypes.prng_key):
        return jnp.stack(leaves)
    return np.stack(leaves)


def train_full_batch(batch_norm: bool, cells, x, y, steps: int) -> dict:
    """Full-batch SGD for every ``(problem, remedy, seed)`` cell: one vmapped scan.

    A non-finite step is not applied (the state stays at the last finite one), as in
    ``jaxnn.train``. Per cell: the loss and gradient norm of every step, the first
    non-finite step (or ``None``), the parameter leaves that step made non-finite,
    and the first and final loss. Returns ``{(problem, remedy): [per seed]}``.
    """
    net = network(batch_norm)  # the initializer only matters to ``init`` below
    value_and_grad = backprop.value_and_grad(net, "mse")

    def step(state, hparams):
        opt = optimizer(*hparams, steps)
        (loss, model_state), grads = value_and_grad(
            state.params, state.model_state, x, y
        )
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optim.apply_updates(state.params, updates)
        new = state._replace(
            params=params, model_state=model_state, opt_state=opt_state
        )
        return new, loss, optim.global_norm(grads)

    def run(state, hparams):
        def body(carry, _):
            state, bad_params, first_bad, i = carry
            new, loss, norm = step(state, hparams)
            finite = diagnostics.all_finite((loss, new.params))
            ok = finite & (first_bad < 0)
            first = ~finite & (first_bad < 0)  # keep what the first bad step made
            state = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, state)
            bad_params = jax.tree.map(
                lambda a, b: jnp.where(first, a, b), new.params, bad_params
            )
            first_bad = jnp.where(first, i, first_bad)
            return (state, bad_params, first_bad, i + 1), (loss, norm)

        init = (state, state.params, jnp.int32(-1), jnp.int32(0))
        (_, bad_params, first_bad, _), (losses, norms) = jax.lax.scan(
            body, init, None, length=steps
        )
        return bad_params, first_bad, losses, norms

    states = [
        train.init_state(
            network(batch_norm, PROBLEMS[p][0]),
            optimizer(1.0, 1.0, False, steps),
            jax.random.key(seed),
            (x.shape[1],),
            jnp.float32,
        )
        for p, _, seed in cells
    ]
    stacked = jax.tree.map(_stack, *states)
    hparams = (
        np.asarray([PROBLEMS[p][1] for p, _, _ in cells], np.float32),
        np.asarray([SETTINGS[m][0] for _, m, _ in cells], np.float32),
        np.asarray([SETTINGS[m][1] for _, m, _ in cells]),
    )
    bad_params, first_bad, losses, norms = jax.jit(jax.vmap(run))(stacked, hparams)
    bad_params = jax.tree.map(np.asarray, bad_params)
    results = {}
    for i, (p, m, _) in enumerate(cells):
        bad = int(first_bad[i])
        leaves = []
        if bad >= 0:  # the parameter leaves the first bad step made NaN/Inf
            leaves = diagnostics.locate_nonfinite(
                jax.tree.map(lambda a, i=i: a[i], bad_params)
            )
        loss_i = np.asarray(losses[i], dtype=np.float64)
        results.setdefault((p, m), []).append(
            {
                "losses": loss_i,
                "grad_norms": np.asarray(norms[i], dtype=np.float64),
                "first_nonfinite_step": None if bad < 0 else bad + 1,
                "nonfinite_leaves": leaves,
                "initial_loss": float(loss_i[0]),
                "final_loss": float(loss_i[-1]) if bad < 0 else float("nan"),
            }
        )
    return results


def _median(values) -> float:
    values = [v for v in values if np.isfinite(v)]
    return float(np.median(values)) if values else float("nan")


def main(fast: bool = False, out=None) -> dict:
    out = out_dir(out)
    steps = 60 if fast else 300
    dataset = data.load("diabetes")
    x, y = dataset.x_train, dataset.y_train
    runs = {}
    for batch_norm in (False, True):
        cells = [
            (p, m, seed)
            for p in PROBLEMS
            for m in REMEDIES
            if (m == "batch_norm") == batch_norm
            for seed in SEEDS
        ]
        runs.update(train_full_batch(batch_norm, cells, x, y, steps))
    runs = {(p, m): runs[p, m] for p in PROBLEMS for m in REMEDIES}

    summary = {}
    for key, per_seed in runs.items():
        bad = [r["first_nonfinite_step"] for r in per_seed]
        n_bad = sum(b is not None for b in bad)
        summary[key] = {
            "nonfinite_seeds": n_bad,
            "nonfinite_steps": [b for b in bad if b is not None],
            "initial_loss": _median([r["initial_loss"] for r in per_seed]),
            "final_loss": _median([r["final_loss"] for r in per_seed]),
            "fixed": n_bad == 0
            and all(r["final_loss"] < r["initial_loss"] for r in per_seed),
        }
    table(
        f"full-batch SGD on diabetes, {steps} steps, seeds {list(SEEDS)}",
        (
            "problem",
            "remedy",
            "seeds NaN/Inf",
            "at steps",
            "loss at step 1 (median)",
            f"loss at step {steps} (median of finite)",
        ),
        [
            (
                p,
                m,
                f"{s['nonfinite_seeds']}/{len(SEEDS)}",
                ", ".join(map(str, s["nonfinite_steps"])) or "—",
                s["initial_loss"],
                s["final_loss"],
            )
            for (p, m), s in summary.items()
        ],
    )
    for (p, m), per_seed in runs.items():
        r = per_seed[0]
        if r["nonfinite_leaves"]:
            leaves = ", ".join(f"params{leaf}" for leaf in r["nonfinite_leaves"])
            print(
                f"{p}, {m}, seed {SEEDS[0]}: step {r['first_nonfinite_step']} made "
                f"{leaves} non-finite"
            )
    lr_problem, init_problem = PROBLEMS
    explodes = {p: summary[p, "none"]["nonfinite_seeds"] for p in PROBLEMS}
    verdict(
        "a large initialization or learning rate → NaN",
        explodes[lr_problem] * 2 > len(SEEDS) and explodes[init_problem] == len(SEEDS),
        ", ".join(f"{p}: {n}/{len(SEEDS)} seeds" for p, n in explodes.items()),
    )
    remedies = ("clip_by_global_norm(1)", "warmup + cosine")
    verdict(
        "clipping and a schedule fix it",
        all(summary[p, m]["fixed"] for p in PROBLEMS for m in remedies),
        "; ".join(
            f"{p} + {m}: loss {summary[p, m]['initial_loss']:.4g} → "
            f"{summary[p, m]['final_loss']:.4g}"
            for p in PROBLEMS
            for m in remedies
        ),
    )
    bn_lr, bn_init = (
        summary[lr_problem, "batch_norm"],
        summary[init_problem, "batch_norm"],
    )
    verdict(
        "batch_norm fixes the large initialization (not the large learning rate)",
        bn_init["fixed"],
        f"large init: {bn_init['nonfinite_seeds']}/{len(SEEDS)} seeds NaN, loss "
        f"{bn_init['initial_loss']:.4g} → {bn_init['final_loss']:.4g}; large α: "
        f"{bn_lr['nonfinite_seeds']}/{len(SEEDS)} seeds NaN",
    )
    plots.curve_grid(
        {
            f"{problem} (seed {SEEDS[0]})": {
                remedy: (
                    np.arange(1, steps + 1),
                    runs[problem, remedy][0]["grad_norms"],
                )
                for remedy in REMEDIES
            }
            for problem in PROBLEMS
        },
        out / "ex04_exploding_gradients.png",
        ncols=2,
        xlabel="step",
        ylabel="‖∇L‖ (global norm)",
        title="gradient norm per step; a line that stops went NaN/Inf",
        logy=True,
    )
    return {
        "summary": {f"{p} | {m}": s for (p, m), s in summary.items()},
        "nonfinite_seeds": explodes,
        "nonfinite_leaves": {
            f"{p} | {m}": per_seed[0]["nonfinite_leaves"]
            for (p, m), per_seed in runs.items()
        },
    }


if __name__ == "__main__":
    cli(main, __doc__)
