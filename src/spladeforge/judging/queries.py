"""Real queries to judge: a text file (one query per line) or a JSONL query log.

A search team's own queries are what the judgments must reflect, so they come from what users
typed: a `.txt` file, or a log with one JSON object per line holding the query under one of
`QUERY_FIELDS`. Blank lines and repeats (by the judgments folder's normalization) are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from spladeforge.errors import InputError
from spladeforge.judging.storage import query_id

QUERY_FIELDS = ("query", "text")
LOG_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass(frozen=True)
class QueryFile:
    """The queries of one file and the `source` the judgments folder records for them."""

    queries: tuple[str, ...]
    source: str


def read_queries(path: str | Path) -> QueryFile:
    """Queries of a .txt file (one per line) or a JSONL log (`query` or `text` field), in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: queries file not found (judge.queries: a .txt file with one query per line, "
                         "or a JSONL query log with a 'query' or 'text' field)")
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                         "save the queries file as UTF-8") from None
    is_log = path.suffix.lower() in LOG_SUFFIXES
    texts, seen = [], set()
    for lineno, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        text = _logged_query(line, f"{path}:{lineno}") if is_log else line.strip()
        if text is None or query_id(text) in seen:
            continue
        seen.add(query_id(text))
        texts.append(" ".join(text.split()))
    if not texts:
        kind = "JSON lines with a 'query' or 'text' field" if is_log else "lines of query text"
        raise InputError(f"{path}: no queries (the file is empty; expected {kind})")
    return QueryFile(tuple(texts), f"{'log' if is_log else 'file'}:{path.name}")


def _logged_query(line: str, where: str) -> str | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not a JSON object ({exc.msg}); a query log has one JSON object per line "
                         f"with the query in {' or '.join(repr(f) for f in QUERY_FIELDS)} (a .txt file is read "
                         "as one query per line)") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object per line")
    for field in QUERY_FIELDS:
        if field in record:
            value = record[field]
            if not isinstance(value, str):
                raise InputError(f"{where}: {field!r} must be a string (got {type(value).__name__})")
            return value if value.strip() else None
    raise InputError(f"{where}: no query field (accepted: {', '.join(repr(f) for f in QUERY_FIELDS)}; "
                     f"the line has {', '.join(repr(k) for k in record) or 'no fields'})")
