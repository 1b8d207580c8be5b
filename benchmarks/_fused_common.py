"""Shared pieces of the fused-head benchmarks: texts, BEIR loading, NDCG@10, results.

The default texts are docstrings of the installed Python standard library (real text present on
every machine, the project's embedded default corpus), cut into passages of about 150 words.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Callable
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


# --- devices: CUDA when present, peak memory, synchronised timing, largest batch ----------------

NO_CUDA = "no CUDA device: largest-batch search skipped"


def pick_device(requested: str | None) -> str:
    """`--device`: cuda when one is visible, else cpu; an explicit cuda without one is an error."""
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {requested}: no CUDA device is visible")
    return requested


def synchronize(device: str) -> None:
    """Wait for queued CUDA kernels, so that wall-clock time covers the work (no-op on CPU)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def free_cuda_memory() -> None:
    """Release what a failed attempt left: collect its tensors, then return cached blocks to CUDA."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def largest_batch(step: Callable[[int], Any], start: int = 1, limit: int = 4096,
                  cleanup: Callable[[], None] | None = free_cuda_memory) -> tuple[int, list[dict[str, Any]]]:
    """The largest n in [start, limit] for which `step(n)` runs without CUDA running out of memory.

    Doubles n from `start` until an attempt fails (or `limit` is reached), then bisects between
    the last batch that fit and the first that did not; `cleanup` runs after every attempt. Only
    torch.cuda.OutOfMemoryError counts as "does not fit", any other error propagates. Assumes
    that a batch fits whenever a larger one does. Returns (0, attempts) if even `start` fails;
    attempts lists every {"batch": n, "fits": bool} in order.
    """
    import torch

    attempts: list[dict[str, Any]] = []

    def fits(n: int) -> bool:
        try:
            step(n)
            ok = True
        except torch.cuda.OutOfMemoryError:
            ok = False
        finally:
            if cleanup is not None:
                cleanup()
        attempts.append({"batch": n, "fits": ok})
        return ok

    if not fits(start):
        return 0, attempts
    good, bad = start, None
    while bad is None and good < limit:
        candidate = min(2 * good, limit)
        if fits(candidate):
            good = candidate
        else:
            bad = candidate
    while bad is not None and bad - good > 1:
        middle = (good + bad) // 2
        if fits(middle):
            good = middle
        else:
            bad = middle
    return good, attempts


def cuda_note(device: str) -> str:
    """Where largest-batch figures come from, or why there are none (for JSON and Markdown)."""
    import torch

    if device.startswith("cuda"):
        return f"CUDA device {torch.cuda.get_device_name(device)}"
    if not torch.cuda.is_available():
        return NO_CUDA
    return f"--device {device}: largest-batch search skipped (it runs on CUDA only)"
