"""Data checks on BEIR folders: what loads, what is set aside, and what is refused with a clear error."""

from __future__ import annotations

import pytest

from spladeforge.errors import InputError
from spladeforge.evaluation.beir import load_beir
from tests.conftest import TINY_CORPUS, TINY_QUERIES, write_beir


def test_loads_the_tiny_folder(tiny_beir_dir):
    """Every document and judged query arrives, with graded qrels kept as integers."""
    data = load_beir(tiny_beir_dir)
    assert set(data.corpus) == set(TINY_CORPUS)
    assert data.corpus["d1"] == TINY_CORPUS["d1"]
    assert set(data.queries) == set(TINY_QUERIES)
    assert data.qrels["q4"] == {"d4": 2, "d2": 0}
    assert data.unjudged_query_ids == ()
    assert len(data.fingerprint) == 12


def test_queries_without_relevant_judgments_are_set_aside(tmp_path):
    """A query with no qrels line, or with only grade-0 lines, is counted, not kept for scoring."""
    queries = {**TINY_QUERIES, "q5": ("no judgments at all", {}), "q6": ("only non-relevant", {"d1": 0})}
    data = load_beir(write_beir(tmp_path / "beir", queries=queries))
    assert set(data.unjudged_query_ids) == {"q5", "q6"}
    assert set(data.queries) == set(TINY_QUERIES)
    assert "q6" not in data.qrels


@pytest.mark.parametrize("missing", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
def test_missing_file_is_named(tmp_path, missing):
    folder = write_beir(tmp_path / "beir")
    (folder / missing).unlink()
    with pytest.raises(InputError, match=missing.replace(".", r"\.")):
        load_beir(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="BEIR folder not found"):
        load_beir(tmp_path / "nowhere")


def test_unknown_document_in_qrels_names_file_and_line(tmp_path):
    folder = write_beir(tmp_path / "beir")
    with open(folder / "qrels" / "test.tsv", "a") as fh:
        fh.write("q1\td99\t1\n")
    lineno = len((folder / "qrels" / "test.tsv").read_text().splitlines())
    expected = rf"qrels/test\.tsv:{lineno}: corpus-id 'd99' is not in .*corpus\.jsonl"
    with pytest.raises(InputError, match=expected):
        load_beir(folder)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("q99\td1\t1", r"test\.tsv:\d+: query-id 'q99' is not in .*queries\.jsonl"),
        ("q1\td2\thigh", r"test\.tsv:\d+: score 'high' is not an integer grade"),
    ],
    ids=["unknown-query", "non-integer-grade"],
)
def test_bad_qrels_line_names_the_line(tmp_path, line, message):
    folder = write_beir(tmp_path / "beir")
    with open(folder / "qrels" / "test.tsv", "a") as fh:
        fh.write(line + "\n")
    with pytest.raises(InputError, match=message):
        load_beir(folder)


def test_empty_corpus_is_refused(tmp_path):
    folder = write_beir(tmp_path / "beir")
    (folder / "corpus.jsonl").write_text("")
    with pytest.raises(InputError, match=r"corpus\.jsonl: no document found"):
        load_beir(folder)


def test_duplicate_document_id_is_refused(tmp_path):
    folder = write_beir(tmp_path / "beir")
    with open(folder / "corpus.jsonl", "a") as fh:
        fh.write('{"_id": "d1", "title": "again", "text": "duplicate"}\n')
    with pytest.raises(InputError, match="'d1' appears more than once"):
        load_beir(folder)


def test_no_judged_query_at_all_is_refused(tmp_path):
    folder = write_beir(tmp_path / "beir", queries={"q1": ("json", {"d1": 0})})
    with pytest.raises(InputError, match="no query has a judged-relevant document"):
        load_beir(folder)


def test_subsample_is_deterministic_and_order_independent(tmp_path):
    """The same ids are kept on every run and whatever the file order, so reruns compare like with like."""
    queries = {f"q{i}": (f"query {i}", {"d1": 1}) for i in range(20)}
    data = load_beir(write_beir(tmp_path / "a", queries=queries))
    reordered = load_beir(write_beir(tmp_path / "b", queries=dict(reversed(queries.items()))))
    picked = data.subsample(5)
    assert len(picked.queries) == 5 and set(picked.qrels) == set(picked.queries)
    assert set(picked.queries) == set(data.subsample(5).queries) == set(reordered.subsample(5).queries)
    assert picked.corpus == data.corpus
    assert data.subsample(None) is data and data.subsample(50) is data


def test_content_hash_follows_the_content_not_the_files(tmp_path, tiny_beir_dir):
    """The set hash register compares: equal for the same data in another file order, different when a
    judgment, a query or a document changes, and for a subsample."""
    reversed_dir = write_beir(tmp_path / "reversed", corpus=dict(reversed(TINY_CORPUS.items())),
                              queries=dict(reversed(TINY_QUERIES.items())))
    digest = load_beir(tiny_beir_dir).content_sha256()
    assert load_beir(reversed_dir).content_sha256() == digest and len(digest) == 64
    regraded = dict(TINY_QUERIES, q2=("compress a file with gzip", {"d2": 2}))
    assert load_beir(write_beir(tmp_path / "regraded", queries=regraded)).content_sha256() != digest
    extra_doc = dict(TINY_CORPUS, d7=("os", "The os module talks to the operating system."))
    assert load_beir(write_beir(tmp_path / "bigger", corpus=extra_doc)).content_sha256() != digest
    assert load_beir(tiny_beir_dir).subsample(2).content_sha256() != digest
