"""Data-parallel training over all local devices with ``jax.sharding``.

The batch axis is sharded over a 1-D mesh named ``"data"`` and the train state is
replicated; the jitted epoch from ``jaxnn.train`` is unchanged. XLA partitions each
step: every device computes the forward/backward pass of its shard, and the
parameter gradients — sums over the batch — become an all-reduce across devices, so
all replicas apply the same update. It works with both backward modes, since the
hand-written backward is ordinary jax code that XLA partitions the same way.

Multi-host: call ``jax.distributed.initialize()`` (coordinator address, process
count and id, or the cluster's environment) at the start of every process; then
``jax.devices()`` lists the devices of all hosts, ``mesh(...)`` spans them, and each
process feeds the same global batch arrays (or assembles them with
``jax.make_array_from_process_local_data``). Nothing else changes.

On one machine without accelerators, simulate devices before jax starts:
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` or
``jax.config.update("jax_num_cpu_devices", 8)``.
"""

from collections.abc import Callable

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from jaxnn.layers import _is_int, _positive_int

AXIS = "data"


def mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` devices (default: all of them)."""
    devices = jax.devices()
    n = len(devices) if num_devices is None else num_devices
    if not _is_int(n) or not 1 <= n <= len(devices):
        raise ValueError(
            f"num_devices must be an int in [1, {len(devices)}] (the devices jax "
            f"sees: {jax.default_backend()}); got num_devices={num_devices!r}."
        )
    n = int(n)
    return jax.make_mesh(
        (n,), (AXIS,), axis_types=(AxisType.Auto,), devices=devices[:n]
    )


def placer(m: Mesh, batch_size: int) -> Callable:
    """``place(state, xb, yb)`` for ``jaxnn.train.fit``: replicate the state, shard batches.

    ``xb``/``yb`` are an epoch's stacked batches ``(num_batches, batch_size, ...)``; the
    batch axis (1) is split over the mesh.

    Raises:
      TypeError: ``m`` is not a ``Mesh``; ``place`` raises it for ``xb``/``yb`` that
        are not arrays (a list).
      ValueError: ``batch_size`` is not a positive int or not divisible by the number
        of devices; ``place`` raises it for ``xb``/``yb`` whose axis 1 is not
        ``batch_size``.
    """
    if not isinstance(m, Mesh):
        raise TypeError(f"m must be a jax.sharding.Mesh (see mesh()); got m={m!r}.")
    batch_size = _positive_int("batch_size", batch_size)
    n = m.devices.size
    if batch_size % n:
        raise ValueError(
            f"batch_size must be divisible by the number of devices ({n}) for "
            f"data-parallel training; got batch_size={batch_size}."
        )
    replicated = NamedSharding(m, PartitionSpec())
    sharded = NamedSharding(m, PartitionSpec(None, AXIS))

    def place(state, xb, yb):
        for name, a in (("xb", xb), ("yb", yb)):
            if not hasattr(a, "ndim") or not hasattr(a, "shape"):
                raise TypeError(
                    f"{name} must be an array of stacked batches (num_batches, "
                    f"batch_size={batch_size}, ...); got {name} of type "
                    f"{type(a).__name__}."
                )
            if a.ndim < 2 or a.shape[1] != batch_size:
                raise ValueError(
                    f"{name} must be stacked batches (num_batches, batch_size="
                    f"{batch_size}, ...); got {name}.shape={tuple(a.shape)}."
                )
        state = jax.device_put(state, replicated)
        return state, jax.device_put(xb, sharded), jax.device_put(yb, sharded)

    return place
