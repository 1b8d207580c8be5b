"""The whole DAG under kfp.local (SubprocessRunner, this interpreter) on a tiny corpus.

One run per module, with a gate no model can pass (`register.min_delta=1.0`): every stage must
leave its artifact, the version must be registered as `challenger` but not `champion`, and the
`dsl.If` must skip publish. kfp.local ignores the Kubernetes settings (node selector,
toleration, volumes, secrets, resource requests) with a warning; the retry policy it honours, so
the run sets `kubeflow.train_retries=0` to fail fast.
"""

from __future__ import annotations

import json
import re

import pytest

from spladeforge.config import load_params

from .conftest import REPO

pytestmark = pytest.mark.slow

TINY = ["data.max_documents=12", "split.validation_fraction=0.25", "train.max_steps=4", "train.batch_size=8",
        "train.eval_steps=2", "train.logging_steps=1", "train.max_seq_length=64", "evaluate.batch_size=16",
        "register.min_delta=1.0", "kubeflow.train_retries=0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    from kfp import local

    from spladeforge.pipelines import make_pipeline

    root = tmp_path_factory.mktemp("kfp-local")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.chdir(root)  # anything a stage drops in the working directory stays out of the repo
    try:
        params = load_params(REPO / "params.yaml", [*TINY, f"register.tracking_uri={uri}"])
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root / "pipeline-root"),
                   raise_on_error=True)
        make_pipeline(params)(checkpoint_root=str(root / "checkpoints"))
    finally:
        mp.undo()
    (run_dir,) = (root / "pipeline-root").iterdir()
    return {"dir": run_dir, "root": root, "uri": uri, "model_name": params.register.model_name}


def test_every_stage_left_its_artifact(run):
    d = run["dir"]
    for path in ("ingest/documents", "chunk/chunks", "generate-queries/queries", "split/train_pairs",
                 "split/validation/qrels/test.tsv", "mine/tuples", "train/model/model.safetensors",
                 "train/model/spladeforge.json", "train/curves/val_ndcg.csv", "evaluate/metrics",
                 "evaluate/report/report.md", "quantize/report", "register/decision"):
        assert (d / path).exists(), path
    assert list((d / "quantize/onnx_model").glob("*.onnx"))
    metrics = json.loads((d / "evaluate/metrics").read_text())
    assert 0.0 <= metrics["model_ndcg_at_10"] <= 1.0 and "base_ndcg_at_10" in metrics


def test_outputs_are_what_the_cli_stages_write(run):
    """Same functions as `dvc repro`: JSONL rows with the stage contracts' fields."""
    d = run["dir"]
    chunk = json.loads((d / "chunk/chunks").read_text().splitlines()[0])
    assert {"id", "doc_id", "text"} <= set(chunk)
    tup = json.loads((d / "mine/tuples").read_text().splitlines()[0])
    assert {"anchor", "positive", "negative_1"} <= set(tup)


def test_a_model_that_fails_the_gate_is_challenger_not_champion_and_is_not_published(run):
    from mlflow import MlflowClient

    decision = json.loads((run["dir"] / "register/decision").read_text())
    assert decision["promoted"] is False and "falls short" in decision["reason"]
    client = MlflowClient(tracking_uri=run["uri"], registry_uri=run["uri"])
    aliases = client.get_registered_model(run["model_name"]).aliases
    assert str(aliases.get("challenger")) == str(decision["version"])
    assert "champion" not in aliases
    assert not (run["dir"] / "publish").exists(), "publish ran although the gate failed"
    promoted = json.loads((run["dir"] / "promoted/executor_output.json").read_text())
    assert promoted["parameterValues"]["Output"] is False


def test_train_checkpoints_went_under_the_run_id(run):
    """Checkpoints are kept under checkpoint_root/<run id>/ (the PVC in the cluster); train removes
    its own folder after a successful run."""
    (folder,) = (run["root"] / "checkpoints").iterdir()
    # The run's id (a uuid in the cluster, digits under kfp.local), not an unresolved placeholder.
    assert re.fullmatch(r"[0-9a-f-]+", folder.name), folder.name
    assert not (folder / "train").exists()
