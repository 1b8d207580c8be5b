"""The `kubeflow` section: where the Kubeflow tasks run (read when the pipeline is compiled)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spladeforge.config.base import Section


class KubeflowConfig(Section):
    """Read by `spladeforge pipeline compile|submit|schedule`, not by any stage: where the
    Kubeflow tasks run. Placement is fixed when the pipeline is compiled; it changes no result.
    Defaults target a GKE H100 node pool (see infra/terraform)."""

    # Both images are built from the same constraints.txt (docker/); train gets the CUDA one.
    image: str = "ghcr.io/spladeforge/spladeforge:0.1.0"
    train_image: str = "ghcr.io/spladeforge/spladeforge-cuda:0.1.0"
    accelerator_type: str = "nvidia.com/gpu"
    accelerator_count: int = Field(1, ge=1, le=16)
    node_selector_key: str = "cloud.google.com/gke-accelerator"
    node_selector_value: str = "nvidia-h100-80gb"
    # GKE taints GPU nodes with nvidia.com/gpu=present:NoSchedule; only GPU tasks tolerate it.
    toleration_key: str = "nvidia.com/gpu"
    toleration_value: str = "present"
    toleration_effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    # a3-highgpu-1g: 26 vCPU, 234 GB; leave room for the kubelet and daemonsets.
    train_cpu_request: str = "20"
    train_memory_request: str = "160Gi"
    # PyTorch DataLoader workers share batches through /dev/shm; Docker's default is 64 MB.
    shm_size: str = "32Gi"
    cpu_request: str = "2"
    memory_request: str = "8Gi"
    # Spot/preemptible H100 nodes vanish; a retry lands on a fresh node after the backoff.
    train_retries: int = Field(3, ge=0, le=10)
    retry_backoff: str = "120s"
    retry_backoff_factor: float = Field(2.0, ge=1.0)
    retry_backoff_max: str = "3600s"
    checkpoint_pvc: str = "spladeforge-checkpoints"
    checkpoint_mount: str = "/mnt/checkpoints"
    # Names of Kubernetes Secrets, never their values.
    hf_secret: str = "spladeforge-hf"
    aws_secret: str = "spladeforge-aws"
    mlflow_secret: str = "spladeforge-mlflow"
    openai_secret: str = "spladeforge-openai"
    # Fan-out for large corpora: each shard is one task of a dsl.ParallelFor, collected after.
    mine_shards: int = Field(1, ge=1, le=1024, description=(
        "Tasks mining hard negatives, each for a contiguous block of the training queries against the "
        "whole chunk corpus; the merged tuples are byte-identical to one task's."))
    encode_shards: int = Field(1, ge=1, le=1024, description=(
        "Tasks encoding the held-out corpus with the trained model for evaluate, each a contiguous block "
        "of corpus.jsonl; evaluate indexes the collected vectors instead of encoding the corpus."))
    shard_parallelism: int = Field(0, ge=0, description=(
        "At most this many shard tasks of one fan-out run at once; 0: no limit."))

