"""Training callbacks: scale phases hold while progress is below their `until`; MLflow tracking
during training is bounded in time (it gets register's HTTP budget)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from spladeforge.config import RegisterConfig, TrainConfig
from spladeforge.training.callbacks import ScalePhaseCallback, build_callbacks


class _Ranking:
    scale = 1.0


def _scales(phases: list[tuple[float, float]], max_steps: int) -> list[float]:
    wrapper = SimpleNamespace(loss=_Ranking())  # SpladeLoss / CSRLoss hold the ranking loss as `.loss`
    callback = ScalePhaseCallback(wrapper, phases)
    seen = []
    for step in range(max_steps):
        callback.on_step_begin(None, SimpleNamespace(global_step=step, max_steps=max_steps), None)
        seen.append(wrapper.loss.scale)
    return seen


def test_phase_scale_applies_until_its_bound_then_the_next_one():
    """The semantics config.training.ScalePhase documents: first half at 1, second half at 20."""
    assert _scales([(0.5, 1.0), (1.0, 20.0)], 10) == [1.0] * 5 + [20.0] * 5


def test_last_phase_scale_stays_after_its_bound():
    assert _scales([(0.2, 5.0), (0.4, 10.0)], 10) == [5.0, 5.0, 10.0, 10.0] + [10.0] * 6


def test_config_phases_reach_the_callback_in_order():
    cfg = TrainConfig(scale_phases=[{"until": 0.3, "scale": 2.0}, {"until": 1.0, "scale": 8.0}],
                      tracking=[], architecture="csr")
    (callback,) = [c for c in build_callbacks(cfg, SimpleNamespace(loss=_Ranking()), None)
                   if isinstance(c, ScalePhaseCallback)]
    assert callback.phases == [(0.3, 2.0), (1.0, 8.0)]
    with pytest.raises(ValueError, match="increasing order"):
        TrainConfig(scale_phases=[{"until": 0.8, "scale": 2.0}, {"until": 0.3, "scale": 8.0}])

_VARIABLES = ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")


def test_mlflow_tracking_gets_bounded_requests_unless_the_user_chose(tmp_path, monkeypatch):
    """MLflow's defaults (120 s x 7 retries) would stall a run 16 minutes on a silent server."""
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    build_callbacks(TrainConfig(architecture="csr", tracking=["mlflow"]), loss=None, tensorboard_dir=tmp_path)
    defaults = RegisterConfig()
    assert [os.environ[name] for name in _VARIABLES] == [
        str(defaults.http_timeout_s), str(defaults.http_max_retries), str(defaults.http_backoff_factor)]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    build_callbacks(TrainConfig(architecture="csr", tracking=["mlflow"]), loss=None, tensorboard_dir=tmp_path)
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"
