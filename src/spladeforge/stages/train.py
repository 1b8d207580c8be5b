"""Stage `train`: fine-tune a sparse encoder with sentence-transformers' SparseEncoderTrainer.

Reads the mined training tuples (JSONL) and the dev split (a BEIR folder; the test split is
never read here). Writes the model folder `output` (a SparseEncoder folder with its
`spladeforge.json` sidecar, atomically): the step with the best dev NDCG@10, where step 0 is the
base model and wins when no trained step beats it (`best_step`, `kept` in the sidecar and the
summary), or with `train.keep: last` the final step whatever dev says (`kept: last`). The curves
go under `reports` (loss and dev NDCG@10 by step, CSV and PNG); checkpoints to `checkpoints` (by
default a hidden folder beside `output`), removed once the model is saved; with `checkpoint_uri`
they are mirrored to object storage too (`training.checkpoint_sync`).

The training itself is `training.fit` (architectures, losses, checkpoint resume); the outputs are
`training.outputs`. With `train.processes` > 1, `training.launch` runs the same two under torchrun.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.config import TrainConfig
from spladeforge.io import read_json, sha256_tree
from spladeforge.models.builtin import resolve_model
from spladeforge.training.checkpoint_sync import mirrored
from spladeforge.training.launch import inside_torchrun, launch
from spladeforge.training.outputs import save_outputs

# The training figures the Kubeflow UI shows as the train task's metrics.
CURVE_FIGURES = ("final_loss", "best_val_ndcg_at_10", "val_ndcg_at_10", "triplets_per_second", "best_step",
                 "regularizer_share")


def input_hashes(tuples_path: Path, dev_dir: Path, provenance: dict[str, Any]) -> dict[str, str]:
    """The manifest's input hashes, taken from `provenance` instead of hashing the inputs again."""
    return {str(tuples_path): provenance["tuples_sha256"], str(dev_dir): provenance["dev_sha256"]}


def provenance(tuples_path: Path, dev_dir: Path, documents_meta: Path | None = None) -> dict[str, Any]:
    """What the model is trained on: input hashes and ingest's record (normalization, data version)."""
    out: dict[str, Any] = {"tuples_sha256": sha256_tree(tuples_path),
                           "dev_sha256": sha256_tree(dev_dir)}
    if documents_meta is not None and documents_meta.is_file():
        out["documents"] = read_json(documents_meta)
    return out


def run(cfg: TrainConfig, tuples_path: Path, dev_dir: Path, output: Path, reports: Path,
        seed: int, checkpoints: Path | None = None, provenance: dict[str, Any] | None = None,
        checkpoint_uri: str | None = None) -> dict[str, Any]:
    """Train, keep the best step by dev NDCG@10 (step 0 included) or the last (`train.keep`), save the
    model folder and curves.

    With `checkpoint_uri` (s3://...) the checkpoints are mirrored there while training and read
    back first, so an attempt on a fresh node resumes where a preempted one stopped.
    """
    resolve_model(cfg.base_model, key="train.base_model")  # a missing model fails before any work
    checkpoints = checkpoints or output.parent / f".{output.name}-checkpoints"
    with mirrored(checkpoints, checkpoint_uri):
        if cfg.processes > 1 and not inside_torchrun():
            return launch(cfg, tuples_path=tuples_path, dev_dir=dev_dir, output=output,
                          reports=reports, seed=seed, checkpoints=checkpoints, provenance=provenance)
        # torch and sentence-transformers take seconds to import; a launching process never needs them.
        from spladeforge.training.fit import fit

        result = fit(cfg, tuples_path, dev_dir, seed, checkpoints=checkpoints, provenance=provenance or {},
                     tensorboard_dir=reports.parent / "tensorboard")
        if not result.is_main_process:
            return {"steps": result.steps}
        return save_outputs(result, cfg, output=output, reports=reports, checkpoints=checkpoints, seed=seed,
                            provenance=provenance or {})
