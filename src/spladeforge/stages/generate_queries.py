"""generate-queries: make training queries for each chunk of `chunks.jsonl`.

Writes `queries.jsonl` (id, chunk_id, doc_id, text, type, backend, round_trip_ok) and
`<output stem>.report.json` (`queries.report.json`): how many queries each filter rejected, per
filter and type, and the endpoint's request counts for the `openai` backend. The algorithm lives
in `spladeforge.querygen.generate`: the backend (`extractive`, `seq2seq`, `openai`) writes
candidates, the filters of `spladeforge.querygen.filters` keep or flag them. Every draw is seeded
by the run seed and the chunk id, so the output does not depend on chunk order. The corpus
language is the one ingest recorded in `documents.meta.json` (English without it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.config import GenerateQueriesConfig
from spladeforge.errors import InputError
from spladeforge.io import atomic_outputs, iter_jsonl, write_json, write_jsonl
from spladeforge.language import corpus_language
from spladeforge.querygen.generate import SUMMARY_KEYS, generate_queries


def report_path(output: Path) -> Path:
    """`queries.jsonl` -> `queries.report.json`."""
    return output.with_name(output.name.split(".")[0] + ".report.json")


def run(cfg: GenerateQueriesConfig, chunks_path: Path, output: Path, seed: int,
        documents_meta: Path | None = None) -> dict[str, Any]:
    chunks = list(iter_jsonl(chunks_path, required=("id", "doc_id", "text")))
    if not chunks:
        raise InputError(f"{chunks_path}: no chunks to generate queries for")
    queries, report = generate_queries(cfg, chunks, seed, source=chunks_path,
                                       language_code=corpus_language(documents_meta))
    with atomic_outputs(output, report_path(output)) as (queries_tmp, report_tmp):
        write_jsonl(queries_tmp, queries)
        write_json(report_tmp, report)
    return {**{key: report[key] for key in SUMMARY_KEYS}, "rejected": report["rejected_total"],
            "output": str(output), "report": str(report_path(output))}
