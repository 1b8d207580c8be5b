"""The team's judgments folder (`evaluate.judgments`) as an evaluation task over the chunk corpus.

The folder is a BEIR folder minus its corpus: `queries.jsonl`, `qrels/test.tsv` (the human grades,
0 / 1 / 2, grade-0 rows included), `machine/<judge>.tsv` (one file per machine judge, the same
format) and the append-only log `grades.jsonl`. The corpus is the chunk corpus, which the test
split holds whole (`splitting`: held-out queries search every chunk). Only the first three are
read for scoring; the log is read for one check, the `chunk_sha256` each grade was given on: a
chunk whose text changed since it was graded is counted and reported, not silently trusted.

A query counts as judged when it has a human grade row. Queries whose grades are all 0 are
counted (NDCG is 0 for every system there, and MTEB leaves them out of its means); the others are
scored, and `enough` says whether they reach `evaluate.judgments_min_queries`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from spladeforge.config import EvaluateConfig
from spladeforge.config.release import JUDGED_LABEL
from spladeforge.errors import InputError
from spladeforge.evaluation.beir import BeirData, _qrels_lines, _read_records
from spladeforge.io import iter_jsonl

GRADES = (0, 1, 2)
QRELS = Path("qrels") / "test.tsv"
MACHINE = "machine"
LOG = "grades.jsonl"

Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True)
class Judgments:
    """What the folder holds, checked against the chunk corpus."""

    data: BeirData | None  # the scorable queries (a grade above 0) over the chunk corpus; None: none
    human: Qrels  # every human grade, 0 included (query -> chunk -> grade), before any machine fill
    machine: dict[str, Qrels]  # judge label (file stem) -> its grades
    judged_queries: int  # queries with a human grade row
    min_queries: int
    unknown_dropped: int = 0  # grades naming chunks not in the corpus, left out (`drop`)
    changed_chunks: int = 0  # graded chunks whose text changed since (grades.jsonl's chunk_sha256)
    filled_pairs: int = 0  # pairs graded by machine judges only, used (`judgments_machine: fill`)
    notes: list[str] = field(default_factory=list)

    @property
    def scored_queries(self) -> int:
        return len(self.data.queries) if self.data is not None else 0

    @property
    def enough(self) -> bool:
        return self.scored_queries >= self.min_queries

    def metrics(self) -> dict[str, int | bool]:
        """The counts metrics.json carries beside the `judged_` figures (register reads `judged_enough`)."""
        return {"judged_enough": self.enough, "judged_min_queries": self.min_queries,
                "judged_judged_queries": self.judged_queries, "judged_unknown_chunks_dropped": self.unknown_dropped,
                "judged_changed_chunks": self.changed_chunks, "judged_machine_filled_pairs": self.filled_pairs}

    def describe(self) -> str:
        enough = (f"at least {self.min_queries}: the gate may decide on it" if self.enough else
                  f"fewer than evaluate.judgments_min_queries {self.min_queries}: reported, not decided on")
        parts = [f"{self.judged_queries} judged queries, {self.scored_queries} with a grade above 0 ({enough})"]
        if self.unknown_dropped:
            parts.append(f"{self.unknown_dropped} grades of chunks no longer in the corpus dropped")
        if self.changed_chunks:
            parts.append(f"{self.changed_chunks} graded chunks changed text since they were graded")
        if self.filled_pairs:
            parts.append(f"{self.filled_pairs} pairs graded by machine judges only filled in "
                         "(evaluate.judgments_machine: fill)")
        return "; ".join(parts + self.notes)


def chunk_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_judgments(cfg: EvaluateConfig, folder: str | Path, corpus: dict[str, tuple[str, str]]
                   ) -> Judgments | None:
    """The judgments in `folder` over `corpus` (chunk id -> (title, text)); None when it holds no human grade.

    A missing folder, or one holding only its README, is no judgments. Any bad line is an
    InputError naming the file and line.
    """
    folder = Path(folder)
    if not (folder / QRELS).is_file():
        return None
    queries_path = folder / "queries.jsonl"
    if not queries_path.is_file():
        raise InputError(f"{queries_path}: file not found ({folder / QRELS} grades queries that it lists)")
    queries = {qid: text for qid, text, _ in _read_records(queries_path, "query")}
    unknown: list[int] = [0]
    human = _read_grades(folder / QRELS, queries, corpus, cfg.judgments_unknown_chunks, unknown)
    if not human:
        return None
    machine = {path.stem: _read_grades(path, queries, corpus, cfg.judgments_unknown_chunks, unknown)
               for path in sorted((folder / MACHINE).glob("*.tsv"))}
    qrels = {qid: dict(rels) for qid, rels in human.items()}
    filled = _fill(qrels, machine) if cfg.judgments_machine == "fill" else 0
    scorable = {qid for qid, rels in qrels.items() if any(g > 0 for g in rels.values())}
    data = None
    if scorable:
        data = BeirData(folder=folder, corpus=corpus,
                        queries={qid: text for qid, text in queries.items() if qid in scorable},
                        qrels={qid: rels for qid, rels in qrels.items() if qid in scorable},
                        unjudged_query_ids=tuple(qid for qid in qrels if qid not in scorable),
                        fingerprint=_fingerprint(folder)).subsample(cfg.max_queries)
    return Judgments(data=data, human=human, machine=machine, judged_queries=len(human),
                     min_queries=cfg.judgments_min_queries, unknown_dropped=unknown[0],
                     changed_chunks=_changed_chunks(folder / LOG, human, corpus), filled_pairs=filled)


def _read_grades(path: Path, queries: dict[str, str], corpus: dict[str, tuple[str, str]], unknown_rule: str,
                 unknown: list[int]) -> Qrels:
    grades: Qrels = {}
    for lineno, qid, chunk_id, grade in _qrels_lines(path):
        if grade not in GRADES:
            raise InputError(f"{path}:{lineno}: grade {grade} for {qid!r}/{chunk_id!r} is not one of 0, 1, 2")
        if qid not in queries:
            raise InputError(f"{path}:{lineno}: query-id {qid!r} is not in the folder's queries.jsonl")
        if chunk_id not in corpus:
            if unknown_rule == "drop":
                unknown[0] += 1
                continue
            raise InputError(f"{path}:{lineno}: corpus-id {chunk_id!r} is not a chunk of the corpus (the chunking "
                             "changed since it was graded): judge it again, or set "
                             "evaluate.judgments_unknown_chunks: drop to leave such grades out")
        grades.setdefault(qid, {})[chunk_id] = grade
    return grades


def _fill(qrels: Qrels, machine: dict[str, Qrels]) -> int:
    """Add machine grades for pairs of human-judged queries that no human graded; return how many.

    Several judges on one pair: their median grade, rounded down (the lower of two middles).
    """
    filled = 0
    for qid, rels in qrels.items():
        pairs: dict[str, list[int]] = {}
        for judged in machine.values():
            for chunk_id, grade in judged.get(qid, {}).items():
                if chunk_id not in rels:
                    pairs.setdefault(chunk_id, []).append(grade)
        for chunk_id, grades in pairs.items():
            rels[chunk_id] = sorted(grades)[(len(grades) - 1) // 2]
            filled += 1
    return filled


def _changed_chunks(log: Path, human: Qrels, corpus: dict[str, tuple[str, str]]) -> int:
    """Human-graded (query, chunk) pairs whose latest grade was given on another text than the chunk's now."""
    if not log.is_file():
        return 0
    latest: dict[tuple[str, str], str | None] = {}
    for record in iter_jsonl(log, required=("judge", "query_id", "chunk_id", "grade")):
        if not str(record["judge"]).startswith("human:"):
            continue
        key = (str(record["query_id"]), str(record["chunk_id"]))
        latest[key] = None if record["grade"] is None else record.get("chunk_sha256")
    changed = 0
    for (qid, chunk_id), digest in latest.items():
        if digest and chunk_id in human.get(qid, {}) and chunk_id in corpus:
            changed += digest != chunk_sha256(corpus[chunk_id][1])
    return changed


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in [folder / "queries.jsonl", folder / QRELS]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]
