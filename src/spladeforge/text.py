"""Small text helpers shared by query generation, splitting and mining."""

from __future__ import annotations

import hashlib
import re

# bm25s' English list plus the words docstrings are full of that say nothing about a topic.
STOPWORDS = frozenset("""
a an and are as at be but by for if in into is it no not of on or such that the their then there
these they this to was will with we you your can may must should would could has have had do does
did been being its also than which who whom what when where why how all any each other some more
most only own same so too very just over under again further once here both few between through
during before after above below up down out off from about against because while until nor i me my
our ours he him his she her hers them those am were get gets use used using returns return value
default none true false object objects self cls args kwargs arg argument arguments type optional
one two new given see note e g ie eg etc via per
""".split())

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{1,}")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])|\n\n")


def words(text: str) -> list[str]:
    """Lower-cased word tokens, stopwords removed."""
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOPWORDS]


def sentences(text: str) -> list[str]:
    """Sentences split at terminal punctuation or blank lines; headings dropped."""
    out = []
    for part in _SENTENCE.split(text):
        part = " ".join(part.split())
        if part and not part.startswith("#"):
            out.append(part)
    return out


def passage(chunk: dict) -> str:
    """The text a model sees for a chunk: its title, then its body (as BEIR/MTEB join them)."""
    title = chunk.get("title") or ""
    return f"{title} {chunk['text']}".strip()


def stable_hash(*parts: object) -> int:
    """A process-independent 64-bit hash (Python's hash() is salted per process)."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def stable_fraction(*parts: object) -> float:
    """A deterministic number in [0, 1) for the given parts."""
    return stable_hash(*parts) / 2**64
