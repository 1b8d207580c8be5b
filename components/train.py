"""Kubeflow component for `train` (runs on the GPU node pool; see pipelines/placement.py)."""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def train(train: dict, seed: int, tuples: Input[Dataset], validation: Input[Dataset],
          documents_meta: Input[Artifact], checkpoint_root: str, run_id: str,
          model: Output[Model], curves: Output[Artifact], metrics: Output[Metrics]):
    """Fine-tune the base model; checkpoints go under `checkpoint_root/run_id` (a PVC in the cluster).

    `run_id` is the KFP run's id, the same for every retry of this task, so a retried task finds
    the checkpoints of the attempt a preempted node took down.
    """
    from pathlib import Path

    from spladeforge.config import TrainConfig
    from spladeforge.stages import train as stage

    tuples_path, validation_dir = Path(tuples.path), Path(validation.path)
    provenance = stage.provenance(tuples_path, validation_dir, Path(documents_meta.path))
    result = stage.run(TrainConfig.model_validate(train), tuples_path, validation_dir, Path(model.path),
                       Path(curves.path), seed, checkpoints=Path(checkpoint_root) / run_id / "train",
                       provenance=provenance)
    model.metadata.update(result)
    for key in ("final_loss", "best_val_ndcg_at_10", "val_ndcg_at_10", "triplets_per_second"):
        if isinstance(result.get(key), int | float):
            metrics.log_metric(key, result[key])
