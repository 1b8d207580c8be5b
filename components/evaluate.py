"""Kubeflow components for `evaluate` and `quantize`."""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def evaluate(evaluate: dict, model: Input[Model], validation: Input[Dataset],
             report: Output[Artifact], metrics: Output[Metrics]):
    """MTEB on the held-out split for the model, its base and BM25.

    `metrics` is the flat metrics.json file (what register and publish read) and, logged as
    metadata, the figures the Kubeflow UI shows.
    """
    from pathlib import Path

    from spladeforge.config import EvaluateConfig
    from spladeforge.io import read_json
    from spladeforge.stages import evaluate as stage

    stage.run(EvaluateConfig.model_validate(evaluate), Path(model.path), Path(validation.path),
              Path(report.path), Path(metrics.path))
    for key, value in read_json(Path(metrics.path)).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            metrics.log_metric(key, value)


def quantize(quantize: dict, model: Input[Model], validation: Input[Dataset],
             onnx_model: Output[Model], report: Output[Metrics]):
    """INT8 ONNX export; `report` is quantize.json (NDCG@10 change, sizes, speed-up)."""
    from pathlib import Path

    from spladeforge.config import QuantizeConfig
    from spladeforge.stages import quantize as stage

    result = stage.run(QuantizeConfig.model_validate(quantize), Path(model.path), Path(validation.path),
                       Path(onnx_model.path), Path(report.path))
    for key, value in result.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            report.log_metric(key, value)
