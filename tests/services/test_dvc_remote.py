"""A DVC remote on S3 through `endpointurl`, as README.md documents it: push, lose, pull back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.conftest import s3_client

pytestmark = pytest.mark.slow


def run(*args: str, cwd: Path) -> str:
    dvc = str(Path(sys.executable).parent / "dvc")
    cmd = [dvc if args[0] == "dvc" else args[0], *args[1:]]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_push_then_pull_round_trips_through_s3(tmp_path, aws_env, bucket, monkeypatch):
    """Credentials come from the environment only; the config holds the URL and endpoint."""
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "site-cache"))
    repo = tmp_path / "repo"
    repo.mkdir()
    run("git", "init", "-q", cwd=repo)
    run("dvc", "init", "-q", cwd=repo)
    run("dvc", "remote", "add", "-d", "storage", f"s3://{bucket}/dvc", cwd=repo)
    run("dvc", "remote", "modify", "storage", "endpointurl", aws_env, cwd=repo)
    data = repo / "data"
    data.mkdir()
    (data / "corpus.jsonl").write_text('{"_id": "d1", "text": "json decodes text"}\n')
    (data / "weights.bin").write_bytes(os.urandom(4096))
    originals = {p.name: p.read_bytes() for p in data.iterdir()}
    run("dvc", "add", "data", cwd=repo)
    run("dvc", "push", cwd=repo)
    assert "secret" not in (repo / ".dvc" / "config").read_text()  # no credentials in the config
    stored = s3_client(aws_env).list_objects_v2(Bucket=bucket, Prefix="dvc/")
    assert stored["KeyCount"] >= 3  # two files and the directory listing

    shutil.rmtree(data)
    shutil.rmtree(repo / ".dvc" / "cache")
    run("dvc", "pull", cwd=repo)
    assert {p.name: p.read_bytes() for p in data.iterdir()} == originals
