"""Where and how each task runs on Kubernetes: pool, resources, secrets, environment, retries, caching.

Everything here is platform configuration (kfp-kubernetes) or task settings applied by task name
once the DAG is wired (`place_all`); none of it changes what a stage computes. kfp.local ignores
the Kubernetes part with a warning, so the local run exercises the same DAG (it honours the
environment variables, the retry policy and the caching flags).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kfp import dsl, kubernetes

from spladeforge.config import KubeflowConfig, Params
from spladeforge.config.kubeflow import duration_seconds, quantity_bytes
from spladeforge.errors import ConfigError

SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"

# Secret data key -> environment variable. Only the secret *names* (KubeflowConfig) and these
# variable names reach the compiled YAML; Kubernetes injects the values into the pod.
HF_KEYS = {"token": "HF_TOKEN"}
AWS_KEYS = {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY"}
MLFLOW_KEYS = {"tracking_uri": "MLFLOW_TRACKING_URI", "username": "MLFLOW_TRACKING_USERNAME",
               "password": "MLFLOW_TRACKING_PASSWORD"}
# A private data repository (data.dvc_repo over https): the askpass program answers git's prompts.
GIT_KEYS = {"username": "GIT_USERNAME", "token": "GIT_PASSWORD"}
GIT_ASKPASS = "spladeforge-git-askpass"
# The OpenAI-compatible endpoint's key; its variable is generate_queries.openai.api_key_env.
OPENAI_KEY = "api_key"


@dataclass(frozen=True)
class Needs:
    """What a task needs beyond the AWS secret, which every task gets: each one reads and writes
    artifacts in the pipeline root's bucket, and the KFP launcher inside its container may take
    the keys from the environment (`fromEnv` in the kfp-launcher ConfigMap)."""

    hf: bool = False  # loads hub models (gated or private ones need the token)
    mlflow: str | None = None  # "required" (registry) or "optional" (training curves)
    openai: bool = False
    git: bool = False
    # Answered from KFP's cache when the run asks for caching (`--cache`): a pure function of its
    # inputs. Tasks with side effects (MLflow, S3, the Hub) or a run id among their inputs never are.
    cacheable: bool = True


TASKS: dict[str, Needs] = {
    "check-params": Needs(),
    "ingest": Needs(git=True),  # cacheable only for a pinned data version: see `ingest_is_cacheable`
    "chunk": Needs(hf=True),  # chunk.mode semantic loads chunk.semantic_model
    "generate-queries": Needs(hf=True, openai=True),  # seq2seq / round-trip models
    "split": Needs(),
    "mine-shard": Needs(hf=True),  # dense miner, cross-encoder teacher
    "mine": Needs(),
    "train": Needs(hf=True, mlflow="optional", cacheable=False),
    "encode-shard": Needs(hf=True),
    "evaluate": Needs(hf=True),  # the base model and the dense baseline
    "quantize": Needs(),
    "register": Needs(mlflow="required", cacheable=False),
    "promoted": Needs(cacheable=False),  # the gate's verdict must be this run's
    "promote": Needs(mlflow="required", cacheable=False),
    "publish": Needs(hf=True, cacheable=False),
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_hub_id(ref: str | None) -> bool:
    """A model reference the Hugging Face Hub resolves (not builtin:, not a folder path)."""
    return bool(ref) and not ref.startswith(("builtin:", "/", ".", "~")) and bool(_HUB_ID.match(ref))


def hub_models(params: Params) -> dict[str, str]:
    """The params keys whose model a task would download from the hub, with their references."""
    teacher_kind, _, teacher = params.mine.teacher.partition(" ")
    refs = {
        "train.base_model": params.train.base_model,
        "evaluate.dense_model": params.evaluate.dense_model,
        "mine.dense_model": params.mine.dense_model if params.mine.method == "dense" or params.mine.teacher == "dense"
        else None,
        "mine.teacher": teacher.strip() if teacher_kind == "cross-encoder" else None,
        "chunk.semantic_model": params.chunk.semantic_model if params.chunk.mode == "semantic" else None,
        "generate_queries.seq2seq.model": params.generate_queries.seq2seq.model
        if params.generate_queries.backend == "seq2seq" else None,
        "generate_queries.filters.round_trip_model": params.generate_queries.filters.round_trip_model
        if params.generate_queries.filters.round_trip == "splade" else None,
    }
    found = {key: ref for key, ref in refs.items() if is_hub_id(ref)}
    if params.evaluate.mteb_tasks:
        found["evaluate.mteb_tasks"] = ", ".join(params.evaluate.mteb_tasks)  # datasets from the hub
    return found


def ingest_is_cacheable(params: Params) -> bool:
    """A cached ingest never sees new documents: only a pinned data revision, or the standard
    library's docstrings (part of the image, whose tag is in the cache key), may be reused."""
    return bool(params.data.dvc_repo and params.data.dvc_rev) or params.data.source == "python-stdlib-docs"


def gpu_tasks(params: Params) -> set[str]:
    """The tasks on the H100 pool: train plus `kubeflow.gpu_tasks` when the preset trains on cuda;
    none when it trains on cpu (train then runs on the CPU pool in the CPU image, as locally).
    A device no Linux node has (mps) is refused: the pod would fail after the whole upstream ran."""
    device = params.train.device
    if device == "cuda":
        return {"train", *params.kubeflow.gpu_tasks}
    if device == "cpu":
        return set()
    raise ConfigError(f"train.device {device!r} (preset {params.preset!r}) cannot run on Kubernetes nodes: "
                      "the pipeline places train on the H100 pool for cuda or on the CPU pool for cpu; "
                      "choose an h100-* or cpu-* preset, or --set train.device=cpu")


def retried(params: Params) -> set[str]:
    """train (it resumes from its mirrored checkpoints) and every task on the spot GPU pool."""
    return {"train", *gpu_tasks(params)}


def check_offline(params: Params) -> None:
    """`kubeflow.hf_hub_offline` with hub models in params would fail in the cluster: fail here."""
    found = hub_models(params)
    if params.kubeflow.hf_hub_offline and found:
        listed = ", ".join(f"{key}={ref}" for key, ref in found.items())
        raise ConfigError(f"kubeflow.hf_hub_offline: true, but these need the hub: {listed} (set "
                          "kubeflow.hf_hub_offline: false, or name builtin: models or folders in the image)")


def place_all(tasks: Mapping[str, dsl.PipelineTask], params: Params, enable_caching: bool) -> None:
    """Apply every task's placement by its name in the DAG; a task without a row in TASKS is an error."""
    check_offline(params)
    k, on_gpu, with_retries = params.kubeflow, gpu_tasks(params), retried(params)
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise ValueError(f"tasks without placement (add them to placement.TASKS): {unknown}")
    for name, task in tasks.items():
        needs = TASKS[name]
        resources(task, k, name, name in on_gpu)
        if name in on_gpu:
            gpu_pool(task, k)
        if name in with_retries:
            retries(task, k)
        environment(task, k, name)
        use_secrets(task, k, needs, params.generate_queries.openai.api_key_env)
        if k.image_pull_secrets:
            kubernetes.set_image_pull_secrets(task, list(k.image_pull_secrets))
        cacheable = needs.cacheable and (name != "ingest" or ingest_is_cacheable(params))
        task.set_caching_options(enable_caching and cacheable)


def resources(task: dsl.PipelineTask, k: KubeflowConfig, name: str, on_gpu: bool = False) -> None:
    r = k.resources.for_task(name, on_gpu)
    if on_gpu:
        check_gpu_memory(k, name, r)
    if r.cpu:
        task.set_cpu_request(r.cpu)
    if r.memory:
        task.set_memory_request(r.memory)
    if r.cpu_limit:
        task.set_cpu_limit(r.cpu_limit)
    if r.memory_limit:
        task.set_memory_limit(r.memory_limit)
    if r.timeout:
        kubernetes.set_timeout(task, duration_seconds(r.timeout))


def check_gpu_memory(k: KubeflowConfig, name: str, r) -> None:
    """A memory-backed /dev/shm is charged to the pod's memory limit: the limit must hold it plus
    the working set (the request), or the task is OOM-killed, which no retry policy retries."""
    key = f"kubeflow.resources.{name.replace('-', '_')}"
    if not r.memory_limit:
        raise ConfigError(f"{key}.memory_limit is unset for a GPU task: set it above kubeflow.shm_size "
                          f"({k.shm_size}) plus the memory request")
    need = quantity_bytes(k.shm_size) + quantity_bytes(r.memory or "0")
    if quantity_bytes(r.memory_limit) < need:
        raise ConfigError(f"{key}.memory_limit {r.memory_limit} is below kubeflow.shm_size {k.shm_size} plus "
                          f"the memory request {r.memory}: /dev/shm counts against the limit; raise the limit "
                          "or lower shm_size")


def gpu_pool(task: dsl.PipelineTask, k: KubeflowConfig) -> None:
    """Put `task` on the H100 pool.

    - accelerator type/count (the GPU resource limit) plus a node selector on the pool's label,
      and a toleration for the pool's taint, which keeps every other pod off the expensive nodes;
    - `/dev/shm` as a memory-backed emptyDir: DataLoader workers exchange batches through it.
    """
    task.set_accelerator_type(k.accelerator_type).set_accelerator_limit(k.accelerator_count)
    kubernetes.add_node_selector(task, label_key=k.node_selector_key, label_value=k.node_selector_value)
    kubernetes.add_toleration(task, key=k.toleration_key, operator="Equal", value=k.toleration_value,
                              effect=k.toleration_effect)
    kubernetes.empty_dir_mount(task, volume_name=SHM_VOLUME, mount_path=SHM_PATH, medium="Memory",
                               size_limit=k.shm_size)


def retries(task: dsl.PipelineTask, k: KubeflowConfig) -> None:
    """Retries with exponential backoff, for spot nodes reclaimed mid-run.

    The IR carries the limit and the backoff; which failures are retried is Argo's retryPolicy,
    which KFP 2.17's IR cannot carry: the cluster's templateDefaults give it (infra/kfp sets
    OnTransientError, so a preempted or vanished pod is retried and an exception or OOM in the
    task is not). Argo's maxDuration is the window from the first attempt's start (and every
    retried pod's deadline), so it is days, not the wait between attempts. train resumes from
    the checkpoints it mirrors to object storage (`training.checkpoint_sync`); the other GPU tasks
    start over. The factor is an integer: Argo parses it as one.
    """
    task.set_retry(num_retries=k.train_retries, backoff_duration=k.retry_backoff,
                   backoff_factor=int(k.retry_backoff_factor), backoff_max_duration=k.retry_backoff_max)


def environment(task: dsl.PipelineTask, k: KubeflowConfig, name: str) -> None:
    # Set either way: the image must not decide whether a hub base model can be downloaded.
    task.set_env_variable("HF_HUB_OFFLINE", "1" if k.hf_hub_offline else "0")
    if k.s3_endpoint_url:
        task.set_env_variable("AWS_ENDPOINT_URL_S3", k.s3_endpoint_url)
        # boto3 >= 1.36 adds CRC32 checksum trailers by default, which S3-compatible stores such as
        # GCS's XML API reject; KFP's launcher asks for checksums only when required too.
        task.set_env_variable("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
        task.set_env_variable("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
    if TASKS[name].git:
        task.set_env_variable("GIT_ASKPASS", GIT_ASKPASS)
        task.set_env_variable("GIT_TERMINAL_PROMPT", "0")


def use_secrets(task: dsl.PipelineTask, k: KubeflowConfig, needs: Needs,
                openai_key_env: str = "OPENAI_API_KEY") -> dsl.PipelineTask:
    """Credentials as environment variables from Kubernetes Secrets, never as parameters.

    The AWS keys (every task), the Hub token and the git credentials are optional: without them a
    public model, bucket or repository still works and publishing is a dry run, as locally. The
    MLflow secret is required where the registry is written, or it would silently be a sqlite file
    in the pod; train only logs curves to it. The OpenAI-compatible key is read from the variable
    `openai_key_env`, fixed at compile time (none is injected when it is empty: no authentication).
    """
    kubernetes.use_secret_as_env(task, secret_name=k.aws_secret, secret_key_to_env=AWS_KEYS, optional=True)
    if needs.hf:
        kubernetes.use_secret_as_env(task, secret_name=k.hf_secret, secret_key_to_env=HF_KEYS, optional=True)
    if needs.mlflow:
        kubernetes.use_secret_as_env(task, secret_name=k.mlflow_secret, secret_key_to_env=MLFLOW_KEYS,
                                     optional=needs.mlflow == "optional")
    if needs.git:
        kubernetes.use_secret_as_env(task, secret_name=k.git_secret, secret_key_to_env=GIT_KEYS, optional=True)
    if needs.openai and openai_key_env:
        kubernetes.use_secret_as_env(task, secret_name=k.openai_secret,
                                     secret_key_to_env={OPENAI_KEY: openai_key_env}, optional=True)
    return task
