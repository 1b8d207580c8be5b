"""The compiled IR: the same stages as dvc.yaml, the H100 placement of train, the gate, no secrets."""

from __future__ import annotations

import json

import pytest
import yaml

from spladeforge.components import STAGES, check_params
from spladeforge.config import load_params, run_config
from spladeforge.errors import ConfigError
from spladeforge.pipelines import compile_pipeline

from .conftest import REPO

FAKE_SECRETS = {
    "HF_TOKEN": "hf_FAKEtokenVALUE0123456789",
    "AWS_ACCESS_KEY_ID": "AKIAFAKEKEYID000000",
    "AWS_SECRET_ACCESS_KEY": "fake/secret+access/KEY0123456789abcdef",
    "MLFLOW_TRACKING_USERNAME": "fake-mlflow-user-xyz",
    "MLFLOW_TRACKING_PASSWORD": "fake-mlflow-password-xyz",
    "MLFLOW_TRACKING_URI": "https://fake-mlflow-user-xyz:fake-mlflow-password-xyz@mlflow.example",
    "OPENAI_API_KEY": "sk-FAKEopenaiKEY0123456789abcdef",
}


IMAGE_TAG = "0123456789abcdef0123456789abcdef01234567"  # what `pipeline compile` takes from git
DIGEST = "sha256:" + "ab" * 32
# Images given on the command line, so that a CLI test does not depend on the checkout's git state.
PINNED = ["--image", f"ghcr.io/spladeforge/spladeforge@{DIGEST}",
          "--train-image", f"ghcr.io/spladeforge/spladeforge-cuda@{DIGEST}"]


def compile_ir(tmp_path, overrides=(), **kwargs) -> tuple[str, dict, dict]:
    path = tmp_path / "pipeline.yaml"
    kwargs.setdefault("image_tag", IMAGE_TAG)
    compile_pipeline(load_params(REPO / "params.yaml", list(overrides)), str(path), **kwargs)
    text = path.read_text()
    ir, platform = yaml.safe_load_all(text)
    return text, ir, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    for name, value in FAKE_SECRETS.items():
        mp.setenv(name, value)
    try:
        yield compile_ir(tmp_path_factory.mktemp("ir"))
    finally:
        mp.undo()


def _dvc_upstream(stages: dict) -> dict[str, set[str]]:
    """For each dvc.yaml stage, the stages whose outputs it lists among its deps."""
    producer = {}
    for name, stage in stages.items():
        for out in stage.get("outs", []):
            producer[out if isinstance(out, str) else next(iter(out))] = name
    return {name: {producer[d] for d in stage.get("deps", []) if d in producer}
            for name, stage in stages.items()}


def _control_flow(ir: dict) -> dict[str, dict]:
    """Root tasks that are a dsl.If or dsl.ParallelFor group -> the tasks inside them."""
    root = ir["root"]["dag"]["tasks"]
    return {name: ir["components"][task["componentRef"]["name"]]["dag"]["tasks"] for name, task in root.items()
            if name.startswith(("condition-", "for-loop-"))}


def _gate(ir: dict) -> tuple[dict, dict]:
    """The dsl.If on the gate: its root task and the tasks inside it."""
    root = ir["root"]["dag"]["tasks"]
    (name,) = [name for name, task in root.items() if "triggerPolicy" in task]
    return root[name], _control_flow(ir)[name]


def _upstream(ir: dict, task: dict) -> set[str]:
    """A root task's upstream tasks; a loop it depends on stands for its inner tasks and their upstream."""
    groups = _control_flow(ir)
    root = ir["root"]["dag"]["tasks"]
    found = set()
    for dep in task.get("dependentTasks", []):
        found.add(dep)
        if dep.startswith("for-loop-"):
            found |= set(groups[dep]) | set(root[dep].get("dependentTasks", []))
    return found


def test_dag_has_the_stages_and_edges_of_dvc_yaml(compiled):
    """Same stages as `dvc repro`: each dvc.yaml stage is a task depending on the same upstream stages."""
    _, ir, _ = compiled
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert [f.__name__.replace("_", "-") for f in STAGES] == list(stages)
    root = ir["root"]["dag"]["tasks"]
    condition, _ = _gate(ir)
    for name, upstream in _dvc_upstream(stages).items():
        # publish runs inside the dsl.If; its condition task carries the dependencies.
        task = condition if name == "publish" else root[name]
        assert upstream <= _upstream(ir, task), (name, upstream)
    # mine's work is in the loop it collects, which reads split's and chunk's outputs; mine reads them
    # too, to record their hashes in its manifest as `dvc repro`'s mine does.
    assert set(root["mine"]["dependentTasks"]) == {"for-loop-2", "split", "chunk"}
    assert {"split", "chunk"} <= set(root["for-loop-2"]["dependentTasks"])


def test_parameters_mirror_params_yaml(compiled):
    """The pipeline's parameters are params.yaml's sections, defaulting to the merged values."""
    _, ir, _ = compiled
    params = ir["root"]["inputDefinitions"]["parameters"]
    merged = load_params(REPO / "params.yaml")
    assert params["seed"]["defaultValue"] == merged.seed
    assert params["train"]["defaultValue"]["base_model"] == merged.train.base_model
    assert params["train"]["defaultValue"]["max_steps"] == merged.train.max_steps  # from the preset
    assert params["register"]["defaultValue"]["min_delta"] == merged.register.min_delta
    assert "kubeflow" not in params and "preset" not in params


def test_train_runs_on_the_h100_pool_with_shm_retries_and_mirrored_checkpoints(tmp_path):
    _, ir, k8s = compile_ir(tmp_path, ["preset=h100-splade"])
    container = ir["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert container["resources"]["accelerator"] == {
        "count": "1", "resourceCount": "1", "resourceType": "nvidia.com/gpu", "type": "nvidia.com/gpu"}
    assert container["resources"]["resourceCpuRequest"] == "20"
    assert container["resources"]["resourceMemoryRequest"] == "160Gi"
    assert container["image"] == f"ghcr.io/spladeforge/spladeforge-cuda:{IMAGE_TAG}"  # the compiled commit
    train = k8s["exec-train"]
    assert train["nodeSelector"]["labels"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    assert train["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present",
                                     "effect": "NoSchedule"}]
    assert train["emptyDirMounts"] == [{"volumeName": "dshm", "mountPath": "/dev/shm", "medium": "Memory",
                                        "sizeLimit": "32Gi"}]
    # No volume to attach: a zonal ReadWriteOnce disk cannot follow a retry to another zone, nor be
    # shared by overlapping runs. Checkpoints are mirrored to object storage instead.
    assert "pvcMount" not in train and "pvcMount" not in json.dumps(k8s)
    retry = ir["root"]["dag"]["tasks"]["train"]["retryPolicy"]
    assert retry == {"maxRetryCount": 3, "backoffDuration": "120s", "backoffFactor": 2.0,
                     "backoffMaxDuration": "259200s"}
    # Argo's maxDuration runs from the first attempt's start and is every retry's deadline: a
    # preemption a day into training must still be retried.
    assert int(retry["backoffMaxDuration"].rstrip("s")) >= 24 * 3600
    assert int(retry["backoffMaxDuration"].rstrip("s")) >= int(train["activeDeadlineSeconds"])
    # The checkpoint folder is keyed by the run id, which retries of the task share.
    inputs = ir["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert inputs["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert inputs["checkpoint_uri"] == {"componentInputParameter": "checkpoint_uri"}
    assert ir["root"]["inputDefinitions"]["parameters"]["checkpoint_uri"]["defaultValue"] == ""


def test_a_cpu_preset_trains_on_the_cpu_pool_in_the_cpu_image(compiled):
    """cpu-tiny trains on cpu: nothing asks for a GPU or tolerates the GPU taint, train runs in the
    CPU image with CPU-node resources, and still retries (it resumes from its checkpoints)."""
    _, ir, k8s = compiled
    for name, executor in ir["deploymentSpec"]["executors"].items():
        assert "accelerator" not in executor["container"].get("resources", {}), name
        assert "tolerations" not in k8s.get(name, {}), name
        assert "nodeSelector" not in k8s.get(name, {}), name
    train = ir["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["image"] == f"ghcr.io/spladeforge/spladeforge:{IMAGE_TAG}"
    assert (train["resources"]["resourceCpuRequest"], train["resources"]["resourceMemoryRequest"]) == ("2", "8Gi")
    assert k8s["exec-train"]["activeDeadlineSeconds"] == str(48 * 3600)
    assert ir["root"]["dag"]["tasks"]["train"]["retryPolicy"]["maxRetryCount"] == 3


def test_a_device_no_node_has_is_refused_at_compile_time(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.device 'mps' \(preset 'mps'\) cannot run on Kubernetes"):
        compile_ir(tmp_path, ["preset=mps"])


def test_promotion_and_publish_are_guarded_by_the_ndcg_gate(compiled):
    """register only decides; promote (the champion move) and publish run inside the dsl.If on its verdict."""
    _, ir, _ = compiled
    root = ir["root"]["dag"]["tasks"]
    cond, inside = _gate(ir)
    assert cond["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--promoted-Output'] == true")
    assert "promoted" in cond["dependentTasks"]
    assert set(inside) == {"promote", "publish"} and "promote" not in root and "publish" not in root
    assert inside["publish"]["dependentTasks"] == ["promote"]
    # publish reads the decision promote wrote after moving champion, promote the one register wrote.
    published = inside["publish"]["inputs"]["artifacts"]["decision"]["taskOutputArtifact"]
    assert published == {"outputArtifactKey": "promotion", "producerTask": "promote"}
    promoting = inside["promote"]["inputs"]["artifacts"]["decision"]["componentInputArtifact"]
    assert cond["inputs"]["artifacts"][promoting]["taskOutputArtifact"]["producerTask"] == "register"
    promoted = root["promoted"]
    assert promoted["inputs"]["artifacts"]["decision"]["taskOutputArtifact"]["producerTask"] == "register"
    # register's component leaves champion alone; only promote calls the champion move.
    executors = ir["deploymentSpec"]["executors"]
    assert "promote=False" in json.dumps(executors["exec-register"]["container"])
    assert "promote_champion" in json.dumps(executors["exec-promote"]["container"])
    assert "promote_champion" not in json.dumps(executors["exec-register"]["container"])


def test_mining_and_document_encoding_fan_out_and_are_collected(tmp_path):
    """kubeflow.mine_shards/encode_shards: a dsl.ParallelFor of shard tasks, collected by mine and evaluate."""
    _, ir, _ = compile_ir(tmp_path, ["kubeflow.mine_shards=3", "kubeflow.encode_shards=2",
                                     "kubeflow.shard_parallelism=2"])
    root, groups = ir["root"]["dag"]["tasks"], _control_flow(ir)
    loops = {next(iter(groups[name])): root[name] for name in groups if name.startswith("for-loop-")}
    assert set(loops) == {"mine-shard", "encode-shard"}
    for inner, items, collector, output, param in (("mine-shard", [0, 1, 2], "mine", "tuples_shard", "shards"),
                                                    ("encode-shard", [0, 1], "evaluate", "embeddings",
                                                     "document_embeddings")):
        loop = loops[inner]
        assert json.loads(loop["parameterIterator"]["items"]["raw"]) == items
        assert loop["iteratorPolicy"] == {"parallelismLimit": 2}
        task = groups[loop["taskInfo"]["name"]][inner]
        assert task["inputs"]["parameters"]["shard"]["componentInputParameter"] == loop[
            "parameterIterator"]["itemInput"]
        assert task["inputs"]["parameters"]["num_shards"]["runtimeValue"]["constant"] == len(items)
        collected = root[collector]["inputs"]["artifacts"][param]["taskOutputArtifact"]
        assert collected["producerTask"] == loop["taskInfo"]["name"]
        selector = ir["components"][loop["componentRef"]["name"]]["dag"]["outputs"]["artifacts"][
            collected["outputArtifactKey"]]["artifactSelectors"]
        assert selector == [{"outputArtifactKey": output, "producerSubtask": inner}]
    # encode-shard reads the trained model; train reads mine's collected tuples.
    assert "train" in loops["encode-shard"]["dependentTasks"] and "mine" in root["train"]["dependentTasks"]
    # The default: one shard each, the same path, no parallelism limit.
    _, default, _ = compile_ir(tmp_path)
    for name, loop in default["root"]["dag"]["tasks"].items():
        if name.startswith("for-loop-"):
            assert json.loads(loop["parameterIterator"]["items"]["raw"]) == [0] and "iteratorPolicy" not in loop


@pytest.mark.parametrize("key", ["mine_shards", "encode_shards"])
def test_shard_counts_must_be_positive(key):
    with pytest.raises(ConfigError, match=rf"kubeflow\.{key}"):
        load_params(REPO / "params.yaml", [f"kubeflow.{key}=0"])


def test_side_effect_tasks_are_never_cached(compiled, tmp_path):
    """Caching is asked for at compile time (`--cache`) and then covers only the pure data tasks:
    register/promoted/promote/publish touch MLflow, S3 and the Hub, train takes the run id."""
    _, cached, _ = compile_ir(tmp_path, enable_caching=True)
    tasks = cached["root"]["dag"]["tasks"]
    assert tasks["ingest"]["cachingOptions"]["enableCache"] is True
    assert not tasks["register"].get("cachingOptions", {}).get("enableCache")
    assert not tasks["promoted"].get("cachingOptions", {}).get("enableCache")
    assert not tasks["train"].get("cachingOptions", {}).get("enableCache")
    _, inside = _gate(cached)
    for name in ("promote", "publish"):
        assert not inside[name].get("cachingOptions", {}).get("enableCache"), name
    assert _control_flow(cached)["for-loop-2"]["mine-shard"]["cachingOptions"]["enableCache"] is True
    # The default (what `pipeline compile|submit|schedule` do without --cache): nothing is cached.
    _, ir, _ = compiled
    for uncached in (ir, compile_ir(tmp_path, enable_caching=False)[1]):
        tasks = [*uncached["root"]["dag"]["tasks"].values()]
        tasks += [task for inner in _control_flow(uncached).values() for task in inner.values()]
        assert {"mine-shard", "encode-shard", "promote"} <= {t["taskInfo"]["name"] for t in tasks}
        assert not any(t.get("cachingOptions", {}).get("enableCache") for t in tasks)


def test_ingest_is_cached_only_for_a_pinned_data_version(tmp_path):
    """A cached ingest of a moving source (a data repo's default branch) would never see new documents."""
    def ingest_cached(*overrides):
        _, ir, _ = compile_ir(tmp_path, list(overrides), enable_caching=True)
        return bool(ir["root"]["dag"]["tasks"]["ingest"].get("cachingOptions", {}).get("enableCache"))

    repo = "data.dvc_repo=https://git.example/docs.git"
    assert ingest_cached() is True  # the stdlib docs are part of the image, whose tag is in the cache key
    assert ingest_cached(repo, "data.source=docs") is False  # dvc_rev null: the latest pushed data
    assert ingest_cached(repo, "data.source=docs", "data.dvc_rev=v3") is True
    assert ingest_cached("data.source=/data/docs") is False  # a mounted folder can change under the same path


def test_secrets_come_from_kubernetes_secrets_and_no_value_is_in_the_yaml(compiled):
    text, ir, k8s = compiled
    for value in FAKE_SECRETS.values():
        assert value not in text
    assert "fake-mlflow" not in text and "hf_FAKE" not in text and "sk-FAKE" not in text
    envs = {name: {m["envVar"] for s in ex.get("secretAsEnv", []) for m in s["keyToEnv"]}
            for name, ex in k8s.items()}
    assert envs["exec-register"] >= {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME",
                                     "MLFLOW_TRACKING_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert "HF_TOKEN" in envs["exec-train"] and "HF_TOKEN" in envs["exec-publish"]
    assert envs["exec-promote"] >= {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}
    assert "OPENAI_API_KEY" in envs["exec-generate-queries"]
    # No component takes a credential as a parameter.
    for comp in ir["components"].values():
        names = " ".join(comp.get("inputDefinitions", {}).get("parameters", {})).lower()
        assert not any(word in names for word in ("token", "password", "secret", "key")), names


def _secret_envs(executor: dict) -> list[tuple[str, str, str, bool]]:
    """(secret name, key, variable, optional) for each secret-as-env entry of a task."""
    found = []
    for s in executor.get("secretAsEnv", []):
        name = s.get("secretName") or s["secretNameParameter"]["runtimeValue"]["constant"]
        found += [(name, m["secretKey"], m["envVar"], s.get("optional", False)) for m in s["keyToEnv"]]
    return found


def test_generate_queries_gets_the_openai_key_from_an_optional_secret(compiled, tmp_path):
    """The openai backend's key: secret spladeforge-openai, key api_key, variable api_key_env at compile time."""
    def openai(executor):  # every task also gets the AWS secret (artifacts): left out here
        return [s for s in _secret_envs(executor) if s[0] not in ("spladeforge-aws", "spladeforge-hf")]

    _, _, k8s = compiled
    assert openai(k8s["exec-generate-queries"]) == [("spladeforge-openai", "api_key", "OPENAI_API_KEY", True)]
    others = {name: _secret_envs(ex) for name, ex in k8s.items() if name != "exec-generate-queries"}
    assert not any(s[0] == "spladeforge-openai" or s[2] == "OPENAI_API_KEY" for v in others.values() for s in v)
    # Another variable and another secret name, from the params the pipeline is compiled with.
    _, _, k8s = compile_ir(tmp_path, ["generate_queries.openai.api_key_env=TEAM_LLM_KEY",
                                      "kubeflow.openai_secret=team-llm"])
    assert openai(k8s["exec-generate-queries"]) == [("team-llm", "api_key", "TEAM_LLM_KEY", True)]
    # An endpoint without authentication: nothing to inject.
    _, _, k8s = compile_ir(tmp_path, ["generate_queries.openai.api_key_env=''"])
    assert not openai(k8s.get("exec-generate-queries", {}))


def test_images_are_the_projects_and_nothing_is_installed_at_run_time(compiled):
    _, ir, _ = compiled
    for name, executor in ir["deploymentSpec"]["executors"].items():
        container = executor["container"]
        assert container["image"].startswith("ghcr.io/spladeforge/spladeforge"), name
        assert "pip install" not in json.dumps(container), name


def test_placement_is_configurable(tmp_path):
    """Another cloud's labels and taints, and 8 GPUs, from `--set kubeflow.*`."""
    _, ir, k8s = compile_ir(tmp_path, [
        "preset=h100-splade", "kubeflow.node_selector_key=node.kubernetes.io/instance-type",
        "kubeflow.node_selector_value=p5.48xlarge", "kubeflow.accelerator_count=8",
        "kubeflow.toleration_key=gpu", "kubeflow.toleration_value=h100", "kubeflow.train_retries=1",
        "kubeflow.image=registry.local/sf:1"])
    assert k8s["exec-train"]["nodeSelector"]["labels"] == {"node.kubernetes.io/instance-type": "p5.48xlarge"}
    assert k8s["exec-train"]["tolerations"][0]["key"] == "gpu"
    resources = ir["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]
    assert resources["accelerator"]["count"] == "8"
    assert ir["root"]["dag"]["tasks"]["train"]["retryPolicy"]["maxRetryCount"] == 1
    assert ir["deploymentSpec"]["executors"]["exec-ingest"]["container"]["image"] == "registry.local/sf:1"


def test_check_params_component_names_the_bad_key():
    """Parameters edited in the KFP UI fail in the first task, naming the key."""
    merged = run_config(load_params(REPO / "params.yaml"))
    merged["train"]["learning_rate"] = -1
    with pytest.raises(ConfigError, match=r"train\.learning_rate"):
        check_params(**merged)
    merged["train"]["learning_rate"] = 1e-4
    assert check_params(**merged)["train"]["learning_rate"] == 1e-4


def test_cli_compile_writes_the_yaml(tmp_path):
    from typer.testing import CliRunner

    from spladeforge.cli.pipeline import pipeline_app

    out = tmp_path / "p.yaml"
    result = CliRunner().invoke(pipeline_app, ["compile", "--output", str(out), "--params",
                                               str(REPO / "params.yaml"), "--set", "seed=7", *PINNED])
    assert result.exit_code == 0, result.output
    ir = next(yaml.safe_load_all(out.read_text()))
    assert ir["root"]["inputDefinitions"]["parameters"]["seed"]["defaultValue"] == 7


def test_the_judgments_folder_is_a_pipeline_input_of_evaluate_and_register(compiled):
    """`judgments_uri` (an object-store path or a DVC revision; empty: none) reaches evaluate and register only."""
    _, ir, _ = compiled
    assert ir["root"]["inputDefinitions"]["parameters"]["judgments_uri"]["defaultValue"] == ""
    readers = set()
    for dag in (ir["root"]["dag"]["tasks"], *(c["dag"]["tasks"] for c in ir["components"].values() if "dag" in c)):
        for name, task in dag.items():
            given = task.get("inputs", {}).get("parameters", {}).get("judgments_uri", {})
            if given.get("componentInputParameter", "").endswith("judgments_uri"):
                readers.add(name)
    assert readers == {"evaluate", "register"}
