"""The CLI: every stage has --help; user errors exit non-zero with a message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ["ingest", "chunk", "generate-queries", "split", "mine", "train", "evaluate", "quantize",
          "register", "publish"]


def cli(*args: str, cwd: Path = REPO, manifests: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if manifests is not None:
        env["SPLADEFORGE_MANIFEST_DIR"] = str(manifests)
    return subprocess.run([sys.executable, "-m", "spladeforge.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_stage_has_help():
    from typer.testing import CliRunner

    from spladeforge.cli import app

    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for stage in STAGES:
        result = runner.invoke(app, [stage, "--help"])
        assert result.exit_code == 0, stage
        assert "--params" in result.output


def test_bad_param_exits_2_naming_the_key_without_traceback():
    proc = cli("chunk", "--set", "chunk.overlap=5000")
    assert proc.returncode == 2
    assert "chunk: Value error, overlap (5000) must be smaller than size" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("source", ["missing-folder", "empty-folder"])
def test_bad_source_exits_non_zero_and_writes_nothing(tmp_path, source):
    folder = tmp_path / source
    if source == "empty-folder":
        folder.mkdir()
    out = tmp_path / "out" / "documents.jsonl"
    proc = cli("ingest", "--output", str(out), "--set", f"data.source={folder}")
    assert proc.returncode == 2, proc.stderr
    assert str(folder) in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    leftovers = list(out.parent.iterdir()) if out.parent.exists() else []
    assert leftovers == []


def test_ingest_chunk_summary(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Alpha\n\n" + "Alpha text about parsing. " * 40)
    (docs / "b.md").write_text("# Beta\n\n" + "Beta text about sockets. " * 40)
    proc = cli("ingest", "--output", str(tmp_path / "d.jsonl"), "--set", f"data.source={docs}",
               manifests=tmp_path / "manifests")
    assert proc.returncode == 0, proc.stderr
    assert "spladeforge ingest: done" in proc.stdout and "documents" in proc.stdout
    proc = cli("chunk", "--documents", str(tmp_path / "d.jsonl"), "--output", str(tmp_path / "c.jsonl"),
               manifests=tmp_path / "manifests")
    assert proc.returncode == 0, proc.stderr
    assert "chunks" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "manifests").iterdir()) == ["chunk.json", "ingest.json"]
