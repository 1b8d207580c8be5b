"""The evaluate stage end to end on a tiny BEIR folder with the built-in model, base model and BM25."""

from __future__ import annotations

import json
import math

import pytest

from spladeforge.config import EvaluateConfig
from spladeforge.errors import InputError
from spladeforge.evaluation.mteb_task import TASK_NAME
from spladeforge.stages import evaluate
from tests.conftest import TINY_CORPUS, TINY_QUERIES, write_beir

# Broad queries with several graded documents, so rankings are imperfect and NDCG is not 1.0;
# one query has no judgment at all.
QUERIES = {
    **TINY_QUERIES,
    "q5": ("module for files", {"d2": 1, "d3": 2, "d1": 1}),
    "q6": ("python numbers and times", {"d5": 2, "d6": 1, "d4": 1}),
    "q7": ("a query nobody judged", {}),
}
SYSTEMS = ("model", "base", "bm25")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, _saved_model_dir):
    root = tmp_path_factory.mktemp("evaluate")
    task_dir = write_beir(root / "beir", queries=QUERIES)
    out_dir, metrics_path = root / "out", root / "metrics.json"
    summary = evaluate.run(EvaluateConfig(batch_size=4), _saved_model_dir, task_dir, out_dir, metrics_path)
    return summary, json.loads(metrics_path.read_text()), out_dir


def trec_ndcg_at_10(scores: dict[str, float], grades: dict[str, int]) -> float:
    """ndcg_cut.10 from a system's scores: ties broken by document id, descending, as trec_eval."""
    ranking = sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)[:10]
    dcg = sum(grades.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)
    return dcg / sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal[:10]))


@pytest.mark.slow
def test_metrics_file_is_flat_and_complete(evaluated):
    """DVC reads one flat dict: every system x metric, the counts and the delta against the base."""
    summary, metrics, _ = evaluated
    for system in SYSTEMS:
        for metric in ("ndcg_at_10", "mrr_at_10", "recall_at_100"):
            assert 0.0 <= metrics[f"{system}_{metric}"] <= 1.0
    for system in ("model", "base"):
        assert metrics[f"{system}_query_active_dims"] > 0
        assert metrics[f"{system}_doc_active_dims"] > metrics[f"{system}_query_active_dims"]
    assert "bm25_doc_active_dims" not in metrics
    assert metrics["num_queries"] == 6
    assert metrics["num_queries_without_judgments"] == 1
    assert metrics["num_documents"] == len(TINY_CORPUS)
    # The trained model here is the untrained base model: no change.
    assert metrics["ndcg_at_10_delta_vs_base"] == 0.0
    assert all(not isinstance(v, dict) for v in metrics.values())
    assert summary["model_ndcg_at_10"] == metrics["model_ndcg_at_10"]


@pytest.mark.slow
def test_each_system_ranks_the_whole_corpus_and_its_ndcg_follows_from_its_ranking(evaluated):
    """Every system ranks all documents for the same judged queries, and the reported NDCG@10 is
    the trec_eval formula applied to the ranking it saved (not averaged with the unjudged query)."""
    _, metrics, out_dir = evaluated
    judged = {qid: rels for qid, (_, rels) in QUERIES.items() if any(g > 0 for g in rels.values())}
    for system in SYSTEMS:
        path = out_dir / "predictions" / system / f"{TASK_NAME}_predictions.json"
        predictions = json.loads(path.read_text())["default"]["test"]
        assert set(predictions) == set(judged)
        for ranking in predictions.values():
            assert set(ranking) == set(TINY_CORPUS)
        expected = sum(trec_ndcg_at_10(predictions[q], judged[q]) for q in judged) / len(judged)
        assert metrics[f"{system}_ndcg_at_10"] == pytest.approx(expected, abs=1e-4)
    assert metrics["bm25_ndcg_at_10"] < 1.0  # the broad queries do make the ranking imperfect


@pytest.mark.slow
def test_outputs_mteb_results_and_report(evaluated):
    _, metrics, out_dir = evaluated
    for system in SYSTEMS:
        [result] = (out_dir / "mteb" / "results").glob(f"spladeforge__{system}/*/{TASK_NAME}.json")
        scores = json.loads(result.read_text())["scores"]["test"][0]
        assert round(scores["ndcg_at_10"], 4) == metrics[f"{system}_ndcg_at_10"]
    report = (out_dir / "report.md").read_text()
    assert "| system | NDCG@10 | MRR@10 | Recall@100 |" in report
    for system in SYSTEMS:
        assert f"| {system} | {metrics[f'{system}_ndcg_at_10']:.4f} |" in report


@pytest.mark.slow
def test_comparisons_can_be_switched_off_and_queries_capped(tmp_path, model_dir, tiny_beir_dir):
    cfg = EvaluateConfig(compare_base=False, compare_bm25=False, max_queries=2)
    evaluate.run(cfg, model_dir, tiny_beir_dir, tmp_path / "out", tmp_path / "metrics.json")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_queries"] == 2
    assert not any(key.startswith(("base_", "bm25_")) for key in metrics)
    assert "ndcg_at_10_delta_vs_base" not in metrics


def test_bad_task_folder_fails_before_writing_anything(tmp_path, model_dir):
    task_dir = write_beir(tmp_path / "beir")
    (task_dir / "corpus.jsonl").write_text("")
    with pytest.raises(InputError, match=r"corpus\.jsonl"):
        evaluate.run(EvaluateConfig(), model_dir, task_dir, tmp_path / "out", tmp_path / "metrics.json")
    assert not (tmp_path / "out").exists() and not (tmp_path / "metrics.json").exists()


def test_model_folder_without_sidecar_is_refused(tmp_path, model_dir, tiny_beir_dir):
    (model_dir / "spladeforge.json").unlink()
    with pytest.raises(InputError, match=r"spladeforge\.json: file not found"):
        evaluate.run(EvaluateConfig(), model_dir, tiny_beir_dir, tmp_path / "out", tmp_path / "metrics.json")
