"""ingest reads the corpus at a DVC revision of a data repository whose remote is S3 (a moto
server on 127.0.0.1), and records the commit and DVC hash it trained on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from spladeforge.config import DataConfig
from spladeforge.errors import InputError
from spladeforge.stages import ingest

pytestmark = pytest.mark.slow
TEXT_A = "The gzip module compresses and decompresses files in the gzip format. " * 5
TEXT_B = "The json module encodes Python objects as JSON text and decodes it back. " * 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="data-remote")
    yield endpoint
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _sh(cwd: Path, *cmd: str) -> str:
    dvc = [sys.executable, "-m", "dvc"]
    full = [*dvc, *cmd[1:]] if cmd[0] == "dvc" else list(cmd)
    proc = subprocess.run(full, cwd=cwd, capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def _commit_data(repo, name: str, text: str, message: str) -> str:
    """Add docs/<name>, commit the DVC-tracked folder, push its data; return the commit."""
    (repo / "docs" / name).write_text(text)
    _sh(repo, "dvc", "add", "docs", "-q")
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", message)
    _sh(repo, "dvc", "push", "-q")
    return _sh(repo, "git", "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def data_repo(tmp_path_factory, s3):
    """A git repository whose docs/ folder is DVC-tracked on S3, at two revisions."""
    repo = tmp_path_factory.mktemp("data-repo")
    _sh(repo, "git", "init", "-q")
    _sh(repo, "git", "config", "user.email", "ci@example.invalid")
    _sh(repo, "git", "config", "user.name", "ci")
    _sh(repo, "dvc", "init", "-q")
    _sh(repo, "dvc", "remote", "add", "-d", "store", "s3://data-remote/dvc")
    _sh(repo, "dvc", "remote", "modify", "store", "endpointurl", s3)
    (repo / "docs").mkdir()
    v1 = _commit_data(repo, "a.txt", TEXT_A, "data v1")
    v2 = _commit_data(repo, "b.txt", TEXT_B, "data v2")
    # Only the remote holds the data now: the repository's cache and working copy are gone.
    subprocess.run(["rm", "-rf", str(repo / ".dvc" / "cache"), str(repo / "docs")], check=True)
    return repo, v1, v2


def _ingest(tmp_path, repo, rev, name):
    out = tmp_path / name / "documents.jsonl"
    summary = ingest.run(DataConfig(source="docs", dvc_repo=str(repo), dvc_rev=rev, min_chars=50), out)
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    meta = json.loads(ingest.meta_path(out).read_text())
    return summary, docs, meta


def test_each_revision_reads_its_own_data_and_records_it(tmp_path, data_repo):
    repo, v1, v2 = data_repo
    s1, docs1, meta1 = _ingest(tmp_path, repo, v1, "v1")
    s2, docs2, meta2 = _ingest(tmp_path, repo, None, "latest")
    assert [d["id"] for d in docs1] == ["a.txt"]
    assert [d["id"] for d in docs2] == ["a.txt", "b.txt"]
    assert meta1["data_version"]["commit"] == v1 == s1["data_commit"]
    assert meta2["data_version"]["commit"] == v2, "the default branch is the latest pushed version"
    assert meta1["data_version"]["dvc_md5"] != meta2["data_version"]["dvc_md5"]
    assert meta1["data_version"]["dvc_md5"].endswith(".dir")
    # A rerun of the old revision is exact.
    _, again, _ = _ingest(tmp_path, repo, v1, "v1-again")
    assert again == docs1


def test_missing_path_or_revision_names_the_repository(tmp_path, data_repo):
    repo, v1, _ = data_repo
    with pytest.raises(InputError, match=r"'nope' does not exist in .*@"):
        ingest.run(DataConfig(source="nope", dvc_repo=str(repo), dvc_rev=v1), tmp_path / "d.jsonl")
    with pytest.raises(InputError, match="data.dvc_repo: cannot read"):
        ingest.run(DataConfig(source="docs", dvc_repo=str(repo), dvc_rev="no-such-rev"), tmp_path / "d.jsonl")
    assert not (tmp_path / "d.jsonl").exists()


def test_credentials_in_the_repo_url_are_never_recorded():
    from spladeforge.data.dvc_source import redact

    # The one redaction of every URL (spladeforge.redaction) masks the user part too, as `***`.
    assert redact("https://user:ghp_SECRET@github.com/org/data.git") == "https://***@github.com/org/data.git"
