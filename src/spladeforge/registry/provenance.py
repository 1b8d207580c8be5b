"""What a registered model was trained on, as MLflow tags: data revision and input hashes.

Two sources, whichever exist: the model's `spladeforge.json` (written by train from ingest's
record, so it holds the DVC data repository, commit and hash when the corpus came from one, and
the hashes of the training tuples and dev split), and — under `dvc repro` — the project's
git commit and the DVC hashes that `dvc.lock` holds for the train stage's dependencies.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from spladeforge.redaction import redact_params


def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _dvc_lock_hashes(lock: Path, stage: str = "train") -> dict[str, str]:
    try:
        data = yaml.safe_load(lock.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    deps = data.get("stages", {}).get(stage, {}).get("deps", [])
    return {d["path"]: d.get("md5") or d.get("hash", "") for d in deps
            if isinstance(d, dict) and not str(d.get("path", "")).startswith("src/")}


def provenance_tags(sidecar: dict[str, Any], project: Path | None = None) -> dict[str, str]:
    """Flat `provenance.*` tags; values are hashes, commits and paths, never credentials (a
    sidecar written by an older version could hold a data repository URL with a token: masked)."""
    sidecar = redact_params(sidecar)
    tags: dict[str, str] = {}
    prov = sidecar.get("provenance") or {}
    for key in ("tuples_sha256", "dev_sha256", "validation_sha256"):  # validation_: models trained before dev
        if prov.get(key):
            tags[f"provenance.{key}"] = str(prov[key])
    version = (prov.get("documents") or {}).get("data_version") or {}
    for key in ("repo", "rev", "commit", "path", "dvc_md5"):
        if version.get(key):
            tags[f"provenance.data.{key}"] = str(version[key])
    source = (prov.get("documents") or {}).get("source")
    if source and "provenance.data.path" not in tags:
        tags["provenance.data.source"] = str(source)
    project = project or Path.cwd()
    lock = project / "dvc.lock"
    if lock.is_file():
        commit = _git_commit(project)
        if commit:
            tags["provenance.project.commit"] = commit
        for path, digest in _dvc_lock_hashes(lock).items():
            tags[f"provenance.dvc.{path}"] = str(digest)
    return tags
