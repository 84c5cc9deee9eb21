"""Type aliases shared across jaxnn (documentation only; nothing is checked at run time)."""

from collections.abc import Callable
from typing import Any

import jax

Array = jax.Array
PyTree = Any
Params = PyTree
State = PyTree
Updates = PyTree
OptState = PyTree
PRNGKey = jax.Array
Shape = tuple[int, ...]
Schedule = Callable[[jax.Array], jax.Array]
ScalarOrSchedule = float | jax.Array | Schedule
