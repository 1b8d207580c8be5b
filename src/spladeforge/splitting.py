"""Split generated queries into training and held-out sides by source document.

Splitting by document, not by query or chunk, keeps overlapping chunks of one document from
landing on both sides: a 90/10 split with minimal content overlap. Documents are ranked by a
seeded hash of their id, so a split is repeatable and independent of file order; at least one
document is held out and never all.

Different documents can still share text (copied sections, near-identical pages). A held-out
chunk whose word-shingle Jaccard with a training chunk reaches `split.near_duplicate_threshold`
would measure memorisation, not retrieval: its document moves to train (`move_document`) or its
queries are dropped (`drop_query`); either is counted.

Queries that failed generate-queries' round-trip filter (`round_trip_ok: false`, Alberti et al.,
2019) are dropped from training, where a query too vague to find its passage is noise. The
held-out side keeps them (`split.validation_round_trip: keep`): a validation set pre-selected by
BM25 would flatter BM25.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladeforge.config import SplitConfig
from spladeforge.dedup import NearDuplicateIndex
from spladeforge.errors import InputError
from spladeforge.text import stable_fraction


@dataclass
class DocumentSplit:
    train: list[dict[str, Any]]  # training rows: query_id, query, type, chunk_id, doc_id
    validation: list[dict[str, Any]]  # held-out rows, same fields
    corpus: list[dict[str, Any]]  # every chunk of the held-out documents, in chunk-file order
    train_documents: int
    validation_documents: int
    leaking_chunks: int  # held-out chunks that nearly duplicate a training chunk
    documents_moved: int  # their documents, moved to train (`move_document`)
    queries_dropped: int  # their queries, dropped (`drop_query`)
    round_trip_dropped_train: int
    round_trip_dropped_validation: int
    validation_round_trip_failed: int  # kept held-out queries that failed the round trip

    def counts(self) -> dict[str, int]:
        """The split's summary, in the order the stage reports it."""
        return {"train_queries": len(self.train), "validation_queries": len(self.validation),
                "train_documents": self.train_documents, "validation_documents": self.validation_documents,
                "validation_corpus_chunks": len(self.corpus),
                "near_duplicate_validation_chunks": self.leaking_chunks,
                "near_duplicate_documents_moved": self.documents_moved,
                "near_duplicate_queries_dropped": self.queries_dropped,
                "round_trip_dropped_train": self.round_trip_dropped_train,
                "round_trip_dropped_validation": self.round_trip_dropped_validation,
                "validation_round_trip_failed": self.validation_round_trip_failed}


def held_out_documents(doc_ids: list[str], fraction: float, seed: int) -> set[str]:
    """Documents that go to validation: a seeded hash order, at least one, never all."""
    ranked = sorted(doc_ids, key=lambda d: stable_fraction(seed, "split", d))
    count = min(max(1, round(fraction * len(ranked))), len(ranked) - 1)
    return set(ranked[:count])


def leaking_chunks(cfg: SplitConfig, chunks: dict[str, dict[str, Any]], doc_ids: set[str],
                   held_out: set[str]) -> set[str]:
    """Held-out chunk ids whose text nearly duplicates a training chunk."""
    if cfg.near_duplicate_threshold is None:
        return set()
    index = NearDuplicateIndex(cfg.near_duplicate_threshold, cfg.shingle_words)
    for c in chunks.values():
        if c["doc_id"] in doc_ids and c["doc_id"] not in held_out:
            index.add(c["id"], c["text"])
    return {c["id"] for c in chunks.values()
            if c["doc_id"] in held_out and index.match(c["text"]) is not None}


def split_by_document(cfg: SplitConfig, queries: list[dict[str, Any]], chunks: dict[str, dict[str, Any]],
                      seed: int, queries_path: Path, chunks_path: Path) -> DocumentSplit:
    """Split `queries` (of `chunks`, by chunk id); the paths name the inputs in errors."""
    ok = {q["id"]: q.get("round_trip_ok", True) for q in queries}
    unknown = [q["id"] for q in queries if q["chunk_id"] not in chunks]
    if unknown:
        raise InputError(f"{queries_path}: {len(unknown)} queries name chunks missing from "
                         f"{chunks_path} (first: {unknown[0]}); rerun generate-queries")
    doc_ids = sorted({chunks[q["chunk_id"]]["doc_id"] for q in queries})
    if len(doc_ids) < 2:
        raise InputError(f"{queries_path}: queries come from {len(doc_ids)} document(s); a split "
                         "by document needs at least 2")
    held_out = held_out_documents(doc_ids, cfg.validation_fraction, seed)
    leaks = leaking_chunks(cfg, chunks, set(doc_ids), held_out)
    leak_docs = {chunks[c]["doc_id"] for c in leaks}
    if cfg.near_duplicate_action == "move_document" and leak_docs:
        if leak_docs >= held_out:
            raise InputError(f"{chunks_path}: every validation document nearly duplicates a training chunk "
                             f"(split.near_duplicate_threshold={cfg.near_duplicate_threshold}); raise the "
                             "threshold, use near_duplicate_action: drop_query, or deduplicate the corpus")
        held_out -= leak_docs

    train, validation, dropped = [], [], 0
    round_trip_dropped = {"train": 0, "validation": 0}
    for q in queries:
        doc_id = chunks[q["chunk_id"]]["doc_id"]
        row = {"query_id": q["id"], "query": q["text"], "type": q.get("type", ""),
               "chunk_id": q["chunk_id"], "doc_id": doc_id}
        if doc_id in held_out and q["chunk_id"] in leaks:
            dropped += 1  # only reachable with drop_query: moved documents are no longer held out
            continue
        side = "validation" if doc_id in held_out else "train"
        if q.get("round_trip_ok") is False and (side == "train" or cfg.validation_round_trip == "drop"):
            round_trip_dropped[side] += 1
            continue
        (validation if side == "validation" else train).append(row)
    if not train:
        raise InputError(f"{queries_path}: no training query left ({round_trip_dropped['train']} failed the "
                         "round-trip filter); loosen generate_queries.filters.round_trip_k or set round_trip: none")
    if not validation:
        raise InputError(f"{queries_path}: no validation query left after the near-duplicate check "
                         f"({len(leaks)} leaking chunks); raise split.near_duplicate_threshold")
    if cfg.max_validation_queries is not None and len(validation) > cfg.max_validation_queries:
        validation.sort(key=lambda r: stable_fraction(seed, "val", r["query_id"]))
        validation = sorted(validation[: cfg.max_validation_queries], key=lambda r: r["query_id"])
    return DocumentSplit(
        train=train, validation=validation,
        corpus=[c for c in chunks.values() if c["doc_id"] in held_out],
        train_documents=len(doc_ids) - len(held_out), validation_documents=len(held_out),
        leaking_chunks=len(leaks),
        documents_moved=len(leak_docs) if cfg.near_duplicate_action == "move_document" else 0,
        queries_dropped=dropped,
        round_trip_dropped_train=round_trip_dropped["train"],
        round_trip_dropped_validation=round_trip_dropped["validation"],
        validation_round_trip_failed=sum(1 for r in validation if not ok.get(r["query_id"], True)))
