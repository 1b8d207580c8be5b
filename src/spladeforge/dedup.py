"""Near-duplicate detection: word-shingle Jaccard, candidates from MinHash LSH, checked exactly.

Used by `ingest` (drop a document that nearly repeats an earlier one) and `split` (a validation
chunk that nearly repeats a training chunk leaks its content into training). Broder (1997)
MinHash over hashed word w-grams; locality-sensitive hashing with 16 bands of 4 rows proposes
candidate pairs (a pair with Jaccard 0.8 is proposed with probability > 0.99), and each
candidate's exact Jaccard over the shingle sets decides, so the result does not depend on
hash luck beyond the candidate step and is deterministic across processes.

A text without word tokens (emoji, symbols) has no shingles: it is never a near-duplicate of
anything (the Jaccard of two empty sets is taken as 0, not 1, which made all such texts
duplicates of each other); exact duplicates are the callers' exact-text check.

Written here rather than taken from `datasketch`: that library hashes shingle by shingle in
Python, and the exact check and per-process-stable word hashes below are a few numpy lines.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Hashable

import numpy as np

_WORD = re.compile(r"\w+")
_BANDS, _ROWS = 16, 4
_PERMS = _BANDS * _ROWS
_WORD_HASHES: dict[str, int] = {}  # crc32 per word, cached: hashing dominated the run time
_MIX = np.uint64(0x9E3779B97F4A7C15)
_rng = np.random.default_rng(20240601)  # fixed: signatures must match across runs
_A = _rng.integers(1, 2**63, size=(_PERMS, 1), dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, size=(_PERMS, 1), dtype=np.uint64)


def shingles(text: str, words: int = 5) -> np.ndarray:
    """Sorted unique 64-bit hashes of the lower-cased word `words`-grams of `text`."""
    tokens = _WORD.findall(text.lower())
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    cache = _WORD_HASHES
    if len(cache) > 2_000_000:
        cache.clear()
    for t in set(tokens).difference(cache):
        cache[t] = zlib.crc32(t.encode())
    hashes = np.array([cache[t] for t in tokens], dtype=np.uint64)
    w = min(words, len(tokens))
    grams = hashes[: len(tokens) - w + 1].copy()
    with np.errstate(over="ignore"):
        for j in range(1, w):  # polynomial rolling hash; uint64 wrap-around is intended
            grams = grams * _MIX + hashes[j: len(tokens) - w + 1 + j]
    return np.unique(grams)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a & b| / |a | b| of two shingle sets; 0.0 when either is empty (no words to compare)."""
    if not len(a) or not len(b):
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def _signature(grams: np.ndarray) -> np.ndarray:
    if not len(grams):
        return np.zeros(_PERMS, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return (grams[None, :] * _A + _B).min(axis=1)


class NearDuplicateIndex:
    """Texts added under a key; `match(text)` names an added text with Jaccard >= threshold."""

    def __init__(self, threshold: float, shingle_words: int = 5) -> None:
        self.threshold = threshold
        self.shingle_words = shingle_words
        self._grams: dict[Hashable, np.ndarray] = {}
        self._buckets: dict[tuple[int, bytes], list[Hashable]] = defaultdict(list)

    def _bands(self, grams: np.ndarray) -> list[tuple[int, bytes]]:
        if not len(grams):
            return []  # no shingles: neither a candidate nor a match for anything
        sig = _signature(grams)
        return [(b, sig[b * _ROWS:(b + 1) * _ROWS].tobytes()) for b in range(_BANDS)]

    def match(self, text: str) -> tuple[Hashable, float] | None:
        """The added key whose text is most similar to `text` at or above the threshold."""
        grams = shingles(text, self.shingle_words)
        return self._match(grams, self._bands(grams))

    def add(self, key: Hashable, text: str) -> None:
        grams = shingles(text, self.shingle_words)
        self._add(key, grams, self._bands(grams))

    def add_unless_duplicate(self, key: Hashable, text: str) -> tuple[Hashable, float] | None:
        """Add `text` unless it nearly duplicates an added one; return that one if so."""
        grams = shingles(text, self.shingle_words)
        bands = self._bands(grams)
        hit = self._match(grams, bands)
        if hit is None:
            self._add(key, grams, bands)
        return hit

    def _match(self, grams: np.ndarray, bands: list[tuple[int, bytes]]) -> tuple[Hashable, float] | None:
        seen: set[Hashable] = set()
        best = None
        for band in bands:
            for key in self._buckets.get(band, ()):
                if key in seen:
                    continue
                seen.add(key)
                score = jaccard(grams, self._grams[key])
                if score >= self.threshold and (best is None or score > best[1]):
                    best = (key, score)
        return best

    def _add(self, key: Hashable, grams: np.ndarray, bands: list[tuple[int, bytes]]) -> None:
        self._grams[key] = grams
        for band in bands:
            self._buckets[band].append(key)
