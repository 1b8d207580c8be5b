"""One system's answer to a query as plain data: what `spladeforge search` prints and `--json` emits.

    {"system": "model", "kind": "sparse", "dimensions": "tokens", "query_side": "encoder",
     "index": "cached", "hits": [{"rank", "chunk_id", "score", "title", "section", "doc_id",
                                  "snippet", "terms": [{"token", "query_weight", "doc_weight",
                                                        "contribution", "expansion"}]}]}

`terms` is filled for sparse systems only (BM25 and dense scores do not split by token);
`dimensions` is "latent" for a CSR model, whose terms are latent indices.
"""

from __future__ import annotations

from typing import Any

from spladeforge.retrieval.explain import TOP_TERMS, Explainer
from spladeforge.retrieval.searchers import Searcher, SparseSearcher
from spladeforge.retrieval.snippet import snippet

EXPANSION_MARK = "*"
LEGEND = (f"terms: query weight x document weight per shared token, largest first; {EXPANSION_MARK} marks an "
          "expansion term (in the chunk's vector, not in its title or text)")
LATENT_LEGEND = ("terms of a CSR model are latent dimensions of its sparse autoencoder, named by index "
                 "(not vocabulary tokens)")


def _anchor(token: str) -> str:
    return token.removeprefix("##").removeprefix("▁").removeprefix("Ġ")


def system_results(searcher: Searcher, query: str, k: int = 10, top_terms: int = TOP_TERMS) -> dict[str, Any]:
    """Rank `query` with `searcher` and describe each hit (snippet, and terms for sparse systems)."""
    hits = searcher.search(query, k)
    sparse = isinstance(searcher, SparseSearcher)
    terms = Explainer(searcher).terms(query, hits, top_terms) if sparse else {}
    chunks = searcher.chunks
    rows = []
    for hit in hits:
        record = chunks.get(hit.chunk_id)
        hit_terms = terms.get(hit.chunk_id, [])
        rows.append({
            "rank": hit.rank, "chunk_id": hit.chunk_id, "score": hit.score,
            "title": record.get("title") or "", "section": record.get("section") or "",
            "doc_id": record.get("doc_id") or "",
            "snippet": snippet(record["text"], query, [_anchor(t.token) for t in hit_terms if not t.expansion]),
            "terms": [t.as_dict() for t in hit_terms],
        })
    result: dict[str, Any] = {"system": searcher.name, "kind": getattr(searcher, "kind", "other"), "hits": rows}
    if sparse:
        result["dimensions"] = "latent" if searcher.model.latent else "tokens"
        result["query_side"] = "lookup" if searcher.inference_free else "encoder"
        result["source"] = searcher.model.source
    if hasattr(searcher, "built"):
        result["index"] = "built" if searcher.built else "cached"
    return result


def term_text(term: dict[str, Any]) -> str:
    """`token* 1.20x2.31=2.77`: the token, its expansion mark, and its part of the score."""
    mark = EXPANSION_MARK if term["expansion"] else ""
    return (f"{term['token']}{mark} {term['query_weight']:.2f}x{term['doc_weight']:.2f}"
            f"={term['contribution']:.2f}")
