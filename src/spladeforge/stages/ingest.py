"""ingest: read `data.source` into `documents.jsonl` (id, title, text, source).

Sources: `python-stdlib-docs` (the embedded default), a folder searched recursively for
.txt/.md/.jsonl files, or a single JSONL file such as a BEIR `corpus.jsonl`. Every text gets
the same normalization (Unicode NFC, whitespace, optional lowercasing) so that training and
inference see text the same way. Exact duplicates are dropped and counted.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from spladeforge.config import DataConfig
from spladeforge.data.stdlib_docs import iter_stdlib_documents
from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl, write_jsonl

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
JSONL_SUFFIXES = {".jsonl"}
ACCEPTED = "python-stdlib-docs, a folder of .txt/.md/.jsonl files, or a .jsonl file (e.g. BEIR corpus.jsonl)"


def normalize(text: str, lowercase: bool = False) -> str:
    """Unicode NFC, spaces and tabs collapsed, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t\f\v\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text.lower() if lowercase else text


class _Reader:
    """Reads one source, applying `data.on_error` to files that cannot be parsed."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.errors: list[str] = []
        self.skipped_suffixes: Counter[str] = Counter()

    def fail_or_skip(self, message: str) -> None:
        if self.cfg.on_error == "fail":
            raise InputError(message + " (set data.on_error: skip to skip such files)")
        self.errors.append(message)

    def read_text_file(self, path: Path, root: Path) -> Iterator[dict[str, Any]]:
        raw = path.read_bytes()
        if b"\x00" in raw[:8192]:
            self.fail_or_skip(f"{path}: binary data in a text file")
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.fail_or_skip(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})")
            return
        heading = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
        title = heading.group(1).strip() if heading else path.stem.replace("_", " ")
        rel = path.relative_to(root).as_posix()
        yield {"id": rel, "title": title, "text": text, "source": rel}

    def read_jsonl_file(self, path: Path) -> Iterator[dict[str, Any]]:
        cfg = self.cfg
        docs = []  # the whole file first: a file that fails half-way contributes nothing
        try:
            for lineno, record in iter_jsonl(path, required=(cfg.text_field,), numbered=True):
                doc_id = record.get(cfg.id_field, record.get("id"))
                if doc_id is None:
                    raise InputError(f"{path}:{lineno}: missing field {cfg.id_field} "
                                     f"(data.id_field names the id field)")
                docs.append({"id": str(doc_id), "title": str(record.get(cfg.title_field) or ""),
                             "text": str(record[cfg.text_field]), "source": f"{path}:{lineno}"})
        except InputError as exc:
            self.fail_or_skip(str(exc))
            return
        yield from docs

    def documents(self, source: str) -> Iterator[dict[str, Any]]:
        if source == "python-stdlib-docs":
            yield from iter_stdlib_documents()
            return
        path = Path(source).expanduser()
        if not path.exists():
            raise InputError(f"data.source: {source} does not exist (accepted: {ACCEPTED})")
        if path.is_file():
            if path.suffix not in JSONL_SUFFIXES:
                raise InputError(f"data.source: {source} is a file but not .jsonl (accepted: {ACCEPTED})")
            yield from self.read_jsonl_file(path)
            return
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            if any(part.startswith(".") for part in file.relative_to(path).parts):
                continue
            if file.suffix in TEXT_SUFFIXES:
                yield from self.read_text_file(file, path)
            elif file.suffix in JSONL_SUFFIXES:
                yield from self.read_jsonl_file(file)
            else:
                self.skipped_suffixes[file.suffix or "(none)"] += 1


def run(cfg: DataConfig, output: Path) -> dict[str, Any]:
    """Read the source, normalize, drop duplicates and short texts, write `output` atomically."""
    reader = _Reader(cfg)
    seen_ids: dict[str, str] = {}
    seen_text: set[str] = set()
    docs: list[dict[str, Any]] = []
    dropped = Counter()
    for doc in tqdm(reader.documents(cfg.source), desc="ingest", unit=" docs"):
        if doc["id"] in seen_ids:
            raise InputError(f"{doc['source']}: duplicate document id {doc['id']!r} "
                             f"(first seen at {seen_ids[doc['id']]}); ids must be unique")
        seen_ids[doc["id"]] = doc["source"]
        if len(doc["text"]) > cfg.max_document_chars:
            reader.fail_or_skip(f"{doc['source']}: document {doc['id']!r} has {len(doc['text']):,} "
                                f"characters, over data.max_document_chars={cfg.max_document_chars:,}")
            dropped["too_long"] += 1
            continue
        doc["text"] = normalize(doc["text"], cfg.lowercase)
        doc["title"] = normalize(doc["title"], cfg.lowercase)
        if len(doc["text"]) < cfg.min_chars:
            dropped["too_short"] += 1
            continue
        digest = hashlib.sha1(doc["text"].encode()).hexdigest()
        if digest in seen_text:
            dropped["duplicate_text"] += 1
            continue
        seen_text.add(digest)
        docs.append(doc)
    if not docs:
        raise InputError(f"data.source: {cfg.source}: no usable documents (need text of at least "
                         f"data.min_chars={cfg.min_chars} characters; accepted: {ACCEPTED})")
    if cfg.max_documents is not None and len(docs) > cfg.max_documents:
        # A hash order is a stable sample across the whole source, not its alphabetical head.
        docs = sorted(docs, key=lambda d: hashlib.sha1(d["id"].encode()).hexdigest())[: cfg.max_documents]
        dropped["over_max_documents"] = len(seen_text) - len(docs)
        docs.sort(key=lambda d: d["id"])
    written = write_jsonl(output, docs)
    return {
        "documents": written,
        "characters": sum(len(d["text"]) for d in docs),
        "dropped": dict(dropped),
        "skipped_files": len(reader.errors),
        "skipped_by_suffix": dict(reader.skipped_suffixes),
        "output": str(output),
    }
