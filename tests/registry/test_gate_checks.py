"""decide_gate's comparisons without MLflow: a stale reference at its tag's precision, the same bytes as
a tie, and the split identity check against a champion of another split."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from spladeforge.config import EvaluateConfig, RegisterConfig
from spladeforge.registry import gate as gate_module
from spladeforge.registry.gate import Candidate, GateSets, decide_gate
from spladeforge.registry.reference import Reference, SetScores, stale_reference
from spladeforge.registry.split_check import MIN_QUERIES, check_split, identity_tags
from spladeforge.splitting import document_sides, split_identity

QUERIES = [f"q{i:02d}" for i in range(40)]


def candidate(per_query: dict[str, float], figure: float, sha: str = "c" * 64) -> Candidate:
    return Candidate(Path("m"), Path("metrics.json"), {"model_ndcg_at_10": figure}, [], None, {}, sha,
                     {"held-out": {"model": per_query}}, Path("per_query.json"), {"held-out": "set"},
                     {"included": False, "reason": "none"})


def mv(**tags: str):
    return SimpleNamespace(tags={"metric.model_ndcg_at_10": "0.7825", "set_sha256.held-out": "set", **tags})


def stale_gate(monkeypatch, cfg: RegisterConfig, version_tags) -> None:
    def reference(cfg, candidate, champion, gate):
        return stale_reference(cfg, champion[0], champion[1], {"model_ndcg_at_10": "held-out"}, "its files are gone")

    monkeypatch.setattr(gate_module, "_reference", reference)


def test_a_stale_reference_is_compared_at_the_precision_of_its_tag(monkeypatch):
    """Candidate mean 0.78255 (unrounded), its metrics.json figure 0.7825, champion's tag 0.7825: a tie,
    not +0.0001; and the same bytes as the champion are a tie whatever the figures."""
    cfg = RegisterConfig(metric="model_ndcg_at_10", allow_stale_reference=True)
    stale_gate(monkeypatch, cfg, None)
    scores = {q: 0.78255 for q in QUERIES}
    sets = GateSets(EvaluateConfig(), {}, 0)
    tie = decide_gate(cfg, candidate(scores, 0.7825), ("4", mv(model_sha256="d" * 64)), sets)
    assert not tie.promoted and tie.candidate_value == 0.7825 and tie.stale_reference
    same = decide_gate(cfg, candidate(scores, 0.7830, sha="e" * 64), ("4", mv(model_sha256="e" * 64)), sets)
    assert not same.promoted and "the same model bytes" in same.reason
    better = decide_gate(cfg, candidate(scores, 0.7830), ("4", mv(model_sha256="d" * 64)), sets)
    assert better.promoted, "a real gain at the tag's precision still promotes"


def _identity(seed: int, test_docs_of: dict[str, str] | None = None) -> dict:
    docs = [f"doc{i:03d}" for i in range(200)]
    sides = document_sides(docs, 0.1, 0.2, seed)
    test_docs = [d for d in docs if sides[d] == "test"]
    queries = test_docs_of or {f"q{i:02d}": test_docs[i % len(test_docs)] for i in range(40)}
    return split_identity(sides, seed, 0.1, 0.2, queries)


def test_the_split_identity_check_with_two_splits():
    """Same split: nothing to do. Another seed: the champion trained on some of the test queries'
    documents; the rest are kept when at least MIN_QUERIES remain, else the gate refuses."""
    first, second = _identity(1), _identity(2)
    champion_tags = identity_tags(first)
    assert champion_tags["split.seed"] == "1" and len(champion_tags["split.sha256.test"]) == 64
    assert "the same document sides" in check_split(first, champion_tags, "champion v1", set(QUERIES)).note
    found = check_split(second, champion_tags, "champion v1", set(QUERIES))
    sides_first = document_sides([f"doc{i:03d}" for i in range(200)], 0.1, 0.2, 1)
    trained = {q for q, d in second["query_documents"].items() if sides_first[d] == "train"}
    assert trained and not found.refuse and found.keep == frozenset(set(QUERIES) - trained)
    assert f"trained on the documents of {len(trained)} of the 40 test queries" in found.note
    few = check_split(second, champion_tags, "champion v1", trained | set(list(found.keep)[:MIN_QUERIES - 1]))
    assert few.refuse and "refused" in few.note
    assert "records no split identity" in check_split(second, {}, "champion v1", set(QUERIES)).note
    assert "records no split identity" in check_split(None, champion_tags, "champion v1", set(QUERIES)).note


def test_a_champion_of_another_split_is_compared_on_the_documents_both_held_out(monkeypatch):
    """The champion scores 1.0 on the queries of documents it trained on and 0.5 elsewhere; the
    challenger 0.6 everywhere. On all queries the champion wins; on those both held out the challenger."""
    first, second = _identity(1), _identity(2)
    sides_first = document_sides([f"doc{i:03d}" for i in range(200)], 0.1, 0.2, 1)
    trained = {q for q, d in second["query_documents"].items() if sides_first[d] == "train"}
    champion_scores = {q: 1.0 if q in trained else 0.5 for q in QUERIES}

    def reference(cfg, candidate, champion, gate):
        return Reference("champion v1", "1", {"model_ndcg_at_10": SetScores(0.0, champion_scores, "set")}, None)

    monkeypatch.setattr(gate_module, "_reference", reference)
    cfg = RegisterConfig(metric="model_ndcg_at_10")
    ours = candidate({q: 0.6 for q in QUERIES}, 0.6)
    tags = identity_tags(first)
    same_split = decide_gate(cfg, ours, ("1", SimpleNamespace(tags=identity_tags(second))),
                             GateSets(EvaluateConfig(), {}, 0, split=second))
    assert len(trained) > 10 and not same_split.promoted, "the setup: on every query the champion's memory wins"
    decision = decide_gate(cfg, ours, ("1", SimpleNamespace(tags=tags)), GateSets(EvaluateConfig(), {}, 0, split=second))
    assert decision.promoted and decision.interval["queries"] == 40 - len(trained)
    assert "both are compared on the" in decision.split and decision.reference_value == pytest.approx(0.5)
