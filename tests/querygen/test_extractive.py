"""Extractive pseudo-queries are worth learning from: salient keywords, title -> body, inverse cloze, expansion."""

from __future__ import annotations

import random

import pytest

from spladeforge.config import GenerateQueriesConfig
from spladeforge.querygen.extractive import ExtractiveGenerator

FILLER = "The system is used here and the value is set there."


def _chunk(i: int, text: str, title: str = "") -> dict:
    return {"id": f"d{i}#0", "doc_id": f"d{i}", "title": title, "text": text}


def test_salient_terms_prefer_rare_repeated_terms_over_common_and_unique_ones():
    # Why: keyword queries of common or low-information words ("ones usually") are noise.
    chunks = [_chunk(0, "Cataloguing rules: cataloguing of serials usually follows cataloguing codes. "
                        "Library library library staff maybe."),
              _chunk(1, "Cataloguing of maps. Library staff and library users."),
              *[_chunk(i, f"Library report {i}. Library staff usually meet. {FILLER}") for i in range(2, 12)]]
    gen = ExtractiveGenerator(GenerateQueriesConfig(), chunks, seed=1)
    terms = gen.salient_terms(chunks[0]["text"])
    assert terms[0] == "cataloguing"  # in 2 of 12 chunks, three times here
    assert terms.index("cataloguing") < terms.index("library")  # library is in every chunk
    assert "serials" not in terms  # in one chunk only: a string match, not a topic
    assert "usually" not in terms and "maybe" not in terms


def test_keyword_queries_are_salient_terms_sampled_by_rank():
    # Why: the sample must come from the salient list, weighted towards its head.
    chunks = [_chunk(i, f"Alpha beta gamma delta epsilon zeta eta theta iota kappa {i}. {FILLER}") for i in range(6)]
    chunks.append(_chunk(9, "Nothing in common here."))
    gen = ExtractiveGenerator(GenerateQueriesConfig(min_keywords=2, max_keywords=2), chunks, seed=1)
    terms = gen.salient_terms(chunks[0]["text"])
    rng = random.Random(0)
    firsts = [gen.keywords(chunks[0], rng).split()[0] for _ in range(400)]
    assert set(" ".join(firsts).split()) <= set(terms)
    assert firsts.count(terms[0]) > firsts.count(terms[-1])


def test_title_queries_train_against_the_body_without_the_title():
    # Why: a title query whose positive holds the title is a copy task.
    cfg = GenerateQueriesConfig(mix={"title": 1.0}, queries_per_chunk=1)
    chunks = [_chunk(0, "Body text about indexing periodicals in libraries.", "Indexing of scientific periodicals"),
              _chunk(1, "Body text about something else entirely.", "Short title")]
    gen = ExtractiveGenerator(cfg, chunks, seed=1)
    first, short = (gen.generate(c) for c in chunks)
    assert [q["text"] for q in first] == ["Indexing of scientific periodicals"]
    assert first[0]["positive"] == chunks[0]["text"] and "Indexing" not in first[0]["positive"]
    assert short == []  # two words name a topic, not a search


def test_ict_removes_the_sentence_from_the_positive_about_ninety_percent_of_the_time():
    # Why: Lee et al. (2019) remove the sentence 90% of the time so the model learns context.
    sentences = [f"Sentence number {i} talks about topic {i} at length here." for i in range(4)]
    chunks = [_chunk(i, " ".join(sentences) + f" Closing remark {i} of the passage.", "T") for i in range(400)]
    cfg = GenerateQueriesConfig(mix={"sentence": 1.0}, queries_per_chunk=1)
    queries = [q for c in chunks for q in ExtractiveGenerator(cfg, [c], seed=3).generate(c)]
    removed = [q for q in queries if "positive" in q]
    assert 0.85 <= len(removed) / len(queries) <= 0.95
    for q in removed:
        assert q["text"] not in q["positive"] and q["positive"].startswith("T ")
    assert [q["id"] for q in queries] == [q["id"] for c in chunks
                                          for q in ExtractiveGenerator(cfg, [c], seed=3).generate(c)]
    never = GenerateQueriesConfig(mix={"sentence": 1.0}, ict_remove_sentence=0.0)
    assert not any("positive" in q for q in ExtractiveGenerator(never, chunks[:20], seed=3).generate(chunks[0]))


LIBRARY = [
    ("Library buildings", "The library building houses books, journals and reading rooms for students."),
    ("Cataloguing", "Cataloguing rules describe books and journals so readers find them in the catalogue."),
    ("Reference service", "The reference librarian answers questions from readers and students."),
    ("Interlibrary loans", "Loans of books between libraries let readers borrow what their own library lacks."),
    ("Indexing journals", "An index of journal articles points readers to the literature of a subject."),
    ("Library staff", "Librarians and library assistants select books, serve readers and keep the catalogue."),
    ("Collections", "A university collection grows by each book a librarian buys; a reader suggests titles."),
    ("Citation analysis", "Citation counts measure how often a journal article is cited by its readers."),
    ("Online catalog", "The online catalog lists every book in the collection for each student and reader."),
    ("School libraries", "School libraries serve pupils; a university library serves student researchers."),
]


@pytest.mark.slow
def test_expansion_queries_are_corpus_words_the_base_model_adds_to_a_chunk_that_lacks_them():
    # Why: they teach words a searcher uses and the document does not; a word of the chunk makes a
    # copy task again, and a word no other chunk uses is the small model's off-domain noise.
    from spladeforge.text import passage, words

    chunks = [_chunk(i, text, title) for i, (title, text) in enumerate(LIBRARY)]
    cfg = GenerateQueriesConfig(mix={"expansion": 1.0}, queries_per_chunk=2, min_keywords=1)
    gen = ExtractiveGenerator(cfg, chunks, seed=1)
    queries = [q for c in chunks for q in gen.generate(c)]
    assert len(queries) >= len(chunks)  # the base model expands every one of these chunks
    by_id = {c["id"]: c for c in chunks}
    for q in queries:
        own = set(words(passage(by_id[q["chunk_id"]])))
        for term in q["text"].split():
            assert term not in own and term.isalpha() and len(term) > 2
            assert gen.df[term] >= 2, f"{term!r} is in {gen.df[term]} chunk(s)"
        assert q["type"] == "expansion" and "positive" not in q
    again = ExtractiveGenerator(cfg, chunks, seed=1)
    assert [q["text"] for c in chunks for q in again.generate(c)] == [q["text"] for q in queries]


@pytest.mark.slow
def test_expansion_model_must_encode_into_its_vocabulary(tmp_path):
    # Why: a CSR model's dimensions are latent features; decoding them as tokens gives random words.
    from spladeforge.errors import InputError
    from tests.architecture_models import save_untrained

    folder = save_untrained("csr", tmp_path / "csr")
    cfg = GenerateQueriesConfig(mix={"expansion": 1.0}, expansion_model=str(folder))
    chunks = [_chunk(i, text, title) for i, (title, text) in enumerate(LIBRARY)]
    with pytest.raises(InputError, match=r"generate_queries.expansion_model: .* not its 30522-entry vocabulary"):
        ExtractiveGenerator(cfg, chunks, seed=1).generate(chunks[0])
