"""Kubeflow component for `train` (runs on the GPU node pool; see pipelines/placement.py)."""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def train(train: dict, seed: int, tuples: Input[Dataset], dev: Input[Dataset],
          documents_meta: Input[Artifact], checkpoint_root: str, run_id: str,
          model: Output[Model], curves: Output[Artifact], metrics: Output[Metrics], manifest: Output[Artifact]):
    """Fine-tune the base model; checkpoints go under `checkpoint_root/run_id` (a PVC in the cluster).

    `run_id` is the KFP run's id, the same for every retry of this task, so a retried task finds
    the checkpoints of the attempt a preempted node took down. `dev` picks the checkpoint; the test
    split never reaches this task.
    """
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import train as stage

    params = run.validated({"train": train, "seed": seed})
    tuples_path, dev_dir = Path(tuples.path), Path(dev.path)
    provenance = stage.provenance(tuples_path, dev_dir, Path(documents_meta.path))
    hashes = stage.input_hashes(tuples_path, dev_dir, provenance)
    result = run.run_stage("train", stage.run, params.train, tuples_path, dev_dir, Path(model.path),
                           Path(curves.path), params.seed, checkpoints=Path(checkpoint_root) / run_id / "train",
                           provenance=provenance, params=params, input_hashes=hashes, manifest=Path(manifest.path))
    model.metadata.update(run.metadata(result))
    run.log_metrics(metrics, {key: result.get(key) for key in stage.CURVE_FIGURES})
