"""MLflow plumbing shared by `register`: which server, whether it answers, what may be logged,
and its failures told as one error naming the server.

MLflow itself is imported only inside functions: tracking is optional plumbing, and importing
mlflow starts its telemetry client unless telemetry is switched off first (`offline_mlflow`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import getproxies, proxy_bypass

from spladeforge.errors import SpladeforgeError

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
# MLflow caps a param value at 6000 characters (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH).
_MAX_PARAM_CHARS = 6000
# Keys whose values may be credentials. `*_env` keys hold the *name* of a variable and are kept.
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|access_?key|credential)", re.I)
_CONNECT_TIMEOUT_S = 5.0


def resolve_tracking_uri(configured: str) -> str:
    """`MLFLOW_TRACKING_URI` in the environment wins over `register.tracking_uri`."""
    return os.environ.get(ENV_TRACKING_URI) or configured


def redact_uri(uri: str) -> str:
    """Drop the password from `scheme://user:password@host/...`; other URIs pass unchanged."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def check_reachable(uri: str) -> None:
    """Fail in seconds, naming the URI, when an HTTP tracking server does not accept connections.

    MLflow's own client retries with backoff for minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES) before
    it gives up; a refused or timed-out TCP connection is answered here first.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    if getproxies().get(parts.scheme) and not proxy_bypass(parts.hostname):
        return  # reached through a proxy: a direct connection says nothing; MLflow will tell
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise SpladeforgeError(
            f"MLflow tracking server {redact_uri(uri)} is unreachable ({exc.strerror or exc}); "
            f"start it or point {ENV_TRACKING_URI} / register.tracking_uri at a running one"
        ) from None


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
    if _SECRET_KEY.search(key.rsplit(".", 1)[-1]) and not key.endswith("_env") and value:
        return "***"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if "://" in text:
        text = redact_uri(text)
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
        # Keep a password in the URI out of the message.
        message = str(exc).replace(uri, shown_uri).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpladeforgeError(f"MLflow tracking at {shown_uri} failed: {message}") from exc


@contextlib.contextmanager
def tracking_session(configured_uri: str) -> Iterator[str]:
    """MLflow pointed at the tracking store for the block, offline, its failures as SpladeforgeError.

    Resolves the URI (`MLFLOW_TRACKING_URI` wins), fails fast when an HTTP server does not answer,
    and yields the URI with any password masked, the form fit for messages and outputs.
    """
    uri = resolve_tracking_uri(configured_uri)
    shown_uri = redact_uri(uri)
    check_reachable(uri)
    with offline_mlflow(), use_tracking_uri(uri), tracking_errors(uri, shown_uri):
        yield shown_uri
