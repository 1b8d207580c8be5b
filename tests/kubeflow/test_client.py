"""`spladeforge pipeline submit|schedule` against a fake KFP REST API on 127.0.0.1: auth headers,
caching flags, namespaces, schedule replacement and run parameters, as the server receives them."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
import yaml
from typer.testing import CliRunner

from spladeforge.cli.pipeline import check_cron, pipeline_app
from tests.kubeflow.fake_kfp import FakeKfp

from .conftest import REPO
from .test_compile import PINNED

TOKEN = "kfp-fake-bearer-token-0123456789"
COOKIE = "authservice_session=fake-session-cookie-abcdef"


@pytest.fixture()
def no_proxy(monkeypatch):
    # Traffic to the fake server must never go through a proxy configured for package registries,
    # and no credential of the machine running the tests may leak into a request.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
                "KF_PIPELINES_TOKEN", "KF_PIPELINES_COOKIE", "KF_PIPELINES_SA_TOKEN_PATH", "KFP_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture()
def kfp_server(monkeypatch, no_proxy):
    with FakeKfp() as server:
        monkeypatch.setenv("KFP_HOST", server.url)
        monkeypatch.setenv("KFP_NAMESPACE", "ml-team")
        yield server


def run_cli(*args: str, params: bool = True, pinned: bool = True):
    """`spladeforge pipeline ...`; images given explicitly so the result does not hang on the checkout's git state."""
    extra = (["--params", str(REPO / "params.yaml")] if params else []) + (PINNED if pinned else [])
    return CliRunner().invoke(pipeline_app, [*args, *extra])


def invoke(*args: str, **kwargs):
    result = run_cli(*args, **kwargs)
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
    assert "pipelineConfig" in json.dumps(body["pipeline_spec"]["platform_spec"])  # the run's deadline
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
    assert platform["platforms"]["kubernetes"]["pipelineConfig"]["activeDeadlineSeconds"] == 4 * 86400
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


def _tasks(spec: dict) -> dict[str, dict]:
    """Every task of an IR, root and inside control-flow groups, by name."""
    found = dict(spec["root"]["dag"]["tasks"])
    for comp in spec["components"].values():
        found.update(comp.get("dag", {}).get("tasks", {}))
    return {name: task for name, task in found.items() if not name.startswith(("condition-", "for-loop-"))}


def _cached(spec: dict) -> set[str]:
    return {name for name, task in _tasks(spec).items() if task.get("cachingOptions", {}).get("enableCache")}


def test_submit_leaves_caching_to_the_compiled_ir_and_caches_only_with_cache(kfp_server):
    """kfp.Client's enable_caching=True would mark every root task cached, the gate included."""
    invoke("submit", "--run-name", "plain")
    invoke("submit", "--run-name", "cached", "--cache")
    plain, cached = (r.json["pipeline_spec"]["pipeline_spec"] for r in kfp_server.find("POST", "/runs"))
    assert _cached(plain) == set()
    assert _cached(cached) == {"check-params", "ingest", "chunk", "generate-queries", "split", "mine-shard", "mine",
                               "encode-shard", "evaluate", "quantize"}
    assert not _cached(cached) & {"train", "register", "promoted", "promote", "publish"}


@pytest.mark.parametrize("how", ["flag", "env", "sa-token-file"])
def test_every_request_carries_the_bearer_token(monkeypatch, no_proxy, tmp_path, how):
    """A Kubeflow behind Istio/oauth2-proxy answers 401 without credentials."""
    with FakeKfp(token=TOKEN) as server:
        args = ["submit", "--host", server.url, "--namespace", "ml-team"]
        if how == "flag":
            args += ["--token", TOKEN]
        elif how == "env":
            monkeypatch.setenv("KF_PIPELINES_TOKEN", TOKEN)
        else:  # a projected service-account token, as in a pod (re-read per request)
            (tmp_path / "token").write_text(TOKEN + "\n")
            args += ["--sa-token-path", str(tmp_path / "token")]
        out = invoke(*args).output
        assert "run run-1" in out and TOKEN not in out
        assert server.requests and server.refused == []
        assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {TOKEN}"}


def test_missing_or_wrong_credentials_fail_clearly_without_echoing_them(no_proxy):
    with FakeKfp(token=TOKEN) as server:
        result = run_cli("submit", "--host", server.url, "--namespace", "ml-team", "--token", "wrong-token-xyz")
        assert result.exit_code != 0 and server.requests == [] and server.refused
        message = str(result.exception)
        assert "refused the request (401" in message and "--token" in message
        assert "wrong-token-xyz" not in message + result.output


def test_the_session_cookie_is_sent_with_the_token(no_proxy):
    with FakeKfp(token=TOKEN, cookie=COOKIE) as server:
        invoke("submit", "--host", server.url, "--namespace", "ml-team", "--token", TOKEN, "--cookie", COOKIE)
        assert all(COOKIE in r.headers.get("cookie", "") for r in server.requests)
        assert server.refused == []


def test_a_multi_user_kubeflow_needs_the_profile_namespace(no_proxy):
    """There is no `kubeflow` profile for runs on a multi-user Kubeflow: refuse before creating anything."""
    with FakeKfp(multi_user=True) as server:
        result = run_cli("submit", "--host", server.url)
        assert result.exit_code != 0 and "multi-user" in str(result.exception)
        assert not [r for r in server.requests if r.method == "POST"]
        invoke("submit", "--host", server.url, "--namespace", "team-a")
        (exp,) = server.find("POST", "/experiments")
        assert exp.json["namespace"] == "team-a"


def test_schedule_refuses_a_second_recurring_run_of_the_same_name_or_replaces_it(kfp_server):
    """Two recurring runs of one name would both fire, the old one with the old pipeline version."""
    invoke("schedule", "--cron", "0 0 3 * * 1", "--name", "weekly")
    assert list(kfp_server.recurring_runs) == ["rr-1"]
    uploads = len(kfp_server.find("POST", "/pipelines/upload_version"))

    result = run_cli("schedule", "--cron", "0 0 4 * * 1", "--name", "weekly")
    assert result.exit_code != 0 and "--replace" in str(result.exception) and "rr-1" in str(result.exception)
    assert len(kfp_server.find("POST", "/pipelines/upload_version")) == uploads  # nothing uploaded
    assert list(kfp_server.recurring_runs) == ["rr-1"]

    out = invoke("schedule", "--cron", "0 0 4 * * 1", "--name", "weekly", "--replace").output
    assert "replacing rr-1" in out
    (new,) = kfp_server.recurring_runs.values()
    assert new["trigger"]["cron_schedule"]["cron"] == "0 0 4 * * 1"
    # The new one exists before the old one goes: no window without a schedule.
    order = [(r.method, r.path) for r in kfp_server.requests if r.method in ("POST", "DELETE")]
    assert order.index(("POST", "/apis/v2beta1/recurringruns")) < order.index(
        ("DELETE", "/apis/v2beta1/recurringruns/rr-1"))
    # The pipeline is uploaded once; each schedule adds a version to it.
    assert len(kfp_server.find("POST", "/pipelines/upload")) == 1
    assert {v.query["pipelineid"][0] for v in kfp_server.find("POST", "/pipelines/upload_version")} == {"pipe-1"}


@pytest.fixture()
def package(tmp_path):
    path = tmp_path / "compiled.yaml"
    invoke("compile", "--output", str(path), "--set", "train.max_steps=11")
    return path


def test_submit_package_applies_set_to_its_compiled_defaults(kfp_server, package):
    invoke("submit", "--package", str(package), "--set", "train.learning_rate=3e-5", "--set", "seed=7",
           params=False, pinned=False)
    (run,) = kfp_server.find("POST", "/runs")
    arguments = run.json["runtime_config"]["parameters"]
    assert set(arguments) == {"train", "seed"}  # only what --set touched; the rest stays compiled
    assert arguments["seed"] == 7
    assert arguments["train"]["learning_rate"] == 3e-5 and arguments["train"]["max_steps"] == 11
    spec = run.json["pipeline_spec"]["pipeline_spec"]
    assert spec["root"]["inputDefinitions"]["parameters"]["train"]["defaultValue"]["max_steps"] == 11


@pytest.mark.parametrize(("extra", "message"), [
    (["--params", str(REPO / "params.yaml")], "--params with --package"),
    (["--cache"], "--cache with --package"),
    (["--image", "registry.local/x:1"], "--image with --package"),
    (["--set", "kubeflow.train_retries=0"], "not a run parameter"),
    (["--set", "train.learning_rate=-1"], r"train.learning_rate"),
])
def test_submit_package_refuses_what_it_cannot_apply(kfp_server, package, extra, message):
    result = run_cli("submit", "--package", str(package), *extra, params=False, pinned=False)
    assert result.exit_code != 0 and message in str(result.exception), str(result.exception)
    assert kfp_server.find("POST", "/runs") == []


def test_schedule_package_sends_the_overridden_sections(kfp_server, package):
    invoke("schedule", "--cron", "0 0 3 * * 1", "--package", str(package), "--set", "register.min_delta=0.02",
           params=False, pinned=False)
    (job,) = kfp_server.find("POST", "/recurringruns")
    assert job.json["runtime_config"]["parameters"]["register"]["min_delta"] == 0.02


def test_schedule_uploads_and_finds_the_pipeline_in_the_profile_namespace(no_proxy):
    """REQUIRE_NAMESPACE_FOR_PIPELINES=true: a shared pipeline of the same name is not the team's."""
    with FakeKfp(multi_user=True, require_namespace=True) as server:
        server.pipelines["shared-1"] = {"pipeline_id": "shared-1", "display_name": "weekly", "namespace": ""}
        args = ("schedule", "--host", server.url, "--namespace", "team-a", "--cron", "0 0 3 * * 1", "--name", "weekly")
        invoke(*args)
        (upload,) = server.find("POST", "/pipelines/upload")
        assert upload.query["namespace"] == ["team-a"]
        (listing,) = server.find("GET", "/pipelines")
        assert listing.query["namespace"] == ["team-a"]
        (version,) = server.find("POST", "/pipelines/upload_version")
        assert version.query["pipelineid"] != ["shared-1"]
        team_pipeline = version.query["pipelineid"][0]
        # The next schedule finds the team's own pipeline and adds a version to it.
        invoke(*args, "--replace")
        assert len(server.find("POST", "/pipelines/upload")) == 1
        assert server.find("POST", "/pipelines/upload_version")[-1].query["pipelineid"] == [team_pipeline]


def test_schedule_shifts_a_local_cron_to_utc(kfp_server):
    """KFP runs crons in UTC: 03:00 Monday in Tokyo (UTC+9, no DST) is 18:00 Sunday UTC."""
    out = invoke("schedule", "--cron", "0 0 3 * * 1", "--timezone", "Asia/Tokyo", "--name", "tokyo").output
    (job,) = kfp_server.find("POST", "/recurringruns")
    assert job.json["trigger"]["cron_schedule"]["cron"] == "0 0 18 * * 0"
    assert "Asia/Tokyo at UTC+09:00" in out
    result = run_cli("schedule", "--cron", "0 0 3 * * 1", "--timezone", "Mars/Olympus", "--name", "x")
    assert result.exit_code != 0 and "not an IANA time zone" in str(result.exception)


def test_local_crons_with_daylight_saving_and_what_cannot_be_shifted():
    from datetime import datetime

    from spladeforge.cli.cron import to_utc
    from spladeforge.errors import ConfigError

    winter, summer = (datetime(2026, m, 15, tzinfo=UTC) for m in (1, 7))
    assert to_utc("0 30 1 * * 1-5", "Europe/Berlin", winter).expression == "0 30 0 * * 1-5"
    shifted = to_utc("0 30 1 * * 1-5", "Europe/Berlin", summer)
    assert shifted.expression == "0 30 23 * * 0,1,2,3,4" and shifted.changes_offset
    assert to_utc("0 0 22 * * 6", "America/New_York", winter).expression == "0 0 3 * * 0"
    assert to_utc("0 */5 * * * *", "UTC").expression == "0 */5 * * * *"
    with pytest.raises(ConfigError, match="minute and hour must be single numbers"):
        to_utc("0 */5 * * * *", "Europe/Berlin", winter)
    with pytest.raises(ConfigError, match="day-of-month and month must be"):
        to_utc("0 0 3 1 * *", "Europe/Berlin", winter)
