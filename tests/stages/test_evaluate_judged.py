"""evaluate with a judgments folder: the task `judged` over the test split's corpus, its judged
fraction and the agreement of a machine judge, for every system."""

from __future__ import annotations

import json

import pytest

from spladeforge.config import EvaluateConfig
from spladeforge.stages import evaluate
from tests.conftest import write_beir
from tests.evaluation.test_judged import write_judgments

pytestmark = pytest.mark.slow

CFG = dict(batch_size=8, dense_model=None, error_analysis_queries=0, latency_queries=0)
GRADES = {"q-json": {"d1": 2, "d2": 0}, "q-gzip": {"d2": 2, "d3": 1}, "q-net": {"d4": 1}, "q-none": {"d5": 0}}
MACHINE = {"llm-tiny": {"q-json": {"d1": 2, "d2": 0, "d6": 0}, "q-gzip": {"d2": 1, "d3": 1}}}


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory, _saved_model_dir):
    root = tmp_path_factory.mktemp("judged")
    task_dir = write_beir(root / "test")
    folder = write_judgments(root / "judgments", GRADES, machine=MACHINE)
    cfg = EvaluateConfig(**CFG, judgments=str(folder), judgments_min_queries=3)
    summary = evaluate.run(cfg, _saved_model_dir, task_dir, root / "out", root / "metrics.json")
    return summary, json.loads((root / "metrics.json").read_text()), root


def test_judged_set_is_scored_for_every_system_and_flagged_enough(judged_run):
    summary, metrics, root = judged_run
    for system in ("model", "base", "bm25"):
        assert 0 < metrics[f"judged_{system}_ndcg_at_10"] <= 1
        assert 0 < metrics[f"judged_{system}_judged_at_10"] <= 1
        assert 0 < metrics[f"{system}_judged_at_10"] <= 0.3, "the generated test split: 1-2 graded chunks per query"
    assert metrics["judged_num_queries"] == 3 and metrics["judged_num_queries_without_judgments"] == 1
    assert metrics["judged_judged_queries"] == 4 and metrics["judged_enough"] is True
    assert metrics["judged_set_sha256"] != metrics["set_sha256"]
    assert summary["judged_enough"] is True
    per_query = json.loads((root / "out" / "per_query.json").read_text())
    assert set(per_query["judged"]["model"]) == {"q-json", "q-gzip", "q-net"}
    report = (root / "out" / "report.md").read_text()
    assert "## judged" in report and "Judged@10" in report and "4 judged queries, 3 with a grade above 0" in report


def test_machine_agreement_is_reported(judged_run):
    _, metrics, root = judged_run
    assert metrics["judged_agreement_llm_tiny_pairs"] == 4  # d1, d2 of q-json; d2, d3 of q-gzip
    assert -1 <= metrics["judged_agreement_llm_tiny_kappa_quadratic"] <= 1
    assert "judged_agreement_llm_tiny_tau" in metrics
    report = json.loads((root / "out" / "report.json").read_text())
    assert report["agreement"]["llm-tiny"]["queries"] == 2
    assert "Machine judges against human grades" in (root / "out" / "report.md").read_text()


def test_too_few_judged_queries_are_scored_but_not_enough(tmp_path, _saved_model_dir):
    """Fewer than judgments_min_queries: scored and reported, `judged_enough: false`; an empty folder adds nothing."""
    task_dir = write_beir(tmp_path / "test")
    folder = write_judgments(tmp_path / "judgments", {"q-json": {"d1": 2}})
    evaluate.run(EvaluateConfig(**CFG, compare_bm25=False), _saved_model_dir, task_dir, tmp_path / "out",
                 tmp_path / "m.json", judgments=folder)
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["judged_enough"] is False and metrics["judged_num_queries"] == 1
    assert "judged_model_ndcg_at_10" in metrics
    empty = tmp_path / "empty"
    empty.mkdir()
    evaluate.run(EvaluateConfig(**CFG, compare_bm25=False), _saved_model_dir, task_dir, tmp_path / "out2",
                 tmp_path / "m2.json", judgments=empty)
    assert not any(key.startswith("judged_") for key in json.loads((tmp_path / "m2.json").read_text()))
