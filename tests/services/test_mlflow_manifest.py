"""infra/mlflow's server flags against a real `mlflow server` on 127.0.0.1: a request carrying the
in-cluster Host header (what every pipeline task sends) is answered with them and refused without."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.services.conftest import _NO_PROXY, _wait_for_health, free_port

pytestmark = pytest.mark.slow

INFRA = Path(__file__).resolve().parents[2] / "infra" / "mlflow"
IN_CLUSTER_HOST = "mlflow.mlflow.svc.cluster.local:5000"  # infra/kfp/secrets.example.yaml's tracking_uri


def manifest_flags() -> list[str]:
    """The container's `mlflow server` flags that concern hosts, $(VAR)s filled from the ConfigMap."""
    literals = dict(line.split("=", 1) for line in
                    yaml.safe_load((INFRA / "kustomization.yaml").read_text())["configMapGenerator"][0]["literals"])
    deploy = next(d for d in yaml.safe_load_all((INFRA / "mlflow.yaml").read_text()) if d and d["kind"] == "Deployment")
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    filled = [re.sub(r"\$\((\w+)\)", lambda m: literals.get(m.group(1), m.group(0)), arg) for arg in args]
    return [arg for arg in filled if arg.startswith(("--allowed-hosts", "--cors-allowed-origins"))]


def start_server(root: Path, flags: list[str]) -> tuple[subprocess.Popen, str]:
    root.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in _NO_PROXY and k != "MLFLOW_TRACKING_URI"}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    log = root / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
             f"sqlite:///{root / 'mlflow.db'}", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             *flags], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait_for_health(url, proc, log)
    return proc, url


def status_with_host(url: str, host: str) -> int:
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    try:
        conn.request("GET", "/api/2.0/mlflow/experiments/search?max_results=1", headers={"Host": host})
        return conn.getresponse().status
    finally:
        conn.close()


def test_the_in_cluster_service_name_is_an_allowed_host(tmp_path):
    flags = manifest_flags()
    assert any(flag.startswith("--allowed-hosts=") for flag in flags), flags
    servers = []
    try:
        with_flags, url = start_server(tmp_path / "with", flags)
        servers.append(with_flags)
        assert status_with_host(url, IN_CLUSTER_HOST) == 200
        assert status_with_host(url, "localhost:5000") == 200  # kubectl port-forward
        assert status_with_host(url, "evil.example:5000") == 403  # the protection stays on

        without, url = start_server(tmp_path / "without", [])
        servers.append(without)
        assert status_with_host(url, IN_CLUSTER_HOST) == 403  # what the manifest without the flag got
    finally:
        for proc in servers:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
