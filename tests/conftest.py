"""Shared fixtures: a tiny real model and a tiny BEIR folder, built once per session.

No test downloads anything: models come from the PyPI packages behind `builtin:` references.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Stage manifests of CLI calls made by tests go to a scratch folder, never into the repository.
os.environ.setdefault("SPLADEFORGE_MANIFEST_DIR", tempfile.mkdtemp(prefix="spladeforge-test-manifests-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

TINY_CORPUS = {
    "d1": ("json", "The json module encodes Python objects as JSON strings and decodes JSON text "
                   "back into dictionaries and lists."),
    "d2": ("gzip", "The gzip module compresses and decompresses files in the gzip format, like the "
                   "GNU gzip and gunzip programs."),
    "d3": ("sqlite3", "The sqlite3 module provides a SQL interface to SQLite databases stored in a "
                      "single file on disk."),
    "d4": ("socket", "The socket module gives access to the BSD socket interface for network "
                     "connections over TCP and UDP."),
    "d5": ("random", "The random module generates pseudo-random numbers, shuffles sequences and "
                     "samples from distributions."),
    "d6": ("datetime", "The datetime module supplies classes for manipulating dates, times and "
                       "time zones."),
}
TINY_QUERIES = {
    "q1": ("decode json text into a dictionary", {"d1": 2}),
    "q2": ("compress a file with gzip", {"d2": 1}),
    "q3": ("sql database in a single file", {"d3": 1}),
    "q4": ("tcp network connection", {"d4": 2, "d2": 0}),
}


def write_beir(folder: Path, corpus=TINY_CORPUS, queries=TINY_QUERIES, split: str = "test") -> Path:
    """Write a BEIR-layout folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as fh:
        for doc_id, (title, text) in corpus.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as fh:
        for qid, (text, _) in queries.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (folder / "qrels").mkdir(exist_ok=True)
    with open(folder / "qrels" / f"{split}.tsv", "w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, (_, rels) in queries.items():
            for doc_id, score in rels.items():
                fh.write(f"{qid}\t{doc_id}\t{score}\n")
    return folder


@pytest.fixture(scope="session")
def tiny_beir_dir(tmp_path_factory) -> Path:
    return write_beir(tmp_path_factory.mktemp("beir") / "tiny")


@pytest.fixture(scope="session")
def base_model():
    """The built-in BERT-tiny SPLADE as a SparseEncoder, loaded once per session."""
    from spladeforge.models.build import load_sparse_encoder

    return load_sparse_encoder("builtin:splade-tiny", max_seq_length=128, device="cpu")


@pytest.fixture(scope="session")
def _saved_model_dir(tmp_path_factory, base_model) -> Path:
    folder = tmp_path_factory.mktemp("model") / "splade"
    base_model.save(str(folder))
    (folder / "spladeforge.json").write_text(json.dumps({
        "base_model": "builtin:splade-tiny", "architecture": "splade", "max_seq_length": 128,
    }))
    return folder


@pytest.fixture()
def model_dir(tmp_path, _saved_model_dir) -> Path:
    """A saved SparseEncoder folder (the untrained base model) that a test may modify."""
    dest = tmp_path / "splade"
    shutil.copytree(_saved_model_dir, dest)
    return dest


_REPO = Path(__file__).resolve().parents[1]
_PIPELINE_OUTPUTS = ("data", "models", "reports", "export", "mlflow.db", "mlruns", "mlartifacts", "dvc.lock")


@pytest.fixture(scope="session", autouse=True)
def _repository_stays_clean():
    """No test may leave pipeline outputs in the working tree (they belong in tmp_path)."""
    before = {name for name in _PIPELINE_OUTPUTS if (_REPO / name).exists()}
    yield
    after = {name for name in _PIPELINE_OUTPUTS if (_REPO / name).exists()}
    assert after <= before, f"tests left {sorted(after - before)} in {_REPO}"


# A test set on which the built-in base model is imperfect (NDCG@10 about 0.85, 9 of 24 queries
# below 1): a gate test can make up a challenger that is clearly better or worse than it.
_GATE_WORDS = ("json gzip sqlite socket random datetime regex thread http csv decimal fractions pickle shelve "
               "logging argparse pathlib shutil tempfile hashlib hmac secrets uuid zipfile tarfile").split()


def gate_corpus() -> tuple[dict, dict]:
    import random

    rng = random.Random(0)
    corpus, queries = {}, {}
    for d in range(40):
        ws = rng.sample(_GATE_WORDS, 4)
        corpus[f"d{d:02d}"] = (ws[0], f"The {ws[0]} module works with {ws[1]} and {ws[2]} data, unlike {ws[3]}.")
    for q in range(24):
        ws = rng.sample(_GATE_WORDS, 2)
        rels = {d: 1 + (t == ws[0]) for d, (t, x) in corpus.items() if ws[0] in x and ws[1] in x}
        queries[f"q{q:02d}"] = (f"{ws[0]} with {ws[1]}", rels or {d: 1 for d, (_, x) in corpus.items() if ws[0] in x})
    return corpus, queries


@pytest.fixture(scope="session")
def gate_task_dir(tmp_path_factory) -> Path:
    corpus, queries = gate_corpus()
    return write_beir(tmp_path_factory.mktemp("gate") / "test", corpus=corpus, queries=queries)


def write_gate_inputs(folder: Path, task_dir: Path, model, base=0.40, *, figures: dict | None = None,
                      name: str = "eval") -> tuple[Path, Path]:
    """What evaluate writes for register, for made-up scores: `<name>.json` (metrics.json) and the
    folder `<name>/` holding per_query.json. `model`/`base`: one figure for every query of
    `task_dir` (a constant gain is certain) or {query id: NDCG@10}; base None leaves it out."""
    from spladeforge.evaluation.beir import load_beir

    data = load_beir(task_dir)

    def per_query(value) -> dict[str, float]:
        return dict(value) if isinstance(value, dict) else {qid: float(value) for qid in data.queries}

    systems = {"model": per_query(model)} | ({"base": per_query(base)} if base is not None else {})
    mean = {system: sum(v.values()) / len(v) for system, v in systems.items()}
    metrics = {"model_ndcg_at_10": round(mean["model"], 4), "bm25_ndcg_at_10": 0.35,
               "model_mrr_at_10": round(mean["model"], 4), "model_query_active_dims": 31.5,
               "num_queries": len(data.queries), "note": "not a number", "set_sha256": data.content_sha256()}
    if base is not None:
        metrics["base_ndcg_at_10"] = round(mean["base"], 4)
    metrics.update(figures or {})
    eval_dir = folder / name
    eval_dir.mkdir(parents=True, exist_ok=True)
    (eval_dir / "per_query.json").write_text(json.dumps({"held-out": systems}))
    metrics_path = folder / f"{name}.json"
    metrics_path.write_text(json.dumps(metrics))
    return metrics_path, eval_dir
