"""Kubeflow components for `register` (the NDCG@10 gate), `promote` and `publish`."""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output


def register(register: dict, run_config: dict, judgments_uri: str, model: Input[Model], metrics: Input[Metrics],
             eval_report: Input[Artifact], test: Input[Dataset], quantize_report: Input[Metrics],
             onnx_model: Input[Model], decision: Output[Artifact], manifest: Output[Artifact]):
    """Register a version as `challenger` and decide the gate, without moving `champion`.

    The gate is `registry.policy.decide`, run inside `stages.register`; its verdict is in the
    `decision` JSON, which `promoted` hands to the pipeline's `dsl.If`. Inside it, `promote`
    moves `champion`: a version that fails the gate can never become champion in the DAG.
    `eval_report` is evaluate's report folder (its per_query.json feeds the gate; it is logged with
    the run as `dvc repro` logs it); `test` is the split evaluate scored, on which the champion is
    scored again. `run_config` carries the evaluate, quantize and seed settings register reads.
    `judgments_uri` is the judgments folder evaluate scored (the champion is scored on it too).
    """
    import tempfile
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.config import run_config as logged
    from spladeforge.data.judgments_source import fetch_judgments
    from spladeforge.stages import register as stage

    # Validated again: KFP hands numbers over as floats; MLflow should log `seed: 42`.
    params = run.validated({**run_config, "register": register})
    judged = fetch_judgments(judgments_uri, Path(tempfile.mkdtemp(prefix="judgments-")))
    result = run.run_stage("register", stage.run, params.register, Path(model.path), Path(metrics.path),
                           Path(decision.path), Path(eval_report.path), Path(test.path), evaluate=params.evaluate,
                           seed=params.seed, max_ndcg_drop=params.quantize.max_ndcg_drop,
                           quantize_report=Path(quantize_report.path), onnx_dir=Path(onnx_model.path),
                           run_params=logged(params), promote=False, judgments=judged, params=params,
                           inputs=[Path(model.path), Path(metrics.path), Path(eval_report.path), Path(test.path),
                                   judged], manifest=Path(manifest.path))
    decision.metadata.update(run.metadata(result))


def promoted(decision: Input[Artifact]) -> bool:
    """The gate's verdict from register's decision JSON, as the parameter `dsl.If` tests.

    Its own task with one unnamed output on purpose: kfp.local (2.17) resolves `task.output` in a
    condition, but a named output (`pipelinechannel--register-promoted`) is looked up as a
    pipeline input, fails, and the condition silently evaluates to False.
    """
    from pathlib import Path

    from spladeforge.io import read_json

    return bool(read_json(Path(decision.path))["promoted"])


def promote(register: dict, run_config: dict, decision: Input[Artifact], promotion: Output[Artifact]):
    """Move `champion` to the version register's gate passed (runs only inside the `dsl.If`).

    `promotion` is the decision with `champion_version` set to the new champion, what publish
    reads. The move is refused if `champion` changed since the gate compared against it.
    `run_config` is there for validation: a gate metric naming a BEIR folder is checked against
    evaluate's folders.
    """
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import register as stage

    params = run.validated({**run_config, "register": register})
    result = stage.promote_champion(params.register, Path(decision.path), Path(promotion.path))
    promotion.metadata.update(run.metadata(result))


def publish(publish: dict, quantize: dict, run_config: dict, model: Input[Model],
            decision: Input[Artifact], metrics: Input[Metrics], quantize_report: Input[Metrics],
            onnx_model: Input[Model], export: Output[Model], manifest: Output[Artifact]):
    """Export the promoted model with its model card; push to the Hub when configured.

    `quantize` is there for `quantize.max_ndcg_drop`, the INT8 quality guard (as in dvc.yaml).
    """
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.config import run_config as logged
    from spladeforge.stages import publish as stage

    params = run.validated({**run_config, "publish": publish, "quantize": quantize})
    result = run.run_stage("publish", stage.run, params.publish, Path(model.path), Path(decision.path),
                           Path(metrics.path), Path(export.path), quantize_report=Path(quantize_report.path),
                           onnx_dir=Path(onnx_model.path), max_ndcg_drop=params.quantize.max_ndcg_drop,
                           run_params=logged(params), params=params,
                           inputs=[Path(model.path), Path(decision.path), Path(metrics.path)],
                           manifest=Path(manifest.path))
    export.metadata.update(run.metadata(result))
