"""A tiny chunk corpus and fake systems for the judging tests (the real BM25 runs beside them)."""

from __future__ import annotations

import json
from pathlib import Path

from spladeforge.retrieval.searchers import Hit

CHUNKS = [
    ("json-0", "json", "Decoding JSON", "json.loads decodes a JSON document held in a string into Python objects."),
    ("json-1", "json", "Encoding JSON", "json.dumps encodes Python objects as a JSON formatted string."),
    ("csv-0", "csv", "Reading CSV files", "csv.reader reads rows from a CSV file, splitting each line on commas."),
    ("csv-1", "csv", "Writing CSV files", "csv.writer writes rows of values to a file in CSV format."),
    ("gzip-0", "gzip", "Compressed files", "gzip.open opens a gzip-compressed file in binary or text mode."),
    ("sqlite-0", "sqlite3", "Databases", "sqlite3.connect opens a connection to an SQLite database file."),
    ("socket-0", "socket", "Sockets", "socket.create_connection connects to a TCP service listening on an address."),
    ("random-0", "random", "Random numbers", "random.shuffle shuffles a sequence in place."),
]


def write_chunks(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for chunk_id, doc, title, text in CHUNKS:
            fh.write(json.dumps({"id": chunk_id, "doc_id": doc, "title": title, "section": "", "text": text,
                                 "start": 0}) + "\n")
    return path


class FixedSearcher:
    """A system whose ranking is given: what a model would return, without loading one."""

    def __init__(self, name: str, ranking: list[str]) -> None:
        self.name, self.ranking = name, ranking

    def search(self, query: str, k: int = 10) -> list[Hit]:
        return [Hit(chunk_id, 1.0 / (rank + 1), rank + 1) for rank, chunk_id in enumerate(self.ranking[:k])]
