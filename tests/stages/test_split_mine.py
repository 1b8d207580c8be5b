"""split holds out whole documents on two sides (dev, test) searched against the whole corpus; mine draws
negatives that are never the positive's document."""

from __future__ import annotations

import pytest

from spladeforge.config import MineConfig, SplitConfig
from spladeforge.errors import InputError
from spladeforge.io import read_jsonl, write_jsonl
from spladeforge.splitting import document_sides
from spladeforge.stages import mine, split

TOPICS = ["json decoding", "gzip compression", "sqlite databases", "tcp sockets", "random numbers",
          "date arithmetic", "regular expressions", "thread pools", "http servers", "csv files"]


@pytest.fixture()
def corpus(tmp_path):
    chunks, queries = [], []
    for d, topic in enumerate(TOPICS):
        for c in range(3):
            cid = f"doc{d}#{c}"
            chunks.append({"id": cid, "doc_id": f"doc{d}", "title": topic,
                           "text": f"Part {c} about {topic}. " + " ".join(TOPICS[(d + k) % 10] for k in range(1, 4))})
            queries.append({"id": f"{cid}/q0", "chunk_id": cid, "doc_id": f"doc{d}", "text": f"{topic} part {c}",
                            "type": "keywords"})
    write_jsonl(tmp_path / "chunks.jsonl", chunks)
    write_jsonl(tmp_path / "queries.jsonl", queries)
    return tmp_path


def _split(tmp, seed=0, **cfg):
    return split.run(SplitConfig(**cfg), tmp / "queries.jsonl", tmp / "chunks.jsonl", tmp / "train.jsonl",
                     tmp / "dev", tmp / "test", seed)


def _docs(folder) -> set[str]:
    return {q["_id"].split("#")[0] for q in read_jsonl(folder / "queries.jsonl")}


def test_split_by_document_into_train_dev_and_test_over_the_whole_corpus(corpus):
    summary = _split(corpus, dev_fraction=0.2, test_fraction=0.2)
    train = read_jsonl(corpus / "train.jsonl")
    train_docs = {r["doc_id"] for r in train}
    dev_docs, test_docs = _docs(corpus / "dev"), _docs(corpus / "test")
    assert summary["train_documents"] + summary["dev_documents"] + summary["test_documents"] == 10
    assert summary["dev_documents"] == len(dev_docs) >= 1 and summary["test_documents"] == len(test_docs) >= 1
    assert not (train_docs & dev_docs or train_docs & test_docs or dev_docs & test_docs), "a document on two sides"
    assert len(train) + summary["dev_queries"] + summary["test_queries"] == 30
    all_chunks = [c["id"] for c in read_jsonl(corpus / "chunks.jsonl")]
    for side in ("dev", "test"):
        # The corpus the deployed index holds: every chunk, training documents' too.
        assert [c["_id"] for c in read_jsonl(corpus / side / "corpus.jsonl")] == all_chunks
        qrels = (corpus / side / "qrels" / "test.tsv").read_text().splitlines()
        assert qrels[0] == "query-id\tcorpus-id\tscore"
        for line in qrels[1:]:
            qid, cid, score = line.split("\t")
            # Chunks without `start` have no judged neighbours: only the source chunk, grade 2.
            assert qid.startswith(cid) and score == "2"
    assert summary["corpus_chunks"] == 30


def test_split_is_seeded(corpus):
    _split(corpus, seed=1)
    first = (corpus / "train.jsonl").read_bytes()
    _split(corpus, seed=1)
    assert (corpus / "train.jsonl").read_bytes() == first
    _split(corpus, seed=2)
    assert (corpus / "train.jsonl").read_bytes() != first


def test_split_needs_three_documents(tmp_path):
    write_jsonl(tmp_path / "chunks.jsonl", [{"id": f"{d}#0", "doc_id": d, "text": "x"} for d in "ab"])
    write_jsonl(tmp_path / "queries.jsonl", [{"id": f"{d}q", "chunk_id": f"{d}#0", "text": "x"} for d in "ab"])
    with pytest.raises(InputError, match="into train, dev and test needs at least 3"):
        _split(tmp_path)


def _documents(tmp, n: int) -> None:
    chunks = [{"id": f"doc{d}#{c}", "doc_id": f"doc{d}", "title": TOPICS[d], "text": f"Part {c} about {TOPICS[d]}."}
              for d in range(n) for c in range(3)]
    write_jsonl(tmp / "chunks.jsonl", chunks)
    write_jsonl(tmp / "queries.jsonl", [{"id": f"{c['id']}/q", "chunk_id": c["id"], "text": f"{c['title']} part"}
                                        for c in chunks])


@pytest.mark.parametrize("documents", [3, 4])
def test_split_refuses_a_corpus_mine_cannot_use(tmp_path, documents):
    """3 documents leave one training document, from which mine can draw no negative: split refuses it."""
    _documents(tmp_path, documents)
    if documents == 3:
        with pytest.raises(InputError, match="training queries come from 1 document.*at least 4 documents"):
            _split(tmp_path)
        assert not any((tmp_path / name).exists() for name in ("train.jsonl", "dev", "test"))
        return
    _split(tmp_path)
    summary = mine.run(MineConfig(num_negatives=2, rank_window=(0, 10)), tmp_path / "train.jsonl",
                       tmp_path / "chunks.jsonl", tmp_path / "tuples.jsonl", seed=0)
    assert summary["tuples"] == len(read_jsonl(tmp_path / "train.jsonl")) > 0


def test_mine_negatives_from_other_documents_in_window(corpus):
    _split(corpus, dev_fraction=0.1, test_fraction=0.1)
    summary = mine.run(MineConfig(num_negatives=2, rank_window=(0, 10)), corpus / "train.jsonl",
                       corpus / "chunks.jsonl", corpus / "tuples.jsonl", seed=0)
    tuples = read_jsonl(corpus / "tuples.jsonl")
    train_docs = {r["doc_id"] for r in read_jsonl(corpus / "train.jsonl")}
    assert summary["tuples"] == len(tuples) == len(read_jsonl(corpus / "train.jsonl")) >= 18
    for t in tuples:
        doc = t["positive_id"].split("#")[0]
        assert len(t["negative_ids"]) == 2 and len(set(t["negative_ids"])) == 2
        assert all(n.split("#")[0] != doc for n in t["negative_ids"]), "negative from the positive's document"
        assert all(n.split("#")[0] in train_docs for n in t["negative_ids"]), "negative from dev or test"
        assert t["positive"].startswith(doc_title(t["positive_id"]))
        assert {"anchor", "positive", "negative_1", "negative_2"} <= set(t)


def doc_title(chunk_id: str) -> str:
    return TOPICS[int(chunk_id.split("#")[0].removeprefix("doc"))]


def test_mine_prefers_lexically_close_negatives(corpus):
    _split(corpus, dev_fraction=0.1, test_fraction=0.1)
    mine.run(MineConfig(num_negatives=1, rank_window=(0, 1)), corpus / "train.jsonl",
             corpus / "chunks.jsonl", corpus / "tuples.jsonl", seed=0)
    for t in read_jsonl(corpus / "tuples.jsonl"):
        topic = t["anchor"].rsplit(" part ", 1)[0]
        # rank 0 among other documents: a chunk that mentions the query's topic in its text
        assert topic in t["negative_1"], (t["anchor"], t["negative_1"][:80])


def _near_dup_corpus(tmp):
    """12 documents; doc10 and doc11 repeat doc0 and doc1 with one word changed."""
    chunks, queries = [], []
    texts = {f"doc{d}": " ".join(f"{TOPICS[d]} word{d}x{i}" for i in range(40)) for d in range(10)}
    texts["doc10"] = texts["doc0"].replace("word0x5", "changed")
    texts["doc11"] = texts["doc1"].replace("word1x5", "changed")
    for doc, text in texts.items():
        chunks.append({"id": f"{doc}#0", "doc_id": doc, "title": doc, "text": text})
        queries.append({"id": f"{doc}#0/q0", "chunk_id": f"{doc}#0", "text": f"query {doc}", "type": "keywords"})
    write_jsonl(tmp / "chunks.jsonl", chunks)
    write_jsonl(tmp / "queries.jsonl", queries)
    pairs = [("doc0", "doc10"), ("doc1", "doc11")]
    for seed in range(100):  # a seed whose split puts exactly one side of a pair in dev or test
        sides = document_sides(sorted(texts), 0.15, 0.15, seed)
        held = {d for d, side in sides.items() if side != "train"}
        if any((a in held) != (b in held) for a, b in pairs) and len(held) > 2 \
                and {"dev", "test"} <= {sides[d] for d in held - {a for p in pairs for a in p}}:
            return seed, held, pairs
    raise AssertionError("no seed splits a pair")


@pytest.mark.parametrize("action", ["move_document", "drop_query"])
def test_split_near_duplicates_across_the_boundary(tmp_path, action):
    seed, held, pairs = _near_dup_corpus(tmp_path)
    leaking = {a if a in held else b for a, b in pairs if (a in held) != (b in held)}
    summary = _split(tmp_path, seed=seed, dev_fraction=0.15, test_fraction=0.15, near_duplicate_action=action)
    held_docs = _docs(tmp_path / "dev") | _docs(tmp_path / "test")
    train_docs = {r["doc_id"] for r in read_jsonl(tmp_path / "train.jsonl")}
    assert not leaking & held_docs, "a dev or test query on a chunk that nearly copies a training chunk"
    assert summary["near_duplicate_held_out_chunks"] == len(leaking)
    if action == "move_document":
        assert leaking <= train_docs and summary["near_duplicate_documents_moved"] == len(leaking)
    else:
        assert not leaking & train_docs and summary["near_duplicate_queries_dropped"] == len(leaking)
    # With the check off, the leak is there: the test input does exercise it.
    _split(tmp_path, seed=seed, dev_fraction=0.15, test_fraction=0.15, near_duplicate_threshold=None)
    assert leaking <= _docs(tmp_path / "dev") | _docs(tmp_path / "test")


# Sharded mining (the Kubeflow fan-out): shard i of n of the training queries, merged in shard order.
SHARD_CONFIGS = {
    "in-window": MineConfig(num_negatives=2, rank_window=(0, 10)),
    # A window deeper than the candidates: negatives come from the seeded random fill-in.
    "random-fill": MineConfig(num_negatives=2, rank_window=(20, 40)),
}


@pytest.mark.parametrize("name", list(SHARD_CONFIGS))
def test_sharded_then_merged_mining_is_byte_identical_to_unsharded(corpus, name):
    """n = 1, 2, 3 and more shards than queries (empty shards): the same bytes and summary as `run`."""
    cfg = SHARD_CONFIGS[name]
    _split(corpus, dev_fraction=0.1, test_fraction=0.1)
    train, chunks = corpus / "train.jsonl", corpus / "chunks.jsonl"
    whole = mine.run(cfg, train, chunks, corpus / "tuples.jsonl", seed=7)
    expected = (corpus / "tuples.jsonl").read_bytes()
    num_queries = len(read_jsonl(train))
    assert whole["tuples"] == num_queries >= 18 and expected.count(b"\n") == num_queries
    if name == "random-fill":
        assert whole["random_fallback_negatives"] > 0 and whole["queries_with_short_window"] > 0
    for n in (1, 2, 3, num_queries + 5):
        folders = [corpus / f"n{n}" / f"shard-{i}" for i in range(n)]
        sizes = [mine.run_shard(cfg, train, chunks, folder, 7, i, n)["tuples"] for i, folder in enumerate(folders)]
        assert sum(sizes) == num_queries and (n <= num_queries or sizes.count(0) == n - num_queries)
        # Collected outputs may arrive in any order: the shard summaries put them back.
        merged = mine.merge_shards(cfg, folders[::-1], corpus / f"merged-{n}.jsonl")
        assert (corpus / f"merged-{n}.jsonl").read_bytes() == expected, f"{n} shards"
        assert {k: v for k, v in merged.items() if k not in ("output", "shards")} == {
            k: v for k, v in whole.items() if k != "output"}
        assert merged["shards"] == n
    # A different seed gives other negatives: the comparison above is not between constant files.
    mine.run(cfg, train, chunks, corpus / "other.jsonl", seed=8)
    assert (corpus / "other.jsonl").read_bytes() != expected


def test_merge_refuses_a_missing_or_repeated_shard(corpus):
    _split(corpus, dev_fraction=0.1, test_fraction=0.1)
    cfg = MineConfig(num_negatives=1, rank_window=(0, 10))
    folders = [corpus / f"shard-{i}" for i in range(3)]
    for i, folder in enumerate(folders):
        mine.run_shard(cfg, corpus / "train.jsonl", corpus / "chunks.jsonl", folder, 0, i, 3)
    with pytest.raises(InputError, match="exactly once"):
        mine.merge_shards(cfg, folders[:2], corpus / "merged.jsonl")
    with pytest.raises(InputError, match="exactly once"):
        mine.merge_shards(cfg, [folders[0], folders[0], folders[2]], corpus / "merged.jsonl")
    assert not (corpus / "merged.jsonl").exists()


def test_a_query_positive_reaches_the_training_tuple_and_the_held_out_sides_judge_the_chunk(corpus):
    # Why: title and inverse-cloze queries train against a passage that differs from the chunk.
    queries = read_jsonl(corpus / "queries.jsonl")
    for q in queries:
        q["positive"] = f"stripped passage of {q['chunk_id']}"
    write_jsonl(corpus / "queries.jsonl", queries)
    _split(corpus, dev_fraction=0.2, test_fraction=0.2)
    train = read_jsonl(corpus / "train.jsonl")
    assert all(r["positive"] == f"stripped passage of {r['chunk_id']}" for r in train)
    mine.run(MineConfig(), corpus / "train.jsonl", corpus / "chunks.jsonl", corpus / "tuples.jsonl", seed=0)
    tuples = read_jsonl(corpus / "tuples.jsonl")
    assert [t["positive"] for t in tuples] == [r["positive"] for r in train]
    assert all(t["positive_id"] == r["chunk_id"] for t, r in zip(tuples, train, strict=True))
    for side in ("dev", "test"):
        qrels = (corpus / side / "qrels" / "test.tsv").read_text().splitlines()[1:]
        assert all(line.split("\t")[0].startswith(line.split("\t")[1]) for line in qrels)
