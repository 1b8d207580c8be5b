"""The judgments folder: a BEIR folder (minus its corpus) of graded chunks, kept durable.

```
judgments/
  queries.jsonl        {"_id": "q-<12 hex>", "text", "source", "added"} in the order added
  qrels/test.tsv       the human grades, latest per (query, chunk): query-id, corpus-id, score
  machine/<judge>.tsv  the same per machine judge
  grades.jsonl         the append-only log, the source of truth
```

Every grade is one line appended to `grades.jsonl` (O_APPEND, fsync) under an exclusive
`flock` on `.lock`; the TSV files are then rewritten atomically from the whole log, so two
servers or two tabs writing at once both land. A kill can only tear the log's last line (each
line is one write ending in its newline): the next open cuts that partial line off with a
warning, and a TSV left one grade behind is rebuilt. Any other bad line, or a TSV that matches
neither the log nor the log without its last line, was edited by hand: an InputError says where.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spladeforge.errors import InputError
from spladeforge.io import atomic_output, iter_jsonl

logger = logging.getLogger(__name__)

GRADES = (0, 1, 2)
JUDGE_KINDS = ("human", "llm", "cross-encoder")
HEADER = "query-id\tcorpus-id\tscore\n"
_QUERY_ID = re.compile(r"^q-[0-9a-f]{12}$")


def query_id(text: str) -> str:
    """`q-` + the first 12 hex of sha1 of the query normalized: NFC, trimmed, case-folded, whitespace runs
    collapsed, so the same query typed twice is one query."""
    normal = " ".join(unicodedata.normalize("NFC", text).strip().casefold().split())
    return "q-" + hashlib.sha1(normal.encode("utf-8")).hexdigest()[:12]


def judge_label(judge: str) -> str:
    """A judge's name made filename-safe: `llm:Qwen2.5-7B-Instruct` -> `llm-qwen2-5-7b-instruct`."""
    return re.sub(r"[^a-z0-9]+", "-", judge.lower()).strip("-")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_judge(judge: Any, where: str) -> str:
    kind, _, name = judge.partition(":") if isinstance(judge, str) else ("", "", "")
    if kind not in JUDGE_KINDS or not name.strip():
        raise InputError(f"{where}: judge {judge!r} is not one of "
                         + ", ".join(f"'{k}:<name>'" for k in JUDGE_KINDS))
    return judge


@dataclass(frozen=True)
class LogEntry:
    """One line of grades.jsonl; `grade` None withdraws the judge's earlier grade of that chunk."""

    line: int
    time: str
    judge: str
    query_id: str
    chunk_id: str
    grade: int | None
    chunk_sha256: str | None
    systems: tuple[str, ...]

    @property
    def human(self) -> bool:
        return self.judge.startswith("human:")


def _entry(record: Any, line: int, where: str, queries: dict[str, str]) -> LogEntry:
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object per line")
    missing = [k for k in ("time", "judge", "query_id", "chunk_id", "grade") if k not in record]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)} "
                         "(each line needs time, judge, query_id, chunk_id, grade)")
    grade, systems = record["grade"], record.get("systems", [])
    if grade is not None and (isinstance(grade, bool) or grade not in GRADES):
        raise InputError(f"{where}: grade {grade!r} is not one of 0, 1, 2 or null (a withdrawn grade)")
    if record["query_id"] not in queries:
        raise InputError(f"{where}: query_id {record['query_id']!r} is not in queries.jsonl")
    if not isinstance(record["chunk_id"], str) or not record["chunk_id"]:
        raise InputError(f"{where}: chunk_id must be a non-empty string (got {record['chunk_id']!r})")
    if not isinstance(systems, list) or not all(isinstance(s, str) for s in systems):
        raise InputError(f"{where}: systems must be a list of system names (got {systems!r})")
    return LogEntry(line, str(record["time"]), _check_judge(record["judge"], where), record["query_id"],
                    record["chunk_id"], grade, record.get("chunk_sha256"), tuple(systems))


def latest(entries: Sequence[LogEntry], keep=lambda entry: True) -> dict[tuple[str, str], int]:
    """The latest standing grade per (query, chunk) among the judges `keep` accepts.

    A withdrawal removes only its own judge's grade: another judge's earlier grade then stands.
    """
    standing: dict[tuple[str, str, str], LogEntry] = {}
    for entry in entries:
        if keep(entry):
            key = (entry.judge, entry.query_id, entry.chunk_id)
            if entry.grade is None:
                standing.pop(key, None)
            else:
                standing.pop(key, None)
                standing[key] = entry  # re-inserted: dict order is log order of the standing grades
    out: dict[tuple[str, str], int] = {}
    for (_, qid, cid), entry in standing.items():
        out.pop((qid, cid), None)
        out[(qid, cid)] = entry.grade  # type: ignore[assignment]
    return out


class JudgmentStore:
    """Read and append the judgments folder; safe across processes (see the module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "qrels").mkdir(exist_ok=True)
        self.queries_path = self.folder / "queries.jsonl"
        self.log_path = self.folder / "grades.jsonl"
        self.qrels_path = self.folder / "qrels" / "test.tsv"
        with self._locked(fcntl.LOCK_EX):
            if not self.queries_path.exists():
                self._write_queries([])
            self.log_path.touch()
            entries = self._read_log(repair=True)
            self._check_derived(entries)
            self._write_derived(entries)

    # --- queries ---------------------------------------------------------------------------

    def add_query(self, text: str, source: str) -> str:
        """Add a query (idempotent: the same normalized text is the same query); return its id."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("a query must be non-empty text")
        qid = query_id(text)
        with self._locked(fcntl.LOCK_EX):
            records = self._read_queries()
            if all(r["_id"] != qid for r in records):
                records.append({"_id": qid, "text": " ".join(text.split()), "source": source, "added": _now()})
                self._write_queries(records)
        return qid

    def queries(self) -> dict[str, str]:
        """Query id -> text, in the order added."""
        with self._locked(fcntl.LOCK_SH):
            return {r["_id"]: r["text"] for r in self._read_queries()}

    # --- grades ----------------------------------------------------------------------------

    def record(self, query_id: str, chunk_id: str, grade: int | None, judge: str, *, chunk_text: str,
               systems: Sequence[str] = ()) -> None:
        """Append one grade (None withdraws this judge's grade of the chunk), fsynced, then rewrite the TSVs."""
        if grade is not None and (isinstance(grade, bool) or grade not in GRADES):
            raise InputError(f"grade {grade!r} is not one of 0, 1, 2 (or None to withdraw)")
        _check_judge(judge, "record")
        if not isinstance(chunk_id, str) or not chunk_id:
            raise InputError(f"chunk id must be a non-empty string (got {chunk_id!r})")
        line: dict[str, Any] = {"time": _now(), "judge": judge, "query_id": query_id, "chunk_id": chunk_id,
                                "grade": grade}
        if grade is not None:
            line["chunk_sha256"] = hashlib.sha256(chunk_text.encode("utf-8")).hexdigest()
            if systems:
                line["systems"] = sorted(set(systems))
        data = (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with self._locked(fcntl.LOCK_EX):
            if query_id not in {r["_id"] for r in self._read_queries()}:
                raise InputError(f"unknown query id {query_id!r} (not in {self.queries_path})")
            self._read_log(repair=True)  # a line torn by a killed writer must not swallow this one
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._write_derived(self._read_log(repair=False))

    def entries(self) -> list[LogEntry]:
        """Every line of the log, in order."""
        with self._locked(fcntl.LOCK_SH):
            return self._read_log(repair=False)

    def grades(self, judge: str | None = None, *, human: bool | None = None) -> dict[tuple[str, str], int]:
        """The latest standing grade per (query id, chunk id): of one judge, of the human (or machine) judges,
        or of everyone."""
        def keep(entry: LogEntry) -> bool:
            return (judge is None or entry.judge == judge) and (human is None or entry.human == human)
        return latest(self.entries(), keep)

    # --- files -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _read_queries(self) -> list[dict[str, Any]]:
        records, seen = [], set()
        for lineno, record in iter_jsonl(self.queries_path, ("_id", "text"), numbered=True):
            where = f"{self.queries_path}:{lineno}"
            if not isinstance(record["_id"], str) or not _QUERY_ID.match(record["_id"]):
                raise InputError(f"{where}: _id {record['_id']!r} is not of the form q-<12 hex digits>")
            if not isinstance(record["text"], str) or not record["text"].strip():
                raise InputError(f"{where}: text must be non-empty text")
            if record["_id"] in seen:
                raise InputError(f"{where}: _id {record['_id']!r} appears more than once")
            seen.add(record["_id"])
            records.append(record)
        return records

    def _write_queries(self, records: list[dict[str, Any]]) -> None:
        with atomic_output(self.queries_path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _read_log(self, *, repair: bool) -> list[LogEntry]:
        raw = self.log_path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\n") + 1
            tail = raw[cut:]
            try:
                json.loads(tail.decode("utf-8"))
                complete = True
            except ValueError:
                complete = False
            if repair:
                with open(self.log_path, "r+b") as fh:
                    if complete:  # a whole line whose newline a text editor left off
                        fh.seek(0, os.SEEK_END)
                        fh.write(b"\n")
                    else:
                        fh.truncate(cut)
                    fh.flush()
                    os.fsync(fh.fileno())
                if not complete:
                    logger.warning("%s: removed a partial last line (a write interrupted by a kill): %r",
                                   self.log_path, tail[:120])
            raw = raw if complete else raw[:cut]
        queries = {r["_id"]: r["text"] for r in self._read_queries()}
        entries = []
        for lineno, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            where = f"{self.log_path}:{lineno}"
            try:
                record = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise InputError(f"{where}: not valid UTF-8 ({exc.reason})") from None
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: malformed JSON ({exc.msg}); each line is one grade "
                                 '{"time", "judge", "query_id", "chunk_id", "grade": 0|1|2|null}') from None
            entries.append(_entry(record, lineno, where, queries))
        return entries

    def _derived(self, entries: Sequence[LogEntry]) -> dict[Path, str]:
        """Each TSV's text as the log implies: the humans' qrels and one file per machine judge."""
        order = {qid: i for i, qid in enumerate(r["_id"] for r in self._read_queries())}

        def tsv(grades: dict[tuple[str, str], int]) -> str:
            rows = sorted(grades.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0][1]))
            return HEADER + "".join(f"{q}\t{c}\t{g}\n" for (q, c), g in rows)

        files = {self.qrels_path: tsv(latest(entries, lambda e: e.human))}
        for judge in dict.fromkeys(e.judge for e in entries if not e.human):
            path = self.folder / "machine" / f"{judge_label(judge)}.tsv"
            files[path] = tsv(latest(entries, lambda e, j=judge: e.judge == j))
        return files

    def _check_derived(self, entries: list[LogEntry]) -> None:
        """A TSV must be what the log says, or one grade behind it (a kill between append and rewrite)."""
        now, before = self._derived(entries), self._derived(entries[:-1])
        for path, text in now.items():
            if not path.exists() or path.stat().st_size == 0:
                continue
            on_disk = path.read_text(encoding="utf-8", errors="replace")
            if on_disk not in (text, before.get(path, HEADER)):
                mine, theirs = text.splitlines(), on_disk.splitlines()
                line = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False), 1) if a != b),
                            min(len(mine), len(theirs)) + 1)
                raise InputError(
                    f"{path}:{line}: differs from {self.log_path}, the log it is derived from (edited by hand?). "
                    "Grades are changed by appending to the log (the judge page or `spladeforge judge`); "
                    f"undo the edit, or move {path.name} away to rebuild it from the log")

    def _write_derived(self, entries: list[LogEntry]) -> None:
        for path, text in self._derived(entries).items():
            if path.exists() and path.read_text(encoding="utf-8", errors="replace") == text:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
