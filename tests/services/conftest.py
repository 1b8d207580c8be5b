"""Real services on 127.0.0.1, started once per session: a moto S3 server and an MLflow tracking
server (sqlite backend, artifacts proxied to s3://<bucket>/mlflow on the moto server).

Nothing here talks to any other host: the fake AWS credentials only ever reach moto.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

FAKE_KEY = "AKIASPLADEFORGETEST"
FAKE_SECRET = "spladeforge-fake-secret-never-printed"
REGION = "us-east-1"
MLFLOW_BUCKET = "mlflow-artifacts"
_NO_PROXY = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aws_environ() -> dict[str, str]:
    """Fake keys for moto only; endpoints are passed explicitly, as a real setup would."""
    return {"AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_DEFAULT_REGION": REGION, "NO_PROXY": "127.0.0.1",
            "no_proxy": "127.0.0.1"}


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_SECRET)


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """A moto S3 server in a thread of the test process."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture()
def aws_env(monkeypatch, moto_endpoint) -> str:
    """Fake credentials in the environment, no profile or proxy; returns the endpoint."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", *_NO_PROXY):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name, value in aws_environ().items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


@pytest.fixture()
def bucket(moto_endpoint, request) -> str:
    """A fresh bucket per test, named after it."""
    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50].strip("-")
    s3_client(moto_endpoint).create_bucket(Bucket=name)
    return name


def _wait_for_health(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with opener.open(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server did not answer {url}/health in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, moto_endpoint) -> str:
    """`mlflow server` with a sqlite backend and --serve-artifacts into the moto bucket."""
    root = tmp_path_factory.mktemp("mlflow-server")
    s3_client(moto_endpoint).create_bucket(Bucket=MLFLOW_BUCKET)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in _NO_PROXY and k != "MLFLOW_TRACKING_URI"}
    env.update(aws_environ(), MLFLOW_S3_ENDPOINT_URL=moto_endpoint,
               MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
               MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # no job workers: faster start
    log = root / "server.log"
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(mlflow_bin), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
             "--artifacts-destination", f"s3://{MLFLOW_BUCKET}/mlflow", "--serve-artifacts",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, proc, log)
        yield url
    finally:
        # The server runs its workers as children: stop the whole process group it leads.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
