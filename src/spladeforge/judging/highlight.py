"""Where a query's words occur in a passage, for the judge page to highlight.

Words match by their Snowball stem (the stemmer BM25 uses here, `retrieval.bm25`), so "decoding"
in a passage lights up for the query "decode"; stopwords are not highlighted.
"""

from __future__ import annotations

import re
from functools import lru_cache

from spladeforge.text import STOPWORDS

_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def stems(text: str) -> set[str]:
    """The stems of the query's non-stopword words."""
    words = [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOPWORDS]
    return set(_stemmer().stemWords(words))


def spans(text: str, query_stems: set[str]) -> list[tuple[int, int]]:
    """[start, end) character offsets of the words in `text` whose stem is one of the query's."""
    if not query_stems:
        return []
    matches = list(_WORD.finditer(text))
    word_stems = _stemmer().stemWords([m.group(0).lower() for m in matches])
    return [(m.start(), m.end()) for m, stem in zip(matches, word_stems, strict=True) if stem in query_stems]
