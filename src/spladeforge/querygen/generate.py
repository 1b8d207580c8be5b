"""Queries for a set of chunks from the configured backend, filtered, with the report of what was kept.

`generate_queries.backend`: `extractive` (offline; `querygen.extractive`), `seq2seq` (a doc2query
text-to-text model; `querygen.seq2seq`) or `openai` (an OpenAI-compatible chat endpoint;
`querygen.openai_chat`). Every backend's queries pass the per-query filters of `querygen.filters`,
then the global duplicate filter and the round-trip check, which flags queries
(`round_trip_ok`) rather than dropping them: `split` drops the flagged ones from training only.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from spladeforge.config import GenerateQueriesConfig
from spladeforge.errors import InputError
from spladeforge.querygen.extractive import ExtractiveGenerator, in_unspaced_script
from spladeforge.querygen.filters import QueryFilter
from spladeforge.querygen.openai_chat import openai_queries
from spladeforge.querygen.seq2seq import seq2seq_queries

logger = logging.getLogger(__name__)

# The report's headline counts, which the stage also returns as its summary.
SUMMARY_KEYS = ("backend", "chunks", "queries", "by_type", "chunks_without_query", "round_trip_failed")


def generate_queries(cfg: GenerateQueriesConfig, chunks: list[dict[str, Any]], seed: int,
                     source: str | Path = "chunks", language_code: str = "en",
                     ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The queries for `chunks` and the report for `queries.report.json` (`source` names the chunks
    in the error raised when no query passes the filters); `language_code`: the corpus language
    (`documents.meta.json`), whose words, sentences and BM25 the extractive queries and filters use."""
    unspaced = [c["id"] for c in chunks if in_unspaced_script(c["text"])] if cfg.backend == "extractive" else []
    if unspaced:
        problem = (f"{len(unspaced)} of {len(chunks)} chunks (e.g. {unspaced[0]!r}) are in scripts written without "
                   "spaces between words (Chinese, Japanese, Thai, ...), and the extractive backend builds "
                   "queries from space-separated words")
        alternatives = ("use generate_queries.backend: seq2seq (a multilingual doc2query model) or openai "
                        "(an LLM endpoint)")
        if len(unspaced) == len(chunks):
            raise InputError(f"{source}: {problem}; {alternatives}")
        logger.warning("%s: %s: they get no query; %s", source, problem, alternatives)
    generator = ExtractiveGenerator(cfg, chunks, seed, language_code)
    qfilter = QueryFilter(cfg.filters, language_code)
    extra: dict[str, Any] = {}
    if cfg.backend == "extractive":
        queries = []
        for chunk in tqdm(chunks, desc="generate-queries", unit=" chunks"):
            queries.extend(generator.generate(chunk, qfilter))
    elif cfg.backend == "seq2seq":
        queries = seq2seq_queries(cfg, chunks, seed, qfilter)
    else:
        queries, extra["openai"] = openai_queries(cfg, chunks, seed, qfilter, generator)
    # The SPLADE round trip reuses the chunks' vectors when expansion queries encoded them already.
    queries = qfilter.round_trip(qfilter.dedupe_global(queries), chunks, encoded=generator.encoded)
    if not queries:
        raise InputError(f"{source}: no query could be generated or none passed the filters "
                         f"(generated {dict(qfilter.generated)}, rejected "
                         f"{ {k: sum(v.values()) for k, v in qfilter.rejected.items()} }); "
                         "see generate_queries.filters")
    summary = {"backend": cfg.backend, "chunks": len(chunks), "queries": len(queries),
               "by_type": dict(Counter(q["type"] for q in queries)),
               "chunks_without_query": len(chunks) - len({q["chunk_id"] for q in queries}),
               "round_trip_failed": sum(not q.get("round_trip_ok", True) for q in queries)}
    return queries, {**summary, "language": language_code, **qfilter.report(queries), **extra}
