"""End to end for the other two architectures: `dvc repro` of the real dvc.yaml with the
cpu-inference-free and cpu-csr presets on a tiny corpus, through quantize, register and publish.

Each run is as small as test_pipeline's (14 documents, a few steps), skips the dense baseline,
which the SPLADE run already covers, and times few queries one by one. CSR trains a 6-layer
MiniLM, ~10x BERT-tiny's compute per token: fewer, shorter steps keep it to a couple of minutes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pipeline_project import FAKE_SECRETS, TINY, make_project, merge, repro

pytestmark = pytest.mark.slow
SMALL = merge(json.loads(json.dumps(TINY)), {"evaluate": {"dense_model": None, "latency_queries": 5}})
CSR_SMALL = merge(json.loads(json.dumps(SMALL)), {"train": {"batch_size": 4, "max_steps": 4, "eval_steps": 4,
                                                            "max_seq_length": 48}})


def _read(project: Path, path: str) -> dict:
    return json.loads((project / path).read_text())


def _check_common(project: Path, model_name: str, architecture: str) -> tuple[dict, dict, dict]:
    """Every stage ran, the gate had its reference, publish wrote its export; no secret leaked."""
    for stage in ("ingest", "chunk", "generate-queries", "split", "mine", "train", "evaluate", "quantize",
                  "register", "publish"):
        assert _read(project, f"reports/manifests/{stage}.json")["stage"] == stage
    sidecar = _read(project, "models/splade/spladeforge.json")
    assert sidecar["architecture"] == architecture
    assert (project / "models/splade" / sidecar["reference_weights"]).is_file()
    metrics, quantize, decision = (_read(project, "reports/metrics.json"), _read(project, "reports/quantize.json"),
                                   _read(project, "reports/register.json"))
    assert 0 <= metrics["base_ndcg_at_10"] <= 1 and 0 <= metrics["model_ndcg_at_10"] <= 1
    assert decision["model_name"] == model_name and decision["reference"] == "base model"
    assert quantize["architecture"] == architecture and (project / "models/splade-int8/model_int8.onnx").is_file()
    published = _read(project, "export/publish.json")
    assert published["promoted"] == decision["promoted"]
    assert (project / "export/model/modules.json").is_file() == decision["promoted"]
    leaks = [(str(p), name) for p in project.rglob("*") if p.is_file() and ".git" not in p.parts
             for name, value in FAKE_SECRETS.items() if value.encode() in p.read_bytes()]
    assert leaks == []
    return metrics, quantize, decision


def test_inference_free_runs_the_whole_pipeline(tmp_path):
    project = repro(make_project(tmp_path, "cpu-inference-free", SMALL))
    metrics, quantize, decision = _check_common(project, "spladeforge-inference-free", "inference-free")
    # The reference is the IDF-query router training started from: same query tokens, no expansion.
    assert metrics["base_query_active_dims"] == pytest.approx(metrics["model_query_active_dims"])
    assert metrics["model_doc_active_dims"] > metrics["model_query_active_dims"]
    assert quantize["query_encoder"] == "token-weight table" and quantize["int8_query_latency_p50_ms"] < 5
    assert (project / "models/splade-int8/idf.json").is_file()
    if decision["promoted"]:
        engine = project / "export/search-engine"
        assert (engine / "idf.json").read_bytes() == (project / "models/splade-int8/idf.json").read_bytes()


def test_csr_runs_the_whole_pipeline(tmp_path):
    project = repro(make_project(tmp_path, "cpu-csr", CSR_SMALL))
    metrics, quantize, _ = _check_common(project, "spladeforge-csr", "csr")
    k = 96  # cpu-csr's train.csr_k: every text keeps exactly k latents, before and after INT8
    assert metrics["model_doc_active_dims"] == metrics["base_doc_active_dims"] == k
    assert quantize["int8_doc_active_dims"] == k and quantize["query_encoder"] == "onnx graph"
