"""split: train, dev and test sides by source document.

Reads `queries.jsonl` and `chunks.jsonl`; writes the training rows (`train.jsonl`: query_id,
query, type, chunk_id, doc_id, and `positive` when the query carries one) and the dev and test
sides as BEIR folders, the layout `evaluate` reads for any other task: `corpus.jsonl` (every
chunk of every document, as the deployed index holds them), `queries.jsonl`, `qrels/test.tsv`
with graded judgments (`spladeforge.evaluation.beir.write_beir`), and in the test folder
`split.json`, the split's identity (`splitting.split_identity`, which register tags versions
with); the three outputs appear
together (`io.atomic_outputs`). Dev drives training's checkpoint choice and early stopping, test
the promotion gate. The algorithm (the seeded sides, the relevance rule, the near-duplicate leak
check, the round-trip flags) lives in `spladeforge.splitting`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.config import SplitConfig
from spladeforge.evaluation.beir import write_beir
from spladeforge.errors import InputError
from spladeforge.io import atomic_outputs, iter_jsonl, write_json, write_jsonl
from spladeforge.splitting import SPLIT_IDENTITY, split_by_document

# mine draws every negative from another training document (mining.negatives), so training
# queries from one document cannot be mined: refused here, before split writes anything.
MIN_TRAINING_DOCUMENTS = 2


def run(cfg: SplitConfig, queries_path: Path, chunks_path: Path, train_output: Path, dev_output: Path,
        test_output: Path, seed: int) -> dict[str, Any]:
    chunks = {c["id"]: c for c in iter_jsonl(chunks_path, required=("id", "doc_id", "text"))}
    queries = list(iter_jsonl(queries_path, required=("id", "chunk_id", "text")))
    split = split_by_document(cfg, queries, chunks, seed, queries_path, chunks_path)
    refuse_unminable(split.train, queries_path)
    corpus = {c["id"]: (c.get("title", ""), c["text"]) for c in split.corpus}
    with atomic_outputs(train_output, dev_output, test_output, folders=(dev_output, test_output)) as (
            train_tmp, dev_tmp, test_tmp):
        for held, tmp in ((split.dev, dev_tmp), (split.test, test_tmp)):
            write_beir(tmp, corpus=corpus, queries={r["query_id"]: r["query"] for r in held.rows}, qrels=held.qrels)
        write_json(test_tmp / SPLIT_IDENTITY, split.identity)
        write_jsonl(train_tmp, split.train)
    return {**split.counts(), "outputs": [str(train_output), str(dev_output), str(test_output)]}


def refuse_unminable(train: list[dict[str, Any]], queries_path: Path) -> None:
    """InputError when the training side is one mine cannot use (queries from a single document)."""
    documents = {row["doc_id"] for row in train}
    if len(documents) < MIN_TRAINING_DOCUMENTS:
        raise InputError(f"{queries_path}: after holding out dev and test documents, the training queries come "
                         f"from {len(documents)} document(s); mine draws negatives from other training documents "
                         f"and needs at least {MIN_TRAINING_DOCUMENTS}, so the corpus needs at least "
                         f"{MIN_TRAINING_DOCUMENTS + 2} documents with queries (add documents, or lower "
                         "split.dev_fraction / split.test_fraction if they hold out more than one each)")
