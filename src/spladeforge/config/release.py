"""Sections for the stages after training: `evaluate`, `quantize`, `register`, `publish`."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Literal

from pydantic import Field, field_validator

from spladeforge.config.base import Section


def metric_label(name: str) -> str:
    """A metrics-key-safe label: lower case, runs of other characters become '_'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "task"


def folder_label(folder: str) -> str:
    """The metrics.json prefix (without its `_`) of a folder in `evaluate.beir_datasets`."""
    return metric_label(PurePath(folder).name)


class EvaluateConfig(Section):
    """Read by `evaluate`, and by `register`, which scores the champion with the same settings."""

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
    # The team's judged queries over the chunk corpus (queries.jsonl + qrels/test.tsv, written by
    # `spladeforge judge` and machine judges): scored as the task `judged` when it holds a graded query.
    judgments: str = Field("judgments", min_length=1)
    # Below this many judged queries (with a grade above 0) the judged figures are reported but
    # flagged `judged_enough: false`: with 20 queries the standard error of a mean NDCG@10 is
    # already about 0.05, and fewer cannot carry a gate decision.
    judgments_min_queries: int = Field(20, ge=1)
    # A graded chunk id missing from the chunk corpus (the chunking changed since judging):
    # `fail` names the file and line; `drop` leaves the grade out and counts it.
    judgments_unknown_chunks: Literal["fail", "drop"] = "fail"
    # `fill`: a pair no human graded takes the machine judges' grade (their median, rounded down),
    # reported as such; `off`: machine grades only measure their agreement with the human ones.
    judgments_machine: Literal["off", "fill"] = "off"


class QuantizeConfig(Section):
    """Read by `quantize`, and by `register` for the INT8 verdict (`publish` follows the decision)."""

    per_channel: bool = True
    opset: int = Field(17, ge=14, le=21)
    # An INT8 model that loses more NDCG@10 than this against fp32 (on the test split) is withheld:
    # register's decision says so before any alias moves, and publish exports the fp32 model alone.
    max_ndcg_drop: float = Field(0.02, ge=0.0, le=1.0)
    # Also write `model_int8_pruned.onnx`, whose MLM head keeps only the vocabulary rows that
    # the task's corpus and queries ever activate (the head is ~90% of BERT-tiny's FLOPs).
    prune_vocabulary: bool = False


GATE_METRIC = re.compile(r"^(\w+_)?model_ndcg_at_10$")
GATE_METRICS_ACCEPTED = ("model_ndcg_at_10 (the test split), judged_model_ndcg_at_10 (evaluate.judgments) or "
                         "<folder>_model_ndcg_at_10 for a folder of evaluate.beir_datasets")
AUTO_METRIC = "auto"
JUDGED_LABEL = "judged"  # the task label of evaluate.judgments: metrics keys `judged_...`
JUDGED_METRIC = f"{JUDGED_LABEL}_model_ndcg_at_10"


def gate_metric(value: str) -> str:
    if not GATE_METRIC.match(value):
        raise ValueError(f"{value!r} is not a gate metric; accepted: {GATE_METRICS_ACCEPTED}")
    return value


def gate_metric_or_auto(value: str) -> str:
    return value if value == AUTO_METRIC else gate_metric(value)


def metric_prefix(metric: str) -> str:
    """`<folder>_model_ndcg_at_10` -> `<folder>_`; `model_ndcg_at_10` -> `` (the test split)."""
    return metric[: -len("model_ndcg_at_10")]


class Guard(Section):
    """`register.guards[]`: the challenger may not fall more than `max_drop` below the reference on `metric`."""

    # `model_ndcg_at_10` (the test split) or `<folder>_model_ndcg_at_10` for a folder of
    # evaluate.beir_datasets: judged queries guard against what the generated ones cannot see.
    metric: str
    max_drop: float = Field(0.0, ge=0.0, le=1.0)

    _metric = field_validator("metric")(gate_metric)


class CollapseGuard(Guard):
    """`register.collapse_guard`: the generated test split as a guard once the judged set decides.

    0.05: generated queries rate adaptation gains as losses. Measured on CISI, the generated test
    split fell 0.820 (base) -> 0.790 (adapted) while judged NDCG@10 rose 0.30 -> 0.39; only a drop
    larger than that is evidence of a collapsed model rather than of an adapted one.
    """

    metric: str = "model_ndcg_at_10"
    max_drop: float = Field(0.05, ge=0.0, le=1.0)


class RegisterConfig(Section):
    """Read by `register`."""

    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "spladeforge"
    model_name: str = "spladeforge-splade"
    # The figure the gate compares, NDCG@10 on the test split (`model_ndcg_at_10`), on the team's
    # judged queries (`judged_model_ndcg_at_10`) or on a folder of evaluate.beir_datasets
    # (`<folder>_model_ndcg_at_10`): per-query NDCG@10 is what the paired bootstrap resamples.
    # `auto`: the judged set when evaluate says it holds enough queries (`judged_enough`), else the
    # test split. The reference is the champion, scored again by this run on the same sets, or with
    # no champion yet the base model, which the first version must beat.
    metric: str = AUTO_METRIC
    # The champion moves only when the lower bound of the challenger's mean per-query gain, at
    # `confidence`, is above min_delta: a tie keeps the champion.
    min_delta: float = Field(0.0, ge=0.0, le=1.0)
    # Two-sided confidence of the gain's interval; the gate reads its lower end, so a challenger
    # no better than the reference passes by chance at most (1 - confidence) / 2 of the time.
    confidence: float = Field(0.9, gt=0.5, lt=1.0)
    # Bootstrap resamples of the queries: 2000 puts the 5th percentile within about 0.002 of its
    # limit for 100 queries, in milliseconds.
    bootstrap_samples: int = Field(2000, ge=100, le=100_000)
    # Checks on other sets: each refuses a challenger only on evidence of a drop beyond max_drop,
    # i.e. when the upper bound of the gain's paired bootstrap interval (at `confidence`) is below
    # -max_drop (a point estimate for a stale reference, which has no per-query scores).
    guards: list[Guard] = Field(default_factory=list)
    # When the judged set decides, the generated test split guards against collapse (null: no guard).
    collapse_guard: CollapseGuard | None = Field(default_factory=CollapseGuard)
    # A champion that cannot be downloaded or loaded stops register: comparing with its tagged
    # figure compares sets of different runs. true falls back to that figure, without an interval,
    # and says so in the decision.
    allow_stale_reference: bool = False
    # Absolute floor on the candidate's model_ndcg_at_10; null: no floor.
    min_ndcg: float | None = Field(None, ge=0.0, le=1.0)
    # Ceiling on model_doc_active_dims (index size and query latency grow with it); null: none.
    max_doc_active_dims: float | None = Field(None, gt=0.0)
    # An HTTP tracking server must answer a first request within this many seconds: one that
    # accepts connections and never answers then fails in seconds, not after MLflow's retries.
    connect_timeout_s: float = Field(10.0, gt=0.0, le=600.0)
    # Each MLflow HTTP request (MLFLOW_HTTP_REQUEST_TIMEOUT, MLflow's default 120 s); uploads of
    # the model's files are requests too, so it stays well above a large file's round trip.
    http_timeout_s: int = Field(60, ge=1, le=3600)
    # Retries of a failed MLflow request (MLFLOW_HTTP_REQUEST_MAX_RETRIES, MLflow's default 7,
    # which with 120 s timeouts kept a silent server busy for over 16 minutes), with waits of
    # http_backoff_factor x 1, 2, 4, ... s (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR).
    http_max_retries: int = Field(2, ge=0, le=10)
    http_backoff_factor: int = Field(1, ge=0, le=60)

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, name: str) -> str:
        # MLflow refuses '/' and ':' and relative path parts; spladeforge quotes the name in registry
        # searches (name='...') and uses it as an S3 key part, so quotes, backslashes and control
        # characters are refused too.
        bad = sorted({c for c in name if c in "/:'\"\\`" or ord(c) < 32 or ord(c) == 127})
        if not name.strip() or name != name.strip() or bad or name in (".", "..") or len(name) > 256:
            shown = ", ".join(repr(c) for c in bad) or "empty, surrounding spaces, '.'/'..' or over 256 characters"
            raise ValueError(f"not a registered model name MLflow accepts ({shown}); use letters, digits, "
                             "'-', '_' and '.', e.g. spladeforge-splade")
        return name

    _metric = field_validator("metric")(gate_metric_or_auto)

    def gate_metrics(self) -> list[str]:
        """The gate metric and every guard's, each once, in that order."""
        return list(dict.fromkeys([self.metric, *(g.metric for g in self.guards)]))


class HubConfig(Section):
    repo_id: str | None = None
    private: bool = True
    # Name of the environment variable holding the token; the token itself never goes here.
    token_env: str = "HF_TOKEN"
    required: bool = False
    # Each Hub HTTP request: huggingface_hub's client has no timeout, so a silent endpoint would
    # hang the upload; its own retries (429, 5xx, timeouts) then bound the whole push.
    timeout_s: float = Field(60.0, gt=0.0, le=3600.0)


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
    # A wrong or silent endpoint fails in seconds, not minutes: botocore's connect and read
    # timeouts and attempts per request (its defaults are 60 s, 60 s and 5 attempts).
    connect_timeout_s: float = Field(5.0, gt=0.0, le=600.0)
    read_timeout_s: float = Field(60.0, gt=0.0, le=3600.0)
    max_attempts: int = Field(2, ge=1, le=10)


class PublishConfig(Section):
    """Read by `publish`."""

    hub: HubConfig = Field(default_factory=HubConfig)
    s3: S3Config = Field(default_factory=S3Config)



