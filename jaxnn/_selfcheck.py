"""The differential self-test behind ``jaxnn check``.

Every activation, loss, layer and a set of models is checked on the current backend:
hand-written backward vs ``jax.vjp``/``jax.grad`` (float32 and float64) and vs central
finite differences (float64), at parameters moved off their initial values; every
activation also at its kinks (``z = ±0``, vs ``jax.vjp``); every optimizer is run
beside optax when it is installed.
"""

from collections.abc import Iterator
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import activations, backprop, gradcheck, losses, models
from jaxnn import layers as L
from jaxnn._tree import tree_cast


class Row(NamedTuple):
    """One line of the self-test table.

    A row is passed, failed or skipped (``status``). A skipped row (a comparison that
    could not run, e.g. without optax) has ``passed=False`` and ``skipped=True``: it
    is neither a pass nor a failure.
    """

    category: str
    item: str
    dtype: str
    vs_autodiff: float | None  # relative error, manual vs jax.vjp / jax.grad / optax
    vs_fd: float | None  # relative error, manual vs finite differences (float64)
    passed: bool
    note: str = ""
    skipped: bool = False

    @property
    def status(self) -> str:
        """``"passed"``, ``"failed"`` or ``"skipped"``."""
        if self.skipped:
            return "skipped"
        return "passed" if self.passed else "failed"


def _activations() -> list[tuple[str, activations.Activation]]:
    """Every registered activation, GELU's exact form and the ReLU rule that
    ``models.mlp`` uses after batch_norm (its mask read from ``z``)."""
    return [
        *((name, activations.get(name)) for name in activations.NAMES),
        ("gelu(approximate=False)", activations.get("gelu", approximate=False)),
        ("relu (mask read from z)", activations.RELU_MASKED_BY_Z),
    ]


def _layer_cases():
    for item, act in _activations():
        yield "activation", item, L.activation(act), (5,)
    yield "layer", "dense", L.dense(4), (5,)
    yield "layer", "dense(use_bias=False)", L.dense(4, use_bias=False), (5,)
    yield "layer", "prelu", L.prelu(), (5,)
    yield "layer", "batch_norm", L.batch_norm(), (5,)
    yield "layer", "dropout(0.5)", L.dropout(0.5), (5,)
    yield (
        "layer",
        "serial(dense, tanh)",
        L.serial(L.dense(4), L.activation("tanh")),
        (5,),
    )
    yield (
        "layer",
        "residual(dense, elu)",
        L.residual(L.serial(L.dense(5), L.activation("elu"))),
        (5,),
    )


def _layer_rows(dtype) -> Iterator[Row]:
    for category, item, layer, shape in _layer_cases():
        for train in (True, False) if "batch_norm" in item else (True,):
            label = item if train else f"{item} (eval)"
            report = gradcheck.check_layer(
                layer, shape, batch=6, dtype=dtype, train=train, raise_on_fail=False
            )
            yield Row(
                category,
                label,
                jnp.dtype(dtype).name,
                report.errors["backward vs vjp"],
                report.errors.get("backward vs finite differences"),
                report.passed,
                "; ".join(report.problems),
            )


# Inputs at the kinks (relu'(0) = 0, leaky_relu'(0) = 1, elu'(0) = α), where finite
# differences cannot judge and normal draws never land: jax.vjp only.
_KINKS = [[0.0, -0.0, 1.0, -1.0, 0.0], [2.0, 0.0, -0.0, -3.0, 0.5]]


def _kink_rows(dtype) -> Iterator[Row]:
    dtype_name = jnp.dtype(dtype).name
    dy = jnp.arange(1.0, 11.0, dtype=dtype).reshape(2, 5)
    for item, act in _activations():

        def compute(z, act=act):
            y = act.forward(z)
            y_ad, vjp = jax.vjp(act.forward, z)
            return (y, act.backward(z, y, dy)), (y_ad, vjp(dy)[0]), None

        z = jnp.asarray(_KINKS, dtype)
        yield _gradient_row("activation", f"{item} at 0 and −0", dtype_name, compute, z)


def _loss_inputs(name: str, key, dtype):
    k1, k2 = jax.random.split(key)
    pred = jax.random.normal(k1, (6, 3), dtype)
    if name == "mse":
        target = jax.random.normal(k2, (6, 3), dtype)
    elif name == "binary_cross_entropy":
        target = jax.random.bernoulli(k2, 0.5, (6, 3)).astype(dtype)
    elif name == "softmax_cross_entropy":
        target = jax.nn.softmax(jax.random.normal(k2, (6, 3), dtype))
    else:
        target = jax.random.randint(k2, (6,), 0, 3)
    return pred, target


def _mismatch(manual, auto) -> str:
    """How the manual gradient's tree, shapes or dtypes differ from autodiff's."""
    tm, ta = jax.tree.structure(manual), jax.tree.structure(auto)
    if tm != ta:
        return f"gradient tree {tm} vs autodiff {ta}"
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(manual), jax.tree.leaves(auto), strict=True
    ):
        if a.shape != b.shape or a.dtype != b.dtype:
            return (
                f"gradient{jax.tree_util.keystr(path)} is {a.dtype.name}{list(a.shape)}"
                f"; autodiff's is {b.dtype.name}{list(b.shape)}"
            )
    return ""


def _gradient_row(category, item, dtype_name, compute, point) -> Row:
    """Run ``compute(point) -> ((value, grads), (value, grads), fd grads | None)``.

    The whole comparison is one jitted call: one compile per row.
    """
    (value, manual), (value_ad, auto), numeric = jax.jit(compute)(point)
    # The structure, shapes and dtypes first: relative_error raises on a mismatch.
    problem = _mismatch(manual, auto)
    if problem:
        return Row(category, item, dtype_name, None, None, False, problem)
    # np.max, not max: max(x, nan) is x, so a NaN loss value would pass.
    err = float(
        np.max(
            [
                gradcheck.relative_error(manual, auto),
                gradcheck.relative_error(value, value_ad),
            ]
        )
    )
    fd = None if numeric is None else gradcheck.relative_error(manual, numeric)
    ok = err <= gradcheck.RTOL_VJP[dtype_name]
    ok = ok and (fd is None or fd <= gradcheck.RTOL_FD)
    return Row(category, item, dtype_name, err, fd, ok)


def _loss_rows(dtype) -> Iterator[Row]:
    dtype_name = jnp.dtype(dtype).name
    for name in losses.NAMES:
        loss = losses.get(name)
        pred, target = _loss_inputs(name, jax.random.key(1), dtype)

        def compute(pred, loss=loss, target=target):
            f = lambda p: loss.forward(p, target)
            numeric = None
            if dtype_name == "float64":
                numeric = gradcheck.numerical_grad(f, pred)
            manual = (f(pred), loss.backward(pred, target))
            return manual, jax.value_and_grad(f)(pred), numeric

        yield _gradient_row("loss", name, dtype_name, compute, pred)


MODEL_CASES = (
    ("mlp depth 1, mse", dict(sizes=(3,)), "mse"),
    (
        "mlp depth 2 relu, softmax-CE",
        dict(sizes=(8, 3)),
        "softmax_cross_entropy_with_integer_labels",
    ),
    (
        "mlp depth 3 tanh+bn, BCE",
        dict(sizes=(8, 8, 3), activation="tanh", batch_norm=True),
        "binary_cross_entropy",
    ),
    (
        "mlp depth 3 relu+bn, softmax-CE",  # ReLU's mask from z after batch_norm
        dict(sizes=(8, 8, 3), batch_norm=True),
        "softmax_cross_entropy_with_integer_labels",
    ),
    (
        "mlp depth 3 sigmoid+residual, mse",
        dict(sizes=(8, 8, 3), activation="sigmoid", residual=True),
        "mse",
    ),
    (
        "mlp depth 4 gelu+dropout, softmax-CE",
        dict(sizes=(8, 8, 8, 3), activation="gelu", dropout=0.2),
        "softmax_cross_entropy",
    ),
    (
        "mlp depth 4 elu+bn+res+dropout",
        dict(
            sizes=(8, 8, 8, 3),
            activation="elu",
            batch_norm=True,
            residual=True,
            dropout=0.1,
        ),
        "softmax_cross_entropy_with_integer_labels",
    ),
    ("two_layer_sigmoid, mse", None, "mse"),
)


def _model_rows(dtype) -> Iterator[Row]:
    dtype_name = jnp.dtype(dtype).name
    for item, config, loss_name in MODEL_CASES:
        model = (
            models.two_layer_sigmoid(6, 3) if config is None else models.mlp(**config)
        )
        k_init, k_data, k_drop = jax.random.split(jax.random.key(2), 3)
        _, params, state = model.init(k_init, (5,))
        params, state = tree_cast(params, dtype), tree_cast(state, dtype)
        # Off the initial γ = 1, β = 0 (as check_layer does): exact points for a
        # backward that drops γ.
        params, state = gradcheck.away_from_init(
            params, state, np.random.default_rng(2)
        )
        x, y = _loss_inputs(loss_name, k_data, dtype)
        x = jnp.concatenate([x, x[:, :2] ** 2], axis=1)  # (6, 5) inputs
        manual_fn = backprop.value_and_grad(model, loss_name)
        auto_fn = backprop.autodiff_value_and_grad(model, loss_name)

        def compute(
            params, manual_fn=manual_fn, auto_fn=auto_fn, state=state, x=x, y=y
        ):
            (value, _), manual = manual_fn(params, state, x, y, key=k_drop)
            (value_ad, _), auto = auto_fn(params, state, x, y, key=k_drop)
            numeric = None
            if dtype_name == "float64":
                f = lambda p: manual_fn(p, state, x, y, key=k_drop)[0][0]
                numeric = gradcheck.numerical_grad(f, params)
            return (value, manual), (value_ad, auto), numeric

        yield _gradient_row("model", item, dtype_name, compute, params)


def _optimizer_rows(dtype) -> Iterator[Row]:
    dtype_name = jnp.dtype(dtype).name
    try:
        from jaxnn.optim._optax_check import compare_with_optax

        results = compare_with_optax(dtype)
    except ImportError as e:
        yield Row(
            "optimizer", "(all)", dtype_name, None, None, False, str(e), skipped=True
        )
        return
    for name, err, ok in results:
        yield Row("optimizer", name, dtype_name, err, None, ok, "vs optax")


def run(dtypes=("float32", "float64"), *, optimizers: bool = True) -> Iterator[Row]:
    """Yield one ``Row`` per checked item and dtype.

    float64 needs ``jax_enable_x64``; ``optimizers=False`` skips the optax rows.
    Matrix products run at full precision (``jax.default_matmul_precision
    ("highest")``): GPUs otherwise multiply float32 matrices in TF32, whose 10-bit
    mantissa makes two correct gradient formulas differ by ~1e-4 (seen on an H100:
    3.7e-5 for a batch-norm network), more than the float32 tolerance.
    """
    with jax.default_matmul_precision("highest"):
        for dtype_name in dtypes:
            dtype = jnp.dtype(dtype_name)
            yield from _layer_rows(dtype)
            yield from _kink_rows(dtype)
            yield from _loss_rows(dtype)
            yield from _model_rows(dtype)
            if optimizers:
                yield from _optimizer_rows(dtype)
