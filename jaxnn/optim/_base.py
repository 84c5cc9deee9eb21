"""The optimizer contract: ``GradientTransformation``, ``chain`` and ``apply_updates``.

A gradient transformation is a pair of pure functions, exactly as in optax::

    state = tx.init(params)
    updates, state = tx.update(grads, state, params)
    params = apply_updates(params, updates)

``init`` builds the state (an immutable NamedTuple pytree) from the parameters;
``update`` maps incoming updates (at first the gradients) and the old state to
outgoing updates and a new state, never modifying its inputs. Because the pair
has optax's calling convention, jaxnn transformations run inside ``optax.chain``
and optax's inside :func:`chain`.
"""

import inspect
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxnn._tree import check_same_tree
from jaxnn._typing import OptState, Params, Updates


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)`` with optax's calling convention.

    Attributes:
        init: ``init(params) -> state``.
        update: ``update(updates, state, params=None) -> (updates, new_state)``
            (a :func:`chain`'s also takes optax's ``**extra_args``).
    """

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Updates, OptState]]


class EmptyState(NamedTuple):
    """The state of a stateless transformation (no leaves); optax's ``EmptyState``."""


def init_empty_state(params: Params) -> EmptyState:
    """Init function of every stateless transformation."""
    del params
    return EmptyState()


def identity() -> GradientTransformation:
    """Leave the updates unchanged; optax's ``identity``.

    Returns:
        A stateless :class:`GradientTransformation`.
    """

    def update(updates, state, params=None):
        del params
        return updates, state

    return GradientTransformation(init_empty_state, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply transformations one after the other; optax's ``chain``.

    The state is the tuple of the sub-states, in order. Any object with optax's
    ``(init, update)`` pair is accepted, so optax transformations compose with
    jaxnn's. Keyword arguments of ``update`` beyond ``params`` (optax's
    ``extra_args``, e.g. ``value=loss`` for ``optax.contrib.reduce_on_plateau``) go
    to the members whose ``update`` takes ``**extra_args``, as in ``optax.chain``;
    the others do not see them.

    Args:
        *transforms: The transformations, applied first to last.

    Returns:
        A :class:`GradientTransformation` whose state is a tuple of sub-states.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxnn import optim
        >>> tx = optim.chain(optim.clip(1.0), optim.scale(-0.5))
        >>> updates, _ = tx.update(jnp.array([3.0, -0.2]), tx.init(None))
        >>> print(updates)
        [-0.5  0.1]
    """
    for i, t in enumerate(transforms):
        check_transformation(f"transforms[{i}]", t)
    init_fns = tuple(t.init for t in transforms)
    update_fns = tuple(t.update for t in transforms)
    takes_extra_args = tuple(_takes_extra_args(fn) for fn in update_fns)

    def init(params):
        return tuple(fn(params) for fn in init_fns)

    def update(updates, state, params=None, **extra_args):
        if not isinstance(state, tuple | list):
            raise TypeError(
                f"chain: state must be the tuple of {len(update_fns)} sub-states from "
                f"this chain's init; got {type(state).__name__}."
            )
        if len(state) != len(update_fns):
            raise ValueError(
                f"chain of {len(update_fns)} transformations got a state of "
                f"length {len(state)}; build the state with this chain's init."
            )
        new_state = []
        for fn, extra, sub_state in zip(
            update_fns, takes_extra_args, state, strict=True
        ):
            kwargs = extra_args if extra else {}
            updates, sub_state = fn(updates, sub_state, params, **kwargs)
            new_state.append(sub_state)
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def check_transformation(name: str, value) -> None:
    """Raise a TypeError naming ``name`` unless ``value`` has optax's callable
    ``init`` and ``update`` (a ``GradientTransformation``, jaxnn's or optax's)."""
    if not all(callable(getattr(value, f, None)) for f in ("init", "update")):
        raise TypeError(
            f"{name} must be a GradientTransformation (callable init and update), "
            f"such as jaxnn.optim.adam(1e-3) or an optax one; got {name}={value!r}."
        )


def _takes_extra_args(update: Callable) -> bool:
    """Whether ``update`` has a ``**kwargs`` parameter (optax's ``extra_args``)."""
    try:
        parameters = inspect.signature(update).parameters.values()
    except (TypeError, ValueError):  # no signature to read: pass only the three
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def apply_updates(params: Params, updates: Updates) -> Params:
    r"""Return ``params + updates``, each leaf cast back to its parameter's dtype.

    .. math:: \theta \leftarrow \theta + u

    The updates already carry the sign (``scale_by_learning_rate`` negates), as in
    optax's ``apply_updates``.

    Args:
        params: The parameter pytree.
        updates: A pytree of the same structure and leaf shapes.

    Returns:
        The new parameters, same structure and dtypes as ``params``.

    Raises:
        ValueError: When the two trees differ in structure or in a leaf's shape.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxnn import optim
        >>> print(optim.apply_updates({"w": jnp.ones(2)}, {"w": jnp.full(2, -0.5)}))
        {'w': Array([0.5, 0.5], dtype=float32)}
    """
    check_same_tree(params, updates, "params", "updates")
    return jax.tree.map(
        lambda p, u: jnp.asarray(p + u).astype(jnp.asarray(p).dtype), params, updates
    )
