"""Query filters shared by every generation backend, with counts per filter and query type.

Per query: length bounds (characters, words), verbatim copies of the chunk, duplicates within a
chunk. Over the whole set: duplicates across chunks (`dedupe: global`) and round-trip
consistency (Alberti et al., 2019, "Synthetic QA Corpora Generation with Roundtrip
Consistency"; Dai et al., 2022, Promptagator): a query trains only if a retriever ranks its own
chunk in the top k, which removes queries too vague to identify their passage. The round trip
flags queries (`round_trip_ok`) and `split` applies it to the training side alone, so the
held-out queries are not pre-selected by the retriever the report compares against.

The ICT `sentence` type (Lee et al., 2019) is a sentence of the chunk by design, so the
copy filter does not apply to it; every other type copied verbatim would teach the model
nothing beyond string matching. The `expansion` type is made of words its chunk lacks, so BM25
cannot round-trip it: the SPLADE `round_trip_model` does, whatever `round_trip` says for the rest.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

from spladeforge.config import QueryFilterConfig
from spladeforge.models.build import load_sparse_encoder
from spladeforge.retrieval.bm25 import BM25Index
from spladeforge.text import passage

COPY_EXEMPT_TYPES = frozenset({"sentence"})
# Queries made of terms their chunk does not contain (`expansion`): BM25 cannot find their chunk by
# construction, so `round_trip: bm25` checks them with the SPLADE round trip (`round_trip_model`).
NON_LEXICAL_TYPES = frozenset({"expansion"})
_TOKEN = re.compile(r"\w+")


def _norm(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


class QueryFilter:
    """Applies the per-query filters and keeps the counts for `queries.report.json`."""

    def __init__(self, cfg: QueryFilterConfig, language_code: str = "en") -> None:
        self.cfg = cfg
        self.language_code = language_code  # the BM25 round trip tokenizes for the corpus language
        self.rejected: dict[str, Counter[str]] = defaultdict(Counter)
        self.generated: Counter[str] = Counter()
        self._seen_in_chunk: dict[str, set[str]] = defaultdict(set)
        self.round_trip_failed: Counter[str] = Counter()

    def reason(self, text: str, qtype: str, chunk: dict[str, Any]) -> str | None:
        """Why `text` is rejected for `chunk`, or None when it passes."""
        cfg = self.cfg
        words = len(text.split())
        if len(text) < cfg.min_chars or words < cfg.min_words:
            return "too_short"
        if len(text) > cfg.max_chars or words > cfg.max_words:
            return "too_long"
        norm = _norm(text)
        if (cfg.reject_copied and qtype not in COPY_EXEMPT_TYPES and len(norm.split()) >= cfg.copied_min_words
                and norm in _norm(chunk["text"])):
            return "copied_from_chunk"
        if cfg.dedupe != "none" and norm in self._seen_in_chunk[chunk["id"]]:
            return "duplicate"
        return None

    def accept(self, text: str | None, qtype: str, chunk: dict[str, Any]) -> bool:
        """Count `text` as generated and return whether it passes; remember it if so."""
        if not text or not text.strip():
            self.generated[qtype] += 1
            self.rejected["empty"][qtype] += 1
            return False
        self.generated[qtype] += 1
        why = self.reason(text, qtype, chunk)
        if why is not None:
            self.rejected[why][qtype] += 1
            return False
        self._seen_in_chunk[chunk["id"]].add(_norm(text))
        return True

    def dedupe_global(self, queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the first query of each normalized text across chunks (input order)."""
        if self.cfg.dedupe != "global":
            return queries
        seen: set[str] = set()
        kept = []
        for q in queries:
            norm = _norm(q["text"])
            if norm in seen:
                self.rejected["duplicate"][q["type"]] += 1
                continue
            seen.add(norm)
            kept.append(q)
        return kept

    def round_trip(self, queries: list[dict[str, Any]], chunks: list[dict[str, Any]],
                   encoded: tuple[str, Any] | None = None) -> list[dict[str, Any]]:
        """Mark each query `round_trip_ok`: is its own chunk in the retriever's top `round_trip_k`?

        `encoded`: (model reference, the chunks' document vectors) already computed, used by the
        SPLADE round trip when the reference is `round_trip_model`.

        Queries are flagged, not dropped: `split` drops the failures from the training side only.
        Filtering before the split would leave a held-out set made, by construction, of queries the
        round-trip retriever answers, and inflate that retriever's score on it (measured on the
        default corpus with BM25: 0.934 NDCG@10 against 0.783 for the trained model).
        """
        if self.cfg.round_trip == "none" or not queries:
            return queries
        k, model_ref = self.cfg.round_trip_k, self.cfg.round_trip_model
        docs = encoded[1] if encoded is not None and encoded[0] == model_ref else None
        if self.cfg.round_trip == "bm25":
            lexical = [q for q in queries if q["type"] not in NON_LEXICAL_TYPES]
            other = [q for q in queries if q["type"] in NON_LEXICAL_TYPES]
            checked = [(lexical, _bm25_top([q["text"] for q in lexical], chunks, k, self.language_code)),
                       (other, _splade_top([q["text"] for q in other], chunks, k, model_ref, docs))]
        else:
            checked = [(queries, _splade_top([q["text"] for q in queries], chunks, k, model_ref, docs))]
        ids = [c["id"] for c in chunks]
        for q, hits in ((q, h) for subset, top in checked for q, h in zip(subset, top, strict=True)):
            q["round_trip_ok"] = q["chunk_id"] in {ids[i] for i in hits}
            if not q["round_trip_ok"]:
                self.round_trip_failed[q["type"]] += 1
        return queries

    def report(self, kept: list[dict[str, Any]]) -> dict[str, Any]:
        flagged = {} if self.cfg.round_trip == "none" else {
            # Kept but flagged round_trip_ok=false: split drops them from training only.
            f"round_trip_{self.cfg.round_trip}_failed": dict(self.round_trip_failed)}
        return {
            "generated": dict(self.generated),
            "rejected": {why: dict(by_type) for why, by_type in sorted(self.rejected.items())},
            "rejected_total": sum(sum(c.values()) for c in self.rejected.values()),
            "kept": dict(Counter(q["type"] for q in kept)),
            **flagged,
            "filters": self.cfg.model_dump(),
            "copy_filter_exempt_types": sorted(COPY_EXEMPT_TYPES),
            **({"round_trip_splade_types": sorted(NON_LEXICAL_TYPES)} if self.cfg.round_trip == "bm25" else {}),
        }


def _bm25_top(texts: list[str], chunks: list[dict[str, Any]], k: int, language_code: str = "en") -> list[list[int]]:
    if not texts:
        return []
    index = BM25Index([passage(c) for c in chunks], language_code=language_code)
    out: list[list[int]] = []
    for lo in range(0, len(texts), 1024):
        hits, scores = index.search(texts[lo: lo + 1024], k=k)
        # A zero score is no match at all: bm25s still fills the k slots with arbitrary chunks.
        out.extend([int(i) for i, s in zip(h, sc, strict=True) if s > 0]
                   for h, sc in zip(hits, scores, strict=True))
    return out


def _splade_top(texts: list[str], chunks: list[dict[str, Any]], k: int, model_ref: str,
                docs: Any = None) -> list[list[int]]:
    """The top-k chunk indices per text by `model_ref`; `docs`, when given, are the chunks' vectors."""
    import torch

    if not texts:
        return []
    model = load_sparse_encoder(model_ref, device="cpu", key="generate_queries.filters.round_trip_model")
    if docs is None:
        docs = model.encode_document([passage(c) for c in chunks], batch_size=32, convert_to_sparse_tensor=True)
    out: list[list[int]] = []
    for lo in range(0, len(texts), 256):
        q = model.encode_query(texts[lo: lo + 256], batch_size=32, convert_to_sparse_tensor=True)
        scores = torch.sparse.mm(q, docs.t()).to_dense()
        top = torch.topk(scores, k=min(k, len(chunks)), dim=1)
        out.extend([int(i) for i, s in zip(idx, val, strict=True) if s > 0]
                   for idx, val in zip(top.indices.tolist(), top.values.tolist(), strict=True))
    return out
