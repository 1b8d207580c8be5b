"""Fit a sparse encoder with sentence-transformers' SparseEncoderTrainer, from checked inputs to a trained model.

Architectures (`train.architecture`): regular SPLADE, inference-free SPLADE and CSR, built in
`models.architectures`. Loss (`training.losses`): SpladeLoss around
SparseMultipleNegativesRankingLoss (in-batch plus mined negatives), or a distillation loss when the
mined tuples carry teacher scores, with FLOPS (or IDF-aware FLOPS) regularizers warmed up over the
first part of training; CSRLoss for CSR. Validation NDCG@10 on the held-out split every
`train.eval_steps` steps picks the checkpoint that is kept; checkpoints make a killed run
resumable (`train.resume: auto`). Under torchrun (`training.launch`) every process runs `fit`
and process 0 broadcasts which checkpoint they all resume from.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch.distributed as dist
from sentence_transformers.sparse_encoder import SparseEncoder, SparseEncoderTrainer
from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator
from transformers import set_seed

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError
from spladeforge.models.architectures import build_model, corpus_idf, initial_weights
from spladeforge.models.build import resolve_device
from spladeforge.models.fused_head import enable_fused_head
from spladeforge.training.args import EVAL_NAME, fingerprint, prepare_checkpoints, training_args
from spladeforge.training.callbacks import build_callbacks
from spladeforge.training.data import (
    column_names,
    corpus_texts,
    load_tuples,
    load_validation,
    training_datasets,
    with_labels,
)
from spladeforge.training.launch import inside_torchrun, is_main_process
from spladeforge.training.losses import build_loss, distillation_mode

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    """A finished training run: the best model, reloaded, and what the summary reports about it."""

    model: SparseEncoder
    log_history: list[dict[str, Any]]  # the trainer's, for the curves
    steps: int
    resumed_from_step: int | None
    tuples: int
    negatives_per_tuple: int
    distillation: str | None
    extra_datasets: dict[str, int]  # extra dataset name -> rows
    device: str
    processes: int
    seconds: float
    triplets_per_second: float
    validation_ndcg_at_10: float | None  # the kept model's; None on processes other than 0
    is_main_process: bool
    # What training added to the base model before step 0 (`architectures.initial_weights`):
    # saved with the model so that evaluate can rebuild the untrained reference.
    initial_weights: dict[str, Any]


def fit(cfg: TrainConfig, tuples_path: Path, validation_dir: Path, seed: int, *, checkpoints: Path,
        provenance: dict[str, Any], tensorboard_dir: Path) -> FitResult:
    """Train, keep the best checkpoint by validation NDCG@10 and return it with the run's figures."""
    tuples = load_tuples(tuples_path)
    validation = load_validation(validation_dir)
    n = len(tuples.columns["anchor"])
    if cfg.batch_size * cfg.processes > n:
        per = f" x {cfg.processes} processes" if cfg.processes > 1 else ""
        raise ConfigError(f"train.batch_size: {cfg.batch_size}{per} is larger than the {n} training "
                          f"tuples in {tuples_path} (accepted: 2..{n // cfg.processes})")
    distill = distillation_mode(cfg, tuples.has_scores, tuples.negatives_per_tuple)
    device = resolve_device(cfg.device)
    set_seed(seed)
    passages = corpus_texts(tuples.columns)
    model = build_model(cfg, device, passages)
    initial = initial_weights(model)
    if cfg.fused_head and not enable_fused_head(model):
        # An unsupported SPLADE head has already warned, naming its architecture; CSR has none to fuse.
        logger.info("train.fused_head: no fused SPLADE head for this model, training it unfused")
    idf = None
    if cfg.document_regularizer == "idf-flops" and cfg.architecture != "csr":
        idf = corpus_idf(model.tokenizer, passages)
    loss = build_loss(cfg, model, distill, idf)

    world = cfg.processes
    steps_per_epoch = max(1, n // (cfg.batch_size * cfg.gradient_accumulation_steps * world))
    steps = cfg.max_steps or math.ceil(cfg.epochs * steps_per_epoch)
    resume_from = _resume_point(checkpoints, cfg, fingerprint(cfg, seed, provenance), device)

    data = training_datasets(cfg, with_labels(tuples.columns, distill), distill)
    evaluator = SparseInformationRetrievalEvaluator(
        queries=validation.queries, corpus=validation.corpus, relevant_docs=validation.relevant_docs,
        name=EVAL_NAME, batch_size=cfg.batch_size, write_csv=False,
    )
    trainer = SparseEncoderTrainer(
        model=model,
        args=training_args(cfg, checkpoints, device, seed, steps, column_names(data.dataset)),
        train_dataset=data.dataset,
        loss=loss,
        evaluator=evaluator,
        callbacks=build_callbacks(cfg, loss, tensorboard_dir),
    )
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started
    step = trainer.state.global_step
    if step == 0:
        raise ConfigError(f"train: no training step ran on {tuples_path}: the batch sampler found no "
                          f"full batch of {cfg.batch_size} distinct texts per process; lower "
                          "train.batch_size or set train.batch_sampler: batch_sampler")
    main = trainer.is_world_process_zero()
    # The best checkpoint, reloaded at the end of training, scored once more for the sidecar.
    final_ndcg = evaluator(model).get(f"{EVAL_NAME}_dot_ndcg@10") if main else None
    resumed_from_step = int(resume_from.rsplit("-", 1)[1]) if resume_from else None
    trained_steps = step - (resumed_from_step or 0)
    return FitResult(
        model=model, log_history=trainer.state.log_history, steps=step, resumed_from_step=resumed_from_step,
        tuples=n, negatives_per_tuple=tuples.negatives_per_tuple, distillation=distill,
        extra_datasets=data.extra_rows, device=device, processes=int(os.environ.get("WORLD_SIZE", "1")),
        seconds=seconds,
        triplets_per_second=trained_steps * cfg.batch_size * cfg.gradient_accumulation_steps * world
        / max(seconds, 1e-9),
        validation_ndcg_at_10=final_ndcg, is_main_process=main, initial_weights=initial,
    )


def _resume_point(checkpoints: Path, cfg: TrainConfig, run_fingerprint: str, device: str) -> str | None:
    """The checkpoint to resume from; process 0 decides (and clears stale ones), the others follow."""
    resume_from = prepare_checkpoints(checkpoints, cfg, run_fingerprint) if is_main_process() else None
    if inside_torchrun():
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
        holder = [resume_from]
        dist.broadcast_object_list(holder, src=0)
        resume_from = holder[0]
    return resume_from
