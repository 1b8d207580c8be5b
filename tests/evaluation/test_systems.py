"""MTEB scoring on the local task, checked against NDCG/MRR computed by hand for a known ranking."""

from __future__ import annotations

import json
import math

import pytest
import torch

from spladeforge.evaluation.beir import load_beir
from spladeforge.evaluation.mteb_task import TASK_NAME, LocalRetrievalTask
from spladeforge.evaluation.systems import evaluate_model
from tests.conftest import TINY_CORPUS, write_beir

pytestmark = pytest.mark.slow  # imports MTEB (~5 s) and runs it

DOC_IDS = list(TINY_CORPUS)  # d1..d6, dimension i of the fake vocabulary is document i
# Graded judgments; q3 has none and q4 only a grade-0 one: both must be left out of the mean.
QUERIES = {
    "qA": ("json or random", {"d1": 2, "d5": 1}),
    "qB": ("gzip", {"d2": 1}),
    "q3": ("unjudged", {}),
    "q4": ("judged non-relevant only", {"d3": 0}),
}
# The score each query gives each document: the ranking is fixed in advance.
SCORES = {
    "json or random": [0.7, 0.8, 0.1, 0.2, 0.9, 0.3],  # d5, d2, d1, ...: relevant at ranks 1 and 3
    "gzip": [0.9, 0.8, 0.1, 0.2, 0.3, 0.4],  # d1, d2, ...: relevant at rank 2
}


class ScoreTableEncoder:
    """A sparse encoder whose scores are a lookup table: each document is one-hot on its own
    dimension, and a query's vector holds its score for every document."""

    def __init__(self, scores: dict[str, list[float]]) -> None:
        self.scores = scores
        # MTEB hands a document to the model as "title text".
        self.doc_dim = {f"{title} {text}": i for i, (title, text) in enumerate(TINY_CORPUS.values())}

    def encode_document(self, texts, **kwargs):
        rows = torch.zeros(len(texts), len(DOC_IDS))
        for row, text in enumerate(texts):
            rows[row, self.doc_dim[text]] = 1.0
        return rows.to_sparse()

    def encode_query(self, texts, **kwargs):
        return torch.tensor([self.scores[text] for text in texts]).to_sparse()


def ndcg_at_10(ranking: list[str], grades: dict[str, int]) -> float:
    """trec_eval's ndcg_cut.10: gain = grade, discount log2(rank + 1)."""
    dcg = sum(grades.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:10]))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:10]
    return dcg / sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    folder = write_beir(tmp_path_factory.mktemp("beir") / "known", queries=QUERIES)
    return LocalRetrievalTask(load_beir(folder))


def test_ndcg_mrr_recall_match_hand_computation(task, tmp_path):
    """MTEB's figures equal the formula on the known ranking, averaged over the judged queries only."""
    metrics = evaluate_model(ScoreTableEncoder(SCORES), task, name="table", output_dir=tmp_path,
                             show_progress_bar=False)
    qa = ndcg_at_10(["d5", "d2", "d1", "d6", "d4", "d3"], {"d1": 2, "d5": 1})
    qb = ndcg_at_10(["d1", "d2", "d6", "d5", "d4", "d3"], {"d2": 1})
    assert qa == pytest.approx((1 / 1 + 2 / 2) / (2 / 1 + 1 / math.log2(3)))  # 0.7602
    assert qb == pytest.approx(1 / math.log2(3))  # 0.6309
    assert metrics["ndcg_at_10"] == pytest.approx((qa + qb) / 2, abs=1e-5)  # MTEB rounds to 5 digits
    assert metrics["mrr_at_10"] == pytest.approx((1 / 1 + 1 / 2) / 2, abs=1e-5)
    assert metrics["recall_at_100"] == pytest.approx(1.0)
    # Active dims come from the embeddings MTEB scored: 6 scores per query, one-hot documents.
    assert metrics["query_active_dims"] == pytest.approx(6.0)
    assert metrics["doc_active_dims"] == pytest.approx(1.0)
    assert metrics["docs_per_second"] > 0


def test_results_are_recomputed_not_read_from_an_earlier_run(task, tmp_path):
    """A second system under the same name and folder overwrites the first one's files."""
    evaluate_model(ScoreTableEncoder(SCORES), task, name="sys", output_dir=tmp_path, show_progress_bar=False)
    reversed_scores = {text: [1.0 - s for s in scores] for text, scores in SCORES.items()}
    second = evaluate_model(ScoreTableEncoder(reversed_scores), task, name="sys", output_dir=tmp_path,
                            show_progress_bar=False)
    assert second["ndcg_at_10"] < 0.7
    saved = json.loads(next((tmp_path / "mteb").rglob(f"{TASK_NAME}.json")).read_text())
    assert saved["scores"]["test"][0]["ndcg_at_10"] == pytest.approx(second["ndcg_at_10"])
    predictions = json.loads((tmp_path / "predictions" / "sys" / f"{TASK_NAME}_predictions.json").read_text())
    ranking = predictions["default"]["test"]["qB"]
    assert max(ranking, key=ranking.get) == "d3"  # first in the reversed table, last in the original
