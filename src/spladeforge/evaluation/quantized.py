"""What INT8 costs: NDCG@10 and document encoding speed of the fp32 torch model against its INT8
ONNX export (and the vocabulary-pruned INT8 graph, if any) on one task.

Every model is scored through the same MTEB path (`systems.evaluate_model`), on CPU with the same
batch size, so the quality change and the speed ratio compare like with like. For an
inference-free model the INT8 system is the pair that gets served: the INT8 document graph and
the `idf.json` token-weight table for queries. The report also times single queries through the
exported encoder (`int8_query_latency_p50_ms`): for an inference-free model that is a tokenizer
call and a table lookup.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spladeforge.evaluation.beir import BeirData
from spladeforge.evaluation.mteb_task import LocalRetrievalTask
from spladeforge.evaluation.systems import evaluate_model
from spladeforge.models.int8 import Int8Export, PrunedExport
from spladeforge.models.onnx_encoder import OnnxSparseEncoder
from spladeforge.models.vocab_pruning import PRUNED_INT8_FILE
from spladeforge.text import passage

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder

# QuantizeConfig has no batch size: both encoders use this one, so the speed ratio is fair.
BATCH_SIZE = 32
CHECK_TEXTS = 64
# Queries timed one at a time through the exported encoder; 100 give a stable median.
LATENCY_QUERIES = 100


def corpus_passages(data: BeirData) -> list[str]:
    """Passages as the model sees them: title, then text."""
    return [passage({"title": title, "text": text}) for title, text in data.corpus.values()]


def check_texts(data: BeirData, limit: int = CHECK_TEXTS) -> list[str]:
    """Passages and queries of the task, for checking an fp32 ONNX graph against the torch model."""
    passages = [passage({"title": title, "text": text}) for title, text in list(data.corpus.values())[:limit]]
    return passages + list(data.queries.values())[:limit]


def query_latency_p50_ms(encoder: OnnxSparseEncoder, queries: list[str]) -> float:
    """Median milliseconds to encode one query with `encoder` (after one warm-up call)."""
    if not queries:
        return 0.0
    encoder.encode_query(queries[0])
    seconds = []
    for query in queries[:LATENCY_QUERIES]:
        start = time.perf_counter()
        encoder.encode_query(query)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds) * 1000.0)


def int8_report(model: SparseEncoder, data: BeirData, folder: Path, exported: Int8Export,
                pruned: PrunedExport | None = None) -> dict[str, Any]:
    """The quantize report: fp32 against INT8 (and pruned INT8) on `data`, sizes, the export checks."""
    task = LocalRetrievalTask(data)
    fp32 = evaluate_model(model, task, name="fp32", batch_size=BATCH_SIZE)
    encoder = OnnxSparseEncoder(folder)
    int8 = evaluate_model(encoder, task, name="int8", batch_size=BATCH_SIZE)
    report = {
        "architecture": encoder.meta.get("architecture", "splade"),
        "query_encoder": "token-weight table" if encoder.static_queries is not None else "onnx graph",
        "fp32_ndcg_at_10": round(fp32["ndcg_at_10"], 4),
        "int8_ndcg_at_10": round(int8["ndcg_at_10"], 4),
        "ndcg_at_10_change": round(int8["ndcg_at_10"] - fp32["ndcg_at_10"], 4),
        "encode_speed_ratio": round(int8["docs_per_second"] / fp32["docs_per_second"], 3),
        "fp32_docs_per_second": round(fp32["docs_per_second"], 2),
        "int8_docs_per_second": round(int8["docs_per_second"], 2),
        "fp32_size_bytes": exported.fp32_size_bytes,
        "int8_size_bytes": exported.int8_size_bytes,
        "fp32_doc_active_dims": round(fp32["doc_active_dims"], 2),
        "int8_doc_active_dims": round(int8["doc_active_dims"], 2),
        "fp32_query_active_dims": round(fp32["query_active_dims"], 2),
        "int8_query_active_dims": round(int8["query_active_dims"], 2),
        "int8_query_latency_p50_ms": round(query_latency_p50_ms(encoder, list(data.queries.values())), 4),
        "onnx_fp32_max_abs_diff": float(f"{exported.fp32_max_abs_diff:.3g}"),
        "num_queries": len(data.queries),
        "num_documents": len(data.corpus),
    }
    if pruned is None:
        return report
    scores = evaluate_model(OnnxSparseEncoder(folder, PRUNED_INT8_FILE), task, name="int8-pruned",
                            batch_size=BATCH_SIZE)
    return {
        **report,
        "pruned_vocab_size": pruned.vocab_size,
        "pruned_int8_size_bytes": pruned.int8_size_bytes,
        "pruned_int8_ndcg_at_10": round(scores["ndcg_at_10"], 4),
        "pruned_ndcg_at_10_change": round(scores["ndcg_at_10"] - fp32["ndcg_at_10"], 4),
        "pruned_encode_speed_ratio": round(scores["docs_per_second"] / fp32["docs_per_second"], 3),
        "pruned_int8_docs_per_second": round(scores["docs_per_second"], 2),
        "pruned_int8_doc_active_dims": round(scores["doc_active_dims"], 2),
        "pruned_onnx_fp32_max_abs_diff": float(f"{pruned.fp32_max_abs_diff:.3g}"),
    }
