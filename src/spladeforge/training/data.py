"""Training and validation data for the trainer: tuple columns, teacher scores, the BEIR folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.errors import InputError
from spladeforge.io import iter_jsonl
from spladeforge.text import passage


def load_tuples(path: Path) -> tuple[dict[str, list[Any]], int, bool]:
    """Columns anchor, positive, negative_1..N (the order the loss reads them), and `scores`.

    Returns (columns, negatives per tuple, whether every tuple carries teacher scores).
    """
    rows = list(iter_jsonl(path, required=("anchor", "positive")))
    if not rows:
        raise InputError(f"{path}: no training tuples")
    n_neg = min(sum(1 for k in r if k.startswith("negative_") and k != "negative_ids") for r in rows)
    columns: dict[str, list[Any]] = {"anchor": [r["anchor"] for r in rows],
                                     "positive": [r["positive"] for r in rows]}
    for n in range(1, n_neg + 1):
        columns[f"negative_{n}"] = [r[f"negative_{n}"] for r in rows]
    has_scores = all(isinstance(r.get("scores"), list) and len(r["scores"]) >= n_neg + 1 for r in rows)
    if has_scores:
        columns["scores"] = [[float(s) for s in r["scores"][: n_neg + 1]] for r in rows]
    return columns, n_neg, has_scores


def with_labels(columns: dict[str, list[Any]], distill: str | None) -> dict[str, list[Any]]:
    """Turn teacher scores into the `label` column the distillation loss expects (or drop them)."""
    out = {k: v for k, v in columns.items() if k != "scores"}
    if distill == "margin-mse":
        out["label"] = [s[0] - s[1] for s in columns["scores"]]
    elif distill == "kl-div":
        out["label"] = columns["scores"]
    return out


def corpus_texts(columns: dict[str, list[Any]]) -> list[str]:
    """Distinct passages of the training tuples (for the IDF of inference-free and idf-flops)."""
    seen: dict[str, None] = {}
    for key, values in columns.items():
        if key == "positive" or key.startswith("negative_"):
            seen.update(dict.fromkeys(values))
    return list(seen)


def load_validation(folder: Path) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """Queries, corpus and relevant docs of a BEIR folder, for the in-training evaluator."""
    corpus = {d["_id"]: passage(d) for d in iter_jsonl(folder / "corpus.jsonl", required=("_id", "text"))}
    queries = {q["_id"]: q["text"] for q in iter_jsonl(folder / "queries.jsonl", required=("_id", "text"))}
    relevant: dict[str, set[str]] = {}
    qrels = folder / "qrels" / "test.tsv"
    if not qrels.is_file():
        raise InputError(f"{qrels}: file not found (a BEIR folder needs qrels/test.tsv)")
    for lineno, line in enumerate(qrels.read_text(encoding="utf-8").splitlines()[1:], start=2):
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].strip().lstrip("-").isdigit():
            raise InputError(f"{qrels}:{lineno}: expected query-id<TAB>corpus-id<TAB>integer score")
        if int(parts[2]) > 0:
            relevant.setdefault(parts[0], set()).add(parts[1])
    queries = {q: t for q, t in queries.items() if q in relevant}
    if not queries or not corpus:
        raise InputError(f"{folder}: the validation split has no judged queries or no corpus")
    return queries, corpus, relevant
