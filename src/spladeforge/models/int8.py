"""Export a trained model (SPLADE, inference-free or CSR) to INT8 ONNX, checking each fp32 export
against torch first.

The fp32 ONNX export is compared with the torch model on a sample of texts, encoded as documents
and as queries (an inference-free model's queries go through its token-weight table), before it
is quantized, so a broken export fails here rather than showing up later as a quality drop. The
folder then holds the INT8 model only (the fp32 graph is a step on the way). With a list of kept
token ids the vocabulary-pruned graph (`models.vocab_pruning`) is exported, checked and quantized
the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from spladeforge.models.onnx_encoder import OnnxSparseEncoder
from spladeforge.models.onnx_export import FP32_FILE, INT8_FILE, export_onnx, quantize_int8
from spladeforge.models.vocab_pruning import PRUNED_INT8_FILE, export_pruned

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder

# fp32 ONNX vs torch, largest absolute difference of a SPLADE weight (weights reach ~3-5).
# Observed on BERT-tiny: ~5e-6.
FP32_TOLERANCE = 1e-3
CHECK_BATCH_SIZE = 32


@dataclass(frozen=True)
class Int8Export:
    fp32_size_bytes: int
    int8_size_bytes: int
    fp32_max_abs_diff: float  # the fp32 ONNX graph against the torch model


@dataclass(frozen=True)
class PrunedExport:
    vocab_size: int  # tokens kept
    int8_size_bytes: int
    fp32_max_abs_diff: float


def max_abs_difference(model: SparseEncoder, onnx_encoder: OnnxSparseEncoder, texts: list[str]) -> float:
    """Largest |torch - onnx| over all weights of `texts` encoded as documents and as queries."""
    worst = 0.0
    for side in ("encode_document", "encode_query"):
        reference = getattr(model, side)(texts, batch_size=CHECK_BATCH_SIZE, convert_to_sparse_tensor=False)
        exported = getattr(onnx_encoder, side)(texts, batch_size=CHECK_BATCH_SIZE, convert_to_sparse_tensor=False)
        worst = max(worst, _difference(reference.cpu().float(), exported.float(),
                                       top_k=onnx_encoder.meta.get("output") == "latent"))
    return worst


def _difference(reference: torch.Tensor, exported: torch.Tensor, *, top_k: bool) -> float:
    """max |reference - exported|; for a top-k output (CSR) a boundary swap does not count.

    When the k-th and (k+1)-th pre-activations of a row are within float rounding of each other,
    torch and onnxruntime may keep different ones: one side has 0 where the other has a value at
    the row's smallest kept weight. With ~1,500 latents that happens to a few texts in a
    hundred; it changes no score beyond that rounding, so it is not an export error.
    """
    diff = (reference - exported).abs()
    if top_k:
        floor = torch.where(reference > 0, reference, torch.inf).amin(dim=1, keepdim=True)
        one_sided = (reference == 0) | (exported == 0)
        swapped = one_sided & (torch.maximum(reference, exported) <= floor + FP32_TOLERANCE)
        diff = diff.masked_fill(swapped, 0.0)
    return float(diff.max()) if diff.numel() else 0.0


def export_int8(model: SparseEncoder, folder: Path, check_texts: list[str], *, opset: int, per_channel: bool,
                extra_meta: dict[str, Any] | None = None) -> Int8Export:
    """Export `model` to `folder`, check the fp32 graph on `check_texts`, quantize it, drop the fp32 graph."""
    export_onnx(model, folder, opset=opset, extra_meta=extra_meta)
    max_diff = max_abs_difference(model, OnnxSparseEncoder(folder, FP32_FILE), check_texts)
    if max_diff > FP32_TOLERANCE:
        raise RuntimeError(f"the fp32 ONNX export differs from the torch model by {max_diff:.2e} "
                           f"(tolerance {FP32_TOLERANCE:.0e}); not quantizing a broken export")
    quantize_int8(folder, per_channel=per_channel)
    exported = Int8Export((folder / FP32_FILE).stat().st_size, (folder / INT8_FILE).stat().st_size, max_diff)
    (folder / FP32_FILE).unlink()  # the INT8 model is the deliverable
    return exported


def export_pruned_int8(model: SparseEncoder, folder: Path, keep_ids: list[int], check_texts: list[str], *,
                       opset: int, per_channel: bool) -> PrunedExport:
    """Add the vocabulary-pruned INT8 graph to an `export_int8` folder, its fp32 graph checked alike."""
    pruned_fp32 = export_pruned(model, folder, keep_ids, opset=opset, per_channel=per_channel)
    max_diff = max_abs_difference(model, OnnxSparseEncoder(folder, pruned_fp32.name), check_texts)
    if max_diff > FP32_TOLERANCE:
        raise RuntimeError(f"the pruned fp32 ONNX graph differs from the torch model by "
                           f"{max_diff:.2e} (tolerance {FP32_TOLERANCE:.0e})")
    pruned_fp32.unlink()
    return PrunedExport(len(keep_ids), (folder / PRUNED_INT8_FILE).stat().st_size, max_diff)
