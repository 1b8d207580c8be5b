"""ingest reads every supported source, normalizes once, and refuses bad input cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spladeforge.config import DataConfig
from spladeforge.errors import InputError
from spladeforge.io import read_jsonl
from spladeforge.stages import ingest

LONG = "Sparse retrieval maps text to weighted vocabulary terms. " * 6


def _run(tmp_path: Path, **cfg) -> tuple[dict, list[dict]]:
    out = tmp_path / "out" / "documents.jsonl"
    summary = ingest.run(DataConfig(min_chars=50, **cfg), out)
    return summary, read_jsonl(out)


def test_stdlib_docs_default_source(tmp_path):
    summary, docs = _run(tmp_path, max_documents=20)
    assert summary["documents"] == 20 == len(docs)
    assert all(d["id"].startswith("stdlib:") and d["text"] for d in docs)
    # Read from source with ast: the json module's docstring is real stdlib documentation.
    _, all_docs = _run(tmp_path)
    by_id = {d["id"]: d for d in all_docs}
    assert "JSON" in by_id["stdlib:json"]["text"]
    assert "## json.dumps" in by_id["stdlib:json"]["text"]


def test_folder_of_txt_md_jsonl(tmp_path):
    src = tmp_path / "docs"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text(LONG)
    (src / "sub" / "b.md").write_text("# Guide Title\n\n" + LONG.replace("Sparse", "Dense"))
    (src / "c.jsonl").write_text(json.dumps({"_id": "x1", "title": "T", "text": LONG + " extra"}) + "\n")
    (src / "ignored.bin").write_bytes(b"\x00\x01")
    summary, docs = _run(tmp_path, source=str(src))
    ids = sorted(d["id"] for d in docs)
    assert ids == ["a.txt", "sub/b.md", "x1"]
    assert {d["id"]: d["title"] for d in docs}["sub/b.md"] == "Guide Title"
    assert summary["skipped_by_suffix"] == {".bin": 1}


def test_normalization_nfc_whitespace_lowercase(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.txt").write_text("Cafe\u0301  au\t\tlait\r\n\r\n\r\n\r\nNext   paragraph. " + LONG)
    _, docs = _run(tmp_path, source=str(src), lowercase=True)
    text = docs[0]["text"]
    assert text.startswith("caf\u00e9 au lait\n\nnext paragraph.")


def test_exact_duplicates_dropped_and_counted(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.txt").write_text(LONG)
    (src / "b.txt").write_text(LONG)
    summary, docs = _run(tmp_path, source=str(src))
    assert len(docs) == 1 and summary["dropped"] == {"duplicate_text": 1}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no usable documents"),
        ({"a.txt": b"\xff\xfe bad bytes " * 20}, "a.txt: not valid UTF-8"),
        ({"a.txt": b"\x00\x01\x02binary" * 20}, "a.txt: binary data in a text file"),
        ({"c.jsonl": b'{"_id": "1", "text": "ok"}\n{"_id": "2", "text": \n'}, "c.jsonl:2: malformed JSON"),
        ({"c.jsonl": b'{"_id": "1", "title": "no text"}\n'}, "c.jsonl:1: missing field(s) text"),
        ({"c.jsonl": (json.dumps({"_id": "1", "text": LONG}) + "\n" + json.dumps({"_id": "1", "text": LONG + "!"})
                      + "\n").encode()}, "duplicate document id '1'"),
    ],
)
def test_bad_input_fails_naming_the_file_and_writes_nothing(tmp_path, files, message):
    src = tmp_path / "docs"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    with pytest.raises(InputError) as err:
        _run(tmp_path, source=str(src))
    assert message in str(err.value)
    assert not (tmp_path / "out" / "documents.jsonl").exists()
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_on_error_skip_keeps_good_files(tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "good.txt").write_text(LONG)
    (src / "bad.txt").write_bytes(b"\xff\xfe" * 100)
    summary, docs = _run(tmp_path, source=str(src), on_error="skip")
    assert [d["id"] for d in docs] == ["good.txt"] and summary["skipped_files"] == 1


def test_missing_source_and_oversized_document(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        _run(tmp_path, source=str(tmp_path / "nowhere"))
    src = tmp_path / "big"
    src.mkdir()
    (src / "huge.txt").write_text("word " * 300_000)
    with pytest.raises(InputError, match="over data.max_document_chars=1,000,000"):
        _run(tmp_path, source=str(src), max_document_chars=1_000_000)


def test_beir_corpus_file(tiny_beir_dir, tmp_path):
    _, docs = _run(tmp_path, source=str(tiny_beir_dir / "corpus.jsonl"))
    assert {d["id"] for d in docs} == {"d1", "d2", "d3", "d4", "d5", "d6"}
    assert {d["id"]: d["title"] for d in docs}["d1"] == "json"


def test_short_documents_are_kept_by_default_and_every_drop_is_explained(tmp_path):
    # Why: 200 characters silently dropped a fifth of a real corpus of short abstracts.
    src = tmp_path / "corpus.jsonl"
    abstract = "Relational indexing of serial publications in academic libraries."  # 66 characters
    rows = [{"_id": "a", "title": "", "text": abstract}, {"_id": "b", "title": "", "text": "Too short."},
            {"_id": "c", "title": "", "text": abstract}, {"_id": "d", "title": "", "text": LONG}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out" / "documents.jsonl"
    summary = ingest.run(DataConfig(source=str(src)), out)
    assert [d["id"] for d in read_jsonl(out)] == ["a", "d"]
    assert summary["dropped"] == {"too_short": 1, "duplicate_text": 1}
    assert summary["dropped_because"]["too_short"] == "text under data.min_chars=50 characters"
    assert "earlier document" in summary["dropped_because"]["duplicate_text"]
    meta = json.loads(ingest.meta_path(out).read_text())
    assert meta["dropped_because"] == summary["dropped_because"]
