"""ingest: read `data.source` into `documents.jsonl` (id, title, text, source).

Sources: `python-stdlib-docs` (the embedded default), a folder searched recursively for
.txt/.md/.html/.pdf/.jsonl files, or a single JSONL file such as a BEIR `corpus.jsonl`. Every
text gets the same normalization (Unicode NFC, whitespace, optional lowercasing) so that
training and inference see text the same way; it is recorded in `<output stem>.meta.json`
(`documents.meta.json`) for the model to carry. Exact duplicates and near-duplicates (word
shingle Jaccard >= `data.near_duplicate_threshold`, see `spladeforge.dedup`) are dropped and
counted; the first in source order is kept.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from spladeforge.config import DataConfig
from spladeforge.data.formats import html_to_text, pdf_to_text
from spladeforge.data.stdlib_docs import iter_stdlib_documents
from spladeforge.dedup import NearDuplicateIndex
from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl, write_json, write_jsonl

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
JSONL_SUFFIXES = {".jsonl"}
ACCEPTED = ("python-stdlib-docs, a folder of .txt/.md/.html/.pdf/.jsonl files, or a .jsonl file "
            "(e.g. BEIR corpus.jsonl)")
NORMALIZATION = {"unicode": "NFC", "newlines": "CRLF and CR -> LF",
                 "whitespace": "runs of spaces/tabs/NBSP -> one space; spaces around newlines removed; "
                               "at most one blank line; stripped"}


def meta_path(output: Path) -> Path:
    """`documents.jsonl` -> `documents.meta.json`: the normalization record beside it."""
    return output.with_name(output.name.split(".")[0] + ".meta.json")


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

    def _decode(self, path: Path) -> str | None:
        raw = path.read_bytes()
        if b"\x00" in raw[:8192]:
            self.fail_or_skip(f"{path}: binary data in a text file")
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.fail_or_skip(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})")
            return None

    @staticmethod
    def _document(path: Path, root: Path, text: str, title: str = "") -> dict[str, Any]:
        heading = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
        title = title or (heading.group(1).strip() if heading else path.stem.replace("_", " "))
        rel = path.relative_to(root).as_posix()
        return {"id": rel, "title": title, "text": text, "source": rel}

    def read_text_file(self, path: Path, root: Path) -> Iterator[dict[str, Any]]:
        text = self._decode(path)
        if text is not None:
            yield self._document(path, root, text)

    def read_html_file(self, path: Path, root: Path) -> Iterator[dict[str, Any]]:
        html = self._decode(path)
        if html is None:
            return
        page_title, text = html_to_text(html)
        doc = self._document(path, root, text)
        if page_title and not re.search(r"^#\s", text, flags=re.MULTILINE):
            doc["title"] = page_title  # an <h1> wins over <title>, as a Markdown # heading does
        yield doc

    def read_pdf_file(self, path: Path, root: Path) -> Iterator[dict[str, Any]]:
        try:
            title, text = pdf_to_text(path)
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types for damaged files
            self.fail_or_skip(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})")
            return
        yield self._document(path, root, text, title)

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
            suffix = file.suffix.lower()
            if suffix in TEXT_SUFFIXES:
                yield from self.read_text_file(file, path)
            elif suffix in HTML_SUFFIXES:
                yield from self.read_html_file(file, path)
            elif suffix in PDF_SUFFIXES:
                yield from self.read_pdf_file(file, path)
            elif suffix in JSONL_SUFFIXES:
                yield from self.read_jsonl_file(file)
            else:
                self.skipped_suffixes[file.suffix or "(none)"] += 1


def run(cfg: DataConfig, output: Path) -> dict[str, Any]:
    """Read the source, normalize, drop duplicates and short texts, write `output` atomically."""
    if cfg.dvc_repo:
        from spladeforge.data.dvc_source import fetch

        with tempfile.TemporaryDirectory(prefix="spladeforge-dvc-") as tmp:
            local = Path(tmp) / Path(cfg.source).name
            version = fetch(cfg.dvc_repo, cfg.source, cfg.dvc_rev, cfg.dvc_remote_config, local)
            summary = _ingest(cfg.model_copy(update={"source": str(local)}), output, version)
        return {**summary, "data_commit": version["commit"]}
    return _ingest(cfg, output, None)


def _ingest(cfg: DataConfig, output: Path, version: dict[str, Any] | None) -> dict[str, Any]:
    reader = _Reader(cfg)
    seen_ids: dict[str, str] = {}
    seen_text: set[str] = set()
    near = (NearDuplicateIndex(cfg.near_duplicate_threshold, cfg.shingle_words)
            if cfg.near_duplicate_threshold is not None else None)
    near_examples: list[dict[str, Any]] = []
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
        if near is not None:
            hit = near.add_unless_duplicate(doc["id"], doc["text"])
            if hit is not None:
                dropped["near_duplicate"] += 1
                if len(near_examples) < 20:
                    near_examples.append({"dropped": doc["id"], "kept": hit[0], "jaccard": round(hit[1], 3)})
                continue
        docs.append(doc)
    if not docs:
        raise InputError(f"data.source: {cfg.source}: no usable documents (need text of at least "
                         f"data.min_chars={cfg.min_chars} characters; accepted: {ACCEPTED})")
    kept = len(docs)
    if cfg.max_documents is not None and len(docs) > cfg.max_documents:
        # A hash order is a stable sample across the whole source, not its alphabetical head.
        docs = sorted(docs, key=lambda d: hashlib.sha1(d["id"].encode()).hexdigest())[: cfg.max_documents]
        dropped["over_max_documents"] = kept - len(docs)
        docs.sort(key=lambda d: d["id"])
    written = write_jsonl(output, docs)
    meta = {"normalization": {**NORMALIZATION, "lowercase": cfg.lowercase},
            "near_duplicates": {"threshold": cfg.near_duplicate_threshold, "shingle_words": cfg.shingle_words,
                                "method": "word shingles, MinHash LSH candidates, exact Jaccard",
                                "dropped": dropped.get("near_duplicate", 0), "examples": near_examples},
            "source": cfg.source if version is None else version["path"], "data_version": version,
            "documents": written, "dropped": dict(dropped)}
    write_json(meta_path(Path(output)), meta)
    return {
        "documents": written,
        "characters": sum(len(d["text"]) for d in docs),
        "dropped": dict(dropped),
        "skipped_files": len(reader.errors),
        "skipped_by_suffix": dict(reader.skipped_suffixes),
        "output": str(output),
        "meta": str(meta_path(Path(output))),
    }
