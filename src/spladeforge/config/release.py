"""Sections for the stages after training: `evaluate`, `quantize`, `register`, `publish`."""

from __future__ import annotations

from pydantic import Field

from spladeforge.config.base import Section


class EvaluateConfig(Section):
    """Read by `evaluate`."""

    batch_size: int = Field(32, ge=1)
    compare_base: bool = True
    compare_bm25: bool = True
    max_queries: int | None = Field(None, ge=1)  # per task
    # More local tasks: BEIR folders (corpus.jsonl, queries.jsonl, qrels/<beir_split>.tsv).
    beir_datasets: list[str] = Field(default_factory=list)
    beir_split: str = Field("test", min_length=1)
    # Named MTEB tasks or benchmarks (e.g. NanoBEIR); they need the hub, so offline they are
    # skipped with a warning.
    mteb_tasks: list[str] = Field(default_factory=list)
    # Dense baseline, also the dense half of the hybrid; null skips both.
    dense_model: str | None = "builtin:minilm-l6"
    # Hybrid = w * minmax(model) + (1 - w) * minmax(dense), per query.
    hybrid_weight: float = Field(0.5, ge=0.0, le=1.0)
    error_analysis_queries: int = Field(10, ge=0)  # 0 skips errors.md
    # Encode with the fused SPLADE head (same outputs, faster); false falls back to plain modules.
    fused_head: bool = True
    # Queries timed one at a time (encode + top-10) on the held-out task. 50 keeps the default
    # run's cost to seconds; p99 of 50 samples is close to their maximum: raise it for serving tests.
    latency_queries: int = Field(50, ge=0)


class QuantizeConfig(Section):
    """Read by `quantize` (and `publish`, for the quality guard)."""

    per_channel: bool = True
    opset: int = Field(17, ge=14, le=21)
    # Publishing refuses an INT8 model that loses more NDCG@10 than this against fp32.
    max_ndcg_drop: float = Field(0.02, ge=0.0, le=1.0)
    # Also write `model_int8_pruned.onnx`, whose MLM head keeps only the vocabulary rows that
    # the task's corpus and queries ever activate (the head is ~90% of BERT-tiny's FLOPs).
    prune_vocabulary: bool = False


class RegisterConfig(Section):
    """Read by `register`."""

    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "spladeforge"
    model_name: str = "spladeforge-splade"
    # The metrics.json key the gate compares (higher is better). Its `base_` twin (model_x ->
    # base_x) is the reference for the first version, which must beat what it was trained from.
    metric: str = Field("model_ndcg_at_10", pattern=r"^model_\w+$")
    # The challenger becomes champion only with metric >= champion's + min_delta.
    min_delta: float = Field(0.0, ge=0.0, le=1.0)
    # Absolute floor on the candidate's model_ndcg_at_10; null: no floor.
    min_ndcg: float | None = Field(None, ge=0.0, le=1.0)
    # Ceiling on model_doc_active_dims (index size and query latency grow with it); null: none.
    max_doc_active_dims: float | None = Field(None, gt=0.0)


class HubConfig(Section):
    repo_id: str | None = None
    private: bool = True
    # Name of the environment variable holding the token; the token itself never goes here.
    token_env: str = "HF_TOKEN"
    required: bool = False


class S3Config(Section):
    """`publish.s3`: upload the export to `s3://<bucket>/<prefix>/<model_name>/v<version>/`.

    Credentials come from the environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    optional AWS_SESSION_TOKEN), never from params.
    """

    bucket: str | None = None
    prefix: str = "models"
    # For S3-compatible stores (MinIO, Ceph, moto); null means AWS S3.
    endpoint_url: str | None = None
    region: str | None = None
    required: bool = False


class PublishConfig(Section):
    """Read by `publish`."""

    hub: HubConfig = Field(default_factory=HubConfig)
    s3: S3Config = Field(default_factory=S3Config)



