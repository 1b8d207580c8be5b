"""Wall time of the whole DAG under kfp.local against the same work through `dvc repro`.

Usage: python benchmarks/kfp_vs_dvc.py

Both run the same tiny configuration (12 stdlib modules, 4 training steps) from a temporary copy
of the project, in this interpreter's environment; kfp.local runs each component as a subprocess
(SubprocessRunner(use_venv=False)), dvc runs each stage as `spladeforge <stage>`. Writes
benchmarks/results/kfp_vs_dvc.json and .md.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TINY = {"data.max_documents": 12, "split.dev_fraction": 0.2, "split.test_fraction": 0.2, "train.max_steps": 4,
        "train.batch_size": 8, "train.eval_steps": 2, "train.logging_steps": 1, "train.max_seq_length": 64,
        "evaluate.batch_size": 16}


def _overrides() -> list[str]:
    return [f"{k}={v}" for k, v in TINY.items()]


def run_kfp(root: Path) -> float:
    from kfp import local

    from spladeforge.config import load_params
    from spladeforge.pipelines import make_pipeline

    os.chdir(root)
    params = load_params(REPO / "params.yaml", [*_overrides(), f"register.tracking_uri=sqlite:///{root}/mlflow.db",
                                                "kubeflow.train_retries=0", "kubeflow.hf_hub_offline=true"])
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root / "pipeline-root"),
               raise_on_error=True)
    started = time.perf_counter()
    make_pipeline(params)(checkpoint_uri=str(root / "checkpoints"))
    return time.perf_counter() - started


def run_dvc(root: Path) -> float:
    for name in ("dvc.yaml", "configs", "src", "judgments"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for key, value in TINY.items():
        section, field = key.split(".")
        params.setdefault(section, {})[field] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True, env=env)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=root, check=True, env=env)
    return time.perf_counter() - started


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    figures = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "config": TINY}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "dvc").mkdir()
        (Path(tmp) / "kfp").mkdir()
        figures["dvc_repro_seconds"] = round(run_dvc(Path(tmp) / "dvc"), 1)
        figures["kfp_local_seconds"] = round(run_kfp(Path(tmp) / "kfp"), 1)
    figures["kfp_over_dvc"] = round(figures["kfp_local_seconds"] / figures["dvc_repro_seconds"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "kfp_vs_dvc.json").write_text(json.dumps(figures, indent=2) + "\n")
    (RESULTS / "kfp_vs_dvc.md").write_text(
        "# Local DAG (kfp.local) against dvc repro, tiny corpus\n\n| runner | seconds |\n| --- | --- |\n"
        f"| dvc repro | {figures['dvc_repro_seconds']} |\n| kfp.local SubprocessRunner | "
        f"{figures['kfp_local_seconds']} |\n\nRatio kfp/dvc: {figures['kfp_over_dvc']}\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
