"""Tracking during training is bounded in time: MLflow's HTTP client gets register's budget."""

from __future__ import annotations

import os

from spladeforge.config import RegisterConfig, TrainConfig
from spladeforge.training.callbacks import build_callbacks

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
