"""The one text normalization every document gets, so that training and inference see text alike.

Unicode NFC, newlines unified, runs of spaces/tabs collapsed, at most one blank line between
paragraphs, optional lowercasing. `NORMALIZATION` describes it for `documents.meta.json`, which
the trained model carries so that its users normalize queries and documents the same way.
"""

from __future__ import annotations

import re
import unicodedata

NORMALIZATION = {"unicode": "NFC", "newlines": "CRLF and CR -> LF",
                 "whitespace": "runs of spaces/tabs/NBSP -> one space; spaces around newlines removed; "
                               "at most one blank line; stripped"}


def normalize(text: str, lowercase: bool = False) -> str:
    """Unicode NFC, spaces and tabs collapsed, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t\f\v\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text.lower() if lowercase else text
