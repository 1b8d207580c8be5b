"""Round-trip failures never train, and by default still count in dev and test (no BM25-selected held-out set)."""

from __future__ import annotations

import pytest

from spladeforge.config import GenerateQueriesConfig, SplitConfig
from spladeforge.errors import InputError
from spladeforge.io import read_json, read_jsonl, write_jsonl
from spladeforge.stages import generate_queries, split

TOPICS = ["json decoding", "gzip compression", "sqlite databases", "tcp sockets", "random numbers",
          "date arithmetic", "regular expressions", "thread pools", "http servers", "csv files"]


@pytest.fixture()
def flagged(tmp_path):
    """Three chunks per topic; every other query failed the round trip."""
    chunks, queries = [], []
    for d, topic in enumerate(TOPICS):
        for c in range(3):
            cid = f"doc{d}#{c}"
            chunks.append({"id": cid, "doc_id": f"doc{d}", "text": f"Part {c} about {topic}."})
            queries.append({"id": f"{cid}/q0", "chunk_id": cid, "text": f"{topic} part {c}", "type": "keywords",
                            "round_trip_ok": (d * 3 + c) % 2 == 0})
    write_jsonl(tmp_path / "chunks.jsonl", chunks)
    write_jsonl(tmp_path / "queries.jsonl", queries)
    return tmp_path


def _split(tmp, **cfg):
    return split.run(SplitConfig(dev_fraction=0.15, test_fraction=0.15, **cfg), tmp / "queries.jsonl",
                     tmp / "chunks.jsonl", tmp / "train.jsonl", tmp / "dev", tmp / "test", seed=0)


def _held_out(tmp) -> set[str]:
    return {q["_id"] for side in ("dev", "test") for q in read_jsonl(tmp / side / "queries.jsonl")}


def _failed(tmp) -> set[str]:
    return {q["id"] for q in read_jsonl(tmp / "queries.jsonl") if not q["round_trip_ok"]}


def test_failures_are_dropped_from_training_and_kept_for_dev_and_test(flagged):
    summary = _split(flagged)
    failed = _failed(flagged)
    train = {r["query_id"] for r in read_jsonl(flagged / "train.jsonl")}
    held_out = _held_out(flagged)
    assert train and not train & failed
    assert held_out & failed, "the held-out sets must not be pre-selected by the round-trip retriever"
    assert summary["round_trip_dropped_train"] == len(failed - held_out) > 0
    assert summary["round_trip_dropped_dev"] == summary["round_trip_dropped_test"] == 0
    assert summary["dev_round_trip_failed"] + summary["test_round_trip_failed"] == len(held_out & failed)
    assert len(train) + len(held_out) == 30 - summary["round_trip_dropped_train"]


def test_held_out_round_trip_drop_restores_the_filtered_held_out_sets(flagged):
    summary = _split(flagged, held_out_round_trip="drop")
    held_out = _held_out(flagged)
    assert held_out and not held_out & _failed(flagged)
    assert summary["round_trip_dropped_dev"] + summary["round_trip_dropped_test"] > 0
    assert summary["dev_round_trip_failed"] == summary["test_round_trip_failed"] == 0


def test_queries_without_the_flag_are_all_kept(flagged):
    rows = [{k: v for k, v in q.items() if k != "round_trip_ok"} for q in read_jsonl(flagged / "queries.jsonl")]
    write_jsonl(flagged / "queries.jsonl", rows)
    summary = _split(flagged)
    assert summary["train_queries"] + summary["dev_queries"] + summary["test_queries"] == 30
    assert summary["round_trip_dropped_train"] == 0


def test_no_training_query_left_names_the_filter(flagged):
    rows = [dict(q, round_trip_ok=False) for q in read_jsonl(flagged / "queries.jsonl")]
    write_jsonl(flagged / "queries.jsonl", rows)
    with pytest.raises(InputError, match="round-trip filter.*round_trip_k"):
        _split(flagged)


def test_generate_queries_flags_instead_of_dropping(tmp_path):
    chunks = [{"id": f"doc{d}#0", "doc_id": f"doc{d}", "title": t,
               "text": f"The {t} module. " + " ".join(f"{t} detail {i} explained at length." for i in range(8))}
              for d, t in enumerate(TOPICS)]
    write_jsonl(tmp_path / "chunks.jsonl", chunks)
    # k=1 over near-identical chunk templates: some queries must miss their own chunk.
    cfg = GenerateQueriesConfig(queries_per_chunk=3, filters={"round_trip": "bm25", "round_trip_k": 1})
    summary = generate_queries.run(cfg, tmp_path / "chunks.jsonl", tmp_path / "queries.jsonl", seed=0)
    rows = read_jsonl(tmp_path / "queries.jsonl")
    report = read_json(tmp_path / "queries.report.json")
    failed = [q for q in rows if not q["round_trip_ok"]]
    assert all("round_trip_ok" in q for q in rows)
    assert summary["round_trip_failed"] == len(failed) == sum(report["round_trip_bm25_failed"].values()) > 0
    assert "round_trip_bm25" not in report["rejected"]
