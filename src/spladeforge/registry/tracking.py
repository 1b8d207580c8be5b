"""MLflow plumbing shared by `register`: which server, whether it answers, what may be logged,
and its failures told as one error naming the server.

Every MLflow HTTP request is bounded: the server must answer a first probe within
`register.connect_timeout_s` (a server that accepts connections and never answers fails in
seconds), and inside the session each request times out after `register.http_timeout_s` with at
most `register.http_max_retries` retries (MLflow's own defaults, 120 s x 7 retries with backoff,
kept a silent server busy for over 16 minutes). URIs are shown through `redaction.redact_url`.

MLflow itself is imported only inside functions: tracking is optional plumbing, and importing
mlflow starts its telemetry client unless telemetry is switched off first (`offline_mlflow`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from spladeforge.errors import SpladeforgeError
from spladeforge.redaction import redact_text, redact_url, redact_value

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
# MLflow caps a param value at 6000 characters (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
_MAX_PARAM_CHARS = 6000


@dataclass(frozen=True)
class HttpBudget:
    """How long MLflow may take: the first answer, each request, and the retries of one request."""

    connect_timeout_s: float = 10.0
    timeout_s: int = 60
    max_retries: int = 2
    backoff_factor: int = 1

    @classmethod
    def of(cls, cfg: Any) -> HttpBudget:
        """From a `RegisterConfig` (its connect_timeout_s, http_timeout_s, http_max_retries, ...)."""
        return cls(cfg.connect_timeout_s, cfg.http_timeout_s, cfg.http_max_retries, cfg.http_backoff_factor)

    def environ(self) -> dict[str, str]:
        """The variables MLflow's HTTP client reads on every request."""
        return {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.timeout_s),
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.max_retries),
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(self.backoff_factor)}


def resolve_tracking_uri(configured: str) -> str:
    """`MLFLOW_TRACKING_URI` in the environment wins over `register.tracking_uri`."""
    return os.environ.get(ENV_TRACKING_URI) or configured


def redact_uri(uri: str) -> str:
    """`uri` as it may be shown or stored: user, password and credential query parameters masked."""
    return redact_url(uri)


def check_reachable(uri: str, timeout_s: float = HttpBudget.connect_timeout_s) -> None:
    """Fail within `timeout_s`, naming the URI, when an HTTP tracking server does not answer.

    One GET of `<uri>/health` (any HTTP status counts as an answer: an auth proxy's 401 too),
    through the proxy the environment names, without retries: a refused or timed-out connection
    and a server that accepts the connection but sends nothing are all told here, before MLflow's
    own client retries.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    import requests

    hint = f"start it or point {ENV_TRACKING_URI} / register.tracking_uri at a running one"
    try:
        requests.get(uri.rstrip("/") + "/health", timeout=timeout_s, allow_redirects=False).close()
    except requests.exceptions.ConnectTimeout:
        raise SpladeforgeError(f"MLflow tracking server {redact_uri(uri)} is unreachable (no connection "
                               f"within {timeout_s:g} s, register.connect_timeout_s); {hint}") from None
    except requests.exceptions.Timeout:
        raise SpladeforgeError(
            f"MLflow tracking server {redact_uri(uri)} accepted the connection but did not answer within "
            f"{timeout_s:g} s (register.connect_timeout_s); check that an MLflow server, not another service, "
            f"listens there, or {hint}") from None
    except requests.exceptions.RequestException as exc:
        errno_text = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
        reason = errno_text.group(1) if errno_text else type(exc).__name__
        raise SpladeforgeError(f"MLflow tracking server {redact_uri(uri)} is unreachable "
                               f"({redact_text(reason)[:200]}); {hint}") from None


def sqlite_artifact_location(uri: str) -> str | None:
    """For a `sqlite:///` store, keep artifacts beside the database rather than in `./mlruns`.

    MLflow's default for a database store is `./mlruns` under whatever directory the process
    happens to run in; beside the database, one path moves both.
    """
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri.removeprefix("sqlite:///"))
    if str(db) in ("", ":memory:"):
        return None
    db.parent.mkdir(parents=True, exist_ok=True)  # sqlite creates the file, not its folder
    return (db.resolve().parent / "mlartifacts").as_uri()


def _param_value(key: str, value: Any) -> str:
    shown = redact_value(key, value)
    text = shown if isinstance(shown, str) else json.dumps(shown, default=str)
    return text[:_MAX_PARAM_CHARS]


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """`{"train": {"learning_rate": 2e-5}}` -> `{"train.learning_rate": "2e-05"}`, secrets masked."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = _param_value(name, value)
    return flat


@contextlib.contextmanager
def use_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at `uri` for the block, then put back what was there.

    `mlflow.set_tracking_uri` also exports `MLFLOW_TRACKING_URI` (for subprocesses); left in
    place it would, by the env-wins rule, override `register.tracking_uri` on a later call in
    the same process.
    """
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = os.environ.get(ENV_TRACKING_URI)
    saved_uri = getattr(tracking_utils, "_tracking_uri", None)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uri)
        if saved_env is None:
            os.environ.pop(ENV_TRACKING_URI, None)
        else:
            os.environ[ENV_TRACKING_URI] = saved_env


@contextlib.contextmanager
def offline_mlflow() -> Iterator[None]:
    """No telemetry, no progress bars, no INFO chatter from MLflow and its migrations.

    MLflow 3 reads `MLFLOW_DISABLE_TELEMETRY` (or `DO_NOT_TRACK=true`) when it is imported and
    starts a client that reports usage over the internet; set here unless the user chose.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.telemetry.client import set_telemetry_client

    set_telemetry_client()  # re-reads the environment if mlflow was imported earlier
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def is_tracking_error(exc: Exception) -> bool:
    """MLflow, requests and SQLAlchemy each raise their own types when the store fails."""
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException | OSError) or type(exc).__module__.split(".")[0] in (
        "requests", "urllib3", "sqlalchemy",
    )


@contextlib.contextmanager
def tracking_errors(uri: str, shown_uri: str) -> Iterator[None]:
    """Turn a failing tracking store into a SpladeforgeError naming the server, not a traceback."""
    try:
        yield
    except SpladeforgeError:
        raise
    except Exception as exc:
        if not is_tracking_error(exc):
            raise
        # Keep any credential in the URI (or another URL the error quotes) out of the message.
        message = redact_text(str(exc).replace(uri, shown_uri)).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpladeforgeError(f"MLflow tracking at {shown_uri} failed: {message}") from None


@contextlib.contextmanager
def http_budget(budget: HttpBudget) -> Iterator[None]:
    """MLflow's HTTP timeout and retries set from `budget` for the block, unless the user exported them."""
    saved = {name: os.environ.get(name) for name in budget.environ()}
    for name, value in budget.environ().items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def tracking_session(configured_uri: str, budget: HttpBudget | None = None) -> Iterator[str]:
    """MLflow pointed at the tracking store for the block, offline, bounded in time, its failures
    as SpladeforgeError.

    Resolves the URI (`MLFLOW_TRACKING_URI` wins), fails fast when an HTTP server does not answer,
    and yields the URI with any credential masked, the form fit for messages and outputs.
    """
    budget = budget or HttpBudget()
    uri = resolve_tracking_uri(configured_uri)
    shown_uri = redact_uri(uri)
    check_reachable(uri, budget.connect_timeout_s)
    with offline_mlflow(), http_budget(budget), use_tracking_uri(uri), tracking_errors(uri, shown_uri):
        yield shown_uri
