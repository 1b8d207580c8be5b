"""Trainer callbacks: scale phases (seed 002's curriculum) and tracking that cannot fail a run."""

from __future__ import annotations

import logging

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


class ScalePhaseCallback(TrainerCallback):
    """Set the ranking loss's scale (1/temperature) by phase: seed 002 sharpens it as training goes.

    `phases` are (until, scale) pairs over the fraction of training done; after the last phase the
    last scale stays.
    """

    def __init__(self, loss, phases: list[tuple[float, float]]) -> None:
        self.target = getattr(loss, "loss", loss)
        self.phases = phases

    def on_step_begin(self, args, state, control, **kwargs):
        if not self.phases or not state.max_steps or not hasattr(self.target, "scale"):
            return
        done = state.global_step / state.max_steps
        scale = next((s for until, s in self.phases if done < until), self.phases[-1][1])
        self.target.scale = scale


class SafeCallback(TrainerCallback):
    """Wraps a tracking callback (MLflow, TensorBoard) so that its failures only warn.

    A tracking server that goes away in hour three must not cost the training run.
    """

    def __init__(self, inner: TrainerCallback) -> None:
        self.inner = inner
        self.failed = False

    def _call(self, event: str, *args, **kwargs):
        if self.failed:
            return None
        try:
            return getattr(self.inner, event)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any tracking failure, by design
            self.failed = True
            logger.warning("tracking with %s failed and is now off for this run: %s",
                           type(self.inner).__name__, exc)
            return None


def _forward(event: str):
    def method(self, *args, **kwargs):
        return self._call(event, *args, **kwargs)

    method.__name__ = event
    return method


for _event in [name for name in vars(TrainerCallback) if name.startswith("on_")]:
    setattr(SafeCallback, _event, _forward(_event))
