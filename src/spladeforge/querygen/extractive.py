"""Queries taken from the chunk itself, offline: keywords, titles, questions and sentences.

Five types that mimic how people search:
- `keywords`: 2-4 of the chunk's salient terms: ranked by their BM25 term weight against the
  corpus (tf saturation x IDF; terms in at least two chunks, stopwords out), so a term rare in
  the corpus but repeated in the chunk wins, and sampled by rank (weight 1 / rank);
- `title`: the document's title (at least `TITLE_MIN_WORDS` words) -> the chunk's body without
  it, the title-body pairs of unsupervised retrieval pre-training (Chang et al., 2020);
- `question`: a question built from one of the chunk's sentences or its subject;
- `expansion`: 2-4 of the terms `generate_queries.expansion_model` adds to the chunk's document
  vector that its passage does not contain (`querygen.expansion`), sampled by rank like keywords:
  a query in words the document does not use, which no copy of the chunk teaches;
- `sentence`: one sentence of the chunk, as in the Inverse Cloze Task (Lee et al., 2019), removed
  from the positive passage for a share `generate_queries.ict_remove_sentence` of the queries
  (0.9 in the paper), so the model learns the context, not the string match.
A query whose positive passage differs from its chunk's (title stripped, sentence removed)
carries it as `positive`; evaluation still judges the chunk. The type of each query is drawn
from `generate_queries.mix` by a generator seeded with the run seed and the chunk id, so the
output does not depend on chunk order.

Words, sentences and stopwords are the corpus language's (`spladeforge.language`); the question
templates are English, so for another language a `question` share of the mix goes to `keywords`.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections import Counter
from typing import Any

from spladeforge.config import GenerateQueriesConfig
from spladeforge.language import Language, dense_length, language
from spladeforge.querygen.filters import QueryFilter
from spladeforge.querygen.records import query_record
from spladeforge.text import passage, stable_fraction, stable_hash

logger = logging.getLogger(__name__)

# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, Japanese kana and
# CJK ideographs. The extractive queries are made of space-separated words (`Language.words`), so a
# chunk in these scripts yields none.
_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def in_unspaced_script(text: str) -> bool:
    """Whether most letters of `text` belong to scripts written without spaces between words."""
    letters = sum(1 for c in text if c.isalpha())
    return letters > 0 and len(_UNSPACED.findall(text)) > letters / 2


# Docstrings start with an imperative or third-person verb: "Return ...", "Creates ...".
_DOC_VERBS = re.compile(
    r"^(return|create|make|convert|build|get|set|read|write|open|close|add|remove|delete|find|"
    r"parse|load|save|send|receive|compute|calculate|check|test|encode|decode|compress|"
    r"decompress|format|print|start|stop|run|call|register|wait|raise|update|copy|move|split|"
    r"join|search|match|replace|generate|initialize|construct|handle|process|apply|translate)s?\b",
    re.IGNORECASE,
)


# A title of one or two words ("Introduction", "json") names a topic, not a search for the
# body; three or more words read like a query (and most paper and article titles have them).
TITLE_MIN_WORDS = 3
# BM25's tf saturation (Robertson & Zaragoza, 2009, the usual k1): the third occurrence of a
# term adds less than the first, so one repeated common word does not outrank rare ones.
BM25_K1 = 1.2
# Candidates a keyword query is sampled from, by rank: past the eighth term the weights are
# topic-neutral words even in long chunks.
SALIENT_POOL = 8
# Chunks a query term must occur in: a term of one chunk alone is usually a typo, an identifier or
# a number (keywords), or a word from outside the corpus's domain (expansion terms).
MIN_CHUNKS = 2
# Words that pass the stopword list but say nothing about a topic, seen as keyword queries such as
# "ones usually" or "formatting maybe": hedges, frequency adverbs, generic nouns and verbs. A
# corpus where one is rare would otherwise rank it high by IDF alone.
LOW_INFORMATION = frozenset("""
usually maybe perhaps often always never sometimes rather quite really actually already still
also even though although however therefore thus hence instead otherwise whether either neither
ones thing things something anything nothing everything way ways kind kinds lot lots much many
several various certain another others every example examples case cases like unlike well able
make makes made take takes taken need needs needed want wants seem seems include includes
including provide provides provided allow allows allowed first second last next previous later
""".split())


def language_mix(mix: dict[str, float], lang: Language) -> dict[str, float]:
    """`mix` for `lang`: the question templates are English, so elsewhere their share goes to keywords."""
    if lang.english or not mix.get("question"):
        return dict(mix)
    logger.warning("generate_queries.mix.question: the question templates are English and the corpus language is "
                   "%s: its share %g goes to keywords", lang.code, mix["question"])
    moved = {t: w for t, w in mix.items() if t != "question"}
    moved["keywords"] = moved.get("keywords", 0.0) + mix["question"]
    return moved


class ExtractiveGenerator:
    def __init__(self, cfg: GenerateQueriesConfig, chunks: list[dict[str, Any]], seed: int,
                 language_code: str = "en") -> None:
        self.cfg = cfg
        self.seed = seed
        self.lang = language(language_code)
        # Words that say nothing about a topic: the language's stopwords, and in English the list below.
        self.low_information = LOW_INFORMATION if self.lang.english else frozenset()
        self.df: Counter[str] = Counter()
        for chunk in chunks:
            self.df.update(set(self.lang.words(chunk["text"])))
        n = len(chunks)
        # BM25's (Lucene) IDF, always positive: log(1 + (N - df + 0.5) / (df + 0.5)).
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in self.df.items()}
        mix = language_mix(cfg.mix, self.lang)
        self.types = [t for t, w in mix.items() if w > 0]
        self.weights = [mix[t] for t in self.types]
        self.chunks = chunks
        self._expansions: dict[str, list[str]] | None = None  # encoded on the first expansion query
        # (model reference, document vectors of `chunks`) once expansion queries encoded them
        self.encoded: tuple[str, Any] | None = None

    def salient_terms(self, text: str, limit: int = SALIENT_POOL) -> list[str]:
        """The terms of `text` by BM25 term weight, best first.

        A term must occur in at least two chunks: one seen once is usually a typo, an identifier
        or a number, and a query made of it is a string-match task. Stopwords, `LOW_INFORMATION`
        words, numbers and two-letter words (a Hangul syllable counting 3 letters) are out.
        """
        tf = Counter(w for w in self.lang.words(text)
                     if dense_length(w) > 2 and not w.isdigit() and w not in self.low_information
                     and self.df[w] >= MIN_CHUNKS)
        weight = {t: c * (BM25_K1 + 1) / (c + BM25_K1) * self.idf[t] for t, c in tf.items()}
        return sorted(weight, key=lambda t: (-weight[t], t))[:limit]

    def sample_by_rank(self, terms: list[str], rng: random.Random) -> str | None:
        """`min_keywords`..`max_keywords` of `terms` (best first), drawn without replacement with
        weight 1 / rank and kept in rank order; None when there are too few."""
        if len(terms) < self.cfg.min_keywords:
            return None
        k = rng.randint(self.cfg.min_keywords, min(self.cfg.max_keywords, len(terms)))
        pool = list(range(len(terms)))
        picked = []
        for _ in range(k):
            i = rng.choices(pool, [1 / (r + 1) for r in pool])[0]
            pool.remove(i)
            picked.append(i)
        return " ".join(terms[i] for i in sorted(picked))

    def keywords(self, chunk: dict[str, Any], rng: random.Random) -> str | None:
        return self.sample_by_rank(self.salient_terms(chunk["text"]), rng)

    def expansion(self, chunk: dict[str, Any], rng: random.Random) -> str | None:
        if self._expansions is None:
            from spladeforge.querygen.expansion import expansion_terms

            self._expansions, vectors = expansion_terms(self.chunks, self.cfg.expansion_model, self.df, MIN_CHUNKS,
                                                        self.lang.stopwords | self.low_information, SALIENT_POOL,
                                                        lang=self.lang)
            self.encoded = (self.cfg.expansion_model, vectors)
        return self.sample_by_rank(self._expansions.get(chunk["id"], []), rng)

    def title(self, chunk: dict[str, Any], rng: random.Random) -> str | None:
        title = " ".join((chunk.get("title") or "").split())
        return title if len(title.split()) >= TITLE_MIN_WORDS else None

    def question(self, chunk: dict[str, Any], rng: random.Random) -> str | None:
        candidates = [s for s in self.lang.sentences(chunk["text"]) if 20 <= len(s) <= 160 and _DOC_VERBS.match(s)]
        if candidates:
            sentence = rng.choice(candidates).rstrip(".:; ")
            verb, _, rest = sentence.partition(" ")
            verb = verb.lower()
            if verb.endswith("s") and not verb.endswith("ss"):
                verb = verb[:-1]
            return f"how do I {verb} {rest[0].lower() + rest[1:] if rest else ''}".strip() + "?"
        subject = (chunk.get("section") or chunk.get("title") or "").split(" > ")[-1]
        terms = self.salient_terms(chunk["text"], limit=3)
        if subject and terms:
            return rng.choice([f"what does {subject} do with {terms[0]}?",
                               f"how is {terms[0]} handled in {subject}?"])
        return None

    def sentence(self, chunk: dict[str, Any], rng: random.Random) -> str | None:
        candidates = [s for s in self.lang.sentences(chunk["text"])
                      if 30 <= dense_length(s) <= 200 and self.lang.starts_sentence(s)]
        return rng.choice(candidates) if candidates else None

    def positive(self, chunk: dict[str, Any], text: str, qtype: str) -> str | None:
        """The query's positive passage when it is not the chunk's own, else None.

        `title`: the chunk's body alone. `sentence`: the passage without the sentence, for a share
        `ict_remove_sentence` of the queries, drawn from a seeded hash of the chunk and sentence.
        """
        if qtype == "title":
            return chunk["text"]
        if qtype != "sentence" or stable_fraction(self.seed, "ict", chunk["id"], text) >= self.cfg.ict_remove_sentence:
            return None
        body = chunk["text"]
        if text not in body:  # `sentences` joins a sentence's whitespace: match the body the same way
            body = " ".join(body.split())
        rest = " ".join(body.replace(text, " ", 1).split())
        return passage({"title": chunk.get("title"), "text": rest})

    def generate(self, chunk: dict[str, Any], qfilter: QueryFilter | None = None) -> list[dict[str, Any]]:
        rng = random.Random(stable_hash(self.seed, chunk["id"]))
        out, used = [], set()
        for _attempt in range(self.cfg.queries_per_chunk * 3):
            if len(out) == self.cfg.queries_per_chunk:
                break
            qtype = rng.choices(self.types, self.weights)[0]
            text = getattr(self, qtype)(chunk, rng)
            if qfilter is not None:
                if not qfilter.accept(text, qtype, chunk):
                    continue
            elif not text or text.lower() in used:
                continue
            used.add(text.lower())
            out.append(query_record(chunk, len(out), text, qtype, "extractive",
                                    positive=self.positive(chunk, text, qtype)))
        return out
