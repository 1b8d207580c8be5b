"""The `kubeflow` section: where the Kubeflow tasks run (read when the pipeline is compiled)."""

from __future__ import annotations

import re
import warnings
from typing import Literal

from pydantic import Field, field_validator, model_validator

from spladeforge.config.base import Section

# Kubernetes resource quantities: "2", "500m", "0.5" (CPU); "8Gi", "512Mi", "1G" (memory).
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# An image reference: repository[:tag][@sha256:<64 hex>].
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:\d+)?(/[a-z0-9._-]+)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
# Tasks that may leave the CPU pool for the GPU pool when the preset trains on a GPU.
GpuTask = Literal["encode-shard", "evaluate", "quantize"]


def duration_seconds(value: str) -> int:
    """Seconds in a duration written `3600s`, `90m`, `12h` or `2d` (forms KFP and Argo both accept)."""
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration like 3600s, 90m, 12h or 2d")
    return int(match.group(1)) * _SECONDS[match.group(2)]


_BYTES = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "m": 10**-3,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity_bytes(value: str) -> float:
    """Bytes in a Kubernetes memory quantity (`32Gi`, `512Mi`, `1G`)."""
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity like 8Gi or 512Mi")
    number = float(str(value)[: len(str(value)) - len(match.group(2) or "")])
    return number * _BYTES[match.group(2)]


def _quantity(value: str | None) -> str | None:
    if value is not None and not _QUANTITY.match(str(value)):
        raise ValueError(f"{value!r} is not a Kubernetes quantity like 2, 500m, 8Gi or 512Mi")
    return None if value is None else str(value)


class TaskResources(Section):
    """Requests, limits and a timeout for one task; unset fields come from `resources.default`."""

    cpu: str | None = None  # request
    memory: str | None = None  # request
    cpu_limit: str | None = None
    memory_limit: str | None = None
    # The pod's activeDeadlineSeconds: a hung task fails instead of holding its node for ever.
    timeout: str | None = None

    @field_validator("cpu", "memory", "cpu_limit", "memory_limit", mode="before")
    @classmethod
    def _quantities(cls, value):
        return _quantity(value)

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value


class DefaultResources(TaskResources):
    # e2-standard-8 CPU nodes (8 vCPU, 32 GB): four default tasks fit on one. The memory limit
    # stops a runaway task before the kubelet evicts its neighbours; no CPU limit, since CFS
    # throttling only slows a task that could have used idle cores.
    cpu: str | None = "2"
    memory: str | None = "8Gi"
    memory_limit: str | None = "16Gi"
    # The longest CPU stage on a large corpus (mining, evaluation) stays well under this.
    timeout: str | None = "12h"


class GpuResources(TaskResources):
    # encode-shard and evaluate when they run on the GPU pool (kubeflow.gpu_tasks with a cuda
    # preset): a node of their own, so a share of it like train's. The memory-backed /dev/shm
    # (`shm_size`, 32Gi) counts against the limit, so the limit holds shm plus the working set
    # (the request: the model, the corpus' vectors, the index); an OOM there fails for good.
    cpu: str | None = "8"
    memory: str | None = "48Gi"
    memory_limit: str | None = "96Gi"


class TrainResources(TaskResources):
    # a3-highgpu-1g: 26 vCPU, 234 GB; leave room for the kubelet and daemonsets.
    cpu: str | None = "20"
    memory: str | None = "160Gi"
    memory_limit: str | None = "200Gi"
    # One attempt; the retry window (`retry_backoff_max`) must be longer, or Argo cuts a retry short.
    timeout: str | None = "48h"


with warnings.catch_warnings():
    # `register` is a task name; pydantic warns that it shadows ABCMeta.register on the class.
    warnings.simplefilter("ignore", UserWarning)

    class Resources(Section):
        """`kubeflow.resources.<task>` (task names with `_` for `-`); `default` applies to every task."""

        default: DefaultResources = Field(default_factory=DefaultResources)
        # Under a task's own settings and over `default`, for the GPU tasks other than train.
        gpu_default: GpuResources = Field(default_factory=GpuResources)
        check_params: TaskResources = Field(default_factory=TaskResources)
        ingest: TaskResources = Field(default_factory=TaskResources)
        chunk: TaskResources = Field(default_factory=TaskResources)
        generate_queries: TaskResources = Field(default_factory=TaskResources)
        split: TaskResources = Field(default_factory=TaskResources)
        mine_shard: TaskResources = Field(default_factory=TaskResources)
        mine: TaskResources = Field(default_factory=TaskResources)
        train: TrainResources = Field(default_factory=TrainResources)
        encode_shard: TaskResources = Field(default_factory=TaskResources)
        evaluate: TaskResources = Field(default_factory=TaskResources)
        quantize: TaskResources = Field(default_factory=TaskResources)
        register: TaskResources = Field(default_factory=TaskResources)
        promoted: TaskResources = Field(default_factory=TaskResources)
        promote: TaskResources = Field(default_factory=TaskResources)
        publish: TaskResources = Field(default_factory=TaskResources)

        def for_task(self, name: str, on_gpu: bool = False) -> TaskResources:
            """The task's own settings over `gpu_default` (a GPU task but train) over `default`
            (`name` as in the DAG, e.g. `mine-shard`)."""
            own = getattr(self, name.replace("-", "_"))
            merged = self.default.model_dump(exclude_none=True)
            if on_gpu and name != "train":
                merged.update(self.gpu_default.model_dump(exclude_none=True))
            if name == "train" and not on_gpu:
                # train on the CPU pool (a preset that trains on cpu): the H100 node's share would
                # never be scheduled there; only what params set for train, and its attempt timeout.
                merged.update(own.model_dump(exclude_none=True, exclude_unset=True), timeout=own.timeout)
            else:
                merged.update(own.model_dump(exclude_none=True))
            return TaskResources(**merged)


class KubeflowConfig(Section):
    """Read by `spladeforge pipeline compile|submit|schedule`, not by any stage: where the
    Kubeflow tasks run. Placement is fixed when the pipeline is compiled; it changes no result.
    Defaults target a GKE H100 node pool (see infra/terraform)."""

    # Repositories built by `make images` (docker/), from the same constraints.txt; the CUDA one
    # runs train and the GPU tasks. `pipeline compile` pins the tag to the git commit it compiles
    # from (or takes a digest from --image): a tag-less or mutable reference would run whatever
    # code it points to on the day of the run.
    image: str = "ghcr.io/spladeforge/spladeforge"
    train_image: str = "ghcr.io/spladeforge/spladeforge-cuda"
    # Secrets of type kubernetes.io/dockerconfigjson for a private registry; set on every task.
    image_pull_secrets: list[str] = Field(default_factory=list)
    accelerator_type: str = "nvidia.com/gpu"
    accelerator_count: int = Field(1, ge=1, le=16)
    node_selector_key: str = "cloud.google.com/gke-accelerator"
    node_selector_value: str = "nvidia-h100-80gb"
    # GKE taints GPU nodes with nvidia.com/gpu=present:NoSchedule; only GPU tasks tolerate it.
    toleration_key: str = "nvidia.com/gpu"
    toleration_value: str = "present"
    toleration_effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    # With train.device cuda these tasks run on the GPU pool in the CUDA image too (they encode with
    # the trained model; evaluate also with its base model). quantize is off by default: its model
    # load is CPU on purpose (INT8 ONNX is a CPU serving format), so a GPU would sit idle.
    gpu_tasks: list[GpuTask] = Field(default_factory=lambda: ["encode-shard", "evaluate"])
    resources: Resources = Field(default_factory=Resources)
    # PyTorch DataLoader workers share batches through /dev/shm; Docker's default is 64 MB.
    shm_size: str = "32Gi"
    # Spot/preemptible H100 nodes vanish; a retry lands on a fresh node after the backoff.
    # Which failures are retried is the cluster's choice (KFP 2.17's IR cannot carry Argo's
    # retryPolicy): infra/kfp sets OnTransientError with a pattern that matches preemption and a
    # vanished pod, not an exception or OOM in the task (infra/README.md, "Retries").
    train_retries: int = Field(3, ge=0, le=10)
    retry_backoff: str = "120s"
    # Argo parses the factor as an integer: 1.5 would compile and fail at the first retry.
    retry_backoff_factor: int = Field(2, ge=1, le=10)
    # Argo's backoff.maxDuration counts from the start of the *first* attempt, and Argo also makes
    # it the deadline of every retried pod: it must cover the whole training with its preemptions,
    # not the wait between attempts. Three days: a 48 h attempt plus retries.
    retry_backoff_max: str = "72h"
    # The whole run's deadline (Argo's workflow activeDeadlineSeconds, from the run's start): a
    # pod's own timeout counts only once it runs, so without this a train pod Pending for want of
    # spot capacity would hold the run, and with max_concurrency 1 every later scheduled run, for
    # ever. Longer than the retry window plus the stages around train; shorter than the schedule's
    # interval, so a stuck run ends before the next one is due.
    run_timeout: str = "4d"
    # Where train mirrors its checkpoints (s3://bucket/prefix; the run id and `train` are appended),
    # read back by a retried attempt on another node. null: s3://<pipeline root's bucket>/checkpoints,
    # the same for every retry of the task and different for every run. A finished run deletes its
    # mirror; a bucket lifecycle rule on `checkpoints/` expires those of failed runs (infra/).
    checkpoint_uri: str | None = None
    # An S3-compatible endpoint for every task's boto3/DVC and the checkpoints, e.g.
    # https://storage.googleapis.com for GCS with HMAC keys; null: AWS S3.
    s3_endpoint_url: str | None = None
    # Hub ids (the h100 presets' base models) are downloaded in the cluster; true only for an
    # air-gapped cluster whose params name builtin: models or folders in the image.
    hf_hub_offline: bool = False
    # Names of Kubernetes Secrets, never their values.
    hf_secret: str = "spladeforge-hf"
    aws_secret: str = "spladeforge-aws"
    mlflow_secret: str = "spladeforge-mlflow"
    openai_secret: str = "spladeforge-openai"
    git_secret: str = "spladeforge-git"
    # Fan-out for large corpora: each shard is one task of a dsl.ParallelFor, collected after.
    mine_shards: int = Field(1, ge=1, le=1024, description=(
        "Tasks mining hard negatives, each for a contiguous block of the training queries against the "
        "whole chunk corpus; the merged tuples are byte-identical to one task's."))
    encode_shards: int = Field(1, ge=1, le=1024, description=(
        "Tasks encoding the held-out corpus with the trained model for evaluate, each a contiguous block "
        "of corpus.jsonl; evaluate indexes the collected vectors instead of encoding the corpus."))
    shard_parallelism: int = Field(0, ge=0, description=(
        "At most this many shard tasks of one fan-out run at once; 0: no limit."))

    @field_validator("image", "train_image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _IMAGE.match(value):
            raise ValueError(f"{value!r} is not an image reference like registry/name, registry/name:tag "
                             "or registry/name@sha256:<64 hex digits>")
        return value

    @field_validator("retry_backoff_factor", mode="before")
    @classmethod
    def _integer_factor(cls, value):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value} is not an integer: Argo parses the backoff factor as one (1, 2, 3, ...)")
        return value

    @field_validator("retry_backoff", "retry_backoff_max", "run_timeout")
    @classmethod
    def _duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @field_validator("checkpoint_uri")
    @classmethod
    def _checkpoint_uri(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", value):
            raise ValueError(f"{value!r} is not an s3://bucket[/prefix] URI")
        return value

    @model_validator(mode="after")
    def _retry_window_covers_an_attempt(self) -> KubeflowConfig:
        timeout = self.resources.for_task("train").timeout
        if self.train_retries and timeout and duration_seconds(self.retry_backoff_max) < duration_seconds(timeout):
            raise ValueError(f"retry_backoff_max {self.retry_backoff_max} is shorter than one train attempt "
                             f"(resources.train.timeout {timeout}): Argo counts the window from the first "
                             "attempt's start and ends a retried attempt there")
        if duration_seconds(self.run_timeout) <= duration_seconds(self.retry_backoff_max):
            raise ValueError(f"run_timeout {self.run_timeout} is not longer than retry_backoff_max "
                             f"{self.retry_backoff_max}: the run would end inside train's retry window")
        return self
