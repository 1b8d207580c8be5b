"""Load and validate a BEIR-layout folder: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.

Every problem a user can cause (a missing file, an empty corpus, a qrels line naming a document
or query that does not exist) raises `InputError` naming the file and, where there is one, the
line. Queries without a judged-relevant document (no qrels line with score > 0) cannot be
scored: they are set aside and counted, never averaged in as zeros.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl, sha256_file, write_jsonl

LAYOUT = "corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/{split}.tsv"


@dataclass(frozen=True)
class BeirData:
    """A validated BEIR folder, reduced to the queries that can be scored."""

    folder: Path
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text)
    queries: dict[str, str]  # judged query id -> text
    qrels: dict[str, dict[str, int]]  # judged query id -> {doc id: grade}
    unjudged_query_ids: tuple[str, ...] = ()
    fingerprint: str = field(default="", compare=False)

    def content_sha256(self) -> str:
        """The hash of what a figure on this data is measured on: queries, qrels and corpus.

        Taken over the content (sorted, as JSON), not the files: two folders with the same data
        hash alike, and a subsample hashes as the queries it kept. Two figures compare like with
        like only when their hashes are equal.
        """
        digest = hashlib.sha256()
        for part in (self.queries, self.qrels, self.corpus):
            digest.update(json.dumps(part, sort_keys=True, ensure_ascii=False).encode())
            digest.update(b"\x1e")
        return digest.hexdigest()

    def subsample(self, max_queries: int | None) -> BeirData:
        """Keep at most `max_queries` judged queries, chosen by a hash of their id.

        Hashing the id (not drawing from a seeded RNG over the list) makes the choice independent
        of file order, and a query stays selected when others are added to the file.
        """
        if max_queries is None or len(self.queries) <= max_queries:
            return self
        keep = sorted(self.queries, key=lambda qid: hashlib.sha1(qid.encode()).hexdigest())[:max_queries]
        keep_set = set(keep)
        return replace(
            self,
            queries={qid: text for qid, text in self.queries.items() if qid in keep_set},
            qrels={qid: rels for qid, rels in self.qrels.items() if qid in keep_set},
        )


def load_beir(folder: str | Path, split: str = "test") -> BeirData:
    """Read and check a BEIR folder; raise InputError naming the file (and line) at fault."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: BEIR folder not found (expected {LAYOUT.format(split=split)})")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not path.is_file():
            raise InputError(f"{path}: file not found (a BEIR folder holds {LAYOUT.format(split=split)})")

    corpus = {
        doc_id: (str(record.get("title") or ""), text)
        for doc_id, text, record in _read_records(folder / "corpus.jsonl", "document")
    }
    all_queries = {qid: text for qid, text, _ in _read_records(folder / "queries.jsonl", "query")}
    qrels = _read_qrels(qrels_path, all_queries, corpus, folder)

    judged = {qid for qid, rels in qrels.items() if any(grade > 0 for grade in rels.values())}
    if not judged:
        raise InputError(f"{qrels_path}: no query has a judged-relevant document (a line with score > 0)")
    return BeirData(
        folder=folder,
        corpus=corpus,
        queries={qid: text for qid, text in all_queries.items() if qid in judged},
        qrels={qid: rels for qid, rels in qrels.items() if qid in judged},
        unjudged_query_ids=tuple(qid for qid in all_queries if qid not in judged),
        fingerprint=_fingerprint(folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path),
    )


def _read_records(path: Path, kind: str) -> list[tuple[str, str, dict]]:
    records, seen = [], set()
    for record in iter_jsonl(path, required=("_id", "text")):
        item_id, text = record["_id"], record["text"]
        if not isinstance(item_id, str | int) or isinstance(item_id, bool):
            raise InputError(f"{path}: {kind} _id {item_id!r} must be a string or an integer")
        item_id = str(item_id)
        if not isinstance(text, str):
            raise InputError(f"{path}: {kind} {item_id!r} has a non-string text ({type(text).__name__})")
        if item_id in seen:
            raise InputError(f"{path}: {kind} _id {item_id!r} appears more than once")
        seen.add(item_id)
        records.append((item_id, text, record))
    if not records:
        raise InputError(f"{path}: no {kind} found (expected one JSON object per line with _id and text)")
    return records


def _read_qrels(
    path: Path, queries: dict[str, str], corpus: dict[str, tuple[str, str]], folder: Path
) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for lineno, qid, doc_id, grade in _qrels_lines(path):
        if qid not in queries:
            raise InputError(f"{path}:{lineno}: query-id {qid!r} is not in {folder / 'queries.jsonl'}")
        if doc_id not in corpus:
            raise InputError(f"{path}:{lineno}: corpus-id {doc_id!r} is not in {folder / 'corpus.jsonl'}")
        qrels.setdefault(qid, {})[doc_id] = grade
    if not qrels:
        raise InputError(f"{path}: no judgments found (expected lines: query-id<TAB>corpus-id<TAB>score)")
    return qrels


def _qrels_lines(path: Path) -> Iterator[tuple[int, str, str, int]]:
    """Yield (line number, query id, doc id, grade), skipping blank lines and the header."""
    first = True
    try:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                is_first, first = first, False
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 3:
                    fields = line.split()
                if len(fields) != 3:
                    raise InputError(f"{path}:{lineno}: expected 3 tab-separated columns "
                                     f"(query-id, corpus-id, score), got {len(fields)}")
                qid, doc_id, score = (f.strip() for f in fields)
                try:
                    grade = int(score)
                except ValueError:
                    if is_first:  # the header: query-id, corpus-id, score
                        continue
                    raise InputError(f"{path}:{lineno}: score {score!r} is not an integer grade") from None
                yield lineno, qid, doc_id, grade
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def _fingerprint(*paths: Path) -> str:
    """A short content hash, recorded as the task's dataset revision in MTEB's result files."""
    digest = hashlib.sha256("".join(sha256_file(p) for p in paths).encode()).hexdigest()
    return digest[:12]


def write_beir(folder: str | Path, corpus: Mapping[str, tuple[str, str]], queries: Mapping[str, str],
               qrels: Mapping[str, Mapping[str, int]], split: str = "test") -> None:
    """Write a BEIR folder that `load_beir` reads: the same shapes as `BeirData`'s fields, in order."""
    folder = Path(folder)
    write_jsonl(folder / "corpus.jsonl", ({"_id": doc_id, "title": title, "text": text}
                                          for doc_id, (title, text) in corpus.items()))
    write_jsonl(folder / "queries.jsonl", ({"_id": qid, "text": text} for qid, text in queries.items()))
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, rels in qrels.items():
            for doc_id, grade in rels.items():
                bad = [str(i) for i in (qid, doc_id) if any(c in str(i) for c in "\t\n\r")]
                if bad:  # ingest refuses such ids; a TSV line holding one would split in the wrong place
                    raise InputError(f"{folder}: id {bad[0][:80]!r} holds a TAB or newline, which a qrels TSV "
                                     "line cannot; rerun ingest, which refuses such ids")
                fh.write(f"{qid}\t{doc_id}\t{grade}\n")
