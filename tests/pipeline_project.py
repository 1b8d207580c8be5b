"""A temporary copy of the project (dvc.yaml, params, presets, sources) for end-to-end `dvc repro` runs.

`make_project(root, preset, overrides)` writes params.yaml with the preset named and `overrides`
merged over the repository's params (params win over the preset), makes it a git + DVC
repository, and `dvc(project, "repro")` runs the real dvc.yaml there. The environment carries
recognizable fake secrets, so a test can check that none reaches any output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

# A tiny slice of the default corpus and a few training steps: the whole pipeline in minutes on 2 cores.
TINY = {
    "data": {"max_documents": 14},
    "split": {"dev_fraction": 0.2, "test_fraction": 0.2},
    "train": {"max_steps": 6, "batch_size": 8, "eval_steps": 3, "logging_steps": 1,
              "max_seq_length": 64},
    "evaluate": {"batch_size": 16},
}

# Recognizable fake secrets in the pipeline's environment: none may reach any output.
FAKE_SECRETS = {
    "HF_TOKEN": "hf_FAKEsecretTOKEN0123456789abcdef",
    "AWS_ACCESS_KEY_ID": "AKIAFAKESECRETKEY0001",
    "AWS_SECRET_ACCESS_KEY": "fakeSECRETaccessKEY/0123456789abcdefghij",
    "OPENAI_API_KEY": "sk-FAKEsecretOPENAIkey0123456789",
    "MLFLOW_TRACKING_PASSWORD": "FAKEmlflowPASSWORD0123",
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(FAKE_SECRETS)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", MLFLOW_DISABLE_TELEMETRY="true")
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("SPLADEFORGE_MANIFEST_DIR", None)  # the project's own reports/manifests/
    return env


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=_env(),
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def merge(base: dict, extra: dict) -> dict:
    """`extra` merged into `base` key by key (nested sections too); returns `base`."""
    for key, value in extra.items():
        base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return base


def make_project(root: Path, preset: str | None = None, overrides: dict | None = None) -> Path:
    """Copy the project into `root` with params.yaml naming `preset` and carrying `overrides`."""
    for name in ("dvc.yaml", "configs", "src", "judgments"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    if preset is not None:
        params["preset"] = preset
    (root / "params.yaml").write_text(yaml.safe_dump(merge(params, overrides or {}), sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", "commit", "-qm",
                    "project"], cwd=root, check=True)
    return root


def repro(project: Path) -> Path:
    """`dvc repro` in `project`, its output kept in repro.log."""
    result = dvc(project, "repro")
    (project / "repro.log").write_text(result.stdout + result.stderr)
    return project
