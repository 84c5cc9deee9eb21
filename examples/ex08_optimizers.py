"""Claim 8: SGD, momentum, RMSprop and Adam — ravine, α sweep, long run.

1. A narrow ravine, ``f(θ) = ½(0.1·θ₁² + 10·θ₂²)`` (curvatures 100× apart), from
   ``θ = (−10, 1)``. Every optimizer of ``jaxnn.optim`` (``sgd``, the module's EMA
   ``momentum`` with β = 0.9, ``rmsprop``, ``adam``) runs 1000 steps for each of 25
   learning rates from 10⁻³ to 3 (one ``vmap``), and reports the fewest steps after
   which ``f`` stays below 10⁻² (its learning rate is tuned that way, by the sweep),
   and how many of the 25 rates get there at all. The trajectories at the tuned rates
   are drawn over the contours.
2. Adam's insensitivity to α on a network: the training loss of ``mlp([64, 10])`` on
   the bundled digits after 300 full-batch steps, for α from 10⁻⁴ to 1, SGD vs Adam.
3. A longer run on digits, ``mlp([128, 64, 10])``: SGD with heavy-ball momentum
   (α = 0.05, β = 0.9) against Adam (α = 10⁻³), test accuracy, two seeds.

Run: ``python examples/ex08_optimizers.py [--fast] [--out DIR]``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from _common import cli, out_dir, table, verdict

from jaxnn import backprop, data, models, optim, plots, train

CURVATURE = (0.1, 10.0)
START = (-10.0, 1.0)
TARGET = 1e-2
RAVINE_RATES = np.geomspace(1e-3, 3.0, 25)
OPTIMIZERS = {
    "SGD": optim.sgd,
    "momentum (EMA, β=0.9)": optim.momentum,
    "RMSprop": optim.rmsprop,
    "Adam": optim.adam,
}
LOSS = "softmax_cross_entropy_with_integer_labels"
LONG_RUN = {  # tuned by hand on digits, written here
    "SGD + momentum α=0.05, β=0.9": lambda: optim.sgd(0.05, momentum=0.9),
    "Adam α=1e-3": lambda: optim.adam(1e-3),
}


def ravine(theta):
    """``½(0.1·θ₁² + 10·θ₂²)``: a valley 10× longer than it is wide."""
    return 0.5 * jnp.sum(jnp.asarray(CURVATURE, theta.dtype) * theta**2)


def sweep(make, rates, loss, params0, steps: int):
    """Run ``make(α)`` for ``steps`` steps from ``params0`` for every α (one vmap).

    The learning rate enters as a constant schedule so that one compiled program
    serves every α. Returns the losses ``(rates, steps)`` and parameters
    ``(rates, steps, ...)`` after every step.
    """

    def run(rate):
        opt = make(lambda count: rate)

        def body(carry, _):
            params, state = carry
            grads = jax.grad(loss)(params)
            updates, state = opt.update(grads, state, params)
            params = optim.apply_updates(params, updates)
            return (params, state), (loss(params), params)

        _, (losses, path) = jax.lax.scan(
            body, (params0, opt.init(params0)), None, length=steps
        )
        return losses, path

    return jax.jit(jax.vmap(run))(jnp.asarray(rates, jnp.float32))


def steps_to_stay_below(losses: np.ndarray, target: float) -> np.ndarray:
    """Per row: the step after which the loss stays below ``target`` (−1: never)."""
    above = ~(losses < target)  # NaN counts as above
    steps = losses.shape[1]
    last_above = np.where(above.any(1), steps - 1 - np.argmax(above[:, ::-1], 1), -1)
    return np.where(last_above < steps - 1, last_above + 2, -1)


def network_sweep(rates, steps: int, dataset) -> dict:
    """Training loss after ``steps`` full-batch steps of SGD and Adam, per α."""
    net = models.mlp([64, 10], activation="relu")
    _, params0, state = net.init(jax.random.key(0), (dataset.num_features,))
    value_and_grad = backprop.value_and_grad(net, LOSS)
    x, y = dataset.x_train, dataset.y_train

    def loss(params):
        return value_and_grad(params, state, x, y)[0][0]

    def run(make):
        def one(rate):
            opt = make(lambda count: rate)

            def body(carry, _):
                params, s = carry
                (_, _), grads = value_and_grad(params, state, x, y)
                updates, s = opt.update(grads, s, params)
                return (optim.apply_updates(params, updates), s), None

            (params, _), _ = jax.lax.scan(
                body, (params0, opt.init(params0)), None, length=steps
            )
            return loss(params)

        return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(rates, jnp.float32)))

    return {"SGD": run(optim.sgd), "Adam": run(optim.adam)}


def main(fast: bool = False, out=None) -> dict:
    out = out_dir(out)
    steps = 400 if fast else 1000
    theta0 = jnp.asarray(START, jnp.float32)
    reach, tuned, paths = {}, {}, {}
    for name, make in OPTIMIZERS.items():
        losses, path = sweep(make, RAVINE_RATES, ravine, theta0, steps)
        reach[name] = steps_to_stay_below(np.asarray(losses), TARGET)
        ok = reach[name] > 0
        best = int(np.argmin(np.where(ok, reach[name], np.iinfo(np.int64).max)))
        tuned[name] = (
            float(RAVINE_RATES[best]),
            int(reach[name][best]) if ok[best] else -1,
        )
        paths[name] = np.concatenate([np.asarray(theta0)[None], np.asarray(path[best])])
    working = {n: int((r > 0).sum()) for n, r in reach.items()}
    table(
        f"1. ravine ½(0.1·θ₁² + 10·θ₂²) from {START}: steps until f stays < {TARGET:g} "
        f"(of {steps}); α tuned over {len(RAVINE_RATES)} rates in [1e-3, 3]",
        (
            "optimizer",
            "tuned α",
            "steps",
            f"rates that reach it (of {len(RAVINE_RATES)})",
            "their α range",
        ),
        [
            (
                n,
                tuned[n][0],
                tuned[n][1],
                working[n],
                f"{RAVINE_RATES[reach[n] > 0].min():.3g} – "
                f"{RAVINE_RATES[reach[n] > 0].max():.3g}"
                if working[n]
                else "—",
            )
            for n in OPTIMIZERS
        ],
    )

    result = {
        "ravine_steps": {n: t[1] for n, t in tuned.items()},
        "ravine_rate": {n: t[0] for n, t in tuned.items()},
        "ravine_working_rates": working,
    }
    dataset = data.load("digits")
    if not fast:
        rates = np.geomspace(1e-4, 1.0, 9)
        net_losses = network_sweep(rates, 300, dataset)
        good = {n: int((v < 0.05).sum()) for n, v in net_losses.items()}
        table(
            "2. digits, mlp([64, 10]): training loss after 300 full-batch steps",
            ("α", *net_losses),
            [(a, *(v[i] for v in net_losses.values())) for i, a in enumerate(rates)],
        )
        print(f"rates with loss < 0.05: {good}")
        result["network_sweep"] = {n: v.tolist() for n, v in net_losses.items()}
        result["network_good_rates"] = good

    seeds, epochs = ((), 0) if fast else ((0, 1), 60)  # the fast run leaves it out
    long_run = {}
    for name, make in LONG_RUN.items() if seeds else ():
        opt = make()
        accs = []
        for seed in seeds:
            run = train.Run(models.mlp([128, 64, 10]), LOSS, dataset.task)
            _, history = train.fit(
                run, dataset, opt, epochs=epochs, batch_size=64, seed=seed
            )
            accs.append(history[-1]["test_accuracy"])
        long_run[name] = accs
    if long_run:
        table(
            f"3. digits, mlp([128, 64, 10]), {epochs} epochs of batch 64: test accuracy",
            ("optimizer", *(f"seed {s}" for s in seeds), "mean"),
            [(n, *a, float(np.mean(a))) for n, a in long_run.items()],
        )
    result["long_run_accuracy"] = long_run

    sgd, mom, adam = (
        tuned["SGD"][1],
        tuned["momentum (EMA, β=0.9)"][1],
        tuned["Adam"][1],
    )
    verdict(
        "SGD is slow in a narrow ravine; momentum and Adam get there in fewer steps",
        0 < mom < sgd and 0 < adam < sgd,
        f"steps at tuned α: SGD {sgd}, momentum {mom}, RMSprop {tuned['RMSprop'][1]}, "
        f"Adam {adam}",
    )
    evidence = f"ravine: {working['Adam']} of {len(RAVINE_RATES)} rates reach the "
    evidence += f"target with Adam, {working['SGD']} with SGD"
    holds = working["Adam"] > working["SGD"]
    if "network_good_rates" in result:
        g = result["network_good_rates"]
        evidence += f"; digits: {g['Adam']} of 9 rates give loss < 0.05 with Adam, "
        evidence += f"{g['SGD']} with SGD"
        holds = holds and g["Adam"] > g["SGD"]
    verdict("Adam is insensitive to α", holds, evidence)
    if long_run:
        sgdm, adam_acc = (float(np.mean(a)) for a in long_run.values())
        print(
            f"\n[measured] SGD+momentum vs Adam after {epochs} epochs: test accuracy "
            f"{sgdm:.4f} vs {adam_acc:.4f} (difference {sgdm - adam_acc:+.4f}; the "
            "module says SGD+momentum can generalize better on long runs)"
        )
    lo = np.min([p.min(0) for p in paths.values()], axis=0)
    hi = np.max([p.max(0) for p in paths.values()], axis=0)
    pad = 0.1 * (hi - lo) + 0.1
    plots.optimizer_trajectories(
        lambda a, b: 0.5 * (CURVATURE[0] * a**2 + CURVATURE[1] * b**2),
        {
            f"{n}, α={tuned[n][0]:.3g} ({tuned[n][1]} steps)": p[:150]
            for n, p in paths.items()
        },
        out / "ex08_optimizers.png",
        xlim=(float(lo[0] - pad[0]), float(hi[0] + pad[0])),
        ylim=(float(lo[1] - pad[1]), float(hi[1] + pad[1])),
        title="narrow ravine: first 150 steps at each optimizer's tuned α",
    )
    plots.curves(
        {n: (RAVINE_RATES, np.where(r > 0, r, np.nan)) for n, r in reach.items()},
        out / "ex08_alpha_sweep.png",
        xlabel="learning rate α",
        ylabel=f"steps until f stays < {TARGET:g}",
        title="ravine: steps to the target against α (gaps: never)",
        logx=True,
        logy=True,
    )
    return result


if __name__ == "__main__":
    cli(main, __doc__)
