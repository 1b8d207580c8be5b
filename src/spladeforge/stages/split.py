"""split: hold out whole source documents for validation.

Reads `queries.jsonl` and `chunks.jsonl`; writes the training rows (`train.jsonl`: query_id,
query, type, chunk_id, doc_id) and the validation side as a BEIR folder, the same layout
`evaluate` reads for any other task: `corpus.jsonl` (the held-out documents' chunks),
`queries.jsonl`, `qrels/test.tsv` (`spladeforge.evaluation.beir.write_beir`); both outputs appear
together (`io.atomic_outputs`). The algorithm (the seeded split by document, the near-duplicate leak
check, the round-trip flags) lives in `spladeforge.splitting`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.config import SplitConfig
from spladeforge.evaluation.beir import write_beir
from spladeforge.io import atomic_outputs, iter_jsonl, write_jsonl
from spladeforge.splitting import split_by_document


def run(cfg: SplitConfig, queries_path: Path, chunks_path: Path, train_output: Path,
        validation_output: Path, seed: int) -> dict[str, Any]:
    chunks = {c["id"]: c for c in iter_jsonl(chunks_path, required=("id", "doc_id", "text"))}
    queries = list(iter_jsonl(queries_path, required=("id", "chunk_id", "text")))
    split = split_by_document(cfg, queries, chunks, seed, queries_path, chunks_path)
    with atomic_outputs(train_output, validation_output, folders=(validation_output,)) as (train_tmp, tmp):
        write_beir(tmp, corpus={c["id"]: (c.get("title", ""), c["text"]) for c in split.corpus},
                   queries={r["query_id"]: r["query"] for r in split.validation},
                   qrels={r["query_id"]: {r["chunk_id"]: 1} for r in split.validation})
        write_jsonl(train_tmp, split.train)
    return {**split.counts(), "outputs": [str(train_output), str(validation_output)]}
