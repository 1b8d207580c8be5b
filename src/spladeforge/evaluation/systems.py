"""The retrieval systems an evaluate run compares, and running one through MTEB on a task.

A "system" is either a sparse encoder (anything with SparseEncoder's `encode_query` /
`encode_document`: a `SparseEncoder`, the INT8 `OnnxSparseEncoder`, a test double) or an MTEB
search model such as BM25. Sparse encoders are adapted by `SparseSystem`, which also measures
what MTEB does not report: mean active dimensions and document encoding speed, taken from the
very embeddings MTEB scores, so the corpus is encoded once.

`build_systems` lines up the evaluate stage's systems, all on the same corpus and judged queries:
the trained model (and its INT8 ONNX export when given), the base model, BM25, a dense model and
the sparse+dense hybrid. Sparse and dense systems retrieve through spladeforge's own indexes
(`evaluation.search`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta
from mteb.types import PromptType

from spladeforge.config import EvaluateConfig
from spladeforge.evaluation.mteb_task import SPLIT, LocalRetrievalTask
from spladeforge.evaluation.search import HybridSearch, IndexedSearch, RecordingSearch
from spladeforge.language import language, recorded_code
from spladeforge.models.build import load_dense_encoder, resolve_device
from spladeforge.models.fused_head import enable_fused_head
from spladeforge.models.onnx_encoder import OnnxSparseEncoder
from spladeforge.models.saved import load_base_model, load_saved_model

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader

HEADLINE_METRICS = ("ndcg_at_10", "mrr_at_10", "recall_at_10", "recall_at_100", "recall_at_1000",
                    "map_at_100")


class SparseSystem(AbsEncoder):
    """MTEB encoder around any object with SparseEncoder's `encode_query`/`encode_document`.

    MTEB's `SparseEncoderWrapper` accepts only a `SparseEncoder` and names every local one
    `no_model_name/available`, so the trained and the base model would overwrite each other's
    result file; this adapter takes the ONNX encoder too and gives each system its own name.
    """

    def __init__(self, encoder: Any, name: str) -> None:
        self.model = encoder
        self.mteb_model_meta = ModelMeta.create_empty(overwrites={
            "name": f"spladeforge/{name}",
            "revision": "local",
            "model_type": ["sparse"],
            "framework": ["Sentence Transformers", "PyTorch"],
        })
        # prompt type -> [texts encoded, sum of active dims, seconds]
        self._stats = {PromptType.query: [0, 0.0, 0.0], PromptType.document: [0, 0.0, 0.0]}

    def encode(
        self,
        inputs: DataLoader,
        *,
        task_metadata: Any,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        from sentence_transformers.sparse_encoder import SparseEncoder

        texts = [text for batch in inputs for text in batch["text"]]
        is_query = prompt_type == PromptType.query
        encode = self.model.encode_query if is_query else self.model.encode_document
        start = time.perf_counter()
        embeddings = encode(texts, batch_size=kwargs.get("batch_size", 32),
                            show_progress_bar=kwargs.get("show_progress_bar", False),
                            convert_to_sparse_tensor=True)
        seconds = time.perf_counter() - start
        stats = self._stats[PromptType.query if is_query else PromptType.document]
        stats[0] += len(texts)
        stats[1] += SparseEncoder.sparsity(embeddings)["active_dims"] * len(texts)
        stats[2] += seconds
        return embeddings

    def similarity(self, embeddings1: torch.Tensor, embeddings2: torch.Tensor) -> torch.Tensor:
        if callable(getattr(self.model, "similarity", None)):
            return self.model.similarity(embeddings1, embeddings2)
        from sentence_transformers.util import dot_score

        return dot_score(embeddings1, embeddings2)

    def stats(self) -> dict[str, float]:
        """Mean active dimensions of what was encoded, and documents encoded per second."""
        (nq, q_dims, _), (nd, d_dims, d_seconds) = self._stats.values()
        return {
            "query_active_dims": q_dims / nq if nq else 0.0,
            "doc_active_dims": d_dims / nd if nd else 0.0,
            "docs_per_second": nd / d_seconds if d_seconds else 0.0,
        }


def bm25_system(k1: float = 1.5, b: float = 0.75, language_code: str = "en") -> Any:
    """MTEB's bm25s baseline, tokenized as `retrieval.bm25` tokenizes for the corpus language: English
    stopwords and the Snowball English stemmer (PyStemmer) for English; otherwise the language's
    Unicode words, stopwords and stemmer (`Language.bm25_terms`), with MTEB's frequency-based
    stopwords off, as bm25s has none."""
    from mteb.models.model_implementations.bm25 import BM25Search, bm25_s

    if language_code == "en":
        search = BM25Search(stopwords="en", stemmer_language="english", k1=k1, b=b, method="lucene")
    else:
        search = BM25Search(tokenizer=language(language_code).bm25_terms, freq_threshold=0.0, k1=k1, b=b,
                            method="lucene")
    search.mteb_model_meta = bm25_s.model_copy(update={"name": "spladeforge/bm25"})
    return search


def evaluate_model(
    encoder: Any,
    task: LocalRetrievalTask | Any,
    *,
    name: str = "model",
    batch_size: int = 32,
    output_dir: Path | None = None,
    show_progress_bar: bool = True,
) -> dict[str, float]:
    """Evaluate a sparse encoder or an MTEB search model on `task` through `mteb.evaluate`.

    Returns ndcg_at_10, mrr_at_10, recall_at_100 and seconds; for sparse encoders also
    query_active_dims, doc_active_dims and docs_per_second. With `output_dir`, MTEB's result
    files go to `output_dir/mteb/` and each query's top 100 to `output_dir/predictions/<name>/`;
    they are always recomputed, never read back from an earlier run.
    """
    import mteb

    system = SparseSystem(encoder, name) if hasattr(encoder, "encode_document") else encoder
    task.load_data()  # loaded here, MTEB keeps it for the next system instead of unloading it
    cache = prediction_folder = None
    if output_dir is not None:
        cache = mteb.ResultCache(Path(output_dir) / "mteb")
        prediction_folder = Path(output_dir) / "predictions" / name
        # MTEB merges predictions into an existing file; start from none (for this task only:
        # the folder holds one file per task).
        (prediction_folder / f"{task.metadata.name}_predictions.json").unlink(missing_ok=True)
    start = time.perf_counter()
    result = mteb.evaluate(
        system,
        task,
        cache=cache,
        overwrite_strategy="always",
        co2_tracker=False,
        encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress_bar},
        prediction_folder=prediction_folder,
        show_progress_bar=show_progress_bar,
    )
    split_scores = result.task_results[0].scores
    scores = (split_scores[SPLIT] if SPLIT in split_scores else next(iter(split_scores.values())))[0]
    metrics = {key: float(scores[key]) for key in HEADLINE_METRICS if key in scores}
    metrics["seconds"] = time.perf_counter() - start
    if callable(getattr(system, "stats", None)):
        metrics.update(system.stats())
    return metrics


def build_systems(cfg: EvaluateConfig, model_dir: Path, meta: dict, int8_dir: Path | None) -> dict[str, Any]:
    """name -> MTEB search model, in report order; the hybrid reuses the model's and dense runs."""
    device = resolve_device("auto")
    systems: dict[str, Any] = {"model": model_system(cfg, model_dir, device)}
    if int8_dir is not None:
        systems["int8"] = IndexedSearch(OnnxSparseEncoder(int8_dir), "int8", "sparse", cfg.batch_size)
    if cfg.compare_base:
        base = load_base_model(model_dir, meta, device=device)
        if cfg.fused_head:
            enable_fused_head(base)
        systems["base"] = IndexedSearch(base, "base", "sparse", cfg.batch_size)
    if cfg.compare_bm25:
        documents = (meta.get("provenance") or {}).get("documents")  # ingest's record, carried by the model
        systems["bm25"] = RecordingSearch(bm25_system(language_code=recorded_code(documents)))
    if cfg.dense_model:
        dense = load_dense_encoder(cfg.dense_model, key="evaluate.dense_model", device=device)
        # The trained model's truncation, so both read the same words (and the dense model,
        # 6 layers of 384, costs half as much as at its own 256 tokens).
        dense.max_seq_length = min(dense.max_seq_length or meta["max_seq_length"], meta["max_seq_length"])
        systems["dense"] = IndexedSearch(dense, "dense", "dense", cfg.batch_size)
        systems["hybrid"] = HybridSearch(systems["model"], systems["dense"], cfg.hybrid_weight)
    return systems


def model_system(cfg: EvaluateConfig, model_dir: Path, device: str) -> IndexedSearch:
    """The trained model as the `model` search system (fused head when `evaluate.fused_head`)."""
    model, _ = load_saved_model(model_dir, device=device)
    if cfg.fused_head:
        enable_fused_head(model)  # same function, ~3x faster document encoding; False if unsupported
    return IndexedSearch(model, "model", "sparse", cfg.batch_size)
