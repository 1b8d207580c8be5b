"""The run configuration: `params.yaml` merged over a preset from `configs/`, validated once.

Precedence, lowest first: the defaults below, `configs/<preset>.yaml`, `params.yaml`,
`--set key.path=value` overrides on the command line. Unknown keys, wrong types and
out-of-range values fail before any work, naming the key path and what is accepted.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spladeforge.errors import ConfigError

DEFAULT_PRESET = "cpu-tiny"
QUERY_TYPES = ("keywords", "question", "sentence")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    """Read by `ingest`."""

    # `python-stdlib-docs`, a folder of .txt/.md/.jsonl files, or a BEIR corpus.jsonl.
    source: str = "python-stdlib-docs"
    max_documents: int | None = Field(None, ge=1)
    # Docstring-only modules of a line or two carry too little text to make a query from.
    min_chars: int = Field(200, ge=1)
    # A single document longer than this is almost always a dump, not a document.
    max_document_chars: int = Field(2_000_000, ge=1000)
    on_error: Literal["fail", "skip"] = "fail"
    lowercase: bool = False
    id_field: str = "_id"
    title_field: str = "title"
    text_field: str = "text"
    # Documents whose word-shingle Jaccard similarity (MinHash estimate) with an earlier one is
    # at least this are dropped as near-duplicates (mirrors, versions, boilerplate pages);
    # null turns the check off. 0.9 keeps revisions that change a paragraph or more.
    near_duplicate_threshold: float | None = Field(0.9, gt=0.0, le=1.0)
    shingle_words: int = Field(5, ge=1, le=20)
    # Read `source` from a DVC-versioned data repository (git URL or path) at `dvc_rev`
    # (null: its default branch). Credentials come from the environment, never from here.
    dvc_repo: str | None = None
    dvc_rev: str | None = None
    dvc_remote_config: dict[str, str] = Field(default_factory=dict)  # e.g. {endpointurl: ...}


class ChunkConfig(Section):
    """Read by `chunk`. Seed 000: chunks of 500-2000 characters with 10-20% overlap."""

    size: int = Field(1000, ge=500, le=2000)
    overlap: int = Field(150, ge=0)
    # A tail shorter than this is merged into the previous chunk instead of standing alone.
    min_chars: int = Field(100, ge=1)
    # `window`: character windows with overlap. `semantic`: cut where the dense model's cosine
    # similarity between adjacent sentences drops (seed 000: semantic segmentation), never
    # above `size` characters and, except a document's last chunk, never below `min_chars`.
    mode: Literal["window", "semantic"] = "window"
    semantic_model: str = "builtin:minilm-l6"
    # Cut at similarities below this percentile of the document's adjacent-sentence
    # similarities, or below `semantic_threshold` when that is set.
    semantic_percentile: float = Field(10.0, gt=0.0, lt=100.0)
    semantic_threshold: float | None = Field(None, ge=-1.0, le=1.0)
    # Sentences averaged on each side of a gap: single sentences are noisy neighbours.
    semantic_window: int = Field(2, ge=1, le=10)
    semantic_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _overlap_in_range(self) -> ChunkConfig:
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        low, high = round(0.1 * self.size), round(0.2 * self.size)
        if not low <= self.overlap <= high:
            raise ValueError(
                f"overlap {self.overlap} is outside 10-20% of size {self.size}: "
                f"accepted {low}..{high}"
            )
        return self


_JSON_ANSWER = 'Answer with JSON only, exactly {{"queries": ["...", ...]}}.\n\nTitle: {title}\nPassage:\n{text}'
DEFAULT_PROMPTS = {
    "question": "Write {n} different questions that a user could type into a search engine and "
                "that this passage answers. " + _JSON_ANSWER,
    "keywords": "Write {n} different keyword queries of 2 to 5 words (no sentences, no question "
                "marks) that should find this passage. " + _JSON_ANSWER,
    "natural": "Write {n} different natural-language search requests (not questions, e.g. "
               "'how to ...' or 'example of ...') that this passage satisfies. " + _JSON_ANSWER,
}


class Seq2SeqConfig(Section):
    """`generate_queries.backend: seq2seq`: any transformers text-to-text model (doc2query)."""

    # A hub id such as doc2query/msmarco-t5-base-v1 (needs HF_HUB_OFFLINE=0) or a local folder.
    model: str | None = None
    prefix: str = ""               # e.g. "text2query: " for the doc2query-all models
    batch_size: int = Field(8, ge=1)
    max_input_tokens: int = Field(384, ge=16)
    max_new_tokens: int = Field(32, ge=1, le=512)
    num_return_sequences: int = Field(3, ge=1, le=50)
    do_sample: bool = True
    # doc2query (Nogueira & Lin, 2019) samples with top-k 10; top-p 0.95 as in docT5query.
    top_k: int = Field(10, ge=0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    temperature: float = Field(1.0, gt=0.0)
    device: Literal["auto", "cpu", "cuda", "mps"] = "cpu"


class OpenAIConfig(Section):
    """`generate_queries.backend: openai`: any OpenAI-compatible chat-completions endpoint."""

    base_url: str | None = None    # e.g. https://api.openai.com/v1 or http://localhost:8000/v1
    model: str | None = None
    # NAME of the environment variable holding the key; the key itself never goes in params.
    api_key_env: str = "OPENAI_API_KEY"
    system_prompt: str = "You write search queries for passages of documentation."
    # Per query type; placeholders {n}, {title}, {text}. Types: question, keywords, natural.
    prompts: dict[Literal["question", "keywords", "natural"], str] = Field(
        default_factory=lambda: dict(DEFAULT_PROMPTS))
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1)
    max_concurrency: int = Field(4, ge=1, le=64)
    timeout_s: float = Field(60.0, gt=0.0)
    max_retries: int = Field(5, ge=0, le=20)
    backoff_initial_s: float = Field(1.0, ge=0.0)
    backoff_max_s: float = Field(30.0, ge=0.0)
    # `skip`: a non-JSON or empty answer is counted in the report and skipped; `fail` stops.
    on_bad_response: Literal["fail", "skip"] = "skip"
    # Answers cached by hash of (model, prompt, chunk text): a rerun neither repeats nor re-bills.
    cache_dir: str = "data/.llm-cache"

    @model_validator(mode="after")
    def _prompts_have_text(self) -> OpenAIConfig:
        for qtype, template in self.prompts.items():
            if "{text}" not in template:
                raise ValueError(f"prompts.{qtype} must contain the placeholder {{text}}")
        return self


class QueryFilterConfig(Section):
    """Filters applied to the queries of every backend; counts go to queries.report.json."""

    min_chars: int = Field(5, ge=1)
    max_chars: int = Field(300, ge=1)
    min_words: int = Field(2, ge=1)
    max_words: int = Field(40, ge=1)
    # `global`: a query text kept once for the whole corpus (the same query with two positives
    # contradicts itself); `chunk`: once per chunk.
    dedupe: Literal["none", "chunk", "global"] = "global"
    # Reject queries copied verbatim from their chunk (at least this many words), except the
    # ICT `sentence` type, which is a chunk sentence by design (Lee et al., 2019).
    reject_copied: bool = True
    copied_min_words: int = Field(4, ge=1)
    # Round-trip consistency (Alberti et al., 2019; Promptagator): keep a query only if its own
    # chunk ranks in the top-k for it. `splade` uses round_trip_model.
    round_trip: Literal["none", "bm25", "splade"] = "bm25"
    round_trip_k: int = Field(10, ge=1)
    round_trip_model: str = "builtin:splade-tiny"

    @model_validator(mode="after")
    def _bounds(self) -> QueryFilterConfig:
        if self.min_chars > self.max_chars or self.min_words > self.max_words:
            raise ValueError("min_chars/min_words must be <= max_chars/max_words")
        return self


class GenerateQueriesConfig(Section):
    """Read by `generate-queries`."""

    backend: Literal["extractive", "seq2seq", "openai"] = "extractive"
    queries_per_chunk: int = Field(1, ge=1, le=10)
    # Relative weights of the query types; they need not sum to one. `natural` needs the
    # openai backend; `sentence` is always extractive (an ICT sentence of the chunk).
    mix: dict[Literal["keywords", "question", "sentence", "natural"], float] = Field(
        default_factory=lambda: {"keywords": 0.4, "question": 0.3, "sentence": 0.3}
    )
    min_keywords: int = Field(2, ge=1)
    max_keywords: int = Field(4, ge=1)
    seq2seq: Seq2SeqConfig = Field(default_factory=Seq2SeqConfig)
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)
    filters: QueryFilterConfig = Field(default_factory=QueryFilterConfig)

    @model_validator(mode="after")
    def _mix_positive(self) -> GenerateQueriesConfig:
        if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("mix weights must be >= 0 with at least one > 0")
        if self.min_keywords > self.max_keywords:
            raise ValueError("min_keywords must be <= max_keywords")
        if self.backend == "extractive" and self.mix.get("natural", 0) > 0:
            raise ValueError("mix.natural needs backend: openai (accepted for extractive: "
                             "keywords, question, sentence)")
        if self.backend == "seq2seq" and not self.seq2seq.model:
            raise ValueError("backend seq2seq needs seq2seq.model (a hub id or a local folder)")
        if self.backend == "openai" and not (self.openai.base_url and self.openai.model):
            raise ValueError("backend openai needs openai.base_url and openai.model")
        return self


class SplitConfig(Section):
    """Read by `split`. Seed 000: a 90/10 split with minimal content overlap."""

    validation_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    max_validation_queries: int | None = Field(None, ge=1)
    # A validation chunk whose word-shingle Jaccard with a training chunk is at least this
    # leaks its content into training; null turns the check off.
    near_duplicate_threshold: float | None = Field(0.8, gt=0.0, le=1.0)
    # `move_document`: its whole document goes to train; `drop_query`: its queries are dropped.
    near_duplicate_action: Literal["move_document", "drop_query"] = "move_document"
    shingle_words: int = Field(5, ge=1, le=20)
    # Queries flagged by generate-queries' round-trip filter never train. `keep` also holds them out
    # for validation: dropping them there leaves only queries the round-trip retriever answers,
    # which inflates that retriever's column of the report (BM25 0.934 vs 0.783 on the default run).
    validation_round_trip: Literal["keep", "drop"] = "keep"


class MineConfig(Section):
    """Read by `mine`."""

    method: Literal["bm25", "dense"] = "bm25"
    num_negatives: int = Field(1, ge=1, le=64)
    # Ranks [start, end) to draw negatives from: the very top is often a false negative.
    rank_window: tuple[int, int] = (3, 30)
    # `dense`: the bi-encoder for mining (any sentence-transformers model) and its batch size.
    dense_model: str = "builtin:minilm-l6"
    batch_size: int = Field(32, ge=1)
    # Dense only: drop candidates scoring above (1 - relative_margin) * the positive's score,
    # likely unlabelled positives (NV-Retriever, Moreira et al., 2024: 0.05). null: no guard.
    relative_margin: float | None = Field(0.05, ge=0.0, lt=1.0)
    # Teacher scores per (query, doc) stored as `scores: [pos, neg_1, ...]` for distillation:
    # `none`, `dense` (dense_model's cosine) or `cross-encoder <model ref>`.
    teacher: str = "none"

    @model_validator(mode="after")
    def _window(self) -> MineConfig:
        start, end = self.rank_window
        if not 0 <= start < end:
            raise ValueError(f"rank_window must be [start, end) with 0 <= start < end, got {list(self.rank_window)}")
        if end - start < self.num_negatives:
            raise ValueError("rank_window must hold at least num_negatives ranks")
        kind, _, ref = self.teacher.partition(" ")
        if not (self.teacher in ("none", "dense") or (kind == "cross-encoder" and ref.strip())):
            raise ValueError(f"teacher {self.teacher!r}: accepted none, dense, or "
                             "'cross-encoder <model ref>'")
        return self


class ScalePhase(Section):
    """From `until` (a fraction of training) on, the ranking loss uses this `scale` (1/temperature)."""

    until: float = Field(gt=0.0, le=1.0)
    scale: float = Field(gt=0.0)


class TrainConfig(Section):
    """Read by `train`. Defaults follow seeds 001/003 for regular SPLADE."""

    base_model: str = "builtin:splade-tiny"
    architecture: Literal["splade", "inference-free", "csr"] = "splade"
    learning_rate: float = Field(2e-5, gt=0.0, le=1.0)
    # Seed 001: the inference-free query weights learn ~50x faster than the encoder.
    static_learning_rate: float = Field(1e-3, gt=0.0, le=1.0)
    batch_size: int = Field(16, ge=2)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int | None = Field(None, ge=1)
    max_seq_length: int = Field(256, ge=16, le=8192)
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    # Seed 001: 3e-4..5e-4 on queries for regular SPLADE (must be > 0; 0 for inference-free),
    # 3e-3 on documents.
    query_regularizer_weight: float = Field(5e-4, ge=0.0)
    document_regularizer_weight: float = Field(3e-3, ge=0.0)
    # `idf-flops` scales each vocabulary entry's FLOPS term by idf_max / idf: common tokens pay more,
    # informative ones less (arXiv 2411.04403). inference-free's IDF query weights already do so.
    document_regularizer: Literal["flops", "idf-flops"] = "flops"
    # Regularizer weights rise quadratically from 0 over this share of training.
    regularizer_warmup_ratio: float = Field(1 / 3, gt=0.0, le=1.0)
    # With teacher scores in the mined tuples: `auto` picks MarginMSE for one negative, KL-div
    # for several; `none` ignores the scores.
    distillation: Literal["auto", "none", "margin-mse", "kl-div"] = "auto"
    # Contrastive scale (1/temperature) of the ranking loss, optionally by phase (seed 002).
    scale: float = Field(1.0, gt=0.0)
    scale_phases: list[ScalePhase] = Field(default_factory=list)
    # CSR (arXiv 2503.01776): latent width = factor x encoder width, top-k kept.
    csr_hidden_factor: int = Field(4, ge=1, le=64)
    csr_k: int = Field(256, ge=1)
    csr_k_aux: int = Field(512, ge=1)
    csr_beta: float = Field(0.1, ge=0.0)
    eval_steps: int = Field(50, ge=1)
    save_steps: int | None = Field(None, ge=1)  # default: every eval_steps
    save_total_limit: int = Field(2, ge=1)
    early_stopping_patience: int | None = Field(None, ge=1)  # evaluations without improvement
    # `auto` continues from the newest checkpoint in the checkpoint folder, `never` starts over.
    resume: Literal["auto", "never"] = "auto"
    logging_steps: int = Field(10, ge=1)
    tracking: list[Literal["mlflow", "tensorboard"]] = Field(default_factory=lambda: ["tensorboard"])
    # More training data mixed with the generated tuples (seed 001's multi-dataset configs):
    # JSONL files or `datasets.save_to_disk` folders of pairs or triplets. Columns are taken in
    # order as anchor, positive, negatives (or by those names when present).
    extra_datasets: list[str] = Field(default_factory=list)
    # ROUND_ROBIN: equal turns until the smallest is exhausted; PROPORTIONAL: by dataset size.
    multi_dataset_sampler: Literal["round_robin", "proportional"] = "round_robin"
    # Data-parallel processes on this node (torchrun; NCCL on GPUs, gloo on CPU).
    processes: int = Field(1, ge=1, le=64)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    tf32: bool = False
    torch_compile: bool = False
    gradient_accumulation_steps: int = Field(1, ge=1)
    gradient_checkpointing: bool = False
    # Issue 9: compute max-pooled SPLADE weights without the [batch, length, vocab] logits and
    # backpropagate only through each entry's argmax token (same function and gradients; faster,
    # far less memory). Ignored by heads it does not support (CSR, non-BERT masked-LMs).
    fused_head: bool = True
    dataloader_num_workers: int = Field(0, ge=0)
    dataloader_pin_memory: bool = False
    dataloader_prefetch_factor: int | None = Field(None, ge=1)
    # NO_DUPLICATES keeps a text from appearing twice in a batch, where it would be a false
    # in-batch negative for itself.
    batch_sampler: Literal["no_duplicates", "batch_sampler"] = "no_duplicates"

    @model_validator(mode="after")
    def _architecture_rules(self) -> TrainConfig:
        if self.architecture == "inference-free" and self.query_regularizer_weight > 0:
            raise ValueError("inference-free models have no query encoder to regularize: set "
                             "train.query_regularizer_weight: 0 (seed 001)")
        untils = [p.until for p in self.scale_phases]
        if untils != sorted(untils):
            raise ValueError("scale_phases must be in increasing order of `until`")
        return self


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

with warnings.catch_warnings():
    # `register` is a stage name; pydantic warns that it shadows ABCMeta.register on the class.
    warnings.simplefilter("ignore", UserWarning)

    class Params(Section):
        preset: str = DEFAULT_PRESET
        seed: int = Field(42, ge=0)
        data: DataConfig = Field(default_factory=DataConfig)
        chunk: ChunkConfig = Field(default_factory=ChunkConfig)
        generate_queries: GenerateQueriesConfig = Field(default_factory=GenerateQueriesConfig)
        split: SplitConfig = Field(default_factory=SplitConfig)
        mine: MineConfig = Field(default_factory=MineConfig)
        train: TrainConfig = Field(default_factory=TrainConfig)
        evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
        quantize: QuantizeConfig = Field(default_factory=QuantizeConfig)
        register: RegisterConfig = Field(default_factory=RegisterConfig)
        publish: PublishConfig = Field(default_factory=PublishConfig)
        kubeflow: KubeflowConfig = Field(default_factory=KubeflowConfig)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def available_presets(configs_dir: Path) -> list[str]:
    return sorted(p.stem for p in configs_dir.glob("*.yaml"))


def parse_override(text: str) -> dict[str, Any]:
    """Turn `train.learning_rate=1e-4` into `{"train": {"learning_rate": 1e-4}}`."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. train.learning_rate=1e-4")
    value = yaml.safe_load(raw) if raw.strip() else None
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        if err["type"] == "extra_forbidden":
            section = _section_model(err["loc"][:-1])
            accepted = ", ".join(section.model_fields) if section else ""
            lines.append(f"  {path}: unknown key (accepted: {accepted})")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"  {path or '<top>'}: {err['msg']}{shown}")
    return "\n".join(lines)


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model


def load_params(
    path: str | Path = "params.yaml",
    overrides: list[str] | None = None,
    configs_dir: str | Path | None = None,
) -> Params:
    """Load and validate the run configuration; raise ConfigError naming the bad key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    user = _read_yaml(path)
    for text in overrides or []:
        user = deep_merge(user, parse_override(text))
    configs = Path(configs_dir) if configs_dir else path.resolve().parent / "configs"
    preset = user.get("preset", DEFAULT_PRESET)
    preset_file = configs / f"{preset}.yaml"
    if not isinstance(preset, str) or not preset_file.is_file():
        names = ", ".join(available_presets(configs)) or f"none found in {configs}"
        raise ConfigError(f"{path}: preset: unknown preset {preset!r} (accepted: {names})")
    base = _read_yaml(preset_file)
    if "preset" in base:
        raise ConfigError(f"{preset_file}: a preset cannot name another preset")
    try:
        return Params.model_validate(deep_merge(base, user))
    except ValidationError as exc:
        raise ConfigError(_format_errors(f"{path} (preset {preset})", exc)) from None
