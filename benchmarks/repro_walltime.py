"""Wall time of `make repro` from a fresh clone, and of the no-op second `dvc repro`.

Usage: python benchmarks/repro_walltime.py [--keep] [--reuse-venv PATH]

Clones the repository (committed state) into a temporary folder and runs `make repro` there,
then `dvc repro` again. `--reuse-venv` symlinks an existing virtualenv so the figure measures the
pipeline rather than the package download; without it the install is timed separately.
Writes benchmarks/results/repro_walltime.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _load import LoadSampler  # benchmarks/ is on sys.path: the scripts run from it

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout + proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone for inspection")
    parser.add_argument("--reuse-venv", type=Path, help="symlink this virtualenv as .venv")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="spladeforge-repro-"))
    clone = workdir / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    figures: dict[str, object] = {"machine": f"{platform.processor() or platform.machine()}, "
                                             f"{os.cpu_count()} cores", "python": platform.python_version()}
    if args.reuse_venv:
        # The stamp names the pins' hash, so `make` finds the linked venv installed and does not
        # reinstall; `spladeforge` then runs from the venv's editable install (this checkout,
        # at the same commit when the working tree is clean).
        (clone / ".venv").symlink_to(args.reuse_venv.resolve())
        figures["install_seconds"] = "reused"
    else:
        figures["install_seconds"], _ = timed(["make", "install"], clone)
    with LoadSampler() as load:
        figures["make_repro_seconds"], log = timed(["make", "repro"], clone)
    # above the core count the machine was shared and the wall time is inflated
    figures["mean_load_average"] = load.mean
    figures["noop_dvc_repro_seconds"], noop_log = timed(["make", "repro"], clone)
    figures["noop_ran_a_stage"] = "Running stage" in noop_log
    metrics = json.loads((clone / "reports" / "metrics.json").read_text())
    figures["model_ndcg_at_10"] = metrics.get("model_ndcg_at_10")
    figures["base_ndcg_at_10"] = metrics.get("base_ndcg_at_10")
    figures["bm25_ndcg_at_10"] = metrics.get("bm25_ndcg_at_10")
    (clone / "repro.log").write_text(log)
    stages = {}
    for manifest in sorted((clone / "reports" / "manifests").glob("*.json")):
        m = json.loads(manifest.read_text())
        stages[m["stage"]] = {"seconds": m["seconds"], "peak_rss_mb": m.get("peak_rss_mb")}
    figures["stages"] = stages
    train = json.loads((clone / "reports" / "manifests" / "train.json").read_text())["summary"]
    figures["train_triplets_per_second"] = train.get("triplets_per_second")
    figures["train_steps"] = train.get("steps")
    figures["train_seconds"] = train.get("seconds")
    figures["val_ndcg_at_10"] = train.get("val_ndcg_at_10")

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "repro_walltime.json").write_text(json.dumps(figures, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {v if not isinstance(v, float) else round(v, 3)} |"
                     for k, v in figures.items() if k != "stages")
    rows += "\n\n| stage | seconds | peak RSS (MB) |\n| --- | --- | --- |\n" + "\n".join(
        f"| {name} | {v['seconds']:.1f} | {v['peak_rss_mb']} |" for name, v in figures["stages"].items())
    (RESULTS / "repro_walltime.md").write_text(
        "# make repro wall time (default cpu-tiny run)\n\nTargets: default run under 600 s, "
        "no-op second run under 20 s.\n\n| figure | value |\n| --- | --- |\n" + rows + "\n")
    print(json.dumps(figures, indent=2))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"clone kept at {clone}")


if __name__ == "__main__":
    main()
