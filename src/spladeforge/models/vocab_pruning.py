"""Vocabulary pruning: an ONNX graph whose MLM head computes only the tokens a corpus uses.

The MLM head (hidden x 30,522 for BERT) is about 90% of BERT-tiny's forward FLOPs, yet on a given
collection most vocabulary entries never get a non-zero SPLADE weight. The pruned graph keeps
only the head rows of tokens activated by the task's documents or queries and outputs
[batch, kept]; `OnnxSparseEncoder` scatters that back to vocabulary ids through
`kept_token_ids.json`, so similarity, indexing and `decode` see ordinary vocabulary ids.

Scoring on that corpus is unchanged by construction: a token no document activates has weight 0
in every document and so adds nothing to any dot product. Documents added later may activate
dropped tokens; re-run `quantize` on the new corpus then. The input embeddings stay whole
(every token id can still be read); only the output side shrinks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from spladeforge.models.onnx_export import SIDECAR, SpladeGraph, _torch_export, _write_meta, quantize_int8

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder import SparseEncoder

PRUNED_FP32_FILE = "model_pruned.onnx"
PRUNED_INT8_FILE = "model_int8_pruned.onnx"
KEPT_IDS_FILE = "kept_token_ids.json"


def activated_token_ids(model: SparseEncoder, documents: list[str], queries: list[str],
                        batch_size: int = 32) -> list[int]:
    """Sorted vocabulary ids with a non-zero weight in at least one document or query.

    Queries are also encoded as documents: for an inference-free model the document graph is not
    the query encoder, and the export check runs queries through the document graph too.
    """
    kept: set[int] = set()
    for encode, texts in ((model.encode_document, documents + queries), (model.encode_query, queries)):
        if texts:
            embeddings = encode(texts, batch_size=batch_size, convert_to_sparse_tensor=True).coalesce()
            kept.update(embeddings.indices()[1].tolist())
    return sorted(kept)


def pruned_graph(model: SparseEncoder, keep_ids: list[int]) -> SpladeGraph:
    """The SPLADE graph of `model` with its MLM output layer cut to the rows in `keep_ids`."""
    graph = SpladeGraph.from_sparse_encoder(model)
    mlm = copy.deepcopy(graph.mlm)  # the head's weight is tied to the input embeddings: untie on a copy
    head = mlm.get_output_embeddings()
    index = torch.tensor(keep_ids, dtype=torch.long, device=head.weight.device)
    smaller = torch.nn.Linear(head.in_features, len(keep_ids), bias=head.bias is not None,
                              device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        smaller.weight.copy_(head.weight.index_select(0, index))
        if head.bias is not None:
            smaller.bias.copy_(head.bias.index_select(0, index))
    mlm.set_output_embeddings(smaller)
    return SpladeGraph(mlm, graph.pooling_strategy, graph.activation_function).eval()


def export_pruned(model: SparseEncoder, folder: Path, keep_ids: list[int], *, opset: int = 17,
                  per_channel: bool = True) -> Path:
    """Write `model_int8_pruned.onnx` and `kept_token_ids.json` beside an `export_onnx` folder.

    Returns the fp32 pruned graph's path (kept so the caller can check it, then delete it).
    """
    folder = Path(folder)
    graph = pruned_graph(model, keep_ids)
    sample = model.tokenizer(["spladeforge export", "a second, longer sample sentence"],
                             padding=True, truncation=True, return_tensors="pt")
    meta = json.loads((folder / SIDECAR).read_text())
    input_names = meta["input_names"]
    args = tuple(sample[name].to(model.device) for name in input_names)
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes[meta["output_name"]] = {0: "batch"}
    with torch.no_grad():
        _torch_export(graph, args, folder / PRUNED_FP32_FILE, input_names=input_names,
                      dynamic_axes=axes, opset=opset)
    (folder / KEPT_IDS_FILE).write_text(json.dumps(keep_ids))
    quantize_int8(folder, per_channel=per_channel, source=PRUNED_FP32_FILE, dest_name=PRUNED_INT8_FILE)
    meta = json.loads((folder / SIDECAR).read_text())
    meta["pruned"] = {"model_files": [PRUNED_FP32_FILE, PRUNED_INT8_FILE], "token_ids_file": KEPT_IDS_FILE,
                      "kept_tokens": len(keep_ids)}
    _write_meta(folder, meta)
    return folder / PRUNED_FP32_FILE
