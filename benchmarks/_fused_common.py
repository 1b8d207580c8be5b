"""Shared pieces of the fused-head benchmarks (issue 9): texts, BEIR loading, NDCG@10, results.

The default texts are docstrings of the installed Python standard library (real text present on
every machine, the project's embedded default corpus), cut into passages of about 150 words.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).resolve().parent / "results"
STDLIB_MODULES = ("os", "json", "re", "collections", "itertools", "functools", "pathlib", "subprocess",
                  "argparse", "logging", "asyncio", "datetime", "decimal", "typing", "unittest",
                  "threading", "socket", "email", "http.client", "urllib.request", "csv", "sqlite3",
                  "zipfile", "tarfile", "shutil", "inspect", "dataclasses", "enum", "heapq", "random")


def stdlib_passages(words: int = 150) -> list[str]:
    """Docstring passages of about `words` words from the standard library, in a fixed order."""
    import importlib
    import inspect

    passages: list[str] = []
    for name in STDLIB_MODULES:
        module = importlib.import_module(name)
        docs = [inspect.getdoc(module) or ""]
        for _, obj in sorted(vars(module).items()):
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", "") == name:
                docs.append(f"{obj.__name__}: {inspect.getdoc(obj) or ''}")
        tokens = " ".join(docs).split()
        passages += [" ".join(tokens[i:i + words]) for i in range(0, len(tokens) - 20, words)]
    return passages


def synthetic_beir(n_docs: int = 2000, n_queries: int = 50) -> tuple[dict, dict, dict]:
    """A generated retrieval set: each query is a few words of its one relevant passage."""
    import random

    docs = stdlib_passages()[:n_docs]
    rng = random.Random(0)
    corpus = {f"d{i}": text for i, text in enumerate(docs)}
    queries, qrels = {}, {}
    for q in range(min(n_queries, len(docs))):
        i = rng.randrange(len(docs))
        words = docs[i].split()
        start = rng.randrange(max(1, len(words) - 8))
        queries[f"q{q}"] = " ".join(words[start:start + 6])
        qrels[f"q{q}"] = {f"d{i}": 1}
    return corpus, queries, qrels


def load_beir_folder(folder: Path) -> tuple[dict, dict, dict]:
    """Corpus (id -> 'title text'), judged queries, qrels {qid: {doc id: grade}} of a BEIR folder."""
    from spladeforge.evaluation.beir import load_beir

    data = load_beir(folder)
    corpus = {doc_id: f"{title} {text}".strip() for doc_id, (title, text) in data.corpus.items()}
    return corpus, dict(data.queries), {q: dict(rels) for q, rels in data.qrels.items()}


def ndcg_at_10(scores, doc_ids: list[str], query_ids: list[str], qrels: dict) -> float:
    """Mean NDCG@10 with gain = grade and log2 discount (trec_eval's ndcg_cut.10)."""
    import torch

    top = torch.topk(scores, k=min(10, scores.shape[1]), dim=1).indices.tolist()
    total = 0.0
    for row, qid in enumerate(query_ids):
        judged = qrels[qid]
        dcg = sum(judged.get(doc_ids[j], 0) / math.log2(rank + 2) for rank, j in enumerate(top[row]))
        ideal = sorted(judged.values(), reverse=True)[:10]
        idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
        total += dcg / idcg if idcg else 0.0
    return total / len(query_ids)


def machine() -> dict[str, Any]:
    import torch

    return {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "processor": platform.processor() or platform.machine(), "python": sys.version.split()[0],
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def write_results(name: str, figures: dict[str, Any], markdown: str, output: Path = RESULTS) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    (output / f"{name}.md").write_text(markdown, encoding="utf-8")
    print(markdown)
