"""The compiled IR against what a real cluster needs: secrets, hub access, pinned images, resources, GPU pool."""

from __future__ import annotations

import json

import pytest
import yaml

from spladeforge.config import load_params
from spladeforge.errors import ConfigError
from spladeforge.pipelines.placement import TASKS

from .conftest import REPO
from .test_compile import DIGEST, IMAGE_TAG, _control_flow, compile_ir

H100 = ["preset=h100-splade"]


def _executors(ir: dict) -> dict[str, dict]:
    return ir["deploymentSpec"]["executors"]


def _env(ir: dict, executor: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _executors(ir)[executor]["container"].get("env", [])}


def _secrets(k8s: dict, executor: str) -> dict[str, tuple[str, bool]]:
    """variable -> (secret name, optional) of a task."""
    found = {}
    for s in k8s.get(executor, {}).get("secretAsEnv", []):
        for m in s["keyToEnv"]:
            found[m["envVar"]] = (s["secretName"], s.get("optional", False))
    return found


@pytest.fixture(scope="module")
def h100(tmp_path_factory):
    return compile_ir(tmp_path_factory.mktemp("h100"), H100)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return compile_ir(tmp_path_factory.mktemp("tiny"))


def test_every_task_of_the_dag_has_a_placement_row(tiny):
    """A task added to the DAG without deciding its secrets and caching fails compilation instead."""
    _, ir, _ = tiny
    assert {name.removeprefix("exec-") for name in _executors(ir)} == set(TASKS)


def test_every_task_gets_the_artifact_credentials(tiny):
    """The s3:// pipeline root: each task's launcher uploads its outputs, ingest's first of all."""
    _, ir, k8s = tiny
    for executor in _executors(ir):
        secrets = _secrets(k8s, executor)
        assert secrets["AWS_ACCESS_KEY_ID"] == ("spladeforge-aws", True), executor
        assert secrets["AWS_SECRET_ACCESS_KEY"] == ("spladeforge-aws", True), executor


def test_ingest_gets_git_credentials_through_askpass_and_train_logs_to_mlflow(tiny):
    _, ir, k8s = tiny
    ingest = _secrets(k8s, "exec-ingest")
    assert ingest["GIT_USERNAME"] == ("spladeforge-git", True) and ingest["GIT_PASSWORD"] == ("spladeforge-git", True)
    assert _env(ir, "exec-ingest")["GIT_ASKPASS"] == "spladeforge-git-askpass"
    train = _secrets(k8s, "exec-train")
    # The h100 presets track training to MLflow; without the secret the curves stayed in the pod.
    assert train["MLFLOW_TRACKING_URI"] == ("spladeforge-mlflow", True) and "HF_TOKEN" in train
    for gate in ("exec-register", "exec-promote"):  # the registry itself: required
        assert _secrets(k8s, gate)["MLFLOW_TRACKING_URI"] == ("spladeforge-mlflow", False), gate
    assert not any("GIT_" in var for name in _executors(ir) if name != "exec-ingest"
                   for var in _secrets(k8s, name))


def test_hub_models_are_not_blocked_by_an_offline_flag(h100, tiny, tmp_path):
    """The h100 presets' base models come from the hub: every task says HF_HUB_OFFLINE=0 itself."""
    for _, ir, _ in (h100, tiny):
        assert {name: _env(ir, name).get("HF_HUB_OFFLINE") for name in _executors(ir)} == {
            name: "0" for name in _executors(ir)}
    _, h100_ir, _ = h100
    params = json.dumps(h100_ir["root"]["inputDefinitions"]["parameters"]["train"]["defaultValue"])
    assert "naver/splade-cocondenser-ensembledistil" in params
    # An air-gapped cluster can ask for offline tasks, but not with a hub model in params.
    _, offline, _ = compile_ir(tmp_path, ["kubeflow.hf_hub_offline=true"])
    assert {_env(offline, name)["HF_HUB_OFFLINE"] for name in _executors(offline)} == {"1"}
    with pytest.raises(ConfigError, match=r"hf_hub_offline.*train\.base_model=naver/splade"):
        compile_ir(tmp_path, [*H100, "kubeflow.hf_hub_offline=true"])


def test_images_are_pinned_to_the_commit_or_a_digest(tiny, tmp_path):
    _, ir, _ = tiny
    images = {name: ex["container"]["image"] for name, ex in _executors(ir).items()}
    assert all(image.endswith(f":{IMAGE_TAG}") for image in images.values()), images
    assert images["exec-train"] == f"ghcr.io/spladeforge/spladeforge:{IMAGE_TAG}"  # cpu-tiny trains on cpu
    assert images["exec-ingest"] == f"ghcr.io/spladeforge/spladeforge:{IMAGE_TAG}"
    # A digest is immutable and taken as given.
    _, ir, _ = compile_ir(tmp_path, [f"kubeflow.image=registry.local/sf@{DIGEST}"])
    assert _executors(ir)["exec-ingest"]["container"]["image"] == f"registry.local/sf@{DIGEST}"
    # A bare repository (`latest`) is never compiled.
    with pytest.raises(ConfigError, match=r"kubeflow\.image.*no tag or digest"):
        compile_ir(tmp_path, image_tag=None)


def test_image_pull_secrets_reach_every_task(tmp_path):
    _, ir, k8s = compile_ir(tmp_path, ["kubeflow.image_pull_secrets=[ghcr-pull]"])
    for executor in _executors(ir):
        assert k8s[executor]["imagePullSecret"] == [{"secretName": "ghcr-pull", "secretNameParameter": {
            "runtimeValue": {"constant": "ghcr-pull"}}}], executor


def test_every_task_has_requests_a_memory_limit_and_a_timeout(tiny, tmp_path):
    _, ir, k8s = tiny
    for executor in _executors(ir):
        resources = _executors(ir)[executor]["container"]["resources"]
        assert resources["resourceCpuRequest"] and resources["resourceMemoryRequest"], executor
        assert resources["resourceMemoryLimit"], executor
        assert int(k8s[executor]["activeDeadlineSeconds"]) > 0, executor
    ingest = _executors(ir)["exec-ingest"]["container"]["resources"]
    assert (ingest["resourceCpuRequest"], ingest["resourceMemoryRequest"], ingest["resourceMemoryLimit"]) == (
        "2", "8Gi", "16Gi")
    assert k8s["exec-ingest"]["activeDeadlineSeconds"] == str(12 * 3600)
    assert k8s["exec-train"]["activeDeadlineSeconds"] == str(48 * 3600)
    # Per task, over `default`; a CPU limit only when asked for.
    _, ir, k8s = compile_ir(tmp_path, ["kubeflow.resources.evaluate.memory=48Gi",
                                       "kubeflow.resources.evaluate.memory_limit=64Gi",
                                       "kubeflow.resources.evaluate.cpu_limit=8",
                                       "kubeflow.resources.evaluate.timeout=3h",
                                       "kubeflow.resources.default.cpu=1"])
    evaluate = _executors(ir)["exec-evaluate"]["container"]["resources"]
    assert (evaluate["resourceCpuRequest"], evaluate["resourceMemoryRequest"], evaluate["resourceMemoryLimit"],
            evaluate["resourceCpuLimit"]) == ("1", "48Gi", "64Gi", "8")
    assert k8s["exec-evaluate"]["activeDeadlineSeconds"] == str(3 * 3600)
    assert _executors(ir)["exec-chunk"]["container"]["resources"]["resourceCpuRequest"] == "1"
    assert "resourceCpuLimit" not in _executors(ir)["exec-chunk"]["container"]["resources"]


@pytest.mark.parametrize(("override", "key"), [
    ("kubeflow.resources.ingest.memory=lots", r"kubeflow\.resources\.ingest\.memory"),
    ("kubeflow.resources.train.timeout=forever", r"kubeflow\.resources\.train\.timeout"),
    ("kubeflow.resources.trian.cpu=4", r"kubeflow\.resources\.trian: unknown key"),
    ("kubeflow.retry_backoff_max=3600s", r"retry_backoff_max 3600s is shorter than one train attempt"),
    ("kubeflow.image=Not An Image", r"kubeflow\.image"),
    # Argo parses the factor as an integer: 1.5 would compile and fail at the first retry.
    ("kubeflow.retry_backoff_factor=1.5", r"kubeflow\.retry_backoff_factor.*not an integer"),
    ("kubeflow.run_timeout=3d", r"run_timeout 3d is not longer than retry_backoff_max 72h"),
])
def test_bad_placement_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        load_params(REPO / "params.yaml", [override])


def test_gpu_presets_put_encode_and_evaluate_on_the_gpu_pool_in_the_cuda_image(h100, tiny, tmp_path):
    def on_gpu(ir, k8s):
        return {name.removeprefix("exec-") for name, ex in _executors(ir).items()
                if "accelerator" in ex["container"].get("resources", {})
                and k8s[name].get("tolerations") and k8s[name].get("nodeSelector")}

    _, ir, k8s = h100
    assert on_gpu(ir, k8s) == {"train", "encode-shard", "evaluate"}
    for name in ("exec-encode-shard", "exec-evaluate"):
        assert _executors(ir)[name]["container"]["image"] == f"ghcr.io/spladeforge/spladeforge-cuda:{IMAGE_TAG}"
    tasks = {**ir["root"]["dag"]["tasks"], **_control_flow(ir)["for-loop-4"]}
    for name in ("train", "encode-shard", "evaluate"):  # spot nodes: retried like train
        assert tasks[name]["retryPolicy"]["backoffMaxDuration"] == "259200s", name
    # quantize's model load is CPU by design (INT8 ONNX is a CPU format): on the GPU pool only if asked.
    assert _executors(ir)["exec-quantize"]["container"]["image"].startswith("ghcr.io/spladeforge/spladeforge:")
    _, ir, k8s = compile_ir(tmp_path, [*H100, "kubeflow.gpu_tasks=[encode-shard, evaluate, quantize]"])
    assert on_gpu(ir, k8s) == {"train", "encode-shard", "evaluate", "quantize"}
    # A preset that trains on CPU keeps everything, train included, on the CPU pool.
    _, ir, k8s = tiny
    assert on_gpu(ir, k8s) == set()


def test_an_s3_compatible_endpoint_reaches_every_task(tmp_path):
    """GCS's XML API (HMAC keys) as the S3 store: boto3 and DVC read the endpoint from the environment."""
    _, ir, _ = compile_ir(tmp_path, ["kubeflow.s3_endpoint_url=https://storage.googleapis.com"])
    for executor in _executors(ir):
        env = _env(ir, executor)
        assert env["AWS_ENDPOINT_URL_S3"] == "https://storage.googleapis.com", executor
        assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "when_required", executor


def test_gpu_tasks_get_a_gpu_nodes_share_with_the_memory_limit_above_shm(h100, tmp_path):
    """/dev/shm (memory-backed, 32Gi) is charged to the limit: the limit holds it plus the request."""
    _, ir, _ = h100
    for name in ("exec-encode-shard", "exec-evaluate"):
        r = _executors(ir)[name]["container"]["resources"]
        assert (r["resourceCpuRequest"], r["resourceMemoryRequest"], r["resourceMemoryLimit"]) == ("8", "48Gi", "96Gi")
    assert _executors(ir)["exec-quantize"]["container"]["resources"]["resourceMemoryLimit"] == "16Gi"  # CPU pool
    with pytest.raises(ConfigError, match=r"kubeflow\.resources\.evaluate\.memory_limit 40Gi is below "
                                          r"kubeflow\.shm_size 32Gi plus the memory request 48Gi"):
        compile_ir(tmp_path, [*H100, "kubeflow.resources.evaluate.memory_limit=40Gi"])
    _, ir, _ = compile_ir(tmp_path, [*H100, "kubeflow.shm_size=8Gi", "kubeflow.resources.evaluate.memory=16Gi",
                                     "kubeflow.resources.evaluate.memory_limit=32Gi"])
    assert _executors(ir)["exec-evaluate"]["container"]["resources"]["resourceMemoryLimit"] == "32Gi"


def test_the_whole_run_has_a_deadline_longer_than_the_retry_window(h100):
    """A pod's activeDeadlineSeconds counts from its start: a train pod Pending for want of spot
    capacity is ended only by the workflow's deadline, which then lets the next scheduled run start."""
    text, ir, _ = h100
    platform = list(yaml.safe_load_all(text))[1]["platforms"]["kubernetes"]
    assert platform["pipelineConfig"]["activeDeadlineSeconds"] == 4 * 86400
    window = int(_control_flow_tasks(ir)["train"]["retryPolicy"]["backoffMaxDuration"].rstrip("s"))
    assert platform["pipelineConfig"]["activeDeadlineSeconds"] > window


def test_every_gpu_task_retries_with_an_integer_factor(h100):
    _, ir, _ = h100
    tasks = _control_flow_tasks(ir)
    for name in ("train", "encode-shard", "evaluate"):
        retry = tasks[name]["retryPolicy"]
        assert retry["maxRetryCount"] == 3 and retry["backoffDuration"] == "120s", name
        assert float(retry["backoffFactor"]).is_integer(), name
    assert "retryPolicy" not in tasks["quantize"] and "retryPolicy" not in tasks["ingest"]


def _control_flow_tasks(ir: dict) -> dict[str, dict]:
    """Every task of the DAG by name, those inside loops and conditions included."""
    tasks = dict(ir["root"]["dag"]["tasks"])
    for inner in _control_flow(ir).values():
        tasks.update(inner)
    return tasks
