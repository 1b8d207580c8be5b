"""The corpus language: words, sentences, stopwords, stemmer, detection and the dense-script length factor."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from spladeforge import text
from spladeforge.config import GenerateQueriesConfig, load_params
from spladeforge.errors import ConfigError, InputError
from spladeforge.language import (
    DENSE_CHAR_WEIGHT,
    corpus_language,
    dense_length,
    density,
    detect,
    language,
)

CORPORA = Path(__file__).resolve().parent / "corpora"


def _texts(name: str) -> list[str]:
    return [f"{d['title']} {d['text']}" for d in map(json.loads, (CORPORA / name).read_text().splitlines())]


def _chunks(name: str) -> list[dict]:
    return [{"id": f"c{i}", "doc_id": f"d{i}", "title": "", "text": t} for i, t in enumerate(_texts(name))]


def test_english_keeps_the_measured_tokenization():
    sample = "Return the value of the Größe parameter. it is the default. Changed in 3.2."
    en = language("en")
    assert en.words(sample) == text.words(sample) and en.sentences(sample) == text.sentences(sample)


def test_words_keep_accented_letters_and_whole_hangul_words():
    assert language("de").words("Die Größe des Bildes und die Änderung") == ["größe", "bildes", "änderung"]
    assert "étonné" in language("fr").words("L'élève a été très étonné")
    # Korean words stay as written (particles attached), one-syllable nouns kept, bm25s stopwords out.
    words = language("ko").words("김치는 물과 소금으로 만든다 그리고 발효된다")
    assert words == ["김치는", "물과", "소금으로", "만든다", "발효된다"]


def test_sentences_split_without_capitals():
    assert language("ko").sentences("김치는 발효 음식이다. 맛이 좋아요. 정말? 네!") == [
        "김치는 발효 음식이다.", "맛이 좋아요.", "정말?", "네!"]
    assert language("zh").sentences("我们吃饭。你好吗？很好！") == ["我们吃饭。", "你好吗？", "很好！"]
    assert language("de").sentences("das ist klein. aber schön! wirklich") == [
        "das ist klein.", "aber schön!", "wirklich"]


def test_stemmer_and_stopwords_follow_the_language():
    de = language("de")
    assert de.stemmer_name == "german" and "und" in de.stopwords
    assert de.bm25_terms("Die Größen der Bilder") == de.stemmer().stemWords(["größen", "bilder"])


def test_a_language_without_stemmer_is_not_stemmed_and_says_so_once(caplog):
    language.cache_clear()
    with caplog.at_level(logging.INFO, logger="spladeforge.language"):
        ko = language("ko")
        language("ko")
    assert ko.stemmer() is None and ko.bm25_terms("김치를 담그는 방법") == ["김치를", "담그는", "방법"]
    assert sum("no stemmer" in r.message for r in caplog.records) == 1


def test_bm25_finds_a_german_word_in_another_inflection():
    from spladeforge.retrieval.bm25 import BM25Index

    docs = ["Die Größen der Bilder ändern", "Brot backen in der Bäckerei", "Das Fahrrad in der Stadt"]
    hits, scores = BM25Index(docs, language_code="de").search(["Größe Bild"], k=1)
    assert hits[0, 0] == 0 and scores[0, 0] > 0


def test_detection_reads_script_and_stopwords():
    assert detect(_texts("ko_corpus.jsonl")).code == "ko"
    assert detect(_texts("de_corpus.jsonl")).code == "de"
    assert detect(["The cat sat on the mat and it was happy with the warm sun."]).code == "en"
    assert detect(["Le chat est sur le tapis et il est content de la chaleur du soleil."]).code == "fr"


def test_mixed_corpus_takes_the_majority_and_warns_with_the_shares(caplog):
    texts = _texts("ko_corpus.jsonl") + _texts("de_corpus.jsonl")[:5]
    with caplog.at_level(logging.WARNING, logger="spladeforge.language"):
        found = detect(texts)
    assert found.code == "ko" and found.shares == {"ko": 0.75, "de": 0.25}
    assert any("mixed languages" in r.message and "'de': 0.25" in r.message for r in caplog.records)


def test_a_configured_language_the_documents_contradict_is_kept_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="spladeforge.language"):
        found = detect(_texts("ko_corpus.jsonl"), "en")
    assert found.code == "en" and any("data.language: ko or auto" in r.message for r in caplog.records)


def test_unknown_language_code_is_a_config_error_listing_the_accepted_codes(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "cpu-tiny.yaml").write_text("{}\n")
    path = tmp_path / "params.yaml"
    path.write_text("data:\n  language: klingon\n")
    with pytest.raises(ConfigError, match=r"data.language.*unknown language 'klingon'; accepted: auto, ar, "):
        load_params(path)


def test_recorded_language_defaults_to_english(tmp_path):
    assert corpus_language(None) == corpus_language(tmp_path / "missing.json") == "en"
    (tmp_path / "meta.json").write_text(json.dumps({"language": {"code": "ko"}}))
    assert corpus_language(tmp_path / "meta.json") == "ko"


def test_dense_char_weight_is_what_the_parallel_texts_measure():
    """A Hangul syllable carries as much as DENSE_CHAR_WEIGHT letters of the English translation."""
    rows = [json.loads(line) for line in (CORPORA / "ko_en_parallel.jsonl").read_text().splitlines()]
    english, korean = "".join(r["en"] for r in rows), "".join(r["ko"] for r in rows)
    syllables = len(re.findall(r"[\uac00-\ud7a3]", korean))
    assert 1 + (len(english) - len(korean)) / syllables == pytest.approx(DENSE_CHAR_WEIGHT, abs=0.1)
    assert dense_length(korean) == pytest.approx(len(english), rel=0.05)
    assert density("plain English text") == 1.0


def test_korean_chunks_hold_as_much_text_as_english_ones():
    from spladeforge.chunking import chunk_document
    from spladeforge.config import ChunkConfig

    body = " ".join(_texts("ko_corpus.jsonl"))
    chunks = chunk_document({"id": "ko", "title": "", "text": body}, ChunkConfig(size=500, overlap=75))
    assert len(chunks) > 3
    assert all(dense_length(c["text"]) <= 520 for c in chunks)
    assert max(dense_length(c["text"]) for c in chunks) > 400


def test_question_share_goes_to_keywords_outside_english(caplog):
    from spladeforge.querygen.extractive import ExtractiveGenerator

    cfg = GenerateQueriesConfig(mix={"keywords": 0.4, "question": 0.3, "sentence": 0.3})
    chunks = _chunks("ko_corpus.jsonl")
    with caplog.at_level(logging.WARNING):
        gen = ExtractiveGenerator(cfg, chunks, seed=1, language_code="ko")
    assert dict(zip(gen.types, gen.weights, strict=True)) == {"keywords": pytest.approx(0.7), "sentence": 0.3}
    assert any("question templates are English" in r.message for r in caplog.records)
    assert dict(zip(ExtractiveGenerator(cfg, chunks, 1).types, ExtractiveGenerator(cfg, chunks, 1).weights,
                    strict=True)) == cfg.mix


def test_extractive_backend_takes_korean_but_still_refuses_unspaced_scripts():
    from spladeforge.querygen.generate import generate_queries

    cfg = GenerateQueriesConfig(mix={"keywords": 0.5, "sentence": 0.5})
    korean = _chunks("ko_corpus.jsonl")
    queries, report = generate_queries(cfg, korean, 1, language_code="ko")
    assert queries and report["language"] == "ko"
    chinese = [{"id": "z", "doc_id": "z", "title": "", "text": "我们今天在北京吃饭。明天去上海看朋友。" * 5}]
    with pytest.raises(InputError, match="seq2seq.*openai"):
        generate_queries(cfg, chinese, 1, language_code="zh")
