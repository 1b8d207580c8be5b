"""The ensemble teacher: members normalized per query, averaged; false negatives dropped and counted."""

from __future__ import annotations

import numpy as np
import pytest

from spladeforge.config import MineConfig
from spladeforge.io import read_jsonl, write_jsonl
from spladeforge.mining.ensemble import ensemble_scores, normalize
from spladeforge.stages import mine


def test_zscore_and_minmax_put_members_on_one_scale():
    # Why: BM25 scores span tens, cosines a fraction of one; raw means would be BM25 alone.
    bm25 = np.array([30.0, 10.0, 20.0])
    cosine = np.array([0.2, 0.6, 0.4])
    z = normalize(bm25, "zscore")
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0)
    assert normalize(bm25, "minmax").tolist() == [1.0, 0.0, 0.5]
    assert ensemble_scores([bm25, cosine], "zscore") == pytest.approx([0.0, 0.0, 0.0])  # opposite, equal weight
    assert ensemble_scores([bm25, bm25 * 3 + 7], "zscore") == pytest.approx(z)
    assert normalize(np.array([2.0, 2.0]), "zscore").tolist() == [0.0, 0.0]  # a tie carries no signal


GZIP = "The gzip module compresses files with the DEFLATE algorithm and writes gzip archives."
OTHERS = ["The sqlite3 module stores tables in a single database file and runs SQL statements.",
          "The socket module opens TCP connections to remote hosts and sends bytes over the network.",
          "The zipfile module reads and writes ZIP archives that hold many compressed members.",
          "The datetime module represents dates, times and time zones with arithmetic on them.",
          "The bz2 module compresses data with the bzip2 algorithm for smaller archives."]


@pytest.fixture()
def corpus(tmp_path):
    # "mirror" is another document with the positive's exact text: an unlabelled positive.
    chunks = [{"id": "gz#0", "doc_id": "gz", "title": "", "text": GZIP},
              {"id": "mirror#0", "doc_id": "mirror", "title": "", "text": GZIP}]
    chunks += [{"id": f"o{i}#0", "doc_id": f"o{i}", "title": "", "text": t} for i, t in enumerate(OTHERS)]
    rows = [{"query_id": f"q-{c['doc_id']}", "query": " ".join(c["text"].split()[1:4]), "chunk_id": c["id"],
             "doc_id": c["doc_id"]} for c in chunks]
    rows[0]["query"] = "compress files with gzip"
    write_jsonl(tmp_path / "chunks.jsonl", chunks)
    write_jsonl(tmp_path / "train.jsonl", rows)
    return tmp_path


def _mine(tmp, **cfg):
    summary = mine.run(MineConfig(teacher="ensemble", num_negatives=1, rank_window=(0, 10), **cfg),
                       tmp / "train.jsonl", tmp / "chunks.jsonl", tmp / "tuples.jsonl", seed=0)
    return summary, {t["query_id"]: t for t in read_jsonl(tmp / "tuples.jsonl")}


def test_ensemble_drops_candidates_scored_at_or_above_the_positive_and_counts_them(corpus):
    # Why: in a small domain corpus the top candidates are often unlabelled positives.
    summary, tuples = _mine(corpus)
    assert summary["false_negatives_dropped"] >= 2  # the mirror, for gz's query and for its own
    assert summary["ensemble"] == ["base", "dense"] and summary["ensemble_norm"] == "zscore"
    for t in tuples.values():
        assert t["scores"][0] > t["scores"][1], "a negative at or above the positive survived"
        assert t["negative_ids"][0].split("#")[0] != t["positive_id"].split("#")[0]
    assert tuples["q-gz"]["negative_ids"] != ["mirror#0"]
    assert summary["tuples"] + summary["queries_without_negatives"] == 7

    kept, unguarded = _mine(corpus, drop_false_negatives=False)
    assert kept["false_negatives_dropped"] == 0 and kept["tuples"] == 7


def test_minmax_scores_lie_in_zero_one(corpus):
    # Why: min-max is the other per-query normalization of arXiv 2411.04403.
    _, tuples = _mine(corpus, ensemble_norm="minmax", ensemble=["bm25"])
    assert all(0.0 <= s <= 1.0 for t in tuples.values() for s in t["scores"])


def test_ensemble_members_are_validated():
    # Why: a typo in a member must fail at load, naming the accepted ones.
    with pytest.raises(ValueError, match="bm25"):
        MineConfig(teacher="ensemble", ensemble=["bm25", "bm25"])
    with pytest.raises(ValueError):
        MineConfig(teacher="ensemble", ensemble=["colbert"])


def test_every_member_scores_the_passage_the_student_sees(corpus):
    # Why: a query whose sentence was removed from its positive trains on that passage; a teacher
    # scoring the full chunk rates it on words the student never sees and inflates the margin.
    _, full = _mine(corpus, ensemble=["bm25", "dense", "base"], drop_false_negatives=False)
    rows = read_jsonl(corpus / "train.jsonl")
    rows[0]["positive"] = "The module writes archives."  # "compress files with gzip" removed
    write_jsonl(corpus / "train.jsonl", rows)
    _, seen = _mine(corpus, ensemble=["bm25", "dense", "base"], drop_false_negatives=False)
    assert seen["q-gz"]["positive"] == "The module writes archives."
    assert seen["q-gz"]["scores"][0] < full["q-gz"]["scores"][0] - 0.5
    assert seen["q-mirror#0".split("#")[0]]["scores"] == full["q-mirror"]["scores"]  # other rows unchanged


def test_bm25_scores_a_text_outside_the_index_with_the_corpus_statistics():
    # Why: the positive passage is not a corpus document; its BM25 must be the score it would
    # get as one, so that it is comparable with the candidates' scores from the index.
    from spladeforge.mining.bm25 import bm25_pair_scores, corpus_statistics
    from spladeforge.retrieval.bm25 import BM25Index

    texts = [GZIP, *OTHERS]
    hits, scores = BM25Index(texts).search(["compress files with gzip"], k=len(texts))
    indexed = dict(zip(hits[0].tolist(), scores[0].tolist(), strict=True))
    paired = bm25_pair_scores(corpus_statistics(texts), ["compress files with gzip"] * len(texts), texts)
    assert paired == pytest.approx([indexed[i] for i in range(len(texts))], rel=1e-5)
    assert bm25_pair_scores(corpus_statistics(texts), ["compress files with gzip"], ["Unrelated words."]) == [0.0]


def test_the_mine_summary_scores_the_teacher_beside_the_base_on_dev(corpus, caplog):
    # Why: distillation pulls the student towards its teacher, so the run must say when the
    # teacher ranks no better than the base it teaches.
    from spladeforge.evaluation.beir import write_beir

    chunks = read_jsonl(corpus / "chunks.jsonl")
    write_beir(corpus / "dev", corpus={c["id"]: ("", c["text"]) for c in chunks},
               queries={"d1": "compress files with gzip", "d2": "database tables and SQL"},
               qrels={"d1": {"gz#0": 2, "mirror#0": 2}, "d2": {"o0#0": 2}})
    summary = mine.run(MineConfig(teacher="ensemble", num_negatives=1, rank_window=(0, 10)),
                       corpus / "train.jsonl", corpus / "chunks.jsonl", corpus / "tuples.jsonl", seed=0,
                       dev=corpus / "dev")
    report = summary["teacher_report"]
    assert set(report["dev_ndcg_at_10"]) == {"base", "dense", "ensemble"}
    assert all(0.0 <= v <= 1.0 for v in report["dev_ndcg_at_10"].values())
    assert report["dev_base_ndcg_at_10"] == report["dev_ndcg_at_10"]["base"]
    assert report["teacher_beats_base"] == (report["dev_ndcg_at_10"]["ensemble"] > report["dev_base_ndcg_at_10"])
    assert report["dev_queries"] == 2
    if not report["teacher_beats_base"]:
        assert "not above the base model's" in caplog.text
