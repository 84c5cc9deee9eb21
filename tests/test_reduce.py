"""jaxnn._reduce.sum_in_dtype: the batch sums of the backward rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn._reduce import sum_in_dtype


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32])
def test_equals_jax_vjp_of_a_broadcast_bit_for_bit(dtype):
    # The transpose of broadcasting a bias over the batch (axis 0) and a per-row
    # total over the columns (axis 1, keepdims): the sums jax.grad emits.
    ct = jax.random.normal(jax.random.key(0), (257, 7), dtype)
    (bias_grad,) = jax.vjp(lambda b: jnp.broadcast_to(b, ct.shape), ct[0])[1](ct)
    (row_grad,) = jax.vjp(lambda r: jnp.broadcast_to(r, ct.shape), ct[:, :1])[1](ct)
    for mine, ref in [
        (sum_in_dtype(ct, (0,)), bias_grad),
        (sum_in_dtype(ct, (1,), keepdims=True), row_grad),
    ]:
        assert mine.dtype == ref.dtype == dtype and mine.shape == ref.shape
        np.testing.assert_array_equal(np.float32(mine), np.float32(ref))


def test_is_jnp_sum_in_float32_and_differs_from_it_in_bfloat16():
    # float32: the very same jaxpr as jnp.sum (so float32 and float64 programs are
    # unchanged); bfloat16: no float32 accumulation, unlike jnp.sum.
    x = jnp.ones((5, 3))
    for axes, keepdims in [((0,), False), ((1,), True), ((0, 1), False)]:
        mine = jax.make_jaxpr(lambda a: sum_in_dtype(a, axes, keepdims=keepdims))(x)
        ref = jax.make_jaxpr(lambda a: jnp.sum(a, axis=axes, keepdims=keepdims))(x)
        assert str(mine) == str(ref)
    bf = x.astype(jnp.bfloat16)
    assert "convert_element_type" in str(jax.make_jaxpr(lambda a: jnp.sum(a, 0))(bf))
    assert "convert_element_type" not in str(
        jax.make_jaxpr(lambda a: sum_in_dtype(a, (0,)))(bf)
    )
