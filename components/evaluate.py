"""Kubeflow components for `evaluate` (with the sharded document encoding) and `quantize`."""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def encode_shard(evaluate: dict, shard: int, num_shards: int, model: Input[Model], test: Input[Dataset],
                 embeddings: Output[Dataset]):
    """Encode shard `shard` of `num_shards` of the test split's corpus with the trained model (one
    iteration of the pipeline's dsl.ParallelFor): a sparse `.npz` with the document ids."""
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import evaluate as stage

    params = run.validated({"evaluate": evaluate})
    result = stage.encode_documents(params.evaluate, Path(model.path), Path(test.path),
                                    Path(embeddings.path), shard, num_shards)
    embeddings.metadata.update(run.metadata(result))


def evaluate(evaluate: dict, judgments_uri: str, model: Input[Model], test: Input[Dataset],
             document_embeddings: Input[list[Dataset]], report: Output[Artifact], metrics: Output[Metrics],
             manifest: Output[Artifact]):
    """MTEB on the test split for the model, its base and BM25; on the judgments folder too.

    `judgments_uri`: the team's judgments folder (s3://..., dvc://<repo>@<rev>:<path>, or "" for
    none), scored as the task `judged` (`data.judgments_source`).

    The model's side of the test corpus is `document_embeddings`, the collected `encode_shard`
    outputs, instead of an encoding of its own. `report` is evaluate's report folder (report,
    per-query NDCG@10 that the gate resamples, error analysis, plots; register reads and logs it);
    `metrics` is the flat metrics.json file (what register and publish read) and, logged as
    metadata, the figures the Kubeflow UI shows.
    """
    import tempfile
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.data.judgments_source import fetch_judgments
    from spladeforge.io import read_json
    from spladeforge.stages import evaluate as stage

    params = run.validated({"evaluate": evaluate})
    judged = fetch_judgments(judgments_uri, Path(tempfile.mkdtemp(prefix="judgments-")))
    run.run_stage("evaluate", stage.run, params.evaluate, Path(model.path), Path(test.path),
                  Path(report.path), Path(metrics.path),
                  document_embeddings=[Path(shard.path) for shard in document_embeddings], judgments=judged,
                  params=params, inputs=[Path(model.path), Path(test.path), judged], manifest=Path(manifest.path))
    run.log_metrics(metrics, read_json(Path(metrics.path)))


def quantize(quantize: dict, model: Input[Model], test: Input[Dataset],
             onnx_model: Output[Model], report: Output[Metrics], manifest: Output[Artifact]):
    """INT8 ONNX export; `report` is quantize.json (NDCG@10 change on the test split, sizes, speed-up)."""
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import quantize as stage

    params = run.validated({"quantize": quantize})
    result = run.run_stage("quantize", stage.run, params.quantize, Path(model.path), Path(test.path),
                           Path(onnx_model.path), Path(report.path), params=params,
                           inputs=[Path(model.path), Path(test.path)], manifest=Path(manifest.path))
    run.log_metrics(report, result)
