"""End to end in Korean and German: `dvc repro` through publish on corpora written for the tests.

Each run ingests a test corpus with `data.language: auto`, trains a tiny random BERT whose
WordPiece vocabulary was learned from the same corpus (`tests.language_models`), and publishes.
The checks are about language, not quality: the language is detected and recorded, keyword,
sentence (inverse cloze) and title queries exist, and every query word, negative and BM25 hit
is whole text of the corpus (Hangul words as written, German words with their umlauts and ß),
never a fragment such as "gr" for "Größe".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from spladeforge.language import language
from tests.language_models import corpus_texts, save_tiny_mlm
from tests.pipeline_project import TINY, make_project, merge, repro

pytestmark = pytest.mark.slow

CORPORA = Path(__file__).resolve().parent / "corpora"
# A Korean or German query word: letters of its script only (no ASCII fragment of a cut word).
WORD = {"ko": re.compile(r"[\uac00-\ud7a3]+"), "de": re.compile(r"[a-zäöüß]+")}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module", params=["ko", "de"])
def run(request, tmp_path_factory):
    code = request.param
    corpus = CORPORA / f"{code}_corpus.jsonl"
    root = tmp_path_factory.mktemp(f"lang-{code}")
    model = save_tiny_mlm(root / "base-model", corpus_texts(corpus))
    overrides = merge(json.loads(json.dumps(TINY)), {
        "data": {"source": str(corpus), "language": "auto", "max_documents": None},
        # `question` is English-only: its share must go to keywords (and a warning be logged).
        "generate_queries": {"queries_per_chunk": 3,
                             "mix": {"keywords": 0.3, "question": 0.2, "sentence": 0.3, "title": 0.2}},
        "train": {"base_model": str(model)},
        "evaluate": {"dense_model": None},
    })
    (root / "project").mkdir()
    project = repro(make_project(root / "project", overrides=overrides))
    return code, project


def test_language_is_detected_and_recorded(run):
    code, project = run
    meta = json.loads((project / "data/documents.meta.json").read_text())
    assert meta["language"]["code"] == code and meta["language"]["shares"] == {code: 1.0}
    assert meta["dropped"].get("too_short", 0) == 0, "short Korean documents are not dropped by data.min_chars"
    report = json.loads((project / "data/queries.report.json").read_text())
    assert report["language"] == code
    sidecar = json.loads((project / "models/splade/spladeforge.json").read_text())
    assert sidecar["provenance"]["documents"]["language"]["code"] == code


def test_keyword_sentence_and_title_queries_are_whole_words_of_their_chunk(run):
    code, project = run
    lang = language(code)
    chunks = {c["id"]: c for c in _jsonl(project / "data/chunks.jsonl")}
    queries = _jsonl(project / "data/queries.jsonl")
    by_type: dict[str, list[dict]] = {}
    for q in queries:
        by_type.setdefault(q["type"], []).append(q)
    assert {"keywords", "sentence", "title"} <= set(by_type), set(by_type)
    assert "question" not in by_type, "the English question templates are not used"
    for q in by_type["keywords"]:
        chunk_words = set(lang.words(chunks[q["chunk_id"]]["text"]))
        for term in q["text"].split():
            assert WORD[code].fullmatch(term) and term in chunk_words, (term, q["text"])
    for q in by_type["sentence"]:
        assert q["text"] in " ".join(chunks[q["chunk_id"]]["text"].split()), q["text"]
        assert q["text"].endswith((".", "!", "?")), "a whole sentence, cut at its end"
    for q in by_type["title"]:
        assert q["text"] == chunks[q["chunk_id"]]["title"]
    if code == "de":
        assert any(re.search("[äöüß]", t) for q in by_type["keywords"] for t in q["text"].split()), \
            "accented words survive tokenization"


def test_negatives_are_other_chunks_in_the_language(run):
    code, project = run
    passages = {f"{c['title']} {c['text']}".strip() for c in _jsonl(project / "data/chunks.jsonl")}
    tuples = _jsonl(project / "data/train_tuples.jsonl")
    assert tuples
    for t in tuples:
        assert t["negative_1"] in passages and t["negative_1"] != t["positive"]
        assert WORD[code].search(t["negative_1"].lower())


def test_bm25_ranks_with_the_language_tokenization(run):
    from spladeforge.retrieval.bm25 import BM25Index

    code, project = run
    metrics = json.loads((project / "reports/metrics.json").read_text())
    # Queries taken from the chunks themselves: BM25 with whole-word tokens finds most of them.
    assert metrics["bm25_ndcg_at_10"] > 0.5, metrics["bm25_ndcg_at_10"]
    chunks = _jsonl(project / "data/chunks.jsonl")
    keywords = [q for q in _jsonl(project / "data/queries.jsonl") if q["type"] == "keywords"]
    hits, scores = BM25Index([f"{c['title']} {c['text']}" for c in chunks], language_code=code).search(
        [q["text"] for q in keywords], k=1)
    lang = language(code)
    for q, hit, score in zip(keywords, hits[:, 0], scores[:, 0], strict=True):
        top = chunks[int(hit)]
        assert score > 0 and set(q["text"].split()) & set(lang.words(f"{top['title']} {top['text']}")), q["text"]
    assert sum(chunks[int(h)]["id"] == q["chunk_id"] for q, h in zip(keywords, hits[:, 0], strict=True)) \
        >= 0.5 * len(keywords), "BM25 finds the chunk a keyword query was taken from"
    assert (project / "export/publish.json").exists()
