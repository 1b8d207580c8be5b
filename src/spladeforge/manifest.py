"""Per-stage manifests: what a stage read (by hash), with which params and packages, and how long.

Written by the CLI after a stage succeeds, to `reports/manifests/<stage>.json` (or
$SPLADEFORGE_MANIFEST_DIR), so any output can be traced to the exact inputs and versions that
made it. Secrets never get here: params hold only the names of the variables that carry them.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from spladeforge.io import sha256_tree, write_json

PACKAGES = ("spladeforge", "torch", "transformers", "sentence-transformers", "mteb", "bm25s",
            "onnxruntime", "mlflow", "dvc", "datasets", "numpy")


def manifest_dir() -> Path:
    return Path(os.environ.get("SPLADEFORGE_MANIFEST_DIR", "reports/manifests"))


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def hash_inputs(paths: Iterable[Path]) -> dict[str, str]:
    return {str(p): sha256_tree(p) for p in paths if p.exists()}


def write_manifest(stage: str, params: dict[str, Any], inputs: dict[str, str], summary: dict[str, Any],
                   started: float, seconds: float, dest: Path | None = None) -> Path:
    dest = dest or manifest_dir() / f"{stage}.json"
    write_json(dest, {
        "stage": stage,
        "params": params,
        "inputs": inputs,
        "packages": package_versions(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(seconds, 3),
        "peak_rss_mb": peak_rss_mb(),
        "summary": summary,
    })
    return dest
