"""Error analysis: the queries the model does worst on, next to what BM25 found for them.

For each of the N queries with the lowest NDCG@10 (per query, pytrec_eval's ndcg_cut.10, as
MTEB computes it), show the judged documents, the model's and BM25's top 3, and the query's
expansion terms (the largest SPLADE weights, decoded to tokens): a wrong expansion term is the
usual reason a SPLADE query misses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spladeforge.evaluation.fusion import Run

TOP = 3
SNIPPET = 120


def per_query_ndcg(run: Run, qrels: dict[str, dict[str, int]], k: int = 10) -> dict[str, float]:
    """NDCG@k per judged query (a query the run does not rank scores 0)."""
    import pytrec_eval

    measure = f"ndcg_cut.{k}"
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {measure})
    scores = evaluator.evaluate({qid: run.get(qid) or {"__none__": 0.0} for qid in qrels})
    return {qid: values[measure.replace(".", "_")] for qid, values in scores.items()}


def _top(run: Run, qid: str, n: int = TOP) -> list[tuple[str, float]]:
    return sorted(run.get(qid, {}).items(), key=lambda item: (-item[1], item[0]))[:n]


def worst_queries(
    model_run: Run,
    qrels: dict[str, dict[str, int]],
    queries: dict[str, str],
    corpus: dict[str, tuple[str, str]],
    n: int,
    *,
    bm25_run: Run | None = None,
    decode: Callable[[list[str]], list[list[tuple[str, float]]]] | None = None,
) -> list[dict[str, Any]]:
    """The `n` lowest-NDCG@10 queries (ties by id), each with both systems' top 3 and its expansion."""
    ndcg = per_query_ndcg(model_run, qrels)
    worst = sorted(ndcg, key=lambda qid: (ndcg[qid], qid))[:n]
    expansions = decode([queries[qid] for qid in worst]) if decode and worst else [[] for _ in worst]

    def docs(ranked: list[tuple[str, float]], qid: str) -> list[dict[str, Any]]:
        return [{"id": doc, "score": round(score, 4), "grade": qrels[qid].get(doc, 0),
                 "text": _snippet(corpus.get(doc, ("", ""))) } for doc, score in ranked]

    items = []
    for qid, terms in zip(worst, expansions, strict=True):
        item = {
            "query_id": qid, "query": queries[qid], "ndcg_at_10": round(ndcg[qid], 4),
            "relevant": [{"id": doc, "grade": grade, "text": _snippet(corpus.get(doc, ("", "")))}
                         for doc, grade in sorted(qrels[qid].items(), key=lambda x: -x[1]) if grade > 0],
            "model_top": docs(_top(model_run, qid), qid),
            "expansion": [{"term": term, "weight": round(float(weight), 3)} for term, weight in terms],
        }
        if bm25_run is not None:
            item["bm25_top"] = docs(_top(bm25_run, qid), qid)
        items.append(item)
    return items


def _snippet(doc: tuple[str, str]) -> str:
    text = f"{doc[0]}: {doc[1]}" if doc[0] else doc[1]
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[:SNIPPET - 1] + "…"


def render_errors(items: list[dict[str, Any]]) -> str:
    lines = ["# Error analysis: the model's worst queries", "",
             f"{len(items)} judged queries with the lowest NDCG@10, lowest first. Grade = qrels score "
             "(0 = not judged relevant).", ""]
    for item in items:
        lines += [f"## {item['query_id']}: {item['query']}", "",
                  f"NDCG@10 {item['ndcg_at_10']:.4f}. Relevant: "
                  + ", ".join(f"`{d['id']}` (grade {d['grade']})" for d in item["relevant"]), ""]
        if item["expansion"]:
            terms = ", ".join(f"{e['term']} {e['weight']:.2f}" for e in item["expansion"])
            lines += [f"Expansion: {terms}", ""]
        for key, title in (("model_top", "model"), ("bm25_top", "BM25")):
            if key not in item:
                continue
            lines.append(f"{title} top {TOP}:")
            lines += [f"1. `{d['id']}` score {d['score']:.3f}, grade {d['grade']}: {d['text']}"
                      for d in item[key]]
            lines.append("")
    return "\n".join(lines) + "\n"
