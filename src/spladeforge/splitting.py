"""Split generated queries into train, dev and test sides by source document, and judge the held-out ones.

Splitting by document, not by query or chunk, keeps overlapping chunks of one document from
landing on two sides. Dev picks the checkpoint and stops training early; test decides the
promotion gate and is never seen by training (a set that picked a checkpoint holds a maximum over
checkpoints, which no reference it is compared with gets).

Sides. A document's side is fixed by a threshold on `stable_fraction(seed, "split", doc_id)`, a
seeded hash of its id: below `test_fraction` it is a test document, below `test_fraction +
dev_fraction` a dev document, else a training one. The side does not depend on the other
documents, so when documents are added (a scheduled retrain on a newer data revision) every
earlier document keeps its side, and a champion was never trained on a later run's test
document. Only a corpus too small to give each side a document borrows one, the document whose
hash is closest to the empty side's interval, taken from the largest side.

Corpus and relevance. Held-out queries are searched against the whole chunk corpus, every chunk
of every document (training documents included): what the deployed index holds, so a held-out
figure is not saturated by a corpus of a few dozen chunks. Each query's source chunk is judged
grade 2; the chunks of the same document whose character spans (`start` plus the text's length)
overlap the source's are judged grade 1, since window chunking repeats the overlap's text in the
neighbour, which then answers the query too; no other chunk is judged. A chunk without `start`
has no judged neighbours. NDCG (gain = grade) thus ranks the source first and counts a
neighbour above an unrelated chunk.

Leaks. Different documents can still share text (copied sections, near-identical pages). A dev or
test chunk whose word-shingle Jaccard with a training chunk reaches
`split.near_duplicate_threshold` would measure memorisation, not retrieval: its document moves to
train (`move_document`) or its queries are dropped (`drop_query`); either is counted.

Identity. Which documents each side holds follows from the seed, the two fractions and the
document ids; `split_identity` records them (and the sha256 of each side's sorted document ids,
and the documents whose side is not the rule's: borrowed or moved for a near duplicate) in the
test folder's `split.json`, with each test query's document. `register` tags every version with
it, so that a challenger tested on documents a champion trained on is caught (`side_by_rule`
answers for the champion's documents).

Round trip. Queries that failed generate-queries' round-trip filter (`round_trip_ok: false`,
Alberti et al., 2019) are dropped from training, where a query too vague to find its passage is
noise. Dev and test keep them (`split.held_out_round_trip: keep`): a held-out set pre-selected by
BM25 would flatter BM25.

Held-out queries that would favour the base. Two kinds of generated query measure something
else than retrieval on dev and test, and are kept on the training side only (counted):
- a query made by copying a span of its chunk (`sentence`, `title`) whose whole text the judged
  chunk holds verbatim (title and body, case and spacing ignored): every inverse-cloze sentence
  query, whose sentence the corpus chunk still holds even when training removed it from the
  positive, and a title query whose title the chunk carries. A string copied from its answer is
  found by any lexical match, so it rewards the base and BM25 for exact overlap and cannot see
  what adaptation adds (context beyond the copied words);
- an `expansion` query: the words the base SPLADE itself adds to the chunk, so the base is
  judged on its own output.
Only the copying types are checked: a keyword query (salient terms picked by weight) or a
question that happens to be a phrase of the chunk is what a user may type, and stays held out.

Positives. A query whose positive passage is not its chunk's own text (generate-queries'
`positive`: a title query's body without the title, an inverse-cloze passage without its
sentence) keeps it on the training side, where `mine` puts it in the tuple; dev and test judge
the chunk, as a search over the deployed index would.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spladeforge.config import SplitConfig
from spladeforge.dedup import NearDuplicateIndex
from spladeforge.errors import InputError
from spladeforge.text import stable_fraction

SIDES = ("train", "dev", "test")
HELD_OUT = ("dev", "test")
# Held-out queries of this type are the base model's own expansion terms (see the module docstring).
BASE_OWN_TYPES = frozenset({"expansion"})
# Types made by copying a span of the chunk: held out only when the judged chunk no longer holds it.
COPY_TYPES = frozenset({"sentence", "title"})
SOURCE_GRADE = 2  # the chunk the query was generated from
NEIGHBOUR_GRADE = 1  # a chunk of the same document whose span overlaps the source's
SPLIT_IDENTITY = "split.json"  # in the test folder: `split_identity`


@dataclass
class HeldOutSet:
    """One held-out side as a BEIR folder holds it: judged queries over the whole chunk corpus."""

    rows: list[dict[str, Any]]  # query_id, query, type, chunk_id, doc_id
    qrels: dict[str, dict[str, int]]  # query id -> {chunk id: grade}
    documents: int
    round_trip_failed: int  # kept queries that failed the round trip


@dataclass
class DocumentSplit:
    train: list[dict[str, Any]]  # training rows: query_id, query, type, chunk_id, doc_id[, positive]
    dev: HeldOutSet
    test: HeldOutSet
    corpus: list[dict[str, Any]]  # every chunk, in chunk-file order: the corpus of dev and test
    identity: dict[str, Any]  # `split_identity`, with the test queries' documents
    train_documents: int
    leaking_chunks: int  # held-out chunks that nearly duplicate a training chunk
    documents_moved: int  # their documents, moved to train (`move_document`)
    queries_dropped: int  # their queries, dropped (`drop_query`)
    round_trip_dropped: dict[str, int] = field(default_factory=dict)  # side -> queries dropped
    verbatim_dropped: int = 0  # held-out queries copied whole from their judged chunk
    base_terms_dropped: int = 0  # held-out expansion queries (the base model's own terms)

    def counts(self) -> dict[str, int]:
        """The split's summary, in the order the stage reports it."""
        return {"train_queries": len(self.train), "dev_queries": len(self.dev.rows),
                "test_queries": len(self.test.rows), "train_documents": self.train_documents,
                "dev_documents": self.dev.documents, "test_documents": self.test.documents,
                "corpus_chunks": len(self.corpus),
                "dev_judged_neighbours": _neighbours(self.dev), "test_judged_neighbours": _neighbours(self.test),
                "near_duplicate_held_out_chunks": self.leaking_chunks,
                "near_duplicate_documents_moved": self.documents_moved,
                "near_duplicate_queries_dropped": self.queries_dropped,
                **{f"round_trip_dropped_{side}": self.round_trip_dropped.get(side, 0) for side in SIDES},
                "held_out_verbatim_dropped": self.verbatim_dropped,
                "held_out_base_terms_dropped": self.base_terms_dropped,
                "dev_round_trip_failed": self.dev.round_trip_failed,
                "test_round_trip_failed": self.test.round_trip_failed}


def _neighbours(held: HeldOutSet) -> int:
    return sum(1 for rels in held.qrels.values() for grade in rels.values() if grade == NEIGHBOUR_GRADE)


def _bounds(dev_fraction: float, test_fraction: float) -> dict[str, tuple[float, float]]:
    return {"test": (0.0, test_fraction), "dev": (test_fraction, test_fraction + dev_fraction),
            "train": (test_fraction + dev_fraction, 1.0)}


def side_by_rule(doc_id: str, dev_fraction: float, test_fraction: float, seed: int) -> str:
    """The side the threshold rule gives `doc_id` (before any borrowing or near-duplicate move)."""
    f = stable_fraction(seed, "split", doc_id)
    return next(side for side, (low, high) in _bounds(dev_fraction, test_fraction).items() if low <= f < high)


def split_identity(sides: dict[str, str], seed: int, dev_fraction: float, test_fraction: float,
                   query_documents: dict[str, str]) -> dict[str, Any]:
    """What identifies a split: seed, fractions, the sha256 of each side's sorted document ids, the
    documents whose side is not the rule's, and (for one side) each query's document."""
    digests = {side: hashlib.sha256("\n".join(sorted(d for d, s in sides.items() if s == side)).encode()).hexdigest()
               for side in SIDES}
    return {"seed": seed, "dev_fraction": dev_fraction, "test_fraction": test_fraction, "documents_sha256": digests,
            "not_by_rule": {d: s for d, s in sorted(sides.items()) if s != side_by_rule(d, dev_fraction,
                                                                                       test_fraction, seed)},
            "query_documents": dict(sorted(query_documents.items()))}


def document_sides(doc_ids: list[str], dev_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """doc id -> "train" | "dev" | "test", by a threshold on the document's seeded hash.

    Needs at least three documents: a side left empty by the thresholds borrows the document
    whose hash is closest to its interval, from the side holding the most.
    """
    position = {d: stable_fraction(seed, "split", d) for d in doc_ids}
    bounds = _bounds(dev_fraction, test_fraction)
    sides = {d: side_by_rule(d, dev_fraction, test_fraction, seed) for d in doc_ids}
    for empty in ("train", "test", "dev"):
        members = {side: [d for d in sorted(sides) if sides[d] == side] for side in SIDES}
        if members[empty]:
            continue
        donor = max(SIDES, key=lambda side: (len(members[side]), side == "train"))
        low, high = bounds[empty]
        moved = min(members[donor], key=lambda d: (max(low - position[d], position[d] - high), d))
        sides[moved] = empty
    return sides


def _normalized(text: str) -> str:
    return " ".join(text.lower().split())


def copied_from_chunk(query: str, chunk: dict[str, Any]) -> bool:
    """True when the query's whole text occurs in the chunk's title and body (case and spacing ignored)."""
    text = _normalized(query)
    return bool(text) and text in _normalized(f"{chunk.get('title') or ''} {chunk['text']}")


def _spans_overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if not isinstance(a.get("start"), int) or not isinstance(b.get("start"), int):
        return False
    return a["start"] < b["start"] + len(b["text"]) and b["start"] < a["start"] + len(a["text"])


def judgments(chunk_id: str, chunks: dict[str, dict[str, Any]],
              by_document: dict[str, list[str]]) -> dict[str, int]:
    """The graded qrels of a query generated from `chunk_id` (see the module docstring)."""
    source = chunks[chunk_id]
    rels = {chunk_id: SOURCE_GRADE}
    for other in by_document[source["doc_id"]]:
        if other != chunk_id and _spans_overlap(source, chunks[other]):
            rels[other] = NEIGHBOUR_GRADE
    return rels


def leaking_chunks(cfg: SplitConfig, chunks: dict[str, dict[str, Any]], sides: dict[str, str]) -> set[str]:
    """Held-out (dev or test) chunk ids whose text nearly duplicates a training chunk."""
    if cfg.near_duplicate_threshold is None:
        return set()
    index = NearDuplicateIndex(cfg.near_duplicate_threshold, cfg.shingle_words)
    for c in chunks.values():
        if sides.get(c["doc_id"]) == "train":
            index.add(c["id"], c["text"])
    return {c["id"] for c in chunks.values()
            if sides.get(c["doc_id"]) in HELD_OUT and index.match(c["text"]) is not None}


def _move_leaking_documents(cfg: SplitConfig, sides: dict[str, str], leak_docs: set[str],
                            chunks_path: Path) -> int:
    """Move the documents of leaking chunks to train; refuse when that empties a held-out side."""
    for side in HELD_OUT:
        held = {d for d, s in sides.items() if s == side}
        if held and held <= leak_docs:
            raise InputError(f"{chunks_path}: every {side} document nearly duplicates a training chunk "
                             f"(split.near_duplicate_threshold={cfg.near_duplicate_threshold}); raise the "
                             "threshold, use near_duplicate_action: drop_query, or deduplicate the corpus")
    for doc in leak_docs:
        sides[doc] = "train"
    return len(leak_docs)


def split_by_document(cfg: SplitConfig, queries: list[dict[str, Any]], chunks: dict[str, dict[str, Any]],
                      seed: int, queries_path: Path, chunks_path: Path) -> DocumentSplit:
    """Split `queries` (of `chunks`, by chunk id); the paths name the inputs in errors."""
    unknown = [q["id"] for q in queries if q["chunk_id"] not in chunks]
    if unknown:
        raise InputError(f"{queries_path}: {len(unknown)} queries name chunks missing from "
                         f"{chunks_path} (first: {unknown[0]}); rerun generate-queries")
    doc_ids = sorted({chunks[q["chunk_id"]]["doc_id"] for q in queries})
    if len(doc_ids) < len(SIDES):
        raise InputError(f"{queries_path}: queries come from {len(doc_ids)} document(s); a split by document "
                         "into train, dev and test needs at least 3")
    sides = document_sides(doc_ids, cfg.dev_fraction, cfg.test_fraction, seed)
    leaks = leaking_chunks(cfg, chunks, sides)
    leak_docs = {chunks[c]["doc_id"] for c in leaks}
    moved = 0
    if cfg.near_duplicate_action == "move_document" and leak_docs:
        moved = _move_leaking_documents(cfg, sides, leak_docs, chunks_path)

    rows: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    round_trip_dropped = dict.fromkeys(SIDES, 0)
    dropped = verbatim = base_terms = 0
    for q in queries:
        doc_id = chunks[q["chunk_id"]]["doc_id"]
        side = sides[doc_id]
        if side != "train" and q["chunk_id"] in leaks:
            dropped += 1  # only reachable with drop_query: moved documents are no longer held out
            continue
        if q.get("round_trip_ok") is False and (side == "train" or cfg.held_out_round_trip == "drop"):
            round_trip_dropped[side] += 1
            continue
        if side != "train" and q.get("type") in BASE_OWN_TYPES:
            base_terms += 1
            continue
        if side != "train" and q.get("type") in COPY_TYPES and copied_from_chunk(q["text"], chunks[q["chunk_id"]]):
            verbatim += 1
            continue
        row = {"query_id": q["id"], "query": q["text"], "type": q.get("type", ""),
               "chunk_id": q["chunk_id"], "doc_id": doc_id}
        if side == "train" and q.get("positive"):
            row["positive"] = q["positive"]  # the passage it trains against (title stripped, sentence removed)
        rows[side].append(row)
    if not rows["train"]:
        raise InputError(f"{queries_path}: no training query left ({round_trip_dropped['train']} failed the "
                         "round-trip filter); loosen generate_queries.filters.round_trip_k or set round_trip: none")
    for side in HELD_OUT:
        if not rows[side]:
            raise InputError(f"{queries_path}: no {side} query left after the near-duplicate check "
                             f"({len(leaks)} leaking chunks) and dropping queries copied from their chunk "
                             f"({verbatim}) or made of the base model's terms ({base_terms}); raise "
                             "split.near_duplicate_threshold or add keywords/question queries to "
                             "generate_queries.mix")

    by_document: dict[str, list[str]] = {}
    for c in chunks.values():
        by_document.setdefault(c["doc_id"], []).append(c["id"])
    limits = {"dev": cfg.max_dev_queries, "test": cfg.max_test_queries}
    failed = {q["id"] for q in queries if q.get("round_trip_ok") is False}
    held: dict[str, HeldOutSet] = {}
    for side in HELD_OUT:
        kept = rows[side]
        if limits[side] is not None and len(kept) > limits[side]:
            kept.sort(key=lambda r: stable_fraction(seed, side, r["query_id"]))
            kept = sorted(kept[: limits[side]], key=lambda r: r["query_id"])
        held[side] = HeldOutSet(
            rows=kept, qrels={r["query_id"]: judgments(r["chunk_id"], chunks, by_document) for r in kept},
            documents=sum(1 for s in sides.values() if s == side),
            round_trip_failed=sum(1 for r in kept if r["query_id"] in failed))
    return DocumentSplit(
        train=rows["train"], dev=held["dev"], test=held["test"], corpus=list(chunks.values()),
        identity=split_identity(sides, seed, cfg.dev_fraction, cfg.test_fraction,
                                {r["query_id"]: r["doc_id"] for r in held["test"].rows}),
        train_documents=sum(1 for s in sides.values() if s == "train"), leaking_chunks=len(leaks),
        documents_moved=moved, queries_dropped=dropped, round_trip_dropped=round_trip_dropped,
        verbatim_dropped=verbatim, base_terms_dropped=base_terms)
