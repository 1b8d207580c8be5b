"""Dev and test hold no query copied whole from its judged chunk and no query of the base model's own terms."""

from __future__ import annotations

from spladeforge.config import SplitConfig
from spladeforge.io import read_jsonl, write_jsonl
from spladeforge.splitting import copied_from_chunk
from spladeforge.stages import split

TOPICS = ["json decoding", "gzip compression", "sqlite databases", "tcp sockets", "random numbers",
          "date arithmetic", "regular expressions", "thread pools", "http servers", "csv files"]


def test_a_query_is_copied_when_its_whole_text_is_in_the_title_or_body():
    chunk = {"title": "Gzip Archives", "text": "The module  compresses files.\nIt writes archives."}
    assert copied_from_chunk("the module compresses FILES.", chunk)  # case and spacing ignored
    assert copied_from_chunk("gzip archives", chunk)  # the title counts: BEIR joins it to the body
    assert not copied_from_chunk("compresses archives", chunk)  # words of the chunk, not a span of it
    assert not copied_from_chunk("   ", chunk)


def test_sentence_and_expansion_queries_train_but_never_judge(tmp_path):
    # Why: a sentence the corpus chunk still holds is a string match, and expansion terms are the
    # base model's own output: both would rate the base above any adapted model on dev and test.
    # A keyword query that happens to be a phrase of its chunk is what a user may type: it stays.
    chunks, queries = [], []
    for d, topic in enumerate(TOPICS):
        cid = f"doc{d}#0"
        sentence = f"This part explains {topic} in detail."
        chunks.append({"id": cid, "doc_id": f"doc{d}", "text": f"{sentence} More about {topic} follows here."})
        queries += [{"id": f"{cid}/k", "chunk_id": cid, "text": f"{topic} in detail", "type": "keywords"},
                    {"id": f"{cid}/s", "chunk_id": cid, "text": sentence, "type": "sentence",
                     "positive": f"More about {topic} follows here."},
                    {"id": f"{cid}/e", "chunk_id": cid, "text": "library module", "type": "expansion"}]
    write_jsonl(tmp_path / "chunks.jsonl", chunks)
    write_jsonl(tmp_path / "queries.jsonl", queries)
    summary = split.run(SplitConfig(dev_fraction=0.2, test_fraction=0.2), tmp_path / "queries.jsonl",
                        tmp_path / "chunks.jsonl", tmp_path / "train.jsonl", tmp_path / "dev", tmp_path / "test",
                        seed=0)
    held = [q["_id"] for side in ("dev", "test") for q in read_jsonl(tmp_path / side / "queries.jsonl")]
    assert held and all(qid.endswith("/k") for qid in held)
    train_types = {r["type"] for r in read_jsonl(tmp_path / "train.jsonl")}
    assert train_types == {"keywords", "sentence", "expansion"}
    held_docs = len(held)  # one keyword query per held-out document
    assert summary["held_out_verbatim_dropped"] == held_docs
    assert summary["held_out_base_terms_dropped"] == held_docs
