"""Overlapping character windows that end at natural boundaries.

Windows of `size` characters (500-2000 with 10-20% overlap works well: too small loses context,
too large dilutes relevance). A window ends at the last paragraph break in its second half, else
the last sentence end, else the last space; the next one starts `overlap` characters earlier,
moved forward to a word start. A tail shorter than `min_chars` joins the window before it.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?:;][)\"']?\s")


def _cut(text: str, start: int, limit: int) -> int:
    """Best end in (start, limit]: paragraph, then sentence, then word boundary in the 2nd half."""
    floor = start + (limit - start) // 2
    window = text[floor:limit]
    para = window.rfind("\n\n")
    if para >= 0:
        return floor + para
    sentences = list(_SENTENCE_END.finditer(window))
    if sentences:
        return floor + sentences[-1].end() - 1
    space = max(window.rfind(" "), window.rfind("\n"))
    return floor + space if space >= 0 else limit


def spans(text: str, size: int, overlap: int, min_chars: int) -> list[tuple[int, int]]:
    """Character spans [start, end) covering `text` with the configured size and overlap."""
    out: list[tuple[int, int]] = []
    start, n = 0, len(text)
    while start < n:
        end = n if n - start <= size else _cut(text, start, start + size)
        out.append((start, end))
        if end >= n:
            break
        nxt = end - overlap
        while nxt < end and not (text[nxt - 1].isspace() and not text[nxt].isspace()):
            nxt += 1  # start on a word, never in the middle of one
        start = nxt if nxt < end else end
        while start < n and text[start].isspace():
            start += 1
    if len(out) > 1 and out[-1][1] - out[-1][0] < min_chars:
        tail = out.pop()
        out[-1] = (out[-1][0], tail[1])  # a short tail joins its predecessor
    return out
