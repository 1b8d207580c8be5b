"""Stage `quantize`: export the trained model to ONNX, quantize it to INT8, measure what it costs.

Reads the trained model folder and the test split (a BEIR folder: the set the gate decides on,
whose corpus is every chunk the deployed index holds). Writes `out_dir/`
(`model_int8.onnx`, tokenizer files, `spladeforge.json`; for an inference-free model also
`idf.json`, the query token weights) and `report_path`, a flat JSON dict: NDCG@10 of the fp32
torch model and of the INT8 model on the task (both through the same MTEB path), their
difference, the document encoding speed ratio, file sizes, the INT8 model's active dimensions and
its single-query latency. Every architecture exports: SPLADE whole, inference-free as its
document graph plus the query table, CSR as dense encoder plus autoencoder top-k.

With `quantize.prune_vocabulary`, the folder also holds `model_int8_pruned.onnx` and
`kept_token_ids.json` (see `models.vocab_pruning`): the MLM head cut to the tokens the task's
documents and queries activate, and the report gains `pruned_*` figures (size, NDCG@10 and its
change against fp32, speed ratio). A CSR model has no vocabulary to prune (its dimensions are
autoencoder latents): the report then says so in `prune_vocabulary` and holds no `pruned_*` figure.

Where it lives: the export, its fp32 check against torch and the quantization in `models.int8`;
the quality and speed measurement in `evaluation.quantized`.
"""

from __future__ import annotations

from pathlib import Path

from spladeforge.config import QuantizeConfig
from spladeforge.evaluation.beir import load_beir
from spladeforge.io import atomic_outputs, write_json
from spladeforge.models.saved import load_saved_model


def run(cfg: QuantizeConfig, model_dir: Path, task_dir: Path, out_dir: Path, report_path: Path) -> dict:
    """Export, check, quantize and evaluate; return the report."""
    data = load_beir(task_dir)
    # MTEB and torch take seconds to import: only once the task folder has been read.
    from spladeforge.evaluation.quantized import BATCH_SIZE, check_texts, corpus_passages, int8_report
    from spladeforge.models.int8 import export_int8, export_pruned_int8
    from spladeforge.models.vocab_pruning import activated_token_ids

    # CPU on purpose: INT8 ONNX is a CPU serving format, so the speed ratio is CPU against CPU.
    model, meta = load_saved_model(model_dir, device="cpu")
    texts = check_texts(data)
    with atomic_outputs(out_dir, report_path, folders=(out_dir,)) as (tmp, report_tmp):
        exported = export_int8(model, tmp, texts, opset=cfg.opset, per_channel=cfg.per_channel,
                               extra_meta={"base_model": meta["base_model"]})
        pruned, prunable = None, meta.get("architecture") != "csr"
        if cfg.prune_vocabulary and prunable:
            keep = activated_token_ids(model, corpus_passages(data), list(data.queries.values()), BATCH_SIZE)
            pruned = export_pruned_int8(model, tmp, keep, texts, opset=cfg.opset, per_channel=cfg.per_channel)
        report = int8_report(model, data, tmp, exported, pruned)
        if cfg.prune_vocabulary and not prunable:
            report["prune_vocabulary"] = "not applicable: CSR dimensions are autoencoder latents, not tokens"
        write_json(report_tmp, report)
    return report
