"""`spladeforge pipeline submit|schedule` against a fake KFP REST API on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from spladeforge.cli.pipeline import check_cron, pipeline_app
from tests.kubeflow.fake_kfp import FakeKfp

from .conftest import REPO


@pytest.fixture()
def kfp_server(monkeypatch):
    # Traffic to the fake server must never go through a proxy configured for package registries.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with FakeKfp() as server:
        monkeypatch.setenv("KFP_HOST", server.url)
        monkeypatch.setenv("KFP_NAMESPACE", "ml-team")
        yield server


def invoke(*args: str):
    result = CliRunner().invoke(pipeline_app, [*args, "--params", str(REPO / "params.yaml")])
    if result.exit_code != 0:
        raise AssertionError(f"exit {result.exit_code}: {result.output}\n{result.exception!r}")
    return result


def test_submit_creates_one_run_in_the_experiment_with_the_pipeline_root(kfp_server):
    """submit: the host and namespace come from the environment, the spec is sent inline."""
    out = invoke("submit", "--experiment", "nightly", "--pipeline-root", "s3://bucket/root",
                 "--run-name", "try-1", "--set", "train.max_steps=7").output
    assert "run run-1" in out
    (exp,) = kfp_server.find("POST", "/experiments")
    assert exp.json["display_name"] == "nightly" and exp.json["namespace"] == "ml-team"
    (run,) = kfp_server.find("POST", "/runs")
    body = run.json
    assert body["display_name"] == "try-1" and body["experiment_id"] == "exp-1"
    assert body["runtime_config"]["pipeline_root"] == "s3://bucket/root"
    spec = body["pipeline_spec"]["pipeline_spec"]  # IR and its Kubernetes platform spec, inline
    assert spec["pipelineInfo"]["name"] == "spladeforge-training"
    assert "nvidia-h100-80gb" in json.dumps(body["pipeline_spec"]["platform_spec"])
    train_default = spec["root"]["inputDefinitions"]["parameters"]["train"]["defaultValue"]
    assert train_default["max_steps"] == 7  # --set reached the compiled defaults


def test_schedule_uploads_a_version_and_creates_an_uncached_recurring_run(kfp_server):
    """schedule: pipeline + version upload, then a cron recurring run, max_concurrency=1, uncached."""
    out = invoke("schedule", "--cron", "0 0 3 * * 1", "--name", "weekly-retrain",
                 "--pipeline-root", "s3://bucket/root", "--set", "register.min_delta=0.01").output
    assert "rr-1" in out
    (upload,) = kfp_server.find("POST", "/pipelines/upload")
    assert upload.query["name"] == ["weekly-retrain"]
    uploaded, platform = yaml.safe_load_all(upload.files["uploadfile"])  # IR, then its platform spec
    assert uploaded["pipelineInfo"]["name"] == "spladeforge-training"
    assert "nvidia-h100-80gb" in json.dumps(platform)
    (version,) = kfp_server.find("POST", "/pipelines/upload_version")
    assert version.query["pipelineid"] == ["pipe-1"]
    (job,) = kfp_server.find("POST", "/recurringruns")
    body = job.json
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * 1"
    assert body["max_concurrency"] == "1" or body["max_concurrency"] == 1
    assert body["pipeline_version_reference"] == {"pipeline_id": "pipe-1", "pipeline_version_id": "ver-1"}
    assert body["experiment_id"] == "exp-1" and body["mode"] == "ENABLE"
    assert body["runtime_config"]["pipeline_root"] == "s3://bucket/root"
    assert body["no_catchup"] is True
    params = body["runtime_config"]["parameters"]
    assert params["register"]["min_delta"] == 0.01 and params["seed"] == 42
    assert set(params) == {"seed", "data", "chunk", "generate_queries", "split", "mine", "train", "evaluate",
                           "quantize", "register", "publish"}
    # Caching off lives in the uploaded IR: the API has no run-level cache switch for a version.
    tasks = uploaded["root"]["dag"]["tasks"]
    assert tasks and not any(t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())


def test_schedule_rejects_a_five_field_cron_before_any_request(kfp_server):
    """A classic 5-field cron would be misread by KFP's seconds-first parser: refuse it."""
    result = CliRunner().invoke(pipeline_app, ["schedule", "--cron", "0 3 * * 1",
                                               "--params", str(REPO / "params.yaml")])
    assert result.exit_code != 0
    assert "6 fields" in str(result.exception)
    assert kfp_server.requests == []
    assert check_cron(" 0 0 3 * * 1 ") == "0 0 3 * * 1"
