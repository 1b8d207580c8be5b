"""Trainer callbacks: scale phases (a temperature curriculum) and tracking that cannot fail a run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import SpladeRegularizerWeightSchedulerCallback
from transformers import EarlyStoppingCallback, TrainerCallback
from transformers.integrations import MLflowCallback, TensorBoardCallback

from spladeforge.config import RegisterConfig, TrainConfig

logger = logging.getLogger(__name__)


class ScalePhaseCallback(TrainerCallback):
    """Set the ranking loss's scale (1/temperature) by phase, e.g. sharpening it as training goes.

    `phases` are (until, scale) pairs in increasing `until`. Before each step, with p the fraction
    of steps done, the scale is that of the first phase with p < until; once p reaches the last
    `until`, the last phase's scale stays (`config.training.ScalePhase`).
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


def _bound_mlflow_requests() -> None:
    """MLflow's HTTP timeout and retries as `register` bounds them, unless the user exported them.

    With MLflow's own defaults (120 s x 7 retries with backoff) a silent tracking server would stall
    training for over 16 minutes before SafeCallback turns tracking off.
    """
    fields = RegisterConfig.model_fields
    for variable, key in (("MLFLOW_HTTP_REQUEST_TIMEOUT", "http_timeout_s"),
                          ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "http_max_retries"),
                          ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "http_backoff_factor")):
        os.environ.setdefault(variable, str(fields[key].default))


def build_callbacks(cfg: TrainConfig, loss, tensorboard_dir: Path) -> list[TrainerCallback]:
    """Scale phases, early stopping, the tracking backends of `train.tracking` and the regularizer warm-up."""
    callbacks: list[TrainerCallback] = []
    if cfg.scale_phases:
        callbacks.append(ScalePhaseCallback(loss, [(p.until, p.scale) for p in cfg.scale_phases]))
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    for name in cfg.tracking:
        try:
            if name == "tensorboard":
                inner = TensorBoardCallback()
                inner.logging_dir = str(tensorboard_dir)
            else:
                _bound_mlflow_requests()
                inner = MLflowCallback()
            callbacks.append(SafeCallback(inner))
        except Exception as exc:  # noqa: BLE001 - a missing tracking backend never stops training
            logger.warning("%s tracking is off: %s", name, exc)
    if cfg.architecture != "csr":
        callbacks.append(SpladeRegularizerWeightSchedulerCallback(loss, warmup_ratio=cfg.regularizer_warmup_ratio))
    return callbacks
