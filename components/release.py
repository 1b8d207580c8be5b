"""Kubeflow components for `register` (the NDCG@10 gate), `promote` and `publish`."""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Input, Metrics, Model, Output


def register(register: dict, run_config: dict, model: Input[Model], metrics: Input[Metrics],
             quantize_report: Input[Metrics], onnx_model: Input[Model],
             decision: Output[Artifact]):
    """Register a version as `challenger` and decide the NDCG@10 gate, without moving `champion`.

    The gate is `registry.policy.decide`, run inside `stages.register`; its verdict is in the
    `decision` JSON, which `promoted` hands to the pipeline's `dsl.If`. Inside it, `promote`
    moves `champion`: a version that fails the gate can never become champion in the DAG.
    """
    from pathlib import Path

    from spladeforge.config import Params, RegisterConfig
    from spladeforge.stages import register as stage

    # Round-trip through Params: KFP hands numbers over as floats; MLflow should log `seed: 42`.
    logged = Params.model_validate(run_config).model_dump(mode="json", exclude={"kubeflow", "preset"})
    result = stage.run(RegisterConfig.model_validate(register), Path(model.path), Path(metrics.path),
                       Path(decision.path), quantize_report=Path(quantize_report.path),
                       onnx_dir=Path(onnx_model.path), params=logged, promote=False)
    decision.metadata.update({k: v for k, v in result.items() if isinstance(v, str | int | float | bool)})


def promoted(decision: Input[Artifact]) -> bool:
    """The gate's verdict from register's decision JSON, as the parameter `dsl.If` tests.

    Its own task with one unnamed output on purpose: kfp.local (2.17) resolves `task.output` in a
    condition, but a named output (`pipelinechannel--register-promoted`) is looked up as a
    pipeline input, fails, and the condition silently evaluates to False.
    """
    from pathlib import Path

    from spladeforge.io import read_json

    return bool(read_json(Path(decision.path))["promoted"])


def promote(register: dict, decision: Input[Artifact], promotion: Output[Artifact]):
    """Move `champion` to the version register's gate passed (runs only inside the `dsl.If`).

    `promotion` is the decision with `champion_version` set to the new champion, what publish
    reads. The move is refused if `champion` changed since the gate compared against it.
    """
    from pathlib import Path

    from spladeforge.config import RegisterConfig
    from spladeforge.stages import register as stage

    result = stage.promote_champion(RegisterConfig.model_validate(register), Path(decision.path),
                                    Path(promotion.path))
    promotion.metadata.update({k: v for k, v in result.items() if isinstance(v, str | int | float | bool)})


def publish(publish: dict, quantize: dict, run_config: dict, model: Input[Model],
            decision: Input[Artifact], metrics: Input[Metrics], quantize_report: Input[Metrics],
            onnx_model: Input[Model], export: Output[Model]):
    """Export the promoted model with its model card; push to the Hub when configured.

    `quantize` is there for `quantize.max_ndcg_drop`, the INT8 quality guard (as in dvc.yaml).
    """
    from pathlib import Path

    from spladeforge.config import Params, PublishConfig, QuantizeConfig
    from spladeforge.stages import publish as stage

    logged = Params.model_validate(run_config).model_dump(mode="json", exclude={"kubeflow", "preset"})
    max_drop = QuantizeConfig.model_validate(quantize).max_ndcg_drop
    result = stage.run(PublishConfig.model_validate(publish), Path(model.path), Path(decision.path),
                       Path(metrics.path), Path(export.path), quantize_report=Path(quantize_report.path),
                       onnx_dir=Path(onnx_model.path), max_ndcg_drop=max_drop, params=logged)
    export.metadata.update({k: v for k, v in result.items() if isinstance(v, str | int | float | bool)})
