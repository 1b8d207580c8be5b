"""The query record every backend writes to `queries.jsonl`."""

from __future__ import annotations

from typing import Any


def query_record(chunk: dict[str, Any], n: int, text: str, qtype: str, backend: str) -> dict[str, Any]:
    """Query `n` of `chunk`: its id is `<chunk id>/q<n>`, stable while the chunk and the seed are."""
    return {"id": f"{chunk['id']}/q{n}", "chunk_id": chunk["id"], "doc_id": chunk["doc_id"],
            "text": text, "type": qtype, "backend": backend}
