"""Optax-compatible optimizers, clipping, chaining and learning-rate schedules.

A :class:`GradientTransformation` is a pair ``(init, update)`` with optax's calling
convention; states are immutable NamedTuple pytrees whose leaves equal optax's.
Named optimizers (:func:`sgd`, :func:`momentum`, :func:`rmsprop`, :func:`adam`,
:func:`adamw`) are nothing but a :func:`chain` of the small transformations.
"""

from jaxnn.optim._alias import adam as adam
from jaxnn.optim._alias import adamw as adamw
from jaxnn.optim._alias import momentum as momentum
from jaxnn.optim._alias import rmsprop as rmsprop
from jaxnn.optim._alias import sgd as sgd
from jaxnn.optim._base import EmptyState as EmptyState
from jaxnn.optim._base import GradientTransformation as GradientTransformation
from jaxnn.optim._base import apply_updates as apply_updates
from jaxnn.optim._base import chain as chain
from jaxnn.optim._base import identity as identity
from jaxnn.optim._clipping import clip as clip
from jaxnn.optim._clipping import clip_by_global_norm as clip_by_global_norm
from jaxnn.optim._clipping import global_norm as global_norm
from jaxnn.optim._schedules import constant_schedule as constant_schedule
from jaxnn.optim._schedules import cosine_decay_schedule as cosine_decay_schedule
from jaxnn.optim._schedules import exponential_decay as exponential_decay
from jaxnn.optim._schedules import (
    piecewise_constant_schedule as piecewise_constant_schedule,
)
from jaxnn.optim._schedules import step_decay as step_decay
from jaxnn.optim._schedules import (
    warmup_cosine_decay_schedule as warmup_cosine_decay_schedule,
)
from jaxnn.optim._transforms import EmaState as EmaState
from jaxnn.optim._transforms import ScaleByAdamState as ScaleByAdamState
from jaxnn.optim._transforms import ScaleByRmsState as ScaleByRmsState
from jaxnn.optim._transforms import ScaleByScheduleState as ScaleByScheduleState
from jaxnn.optim._transforms import TraceState as TraceState
from jaxnn.optim._transforms import add_decayed_weights as add_decayed_weights
from jaxnn.optim._transforms import ema as ema
from jaxnn.optim._transforms import scale as scale
from jaxnn.optim._transforms import scale_by_adam as scale_by_adam
from jaxnn.optim._transforms import scale_by_learning_rate as scale_by_learning_rate
from jaxnn.optim._transforms import scale_by_rms as scale_by_rms
from jaxnn.optim._transforms import scale_by_schedule as scale_by_schedule
from jaxnn.optim._transforms import trace as trace

__all__ = [
    # Contract and composition.
    "GradientTransformation",
    "EmptyState",
    "identity",
    "chain",
    "apply_updates",
    # Named optimizers.
    "sgd",
    "momentum",
    "rmsprop",
    "adam",
    "adamw",
    # Transformations and their states.
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "ScaleByScheduleState",
    "trace",
    "TraceState",
    "ema",
    "EmaState",
    "scale_by_rms",
    "ScaleByRmsState",
    "scale_by_adam",
    "ScaleByAdamState",
    "add_decayed_weights",
    # Clipping.
    "clip",
    "clip_by_global_norm",
    "global_norm",
    # Schedules.
    "constant_schedule",
    "exponential_decay",
    "step_decay",
    "cosine_decay_schedule",
    "warmup_cosine_decay_schedule",
    "piecewise_constant_schedule",
]
