"""Stage `quantize`: export the trained model to ONNX, quantize it to INT8, measure what it costs.

Writes `out_dir/` (`model_int8.onnx`, tokenizer files, `spladeforge.json`) and `report_path`,
a flat JSON dict: NDCG@10 of the fp32 torch model and of the INT8 model on the task (both
through the same MTEB path), their difference, the document encoding speed ratio, file sizes
and the INT8 model's active dimensions. The fp32 ONNX graph is checked against the torch model
before it is quantized, so a broken export fails here rather than as a quality drop.

With `quantize.prune_vocabulary`, the folder also holds `model_int8_pruned.onnx` and
`kept_token_ids.json` (see `models.vocab_pruning`): the MLM head cut to the tokens the task's
documents and queries activate. Its fp32 graph is checked against the torch model the same way,
and the report gains `pruned_*` figures (size, NDCG@10 and its change against fp32, speed ratio).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from spladeforge.config import QuantizeConfig
from spladeforge.evaluation.beir import BeirData, load_beir
from spladeforge.io import atomic_output, write_json
from spladeforge.text import passage

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder

    from spladeforge.models.onnx_encoder import OnnxSparseEncoder

# QuantizeConfig has no batch size: both encoders use this one, so the speed ratio is fair.
BATCH_SIZE = 32
# fp32 ONNX vs torch, largest absolute difference of a SPLADE weight (weights reach ~3-5).
# Observed on BERT-tiny: ~5e-6.
FP32_TOLERANCE = 1e-3
CHECK_TEXTS = 64


def run(cfg: QuantizeConfig, model_dir: Path, task_dir: Path, out_dir: Path, report_path: Path) -> dict:
    """Export, check, quantize and evaluate; return the report."""
    from spladeforge.evaluation.mteb_task import LocalRetrievalTask
    from spladeforge.evaluation.systems import evaluate_model
    from spladeforge.models.onnx_encoder import OnnxSparseEncoder
    from spladeforge.models.onnx_export import FP32_FILE, INT8_FILE, export_onnx, quantize_int8
    from spladeforge.models.saved import load_saved_model
    from spladeforge.models.vocab_pruning import PRUNED_INT8_FILE, activated_token_ids, export_pruned

    data = load_beir(task_dir)
    # CPU on purpose: INT8 ONNX is a CPU serving format, so the speed ratio is CPU against CPU.
    model, meta = load_saved_model(model_dir, device="cpu")
    task = LocalRetrievalTask(data)
    with atomic_output(out_dir, directory=True) as tmp:
        export_onnx(model, tmp, opset=cfg.opset, extra_meta={
            "base_model": meta["base_model"]})
        max_diff = max_abs_difference(model, OnnxSparseEncoder(tmp, FP32_FILE), check_texts(data))
        if max_diff > FP32_TOLERANCE:
            raise RuntimeError(f"the fp32 ONNX export differs from the torch model by {max_diff:.2e} "
                               f"(tolerance {FP32_TOLERANCE:.0e}); not quantizing a broken export")
        quantize_int8(tmp, per_channel=cfg.per_channel)
        fp32_size = (tmp / FP32_FILE).stat().st_size
        int8_size = (tmp / INT8_FILE).stat().st_size
        (tmp / FP32_FILE).unlink()  # the INT8 model is the deliverable
        fp32 = evaluate_model(model, task, name="fp32", batch_size=BATCH_SIZE)
        int8 = evaluate_model(OnnxSparseEncoder(tmp), task, name="int8", batch_size=BATCH_SIZE)
        pruned: dict[str, float] = {}
        if cfg.prune_vocabulary:
            documents = [passage({"title": t, "text": x}) for t, x in data.corpus.values()]
            keep = activated_token_ids(model, documents, list(data.queries.values()), BATCH_SIZE)
            pruned_fp32 = export_pruned(model, tmp, keep, opset=cfg.opset, per_channel=cfg.per_channel)
            pruned_diff = max_abs_difference(model, OnnxSparseEncoder(tmp, pruned_fp32.name),
                                             check_texts(data))
            if pruned_diff > FP32_TOLERANCE:
                raise RuntimeError(f"the pruned fp32 ONNX graph differs from the torch model by "
                                   f"{pruned_diff:.2e} (tolerance {FP32_TOLERANCE:.0e})")
            pruned_fp32.unlink()
            scores = evaluate_model(OnnxSparseEncoder(tmp, PRUNED_INT8_FILE), task, name="int8-pruned",
                                    batch_size=BATCH_SIZE)
            pruned = {
                "pruned_vocab_size": len(keep),
                "pruned_int8_size_bytes": (tmp / PRUNED_INT8_FILE).stat().st_size,
                "pruned_int8_ndcg_at_10": round(scores["ndcg_at_10"], 4),
                "pruned_ndcg_at_10_change": round(scores["ndcg_at_10"] - fp32["ndcg_at_10"], 4),
                "pruned_encode_speed_ratio": round(scores["docs_per_second"] / fp32["docs_per_second"], 3),
                "pruned_int8_docs_per_second": round(scores["docs_per_second"], 2),
                "pruned_int8_doc_active_dims": round(scores["doc_active_dims"], 2),
                "pruned_onnx_fp32_max_abs_diff": float(f"{pruned_diff:.3g}"),
            }

    report = {
        "fp32_ndcg_at_10": round(fp32["ndcg_at_10"], 4),
        "int8_ndcg_at_10": round(int8["ndcg_at_10"], 4),
        "ndcg_at_10_change": round(int8["ndcg_at_10"] - fp32["ndcg_at_10"], 4),
        "encode_speed_ratio": round(int8["docs_per_second"] / fp32["docs_per_second"], 3),
        "fp32_docs_per_second": round(fp32["docs_per_second"], 2),
        "int8_docs_per_second": round(int8["docs_per_second"], 2),
        "fp32_size_bytes": fp32_size,
        "int8_size_bytes": int8_size,
        "fp32_doc_active_dims": round(fp32["doc_active_dims"], 2),
        "int8_doc_active_dims": round(int8["doc_active_dims"], 2),
        "onnx_fp32_max_abs_diff": float(f"{max_diff:.3g}"),
        "num_queries": len(data.queries),
        "num_documents": len(data.corpus),
        **pruned,
    }
    write_json(report_path, report)
    return report


def check_texts(data: BeirData, limit: int = CHECK_TEXTS) -> list[str]:
    """Passages as the model sees them (title, then text) and queries, for the fp32 check."""
    passages = [passage({"title": title, "text": text}) for title, text in list(data.corpus.values())[:limit]]
    return passages + list(data.queries.values())[:limit]


def max_abs_difference(model: SparseEncoder, onnx_encoder: OnnxSparseEncoder, texts: list[str]) -> float:
    """Largest |torch - onnx| over all SPLADE weights of `texts`."""
    reference = model.encode_document(texts, batch_size=BATCH_SIZE, convert_to_sparse_tensor=False)
    exported = onnx_encoder.encode_document(texts, batch_size=BATCH_SIZE, convert_to_sparse_tensor=False)
    return float((reference.cpu() - exported).abs().max())
