"""Kubeflow component for `train` (runs on the GPU node pool; see pipelines/placement.py)."""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def train(train: dict, seed: int, tuples: Input[Dataset], dev: Input[Dataset],
          documents_meta: Input[Artifact], checkpoint_uri: str, run_id: str,
          model: Output[Model], curves: Output[Artifact], metrics: Output[Metrics], manifest: Output[Artifact]):
    """Fine-tune the base model, its checkpoints mirrored to object storage.

    `checkpoint_uri` s3://... holds them under `<uri>/<run_id>/train`; empty: under
    `checkpoints/<run_id>/train` in the bucket of this task's model artifact (the pipeline root's).
    `run_id` is the KFP run's id and the model artifact's URI is fixed by the driver before the
    first attempt: both are the same for every retry of this task, so an attempt on a fresh node
    reads back the checkpoints a preempted one left (`training.checkpoint_sync`). A local path
    (kfp.local) is used as the folder directly.
    `dev` picks the checkpoint; the test split never reaches this task.
    """
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import train as stage
    from spladeforge.training.checkpoint_sync import checkpoint_location

    params = run.validated({"train": train, "seed": seed})
    tuples_path, dev_dir = Path(tuples.path), Path(dev.path)
    provenance = stage.provenance(tuples_path, dev_dir, Path(documents_meta.path))
    hashes = stage.input_hashes(tuples_path, dev_dir, provenance)
    checkpoints, mirror = checkpoint_location(checkpoint_uri, run_id, model.uri)
    result = run.run_stage("train", stage.run, params.train, tuples_path, dev_dir, Path(model.path),
                           Path(curves.path), params.seed, checkpoints=checkpoints, checkpoint_uri=mirror,
                           provenance=provenance, params=params, input_hashes=hashes, manifest=Path(manifest.path))
    model.metadata.update(run.metadata(result))
    run.log_metrics(metrics, {key: result.get(key) for key in stage.CURVE_FIGURES})
