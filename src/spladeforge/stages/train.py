"""Stage `train`: fine-tune a sparse encoder with sentence-transformers' SparseEncoderTrainer.

Reads the mined training tuples (JSONL) and the validation split (a BEIR folder). Writes the
model folder `output` (a SparseEncoder folder with its `spladeforge.json` sidecar, atomically) and
the curves under `reports` (loss and validation NDCG@10 by step, CSV and PNG); checkpoints go to
`checkpoints` (by default a hidden folder beside `output`) and are removed once the model is saved;
with `checkpoint_uri` they are mirrored to object storage too (`training.checkpoint_sync`).

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
CURVE_FIGURES = ("final_loss", "best_val_ndcg_at_10", "val_ndcg_at_10", "triplets_per_second")


def input_hashes(tuples_path: Path, validation_dir: Path, provenance: dict[str, Any]) -> dict[str, str]:
    """The manifest's input hashes, taken from `provenance` instead of hashing the inputs again."""
    return {str(tuples_path): provenance["tuples_sha256"], str(validation_dir): provenance["validation_sha256"]}


def provenance(tuples_path: Path, validation_dir: Path, documents_meta: Path | None = None) -> dict[str, Any]:
    """What the model is trained on: input hashes and ingest's record (normalization, data version)."""
    out: dict[str, Any] = {"tuples_sha256": sha256_tree(tuples_path),
                           "validation_sha256": sha256_tree(validation_dir)}
    if documents_meta is not None and documents_meta.is_file():
        out["documents"] = read_json(documents_meta)
    return out


def run(cfg: TrainConfig, tuples_path: Path, validation_dir: Path, output: Path, reports: Path,
        seed: int, checkpoints: Path | None = None, provenance: dict[str, Any] | None = None,
        checkpoint_uri: str | None = None) -> dict[str, Any]:
    """Train, keep the best checkpoint by validation NDCG@10, save the model folder and curves.

    With `checkpoint_uri` (s3://...) the checkpoints are mirrored there while training and read
    back first, so an attempt on a fresh node resumes where a preempted one stopped.
    """
    resolve_model(cfg.base_model, key="train.base_model")  # a missing model fails before any work
    checkpoints = checkpoints or output.parent / f".{output.name}-checkpoints"
    with mirrored(checkpoints, checkpoint_uri):
        if cfg.processes > 1 and not inside_torchrun():
            return launch(cfg, tuples_path=tuples_path, validation_dir=validation_dir, output=output,
                          reports=reports, seed=seed, checkpoints=checkpoints, provenance=provenance)
        # torch and sentence-transformers take seconds to import; a launching process never needs them.
        from spladeforge.training.fit import fit

        result = fit(cfg, tuples_path, validation_dir, seed, checkpoints=checkpoints, provenance=provenance or {},
                     tensorboard_dir=reports.parent / "tensorboard")
        if not result.is_main_process:
            return {"steps": result.steps}
        return save_outputs(result, cfg, output=output, reports=reports, checkpoints=checkpoints, seed=seed,
                            provenance=provenance or {})
