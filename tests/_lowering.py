"""The operations a function lowers to for a platform, without that platform's device."""

import re

import jax

# What ``jax.lax.platform_dependent`` leaves around the chosen branch when one
# platform is lowered: a ``case`` on a constant index, its returns and constants.
_SKIP = {"stablehlo.case", "stablehlo.return", "stablehlo.constant"}


def lowered_ops(fn, platform: str, *args) -> list[str]:
    """Sorted StableHLO operations of ``jit(fn)(*args)`` exported for ``platform``
    (``jax.export`` lowers for a platform it has no device of), without ``_SKIP``."""
    module = jax.export.export(jax.jit(fn), platforms=[platform])(*args)
    found = re.findall(r"stablehlo\.\w+", module.mlir_module())
    return sorted(op for op in found if op not in _SKIP)
