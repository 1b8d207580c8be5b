"""Provenance tags trace a model to its data: DVC data revision, input hashes, dvc.lock."""

from __future__ import annotations

import subprocess

import yaml

from spladeforge.registry.provenance import provenance_tags


def test_tags_from_sidecar_and_dvc_lock(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.email=a@b.c", "-c", "user.name=a", "commit", "-q", "--allow-empty",
                    "-m", "x"], cwd=tmp_path, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                            text=True).stdout.strip()
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"train": {"deps": [
        {"path": "data/train_tuples.jsonl", "md5": "abc123"},
        {"path": "src/spladeforge/stages/train.py", "md5": "code"},
    ]}}}))
    sidecar = {"provenance": {
        "tuples_sha256": "t" * 64,
        "documents": {"data_version": {"repo": "https://github.com/org/data.git", "rev": None,
                                       "commit": "c0ffee", "path": "docs", "dvc_md5": "d1.dir"}},
    }}
    tags = provenance_tags(sidecar, tmp_path)
    assert tags["provenance.data.commit"] == "c0ffee" and tags["provenance.data.dvc_md5"] == "d1.dir"
    assert tags["provenance.tuples_sha256"] == "t" * 64
    assert tags["provenance.project.commit"] == commit
    assert tags["provenance.dvc.data/train_tuples.jsonl"] == "abc123"
    assert not any(k.startswith("provenance.dvc.src/") for k in tags), "code hashes are not data"


def test_no_dvc_lock_no_project_tags(tmp_path):
    tags = provenance_tags({"provenance": {"documents": {"source": "python-stdlib-docs"}}}, tmp_path)
    assert tags == {"provenance.data.source": "python-stdlib-docs"}
