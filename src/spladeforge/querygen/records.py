"""The query record every backend writes to `queries.jsonl`."""

from __future__ import annotations

from typing import Any


def query_record(chunk: dict[str, Any], n: int, text: str, qtype: str, backend: str,
                 positive: str | None = None) -> dict[str, Any]:
    """Query `n` of `chunk`: its id is `<chunk id>/q<n>`, stable while the chunk and the seed are.

    `positive`: the passage the query trains against when it is not the chunk's own (a title
    query's body without the title, an inverse-cloze sentence's passage without the sentence).
    """
    record = {"id": f"{chunk['id']}/q{n}", "chunk_id": chunk["id"], "doc_id": chunk["doc_id"],
              "text": text, "type": qtype, "backend": backend}
    if positive is not None:
        record["positive"] = positive
    return record
