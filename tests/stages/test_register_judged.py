"""Judging then evaluate + register, stage by stage: once the judgments folder holds enough judged
queries, register decides on `judged` (the champion scored again on it) with the test split as a
collapse guard; with too few it decides on the test split and says why."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from spladeforge.config import EvaluateConfig, RegisterConfig  # noqa: E402
from spladeforge.stages import evaluate, register  # noqa: E402
from tests.conftest import gate_corpus  # noqa: E402
from tests.evaluation.test_judged import write_judgments  # noqa: E402
from tests.stages.test_register_reference import promote_by_hand, worse_model_dir  # noqa: E402, F401

pytestmark = pytest.mark.slow


def _cfg(folder, least: int) -> EvaluateConfig:
    return EvaluateConfig(batch_size=16, compare_bm25=False, dense_model=None, error_analysis_queries=0,
                          latency_queries=0, judgments=str(folder), judgments_min_queries=least)


def test_register_decides_on_judged_queries_once_there_are_enough(
        tmp_path, monkeypatch, request, _saved_model_dir, worse_model_dir, gate_task_dir):  # noqa: F811
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    _, queries = gate_corpus()
    grades = {f"q-{qid}": {d: g for d, g in rels.items()} for qid, (_, rels) in list(queries.items())[:12]}
    folder = write_judgments(tmp_path / "judgments", grades)
    cfg = RegisterConfig(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", model_name=f"m-{request.node.name}")

    def challenge(model_dir, name, least):
        ev = _cfg(folder, least)
        evaluate.run(ev, model_dir, gate_task_dir, tmp_path / name, tmp_path / f"{name}.json")
        return register.run(cfg, model_dir, tmp_path / f"{name}.json", tmp_path / f"{name}-d.json", tmp_path / name,
                            gate_task_dir, evaluate=ev, seed=0)

    few = challenge(_saved_model_dir, "few", 20)
    assert few["metric"] == "model_ndcg_at_10" and "judged holds 12 queries < 20" in few["metric_reason"]
    promote_by_hand(cfg, few["version"])

    enough = challenge(worse_model_dir, "enough", 10)
    assert enough["metric"] == "judged_model_ndcg_at_10"
    assert enough["metric_reason"].startswith("judged: 12 queries >= 10")
    assert enough["reference"] == f"champion v{few['version']}" and not enough["stale_reference"]
    assert enough["candidate_set_sha256"] == enough["reference_set_sha256"], "the champion scored on the judged set"
    assert enough["interval"]["queries"] == 12 and not enough["promoted"]
    (guard,) = enough["guards"]
    assert guard["role"] == "collapse guard" and guard["metric"] == "model_ndcg_at_10" and guard["max_drop"] == 0.05
    assert "collapse guard model_ndcg_at_10" in enough["reason"]
