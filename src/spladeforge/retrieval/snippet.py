"""A short excerpt of a chunk around the words that matched the query.

The window (about 200 characters) is the one holding the most distinct query words, matched
case-insensitively at word starts so that "compress" finds "compresses"; words of one or two
letters and stopwords (`text.STOPWORDS`) do not count. With no query word in the text (a dense
or expansion match), extra anchor words (the matching tokens of a sparse system) are tried, and
failing those the chunk's opening is shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from spladeforge.text import words

WIDTH = 200
# Where the first matched word sits in the window: a little context before it.
LEAD = 40
ELLIPSIS = "…"


def _positions(text: str, terms: Iterable[str]) -> list[tuple[int, str]]:
    found = []
    for term in dict.fromkeys(t.lower() for t in terms if len(t) > 2):
        for match in re.finditer(r"(?<![A-Za-z0-9_])" + re.escape(term), text, flags=re.IGNORECASE):
            found.append((match.start(), term))
    return sorted(found)


def _best_window(text: str, found: list[tuple[int, str]], width: int) -> int:
    """Start of the `width` window covering the most distinct terms (earliest on a tie)."""
    best_start, best_count = 0, -1
    for position, _ in found:
        start = max(0, position - LEAD)
        count = len({term for p, term in found if start <= p < start + width})
        if count > best_count:
            best_start, best_count = start, count
    return best_start


def snippet(text: str, query: str, anchors: Iterable[str] = (), width: int = WIDTH) -> str:
    """About `width` characters of `text` around the best-matching query words, whitespace collapsed."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    found = _positions(text, words(query)) or _positions(text, anchors)
    start = _best_window(text, found, width) if found else 0
    end = min(len(text), start + width)
    start = max(0, end - width)
    if start > 0:  # begin at a word
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    if end < len(text):  # end at a word
        space = text.rfind(" ", start, end)
        end = space if space > end - 20 else end
    return (ELLIPSIS if start > 0 else "") + text[start:end].strip() + (ELLIPSIS if end < len(text) else "")
