"""Machine judges: grade the pooled chunks of every judged query and keep the grades in the judgments folder.

A machine judge (`machine_llm.LLMJudge`, `machine_cross_encoder.CrossEncoderJudge`, or anything with a
`label` and a `grade(pairs)`) sees each (query, pooled chunk) pair the way a person on the judge page
does: the query and the chunk's text, never which system found it. Its grades go through
`JudgmentStore.record` under its own label ("llm:<model>", "cross-encoder:<model>"), so they land in
`machine/<judge>.tsv` beside the human qrels and never in them.

The run is resumable: pairs the judge already graded are skipped, and grades are recorded a batch
at a time as they arrive, so a run stopped half-way (an endpoint that went away, Ctrl-C) keeps what
it had and a rerun grades only the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from spladeforge.errors import InputError
from spladeforge.text import passage

# Pairs graded per call to the judge and recorded together: large enough for a cross-encoder batch
# and for the LLM client's concurrent requests, small enough that a stop loses little.
BATCH = 32


@dataclass(frozen=True)
class Pair:
    """One (query, chunk) pair to grade, with the chunk's text as the judge reads it."""

    query_id: str
    query: str
    chunk_id: str
    title: str
    passage: str
    systems: tuple[str, ...] = ()  # the pooled systems that returned it (recorded, never shown)

    @property
    def shown(self) -> str:
        """What the judge reads: the chunk's title, then its text, as the retrieval models see it."""
        return passage({"title": self.title, "text": self.passage})


class Judge(Protocol):
    label: str  # "llm:<model>", "cross-encoder:<model>"

    def grade(self, pairs: Sequence[Pair]) -> list[int]:
        """A grade 0, 1 or 2 per pair, in order."""
        ...


@dataclass
class JudgeSummary:
    judge: str
    queries: int = 0
    pooled: int = 0            # (query, chunk) pairs in the pools
    already_graded: int = 0    # skipped: this judge graded them in an earlier run
    graded: int = 0
    grades: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})

    def as_dict(self) -> dict[str, Any]:
        return {"judge": self.judge, "queries": self.queries, "pooled": self.pooled,
                "already_graded": self.already_graded, "graded": self.graded,
                "grades": {str(g): n for g, n in self.grades.items()}}


def pool_pairs(pools: Mapping[str, Iterable[tuple[str, Sequence[str]]]], queries: Mapping[str, str],
               chunks: Mapping[str, Mapping[str, Any]]) -> list[Pair]:
    """The pairs of `pools` (query id -> [(chunk id, systems)]) with their texts from `chunks` (id -> record)."""
    pairs = []
    for query_id, pooled in pools.items():
        for chunk_id, systems in pooled:
            chunk = chunks.get(chunk_id)
            if chunk is None:
                raise InputError(f"pooled chunk {chunk_id!r} (query {query_id}) is not in the chunk corpus: "
                                 "the index is older than the chunks; rebuild it")
            pairs.append(Pair(query_id, queries[query_id], chunk_id, str(chunk.get("title") or ""),
                              str(chunk["text"]), tuple(systems)))
    return pairs


def pooled_pairs(store: Any, searchers: Mapping[str, Any], k: int,
                 chunks: Mapping[str, Mapping[str, Any]]) -> list[Pair]:
    """Every query of `store` pooled over `searchers` (the union of their top `k`, `pooling.pool`)."""
    from spladeforge.judging.pooling import pool

    queries = store.queries()
    pools = {qid: [(c.chunk_id, c.systems) for c in pool(text, searchers, k)] for qid, text in queries.items()}
    return pool_pairs(pools, queries, chunks)


def run_judge(store: Any, judge: Judge, pairs: Sequence[Pair], *, batch: int = BATCH,
              progress: bool = True) -> JudgeSummary:
    """Grade every pair `judge` has not graded yet and record each grade in `store` (a JudgmentStore)."""
    done = set(store.grades(judge.label))
    todo = [p for p in pairs if (p.query_id, p.chunk_id) not in done]
    summary = JudgeSummary(judge.label, queries=len({p.query_id for p in pairs}), pooled=len(pairs),
                           already_graded=len(pairs) - len(todo))
    with tqdm(total=len(todo), desc=judge.label, unit="pair", disable=not progress) as bar:
        for start in range(0, len(todo), batch):
            part = todo[start:start + batch]
            grades = judge.grade(part)
            if len(grades) != len(part) or any(g not in (0, 1, 2) for g in grades):
                raise ValueError(f"{judge.label}: expected {len(part)} grades in 0-2, got {grades[:5]}...")
            for pair, grade in zip(part, grades, strict=True):
                store.record(pair.query_id, pair.chunk_id, grade, judge.label, chunk_text=pair.passage,
                             systems=pair.systems)
                summary.grades[grade] += 1
            summary.graded += len(part)
            bar.update(len(part))
    return summary
