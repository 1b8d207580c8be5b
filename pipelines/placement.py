"""Where tasks run on Kubernetes: the H100 node pool, shared memory, checkpoints, secrets.

Everything here is platform configuration (kfp-kubernetes) or resource requests on the task; none
of it changes what a stage computes. kfp.local ignores it, so the local run exercises the same DAG.
"""

from __future__ import annotations

from kfp import dsl, kubernetes

from spladeforge.config import KubeflowConfig

SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"

# Secret data key -> environment variable. Only the secret *names* (KubeflowConfig) and these
# variable names reach the compiled YAML; Kubernetes injects the values into the pod.
HF_KEYS = {"token": "HF_TOKEN"}
AWS_KEYS = {"access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY"}
MLFLOW_KEYS = {"tracking_uri": "MLFLOW_TRACKING_URI", "username": "MLFLOW_TRACKING_USERNAME",
               "password": "MLFLOW_TRACKING_PASSWORD"}
# The OpenAI-compatible endpoint's key; its variable is generate_queries.openai.api_key_env.
OPENAI_KEY = "api_key"


def cpu_task(task: dsl.PipelineTask, cfg: KubeflowConfig) -> dsl.PipelineTask:
    """A CPU task on the default pool: modest requests, no GPU toleration."""
    return task.set_cpu_request(cfg.cpu_request).set_memory_request(cfg.memory_request)


def gpu_train_task(task: dsl.PipelineTask, cfg: KubeflowConfig,
                   checkpoint_pvc: str | None = None) -> dsl.PipelineTask:
    """Put `task` on the H100 pool and make it survive preemption.

    - accelerator type/count (the GPU resource limit) plus a node selector on the pool's label,
      and a toleration for the pool's taint, which keeps every other pod off the expensive nodes;
    - `/dev/shm` as a memory-backed emptyDir: DataLoader workers exchange batches through it;
    - retries with exponential backoff, for spot/preemptible nodes reclaimed mid-run;
    - the checkpoint PVC, so the retried attempt finds the previous attempt's checkpoints.
    """
    task.set_accelerator_type(cfg.accelerator_type).set_accelerator_limit(cfg.accelerator_count)
    task.set_cpu_request(cfg.train_cpu_request).set_memory_request(cfg.train_memory_request)
    kubernetes.add_node_selector(task, label_key=cfg.node_selector_key, label_value=cfg.node_selector_value)
    kubernetes.add_toleration(task, key=cfg.toleration_key, operator="Equal", value=cfg.toleration_value,
                              effect=cfg.toleration_effect)
    kubernetes.empty_dir_mount(task, volume_name=SHM_VOLUME, mount_path=SHM_PATH, medium="Memory",
                               size_limit=cfg.shm_size)
    kubernetes.mount_pvc(task, pvc_name=checkpoint_pvc or cfg.checkpoint_pvc, mount_path=cfg.checkpoint_mount)
    task.set_retry(num_retries=cfg.train_retries, backoff_duration=cfg.retry_backoff,
                   backoff_factor=cfg.retry_backoff_factor, backoff_max_duration=cfg.retry_backoff_max)
    return task


def use_secrets(task: dsl.PipelineTask, cfg: KubeflowConfig, *, hf: bool = False, aws: bool = False,
                mlflow: bool = False, openai: bool = False,
                openai_key_env: str = "OPENAI_API_KEY") -> dsl.PipelineTask:
    """Credentials as environment variables from Kubernetes Secrets, never as parameters.

    The Hub token and AWS keys are optional (publishing without them is a dry run, as locally);
    the MLflow secret is required, or the registry would silently be a sqlite file in the pod.
    The OpenAI-compatible key is optional too: only `generate_queries.backend: openai` reads it,
    from the variable `openai_key_env` (none is injected when that is empty: no authentication).
    """
    if hf:
        kubernetes.use_secret_as_env(task, secret_name=cfg.hf_secret, secret_key_to_env=HF_KEYS,
                                     optional=True)
    if aws:
        kubernetes.use_secret_as_env(task, secret_name=cfg.aws_secret, secret_key_to_env=AWS_KEYS,
                                     optional=True)
    if mlflow:
        kubernetes.use_secret_as_env(task, secret_name=cfg.mlflow_secret, secret_key_to_env=MLFLOW_KEYS)
    if openai and openai_key_env:
        kubernetes.use_secret_as_env(task, secret_name=cfg.openai_secret,
                                     secret_key_to_env={OPENAI_KEY: openai_key_env}, optional=True)
    return task
