"""Each architecture on the default corpus with its CPU preset: time per stage, quality against its
reference, sparsity, INT8 cost, and the inference-free query latency.

Usage: python benchmarks/architectures.py --cisi ../shared/benchmarks/cisi [--presets cpu-tiny ...] [--keep]

For each preset (default: cpu-tiny, cpu-inference-free, cpu-csr) a copy of the project runs the
real dvc.yaml (`dvc repro`) in a temporary folder, offline, with the CISI folder added to
`evaluate.beir_datasets` (read where it is, never copied): evaluate then scores the model and its
reference (`base`: the untrained model of the same architecture), BM25 and the dense baseline on
the held-out split and on CISI. Collected per preset: stage seconds and peak RSS (the stage
manifests), NDCG@10 of model and reference on both, document and query active dimensions, the
INT8 size and NDCG@10 change (quantize's report), and for inference-free the p50 of one query
through the INT8 encoder (a tokenizer call and a lookup in idf.json) and through the bare
token-weight table. Writes benchmarks/results/architectures.json and .md.
"""

from __future__ import annotations

import argparse
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
from _load import LoadSampler  # benchmarks/ is on sys.path: the scripts run from it

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PRESETS = ("cpu-tiny", "cpu-inference-free", "cpu-csr")
TARGET_QUERY_MS = 1.0


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", MLFLOW_DISABLE_TELEMETRY="true")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("SPLADEFORGE_MANIFEST_DIR", None)
    return env


def _run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def project(root: Path, preset: str, cisi: Path) -> Path:
    for name in ("dvc.yaml", "configs", "src", "judgments"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["preset"] = preset
    params["evaluate"]["beir_datasets"] = [str(cisi.resolve())]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(["git", "init", "-q"], root)
    _run([sys.executable, "-m", "dvc", "init", "-q"], root)
    _run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench", "commit", "-qm", "project"], root)
    return root


def _p50_ms(encode, queries: list[str]) -> float:
    import numpy as np

    encode(queries[0])
    seconds = []
    for query in queries:
        start = time.perf_counter()
        encode(query)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds) * 1000.0)


def query_latency(root: Path) -> dict[str, float]:
    """p50 ms of one held-out query through the INT8 encoder's table path and the bare table lookup."""
    from spladeforge.evaluation.beir import load_beir
    from spladeforge.models.onnx_encoder import OnnxSparseEncoder

    queries = list(load_beir(root / "data/split/test").queries.values())
    encoder = OnnxSparseEncoder(root / "models/splade-int8")
    return {"int8_encoder_query_p50_ms": round(_p50_ms(encoder.encode_query, queries), 4),
            "table_lookup_query_p50_ms": round(_p50_ms(encoder.static_queries.encode, queries), 4)}


def measure(root: Path, preset: str, cisi: Path) -> dict:
    started = time.perf_counter()
    with LoadSampler() as load:
        _run([sys.executable, "-m", "dvc", "repro"], project(root, preset, cisi))
    return collect(root, preset, {"repro_seconds": round(time.perf_counter() - started, 1),
                                  "mean_load_average": load.mean})


def collect(root: Path, preset: str, timing: dict) -> dict:
    """The figures of a project `dvc repro` has run (also for a run whose collection failed)."""
    figures: dict = {"preset": preset, **timing}
    manifests = [json.loads(path.read_text()) for path in (root / "reports/manifests").glob("*.json")]
    manifests = {m["stage"]: m for m in manifests}
    figures["stages"] = {name: {"seconds": round(m["seconds"], 1), "peak_rss_mb": m.get("peak_rss_mb")}
                         for name, m in sorted(manifests.items())}
    metrics = json.loads((root / "reports/metrics.json").read_text())
    quantize = json.loads((root / "reports/quantize.json").read_text())
    decision = json.loads((root / "reports/register.json").read_text())
    label = next(key.removesuffix("_model_ndcg_at_10") for key in metrics
                 if key.endswith("_model_ndcg_at_10") and not key.startswith(("model", "base")))
    figures["architecture"] = quantize["architecture"]
    for task, prefix in (("heldout", ""), ("cisi", f"{label}_")):
        for system in ("model", "base", "bm25", "dense"):
            figures[f"{task}_{system}_ndcg_at_10"] = metrics.get(f"{prefix}{system}_ndcg_at_10")
    for key in ("model_doc_active_dims", "model_query_active_dims", "base_doc_active_dims",
                "base_query_active_dims", "num_queries"):
        figures[key] = metrics.get(key)
    for key in ("fp32_size_bytes", "int8_size_bytes", "fp32_ndcg_at_10", "int8_ndcg_at_10", "ndcg_at_10_change",
                "encode_speed_ratio", "int8_query_latency_p50_ms", "query_encoder"):
        figures[f"quantize_{key}" if not key.startswith(("fp32", "int8", "quantize")) else key] = quantize.get(key)
    figures["promoted"] = decision["promoted"]
    figures["gate_reason"] = decision["reason"]
    if figures["architecture"] == "inference-free":
        figures.update(query_latency(root))
    return figures


def _markdown(results: list[dict], machine: str) -> str:
    def cell(value) -> str:
        if value is None:
            return "–"
        return f"{value:.3f}" if isinstance(value, float) and abs(value) < 10 else str(value)

    stages = list(results[0]["stages"])
    lines = ["# Architectures on the default corpus, CPU presets", "",
             f"{machine}. One `dvc repro` per preset (the preset's default corpus: 150 stdlib modules in "
             "500-character chunks), CISI "
             "(1,460 abstracts, 76 judged queries) added as an evaluate BEIR folder. `reference` is "
             "evaluate's `base`: the untrained model of the same architecture, the gate's first reference. "
             "The machine was shared: `mean_load_average` (1-minute load on 2 cores while the preset ran) "
             "says how much the wall times are inflated.", "",
             "| figure | " + " | ".join(r["preset"] for r in results) + " |",
             "| --- |" + " --- |" * len(results)]
    rows = ["architecture", "heldout_model_ndcg_at_10", "heldout_base_ndcg_at_10", "heldout_bm25_ndcg_at_10",
            "heldout_dense_ndcg_at_10", "cisi_model_ndcg_at_10", "cisi_base_ndcg_at_10", "cisi_bm25_ndcg_at_10",
            "cisi_dense_ndcg_at_10", "model_doc_active_dims", "model_query_active_dims", "base_doc_active_dims",
            "base_query_active_dims", "fp32_size_bytes", "int8_size_bytes", "quantize_ndcg_at_10_change",
            "quantize_encode_speed_ratio", "int8_query_latency_p50_ms", "table_lookup_query_p50_ms",
            "promoted", "repro_seconds", "mean_load_average"]
    for row in rows:
        label = row.replace("base_", "reference_") if "base_" in row else row
        lines.append(f"| {label} | " + " | ".join(cell(r.get(row)) for r in results) + " |")
    lines += ["", "Seconds per stage (peak RSS MB):", "",
              "| stage | " + " | ".join(r["preset"] for r in results) + " |", "| --- |" + " --- |" * len(results)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(
            f"{r['stages'][stage]['seconds']} ({r['stages'][stage]['peak_rss_mb']})" for r in results) + " |")
    lines += ["", f"Inference-free query latency target: p50 < {TARGET_QUERY_MS} ms.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cisi", type=Path, required=True, help="the CISI BEIR folder (read, never copied)")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--keep", action="store_true", help="keep the project copies for inspection")
    args = parser.parse_args()
    if not (args.cisi / "corpus.jsonl").is_file():
        raise SystemExit(f"{args.cisi}: not a BEIR folder (no corpus.jsonl)")
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}")
    workdir = Path(tempfile.mkdtemp(prefix="spladeforge-architectures-"))
    results = []
    for preset in args.presets:
        root = workdir / preset
        root.mkdir()
        results.append(measure(root, preset, args.cisi))
        print(json.dumps(results[-1], indent=2), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "architectures.json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    (RESULTS / "architectures.md").write_text(_markdown(results, machine))
    if args.keep:
        print(f"projects kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
