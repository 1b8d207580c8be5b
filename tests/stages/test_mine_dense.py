"""Dense mining keeps the rank window, skips the positive's document, guards false negatives,
and stores teacher scores in the tuple format `train` reads."""

from __future__ import annotations

import pytest

from spladeforge.config import MineConfig
from spladeforge.errors import ConfigError, InputError
from spladeforge.io import read_jsonl, write_jsonl
from spladeforge.stages import mine

POSITIVE = "The gzip module compresses files with the DEFLATE algorithm and writes gzip archives."
# Another document that says the same thing: a false negative that must not become a negative.
NEAR_COPY = "The gzip module compresses files with the DEFLATE algorithm and writes gzip archive files."
OTHERS = {
    "sql": "The sqlite3 module stores tables in a single database file and runs SQL statements.",
    "net": "The socket module opens TCP connections to remote hosts and sends bytes over the network.",
    "rand": "The random module draws pseudo-random numbers and shuffles sequences in place.",
    "zip": "The zipfile module reads and writes ZIP archives that hold many compressed members.",
    "time": "The datetime module represents dates, times and time zones with arithmetic on them.",
}


@pytest.fixture()
def corpus(tmp_path):
    chunks = [{"id": "gz#0", "doc_id": "gz", "title": "", "text": POSITIVE},
              {"id": "gz#1", "doc_id": "gz", "title": "", "text": POSITIVE + " Neighbour chunk."},
              {"id": "copy#0", "doc_id": "copy", "title": "", "text": NEAR_COPY}]
    chunks += [{"id": f"{d}#0", "doc_id": d, "title": "", "text": t} for d, t in OTHERS.items()]
    rows = [{"query_id": "q1", "query": "compress a file with gzip", "chunk_id": "gz#0", "doc_id": "gz"},
            {"query_id": "q2", "query": "open a tcp connection", "chunk_id": "net#0", "doc_id": "net"}]
    # Negatives come only from training documents: give every document a training query.
    rows += [{"query_id": f"q-{c['doc_id']}", "query": c["text"][:40], "chunk_id": c["id"], "doc_id": c["doc_id"]}
             for c in chunks if c["doc_id"] not in ("gz", "net")]
    write_jsonl(tmp_path / "chunks.jsonl", chunks)
    write_jsonl(tmp_path / "train.jsonl", rows)
    return tmp_path


def _mine(tmp, **cfg):
    summary = mine.run(MineConfig(method="dense", **cfg), tmp / "train.jsonl", tmp / "chunks.jsonl",
                       tmp / "tuples.jsonl", seed=0)
    return summary, {t["query_id"]: t for t in read_jsonl(tmp / "tuples.jsonl")}


@pytest.mark.slow
def test_relative_margin_drops_the_false_negative(corpus):
    _, unguarded = _mine(corpus, num_negatives=1, rank_window=(0, 1), relative_margin=None)
    assert unguarded["q1"]["negative_ids"] == ["copy#0"], "without the guard the near copy is the top negative"
    summary, guarded = _mine(corpus, num_negatives=2, rank_window=(0, 2), relative_margin=0.05)
    for t in guarded.values():
        doc = t["positive_id"].split("#")[0]
        assert "copy#0" not in guarded["q1"]["negative_ids"]
        assert all(n.split("#")[0] != doc for n in t["negative_ids"]), "negative from the positive's document"
        assert {"anchor", "positive", "negative_1", "negative_2", "negative_ids"} <= set(t)
    assert guarded["q1"]["negative_ids"][0] == "zip#0", "the closest real negative: another archive module"
    assert summary["method"] == "dense" and summary["random_fallback_negatives"] == 0


@pytest.mark.slow
def test_dense_teacher_scores(corpus):
    _, tuples = _mine(corpus, num_negatives=2, rank_window=(0, 3), teacher="dense")
    for t in tuples.values():
        assert len(t["scores"]) == 3
        assert t["scores"][0] > max(t["scores"][1:]), "the positive should score highest for these queries"


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    """A randomly initialised 1-layer BERT cross-encoder with the BERT-tiny tokenizer."""
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from spladeforge.models.builtin import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:splade-tiny"))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    folder = tmp_path_factory.mktemp("ce") / "tiny-ce"
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CrossEncoder(str(folder), device="cpu")  # loads as a sentence-transformers CrossEncoder
    return folder


def test_cross_encoder_teacher_with_bm25_mining(corpus, tiny_cross_encoder):
    summary = mine.run(MineConfig(num_negatives=2, rank_window=(0, 4), teacher=f"cross-encoder {tiny_cross_encoder}"),
                       corpus / "train.jsonl", corpus / "chunks.jsonl", corpus / "tuples.jsonl", seed=0)
    tuples = read_jsonl(corpus / "tuples.jsonl")
    assert summary["teacher"].startswith("cross-encoder") and len(tuples) == 7
    for t in tuples:
        assert len(t["scores"]) == 3 and all(isinstance(s, float) for s in t["scores"])
    # Scores belong to their pair: scoring the same pairs again gives the same numbers.
    from spladeforge.mining.teacher import Teacher

    again = Teacher(f"cross-encoder {tiny_cross_encoder}", "builtin:minilm-l6").score(
        [(tuples[0]["anchor"], tuples[0]["positive"])])
    assert again[0] == pytest.approx(tuples[0]["scores"][0], abs=1e-5)


def test_teacher_spec_validation(tmp_path, corpus):
    with pytest.raises(ValueError, match="accepted none, dense, or 'cross-encoder <model ref>'"):
        MineConfig(teacher="cross-encoder")
    with pytest.raises(ValueError, match="accepted none, dense"):
        MineConfig(teacher="bm25")
    with pytest.raises(ConfigError, match="does not exist"):
        mine.run(MineConfig(teacher=f"cross-encoder {tmp_path / 'missing'}"), corpus / "train.jsonl",
                 corpus / "chunks.jsonl", corpus / "tuples.jsonl", seed=0)


def test_too_few_other_chunks_is_a_clear_error(tmp_path):
    write_jsonl(tmp_path / "chunks.jsonl", [{"id": f"{d}#0", "doc_id": d, "text": f"text about {d}"} for d in "ab"])
    write_jsonl(tmp_path / "train.jsonl", [{"query_id": f"q{d}", "query": d, "chunk_id": f"{d}#0", "doc_id": d}
                                           for d in "ab"])
    with pytest.raises(InputError, match="fewer than mine.num_negatives=2 chunks outside its document"):
        mine.run(MineConfig(num_negatives=2), tmp_path / "train.jsonl", tmp_path / "chunks.jsonl",
                 tmp_path / "tuples.jsonl", seed=0)
