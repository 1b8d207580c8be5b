"""The corpus language: its word tokenization, sentences, stopwords and stemmer, and its detection.

`data.language` is an ISO 639-1 code or `auto`; ingest resolves it (`detect`) and records the code
in `documents.meta.json`, which generate-queries, mine and (through the trained model's sidecar)
evaluate read back (`recorded_code`), so every text step tokenizes the corpus the same way.

English keeps the tokenization the project was measured with (`text.words`, `text.sentences`:
ASCII words, sentences before a capital, the English Snowball stemmer in BM25). Every other
language gets Unicode words (`\\w`, so "Größe" stays "größe" and Hangul words stay whole),
sentences split at terminal punctuation without asking for a capital (Korean "다. ", CJK "。"),
bm25s' stopword list and PyStemmer's Snowball stemmer for the language when they have one,
none otherwise.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from spladeforge import text as english

logger = logging.getLogger(__name__)

# ISO 639-1 code -> (PyStemmer's Snowball algorithm or None, bm25s stopword key or None).
LANGUAGES: dict[str, tuple[str | None, str | None]] = {
    "en": ("english", "en"), "de": ("german", "de"), "fr": ("french", "fr"), "es": ("spanish", "es"),
    "it": ("italian", "it"), "nl": ("dutch", "nl"), "pt": ("portuguese", "pt"), "sv": ("swedish", "sv"),
    "no": ("norwegian", "no"), "da": ("danish", "da"), "ru": ("russian", "ru"), "tr": ("turkish", "tr"),
    "fi": ("finnish", None), "ca": ("catalan", None), "eu": ("basque", None), "ga": ("irish", None),
    "hu": ("hungarian", None), "ro": ("romanian", None), "lt": ("lithuanian", None), "et": ("estonian", None),
    "cs": ("czech", None), "pl": ("polish", None), "sr": ("serbian", None), "el": ("greek", None),
    "hy": ("armenian", None), "ar": ("arabic", None), "fa": ("persian", None), "hi": ("hindi", None),
    "ne": ("nepali", None), "ta": ("tamil", None), "id": ("indonesian", None), "eo": ("esperanto", None),
    "yi": ("yiddish", None),
    "ko": (None, "ko"), "zh": (None, "zh"), "ja": (None, None), "th": (None, None), "vi": (None, None),
    "he": (None, None), "uk": (None, None), "bg": (None, None),
}
ACCEPTED = ("auto", *sorted(LANGUAGES))

# Characters of scripts whose one character carries about as much as three Latin letters: Hangul
# syllables, Japanese kana and CJK ideographs. Measured on the Korean test corpus's parallel texts
# (tests/corpora/ko_en_parallel.jsonl, five documents with English translations): the English
# texts have 1,638 characters, the Korean 672, of which 485 Hangul syllables, so a syllable
# stands for 1 + (1638 - 672) / 485 = 3.0 letters (spaces and punctuation count one each in both;
# `tests/test_language.py` checks it). Kana and ideographs get the same weight unmeasured (Chinese
# is likely denser still). Without it, length rules tuned on English (data.min_chars, chunk.size)
# drop short Korean documents and make Korean chunks three times as long.
DENSE_CHAR_WEIGHT = 3.0
_DENSE = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3\uf900-\ufaff]")

# Words of two or more word characters, or one character of a dense script (Korean 물, 책): the same
# pattern for the extractive queries and for BM25 (bm25s' default is `\b\w\w+\b`).
TOKEN_PATTERN = r"(?u)\b(?:\w\w+|[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7a3])\b"
_TOKEN = re.compile(TOKEN_PATTERN)
# A sentence ends at . ! ? followed by space (whatever comes next: no capitals needed), at CJK
# full stops, or at a blank line.
_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*|\n\n")

# Scripts by Unicode range, for detection: (name, pattern, the code when the script alone decides).
_SCRIPTS: tuple[tuple[str, re.Pattern[str], str | None], ...] = (
    ("hangul", re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]"), "ko"),
    ("kana", re.compile(r"[\u3040-\u30ff]"), "ja"),
    ("han", re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"), "zh"),
    ("thai", re.compile(r"[\u0e00-\u0e7f]"), "th"),
    ("greek", re.compile(r"[\u0370-\u03ff]"), "el"),
    ("armenian", re.compile(r"[\u0530-\u058f]"), "hy"),
    ("hebrew", re.compile(r"[\u0590-\u05ff]"), "he"),
    ("arabic", re.compile(r"[\u0600-\u06ff]"), "ar"),
    ("devanagari", re.compile(r"[\u0900-\u097f]"), "hi"),
    ("tamil", re.compile(r"[\u0b80-\u0bff]"), "ta"),
    ("cyrillic", re.compile(r"[\u0400-\u04ff]"), "ru"),
    ("latin", re.compile(r"[A-Za-z\u00c0-\u024f]"), None),
)
# Documents detection reads (evenly spaced over the corpus) and characters of each.
SAMPLE_DOCUMENTS = 500
SAMPLE_CHARS = 2000
# Below this share of the documents, the majority language of a mixed corpus is reported as such.
MIXED_WARNING_SHARE = 0.9


def dense_length(text: str) -> float:
    """The length of `text` in Latin-letter equivalents: dense-script characters count 3."""
    return len(text) + (DENSE_CHAR_WEIGHT - 1) * len(_DENSE.findall(text))


def density(text: str) -> float:
    """`dense_length(text) / len(text)`: exactly 1.0 for text without dense-script characters."""
    dense = len(_DENSE.findall(text))
    return 1.0 + (DENSE_CHAR_WEIGHT - 1) * dense / len(text) if dense else 1.0


@dataclass(frozen=True)
class Language:
    """The text steps of one language (see the module docstring)."""

    code: str
    stemmer_name: str | None
    stopwords: frozenset[str]

    @property
    def english(self) -> bool:
        return self.code == "en"

    def words(self, text: str) -> list[str]:
        """Lower-cased words of `text`, stopwords and numbers removed, unstemmed (query words)."""
        if self.english:
            return english.words(text)
        return [w for w in _TOKEN.findall(text.lower()) if w not in self.stopwords and not w[0].isdigit()]

    def sentences(self, text: str) -> list[str]:
        """Sentences of `text`, whitespace joined, headings dropped."""
        if self.english:
            return english.sentences(text)
        out = []
        for part in _SENTENCE.split(text):
            part = " ".join((part or "").split())
            if part and not part.startswith("#"):
                out.append(part)
        return out

    def starts_sentence(self, sentence: str) -> bool:
        """Whether `sentence` starts as a sentence does: a capital in English, not lower case elsewhere
        (scripts without case, such as Hangul, have neither)."""
        return sentence[0].isupper() if self.english else not sentence[0].islower()

    def stemmer(self) -> Any:
        """PyStemmer's Snowball stemmer for the language, or None."""
        return _stemmer(self.stemmer_name) if self.stemmer_name else None

    def bm25_tokenize(self, texts: Sequence[str], *, return_ids: bool = True) -> Any:
        """bm25s token ids of `texts` (or their token lists), as BM25 indexes and searches them everywhere."""
        import bm25s

        if self.english:  # the tokenization the recorded English figures were measured with
            return bm25s.tokenize(list(texts), stopwords="en", stemmer=self.stemmer(), return_ids=return_ids,
                                  show_progress=False)
        return bm25s.tokenize(list(texts), token_pattern=TOKEN_PATTERN, stopwords=sorted(self.stopwords),
                              stemmer=self.stemmer(), return_ids=return_ids, show_progress=False)

    def bm25_terms(self, text: str) -> list[str]:
        """The BM25 terms of one text: what `bm25_tokenize` indexes, for MTEB's BM25 baseline."""
        terms = [w for w in _TOKEN.findall(text.lower()) if w not in self.stopwords]
        stemmer = self.stemmer()
        return stemmer.stemWords(terms) if stemmer is not None else terms


@cache
def _stemmer(name: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(name)


@cache
def language(code: str) -> Language:
    """The `Language` of an ISO 639-1 code (`ACCEPTED` lists them); ValueError for another."""
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {code!r}; accepted: {', '.join(ACCEPTED)}")
    stemmer_name, stopword_key = LANGUAGES[code]
    if code == "en":
        stopwords = english.STOPWORDS
    else:
        from bm25s.tokenization import _infer_stopwords  # bm25s' own lists (nltk, stopwords-iso)

        stopwords = frozenset(_infer_stopwords(stopword_key)) if stopword_key else frozenset()
    if stemmer_name is None:
        logger.info("language %s: Snowball (PyStemmer) has no stemmer for it; words are not stemmed", code)
    return Language(code, stemmer_name, stopwords)


def recorded_code(meta: dict[str, Any] | None) -> str:
    """The language code a `documents.meta.json` record holds; `en` for a record from before it did."""
    record = (meta or {}).get("language")
    return record["code"] if isinstance(record, dict) and record.get("code") in LANGUAGES else "en"


def corpus_language(documents_meta: str | Path | None) -> str:
    """The language code of a `documents.meta.json` file; English without the file."""
    from spladeforge.io import read_json

    if documents_meta is None or not Path(documents_meta).is_file():
        return "en"
    return recorded_code(read_json(documents_meta))


def _script_shares(text: str) -> Counter[str]:
    return Counter({name: len(pattern.findall(text)) for name, pattern, _ in _SCRIPTS})


def _latin_language(text: str) -> str:
    """The Latin-script language whose stopwords cover most of `text`'s words (English on a tie)."""
    tokens = re.findall(r"\w+", text.lower())
    best, best_rate = "en", -1.0
    for code in ("en", *sorted(c for c, (_, key) in LANGUAGES.items() if key and c not in ("en", "ru", "ko", "zh"))):
        stop = language(code).stopwords if code != "en" else _bm25s_english()
        rate = sum(t in stop for t in tokens) / len(tokens) if tokens else 0.0
        if rate > best_rate:
            best, best_rate = code, rate
    return best


@cache
def _bm25s_english() -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords("en"))  # the general list: text.STOPWORDS adds docstring words


def document_language(text: str) -> str:
    """The language of one text: its majority script, and for Latin script the stopword hit rates."""
    shares = _script_shares(text[:SAMPLE_CHARS])
    if not sum(shares.values()):
        return "en"
    # Kana in a text with ideographs is Japanese; Han alone is Chinese.
    if shares["kana"] and shares["kana"] + shares["han"] >= max(shares.values()):
        return "ja"
    script = max(shares, key=lambda s: shares[s])
    code = next(c for name, _, c in _SCRIPTS if name == script)
    return code if code is not None else _latin_language(text[:SAMPLE_CHARS])


@dataclass(frozen=True)
class Detection:
    code: str
    how: str
    shares: dict[str, float]

    def record(self) -> dict[str, Any]:
        return {"code": self.code, "how": self.how, "shares": self.shares}


def detect(texts: Sequence[str], setting: str = "auto", source: str = "data.source") -> Detection:
    """`setting` resolved over `texts`: the majority language of a sample of documents for `auto`
    (warning with the shares when the corpus is mixed), else the configured code (warning when the
    documents look like another language)."""
    step = max(1, len(texts) // SAMPLE_DOCUMENTS)
    sample = list(texts[::step])[:SAMPLE_DOCUMENTS]
    counts = Counter(document_language(t) for t in sample)
    shares = {c: round(n / len(sample), 3) for c, n in counts.most_common()} if sample else {}
    majority = next(iter(shares), "en")
    if setting != "auto":
        if sample and majority != setting and shares[majority] > 0.5:
            logger.warning("%s: data.language is %s but %.0f%% of %d sampled documents look like %s (shares %s); "
                           "set data.language: %s or auto", source, setting, 100 * shares[majority], len(sample),
                           majority, shares, majority)
        return Detection(setting, "data.language", shares)
    if shares and shares[majority] < MIXED_WARNING_SHARE:
        logger.warning("%s: mixed languages %s over %d sampled documents; tokenizing all as the majority, %s "
                       "(set data.language to choose another)", source, shares, len(sample), majority)
    how = (f"auto: majority of {len(sample)} sampled documents by Unicode script proportions, Latin script "
           "by stopword hit rates")
    return Detection(majority, how, shares)

