"""The `train` section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from spladeforge.config.base import Section


class ScalePhase(Section):
    """Until `until` (a fraction of the training steps), the ranking loss uses this `scale` (1/temperature).

    Phases are read in order: at progress p (steps done / total steps) the first phase with
    p < until applies, and after the last phase its scale stays. [{until: 0.5, scale: 1},
    {until: 1.0, scale: 20}] trains the first half at scale 1 and the second half at 20.
    """

    until: float = Field(gt=0.0, le=1.0)
    scale: float = Field(gt=0.0)


class TrainConfig(Section):
    """Read by `train`. The defaults fine-tune a regular SPLADE model; presets in configs/ set the rest."""

    base_model: str = "builtin:splade-tiny"
    architecture: Literal["splade", "inference-free", "csr"] = "splade"
    learning_rate: float = Field(2e-5, gt=0.0, le=1.0)
    # The inference-free query weights are a lookup table, not a deep network: they need a far
    # larger step than the encoder (50x, as in sentence-transformers' inference-free examples).
    static_learning_rate: float = Field(1e-3, gt=0.0, le=1.0)
    batch_size: int = Field(16, ge=2)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int | None = Field(None, ge=1)
    max_seq_length: int = Field(256, ge=16, le=8192)
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    # FLOPS weights (Paria et al. 2020; SPLADE, Formal et al. 2021): 3e-4..5e-4 on queries for
    # regular SPLADE (0 for inference-free, which has no query encoder), 3e-3 on documents. Those
    # suit an in-batch ranking loss; MarginMSE on dot-product margins runs ~100x higher and needs
    # weights on its scale (cpu-adapt: documents 1.0). The train summary's `regularizer_share`
    # shows the regularizers' part of the loss.
    query_regularizer_weight: float = Field(5e-4, ge=0.0)
    document_regularizer_weight: float = Field(3e-3, ge=0.0)
    # `idf-flops` scales each vocabulary entry's FLOPS term by clip(c / idf, 0.5, 4), mean 1 over the
    # vocabulary: common tokens pay up to 4x more, informative ones about plain FLOPS, so the
    # penalty stays within 0.25-16x FLOPS (arXiv 2411.04403). inference-free's IDF query weights
    # already do so.
    document_regularizer: Literal["flops", "idf-flops"] = "flops"
    # Regularizer weights rise quadratically from 0 over this share of training.
    regularizer_warmup_ratio: float = Field(1 / 3, gt=0.0, le=1.0)
    # With teacher scores in the mined tuples: `auto` picks MarginMSE for one negative, KL-div
    # for several; `none` ignores the scores.
    distillation: Literal["auto", "none", "margin-mse", "kl-div"] = "auto"
    # Distillation targets are the teacher's logits times this. `auto`: the factor that gives the
    # teacher's margins the student's initial margin std (on up to 256 tuples), so normalized
    # ensemble scores (~1 unit) and dot products (several) meet on one scale; a number is used as is.
    teacher_scale: Literal["auto"] | float = "auto"
    # Contrastive scale (1/temperature) of the ranking loss, optionally by phase: a curriculum that
    # sharpens the distribution as training goes. `scale` applies when there are no phases; each
    # phase's scale holds while progress is below its `until` (see ScalePhase). Distillation
    # losses have no contrastive scale, so phases do nothing there.
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
    # The model the run ships. `best`: the step with the best dev NDCG@10, step 0 (the base)
    # included. `last`: the final step, whatever dev says; dev is still scored for the curves.
    # `last` is for adapting to a corpus with generated queries only: generated held-out queries
    # are copied from their passage, and on them every adapted variant measured scored below the
    # base while human-judged queries rated the same variants far above it (CISI: dev 0.881 ->
    # 0.861 over 600 steps while judged NDCG@10 rose from 0.301 to 0.347-0.378). The gate then
    # needs judged queries (`register.metric`/`register.guards`) to promote such a model.
    keep: Literal["best", "last"] = "best"
    # With `keep: last`, the base model ships instead (`kept: initial`) when the final step's dev
    # NDCG@10 is more than this below step 0's; null: the last step always ships. `collapse`:
    # the drop must exceed the distribution-free bound sqrt(2 ln(1/0.05) / n) for n dev queries
    # (Hoeffding, 1963: per-query NDCG differences lie in [-1, 1]), so the guard refuses only a
    # fall no sample of that size shows by chance (0.11 at 500 queries): a collapse, not noise.
    max_dev_drop: float | Literal["collapse"] | None = Field(None)
    # `auto` continues from the newest checkpoint in the checkpoint folder, `never` starts over.
    resume: Literal["auto", "never"] = "auto"
    logging_steps: int = Field(10, ge=1)
    tracking: list[Literal["mlflow", "tensorboard"]] = Field(default_factory=lambda: ["tensorboard"])
    # More training data mixed with the generated tuples (sentence-transformers' multi-dataset training):
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
    # Compute max-pooled SPLADE weights without the [batch, length, vocab] logits and
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
                             "train.query_regularizer_weight: 0")
        if self.teacher_scale != "auto" and not self.teacher_scale > 0:
            raise ValueError(f"teacher_scale {self.teacher_scale!r}: accepted auto or a number > 0")
        if isinstance(self.max_dev_drop, float) and not 0.0 <= self.max_dev_drop <= 1.0:
            raise ValueError(f"max_dev_drop {self.max_dev_drop}: accepted a number in [0, 1], collapse or null")
        if self.max_dev_drop is not None and self.keep != "last":
            raise ValueError("max_dev_drop guards train.keep: last (keep: best already ships the best dev step): "
                             "set keep: last or remove max_dev_drop")
        if self.keep == "last" and self.early_stopping_patience:
            raise ValueError("early_stopping_patience stops on dev NDCG@10, which train.keep: last ignores: "
                             "remove one of them")
        untils = [p.until for p in self.scale_phases]
        if untils != sorted(untils):
            raise ValueError("scale_phases must be in increasing order of `until`")
        return self


