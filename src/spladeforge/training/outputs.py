"""What a finished training run leaves behind: the model folder, the curves and the run's summary.

The model folder, with its `spladeforge.json` sidecar (what the folder alone does not say: base
model, architecture, max_seq_length, the params and inputs it was trained on) and, for
inference-free and CSR, the weights training started from (`models.saved`), and the curves folder
appear together (`io.atomic_outputs`); the checkpoints, scratch space for resuming, are removed
once they are there.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spladeforge.config import TrainConfig
from spladeforge.io import atomic_outputs, write_json
from spladeforge.models.saved import SIDECAR, write_initial_weights
from spladeforge.training.args import BEST_METRIC
from spladeforge.training.curves import write_curves

if TYPE_CHECKING:  # fit imports torch and sentence-transformers; the stage imports this module at start
    from spladeforge.training.fit import FitResult


def save_outputs(result: FitResult, cfg: TrainConfig, *, output: Path, reports: Path, checkpoints: Path,
                 seed: int, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write the model folder and the curves, remove the checkpoints; return the run's summary."""
    meta = {
        "base_model": cfg.base_model,
        "architecture": cfg.architecture,
        "max_seq_length": cfg.max_seq_length,
        "seed": seed,
        "train": cfg.model_dump(mode="json"),
        "provenance": provenance,
        "distillation": result.distillation,
        "teacher_scale": result.teacher_scale,
        "resumed_from_step": result.resumed_from_step,
        "validation_ndcg_at_10": result.validation_ndcg_at_10,  # on the dev split
        "best_step": result.best_step,
        "kept": result.kept,
        "decision": result.decision,
    }
    with atomic_outputs(output, reports, folders=(output, reports)) as (tmp, curves_tmp):
        result.model.save(str(tmp))
        reference = write_initial_weights(tmp, result.initial_weights)
        write_json(tmp / SIDECAR, {**meta, "reference_weights": reference} if reference else meta)
        curves = write_curves(result.log_history, curves_tmp, BEST_METRIC)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return {
        "architecture": cfg.architecture,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "tuples": result.tuples,
        "negatives_per_tuple": result.negatives_per_tuple,
        "distillation": result.distillation or "none",
        "teacher_scale": None if result.teacher_scale is None else round(result.teacher_scale, 4),
        "extra_datasets": result.extra_datasets,
        "device": result.device,
        "processes": result.processes,
        "seconds": round(result.seconds, 1),
        "triplets_per_second": round(result.triplets_per_second, 2),
        "final_loss": curves["final_loss"],
        "regularizer_share": curves["regularizer_share"],
        "best_val_ndcg_at_10": curves["best_val_ndcg_at_10"],
        "val_ndcg_at_10": result.validation_ndcg_at_10,
        "best_step": result.best_step,
        "kept": result.kept,
        "decision": result.decision,
        "output": str(output),
    }
