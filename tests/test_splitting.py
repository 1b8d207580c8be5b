"""The three-way split: document sides that survive a data revision, a side for every part of a tiny
corpus, and the relevance rule of the held-out queries."""

from __future__ import annotations

import pytest

from spladeforge.chunking.document import chunk_document
from spladeforge.config import ChunkConfig, SplitConfig
from spladeforge.splitting import NEIGHBOUR_GRADE, SOURCE_GRADE, document_sides, judgments, split_by_document


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_adding_documents_keeps_every_earlier_documents_side(seed):
    """A scheduled retrain on a newer data revision: each earlier document stays where it was, so the
    champion (trained on revision 1) never trained on a document revision 2 tests on."""
    earlier = [f"module{i}" for i in range(300)]
    later = earlier + [f"new{i}" for i in range(300)]
    first = document_sides(earlier, 0.1, 0.1, seed)
    second = document_sides(later, 0.1, 0.1, seed)
    assert {d: second[d] for d in earlier} == first
    trained_on = {d for d, side in first.items() if side == "train"}
    assert not trained_on & {d for d, side in second.items() if side == "test"}
    counts = {side: sum(1 for s in second.values() if s == side) for side in ("train", "dev", "test")}
    assert 40 <= counts["dev"] <= 80 and 40 <= counts["test"] <= 80  # about 10% of 600 each


def test_removing_documents_keeps_the_others_sides():
    """Deleted documents take nobody with them: the rank of a document in the corpus plays no part."""
    docs = [f"d{i}" for i in range(200)]
    full = document_sides(docs, 0.1, 0.1, 7)
    assert document_sides(docs[::2], 0.1, 0.1, 7) == {d: full[d] for d in docs[::2]}


@pytest.mark.parametrize("seed", range(20))
def test_a_tiny_corpus_gets_a_document_on_every_side(seed):
    """Three or four documents: the thresholds alone would often leave dev or test empty."""
    for docs in (["a", "b", "c"], ["a", "b", "c", "d"]):
        sides = document_sides(docs, 0.1, 0.1, seed)
        assert {side for side in sides.values()} == {"train", "dev", "test"}, sides


def _chunks(text: str, doc: str = "doc") -> dict[str, dict]:
    cfg = ChunkConfig(size=500, overlap=75, min_chars=50)
    return {c["id"]: c for c in chunk_document({"id": doc, "title": "T", "text": text}, cfg)}


def test_the_source_chunk_and_its_overlapping_window_neighbours_are_judged():
    """Window chunks repeat their overlap in the neighbour: grade 2 for the source, 1 for an overlapping
    chunk of the same document, nothing for a chunk further away or of another document."""
    text = " ".join(f"Sentence {i} about the json module and its decoder." for i in range(60))
    chunks = _chunks(text)
    other = _chunks(text, doc="other")
    chunks.update(other)
    ids = [c for c in chunks if c.startswith("doc#")]
    assert len(ids) >= 4
    by_document = {"doc": ids, "other": list(other)}
    middle = ids[2]
    rels = judgments(middle, chunks, by_document)
    assert rels == {middle: SOURCE_GRADE, ids[1]: NEIGHBOUR_GRADE, ids[3]: NEIGHBOUR_GRADE}
    assert judgments(ids[0], chunks, by_document) == {ids[0]: SOURCE_GRADE, ids[1]: NEIGHBOUR_GRADE}


def test_held_out_qrels_follow_the_rule_and_the_corpus_is_every_chunk():
    """split_by_document judges each dev/test query by the rule and keeps the whole chunk corpus."""
    text = " ".join(f"Sentence {i} about topic {{}} and its details." for i in range(40))
    chunks = {}
    for d in range(12):
        chunks.update(_chunks(text.replace("{}", f"number{d}"), doc=f"doc{d}"))
    queries = [{"id": f"{cid}/q", "chunk_id": cid, "text": f"query {cid}"} for cid in chunks]
    split = split_by_document(SplitConfig(dev_fraction=0.2, test_fraction=0.2, near_duplicate_threshold=None),
                              queries, chunks, seed=3, queries_path="q", chunks_path="c")
    assert [c["id"] for c in split.corpus] == list(chunks)
    for held in (split.dev, split.test):
        assert held.rows
        for row in held.rows:
            rels = held.qrels[row["query_id"]]
            assert rels[row["chunk_id"]] == SOURCE_GRADE
            neighbours = {c for c, g in rels.items() if g == NEIGHBOUR_GRADE}
            assert neighbours and all(chunks[c]["doc_id"] == row["doc_id"] for c in neighbours)
    assert split.counts()["dev_judged_neighbours"] > 0


def test_old_keys_name_their_replacements():
    """A params.yaml written for the two-way split fails at load, naming the keys that replaced its keys."""
    with pytest.raises(ValueError, match="validation_fraction was replaced by split.dev_fraction and "
                                         "split.test_fraction"):
        SplitConfig(validation_fraction=0.1)
    with pytest.raises(ValueError, match="split.max_dev_queries and split.max_test_queries"):
        SplitConfig(max_validation_queries=10)
    with pytest.raises(ValueError, match="at most 0.5"):
        SplitConfig(dev_fraction=0.3, test_fraction=0.3)
