"""The chunk corpus a search runs over: `data/chunks.jsonl` as the chunk stage writes it.

Each line holds `id`, `doc_id`, `title`, `section`, `text` (and `start`); a model sees a chunk as
its title then its text (`text.passage`), as training and evaluation do. The file's sha256 keys
the index cache, so an edited corpus is encoded again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl, sha256_file
from spladeforge.text import passage


@dataclass(frozen=True)
class Chunks:
    """The chunks of one file, in file order."""

    path: Path
    records: tuple[dict[str, Any], ...]

    @property
    def ids(self) -> list[str]:
        return [record["id"] for record in self.records]

    @cached_property
    def rows(self) -> dict[str, int]:
        """Chunk id -> its row in the index."""
        return {record["id"]: row for row, record in enumerate(self.records)}

    @cached_property
    def sha256(self) -> str:
        return sha256_file(self.path)

    def passages(self) -> list[str]:
        """What a model encodes for each chunk: title, then text."""
        return [passage(record) for record in self.records]

    def get(self, chunk_id: str) -> dict[str, Any]:
        return self.records[self.rows[chunk_id]]

    def __len__(self) -> int:
        return len(self.records)


def load_chunks(path: str | Path) -> Chunks:
    """Read a chunks.jsonl; InputError naming the file (and line) when it cannot be searched."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: chunks file not found (the chunk stage writes data/chunks.jsonl: run "
                         "`dvc repro chunk`, or pass --chunks)")
    records, seen = [], set()
    for lineno, record in iter_jsonl(path, required=("id", "text"), numbered=True):
        chunk_id = record["id"]
        if not isinstance(chunk_id, str) or not chunk_id:
            raise InputError(f"{path}:{lineno}: id must be a non-empty string, got {chunk_id!r}")
        if not isinstance(record["text"], str):
            raise InputError(f"{path}:{lineno}: text must be a string")
        if chunk_id in seen:
            raise InputError(f"{path}:{lineno}: duplicate chunk id {chunk_id!r}")
        seen.add(chunk_id)
        records.append(record)
    if not records:
        raise InputError(f"{path}: no chunks (the file is empty)")
    return Chunks(path, tuple(records))
