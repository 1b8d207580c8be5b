"""Documents out of `data.source`: the embedded stdlib docs, a folder of files, or one JSONL file.

A folder is searched recursively (hidden files and folders skipped, symlinked folders followed,
each folder read once however many links lead to it) for .txt/.md/.html/.pdf/.jsonl files; other
suffixes are counted, not read. A file that cannot be parsed (not UTF-8, binary data,
a damaged PDF, a bad JSONL line) stops the run naming it, or with `data.on_error: skip` is
skipped and recorded. A file's title is the PDF's title, else its first Markdown `#` heading
(an HTML `<h1>` becomes one), else the HTML `<title>`, else the file name; a JSONL record's is
its `data.title_field`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spladeforge.config import DataConfig
from spladeforge.data.formats import html_to_text, pdf_to_text
from spladeforge.data.stdlib_docs import iter_stdlib_documents
from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
JSONL_SUFFIXES = {".jsonl"}
ACCEPTED = ("python-stdlib-docs, a folder of .txt/.md/.html/.pdf/.jsonl files, or a .jsonl file "
            "(e.g. BEIR corpus.jsonl)")


def refuse_own_outputs(source: str, outputs: list[Path], project: Path | None = None) -> None:
    """InputError when `source` holds ingest's own outputs or the pipeline's output folders.

    Read from there, a second run would take its own documents.jsonl (or reports, models, the
    export's model card) for documents. `project` (default: the working directory) is where the
    other stages write `models/`, `reports/` and `export/`.
    """
    if source == "python-stdlib-docs":
        return
    root = Path(source).expanduser().resolve()
    project = (project or Path.cwd()).resolve()
    folders = [project / name for name in ("models", "reports", "export")]
    for out in [*outputs, *(f for f in folders if f.exists())]:
        out = Path(out).resolve()
        if out == root or root in out.parents or (out in folders and out in root.parents):
            raise InputError(f"data.source: {source} holds the pipeline's own output {out}: a rerun would read "
                             "it as documents; keep the documents in a folder of their own (e.g. docs/) and "
                             "point data.source there")


def _field(where: str, name: str, value: Any, accepted: str, also: type = str) -> str:
    """A JSONL field as text; a value of another type is an error (never its Python repr)."""
    if isinstance(value, str):
        return value
    if isinstance(value, also) and not isinstance(value, bool):
        return "" if value is None else str(value)
    shown = json.dumps(value, ensure_ascii=False)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    raise InputError(f"{where}: field {name} is {kind if value is None else f'{kind} {shown}'}, expected {accepted}")


_JSON_TYPES = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", list: "a list",
               dict: "an object"}


class SourceReader:
    """Reads one source, applying `data.on_error` to files that cannot be parsed."""

    def __init__(self, cfg: DataConfig) -> None:
        self.cfg = cfg
        self.errors: list[str] = []
        self.skipped_suffixes: Counter[str] = Counter()
        self.repeated_folders = 0  # symlinked folders not read again (see `files`)

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
            return raw.decode("utf-8-sig")  # a byte-order mark (Windows editors) is no text of the document
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
                where = f"{path}:{lineno}"
                doc_id = record.get(cfg.id_field, record.get("id"))
                if doc_id is None:
                    raise InputError(f"{where}: missing field {cfg.id_field} (data.id_field names the id field)")
                docs.append({"id": _field(where, cfg.id_field, doc_id, "a string or an integer", int),
                             "title": _field(where, cfg.title_field, record.get(cfg.title_field), "a string or null",
                                             type(None)),
                             "text": _field(where, cfg.text_field, record[cfg.text_field], "a string"),
                             "source": where})
        except InputError as exc:
            self.fail_or_skip(str(exc))
            return
        yield from docs

    def files(self, root: Path) -> list[Path]:
        """The files under `root`, sorted, hidden ones left out, symlinked folders followed.

        A folder reached a second time (a link back to an ancestor, a loop, or two links to one
        folder) is read once: the later links are counted in `repeated_folders` and logged.
        """
        seen: set[tuple[int, int]] = set()
        found: list[Path] = []
        for folder, dirs, names in os.walk(root, followlinks=True):
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen:
                logger.warning("data.source: %s is a folder already read (a symlink loop or a second link to it): "
                               "read once", folder)
                self.repeated_folders += 1
                dirs[:] = []
                continue
            seen.add((st.st_dev, st.st_ino))
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [Path(folder) / name for name in names
                      if not name.startswith(".") and (Path(folder) / name).is_file()]
        return sorted(found)

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
        for file in self.files(path):
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
