"""Fit a sparse encoder with sentence-transformers' SparseEncoderTrainer, from checked inputs to a trained model.

Architectures (`train.architecture`): regular SPLADE, inference-free SPLADE and CSR, built in
`models.architectures`. Loss (`training.losses`): SpladeLoss around
SparseMultipleNegativesRankingLoss (in-batch plus mined negatives), or a distillation loss when the
mined tuples carry teacher scores, with FLOPS (or IDF-aware FLOPS) regularizers warmed up over the
first part of training; CSRLoss for CSR. Dev NDCG@10 every `train.eval_steps` steps (and before
the first step) picks the model that is kept, step 0 included (`training.best`); the test split
is never seen here. Checkpoints make a killed run resumable (`train.resume: auto`). Under
torchrun (`training.launch`) every process runs `fit` and process 0 broadcasts which checkpoint
they all resume from.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
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
from spladeforge.io import as_os_error
from spladeforge.models.architectures import build_model, corpus_idf, initial_weights
from spladeforge.models.build import load_sparse_encoder, resolve_device
from spladeforge.models.fused_head import enable_fused_head
from spladeforge.training.args import BEST_METRIC, EVAL_NAME, fingerprint, prepare_checkpoints, training_args
from spladeforge.training.best import (
    best_step,
    decision,
    initial_wins,
    last_or_initial,
    save_initial,
    value_at,
)
from spladeforge.training.callbacks import build_callbacks
from spladeforge.training.data import (
    column_names,
    corpus_texts,
    load_dev,
    load_tuples,
    training_datasets,
    with_labels,
)
from spladeforge.training.launch import inside_torchrun, is_main_process
from spladeforge.training.losses import build_loss, distillation_mode, teacher_scale

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
    teacher_scale: float | None  # what the distillation targets were multiplied by (train.teacher_scale)
    extra_datasets: dict[str, int]  # extra dataset name -> rows
    device: str
    processes: int
    seconds: float
    triplets_per_second: float
    validation_ndcg_at_10: float | None  # the kept model's on dev; None on processes other than 0
    is_main_process: bool
    best_step: int | None  # the step whose dev NDCG@10 was best (0: the base model)
    kept: str  # "checkpoint" (the best trained step) or "initial" (the base model's weights)
    decision: str  # one line: what shipped and the dev evidence for it
    # What training added to the base model before step 0 (`architectures.initial_weights`):
    # saved with the model so that evaluate can rebuild the untrained reference.
    initial_weights: dict[str, Any]


def fit(cfg: TrainConfig, tuples_path: Path, dev_dir: Path, seed: int, *, checkpoints: Path,
        provenance: dict[str, Any], tensorboard_dir: Path) -> FitResult:
    """Train, keep the best step by dev NDCG@10 (step 0 included) or the last (`train.keep`) and
    return it with the run's figures."""
    tuples = load_tuples(tuples_path)
    dev = load_dev(dev_dir)
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
    added = initial_weights(model)
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
    initial = save_initial(model, checkpoints) if is_main_process() else None  # what eval_on_start scores

    scale = teacher_scale(cfg, model, tuples.columns, distill)  # before any step: the student's initial margins
    data = training_datasets(cfg, with_labels(tuples.columns, distill, scale or 1.0), distill)
    evaluator = SparseInformationRetrievalEvaluator(
        queries=dev.queries, corpus=dev.corpus, relevant_docs=dev.relevant_docs,
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
    _clean_failed_checkpoints(trainer, checkpoints)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.perf_counter() - started
    step = trainer.state.global_step
    if step == 0:
        raise ConfigError(f"train: no training step ran on {tuples_path}: the batch sampler found no "
                          f"full batch of {cfg.batch_size} distinct texts per process; lower "
                          "train.batch_size or set train.batch_sampler: batch_sampler")
    main = trainer.is_world_process_zero()
    history = trainer.state.log_history
    if cfg.keep == "last":
        if value_at(history, BEST_METRIC, step) is None:  # the last step is not an evaluation step
            trainer.evaluate()
        kept, kept_value = last_or_initial(history, BEST_METRIC, step, cfg.max_dev_drop, len(dev.queries))
        best, _ = best_step(history, BEST_METRIC)
    else:
        kept = "initial" if initial_wins(history, BEST_METRIC) else "checkpoint"
        # The kept model's dev NDCG@10 is the one logged at its step: scoring it again would encode
        # the whole dev corpus once more for the same figure.
        best, kept_value = best_step(history, BEST_METRIC)
    final_ndcg = kept_value if main else None
    why = decision(kept, history, BEST_METRIC, step, cfg.keep, cfg.max_dev_drop, len(dev.queries))
    if kept == "initial" and main:
        model = load_sparse_encoder(str(initial), max_seq_length=cfg.max_seq_length, device=device, key=str(initial))
    resumed_from_step = int(resume_from.rsplit("-", 1)[1]) if resume_from else None
    trained_steps = step - (resumed_from_step or 0)
    return FitResult(
        model=model, log_history=history, steps=step, resumed_from_step=resumed_from_step,
        tuples=n, negatives_per_tuple=tuples.negatives_per_tuple, distillation=distill,
        teacher_scale=scale,
        extra_datasets=data.extra_rows, device=device, processes=int(os.environ.get("WORLD_SIZE", "1")),
        seconds=seconds,
        triplets_per_second=trained_steps * cfg.batch_size * cfg.gradient_accumulation_steps * world
        / max(seconds, 1e-9),
        validation_ndcg_at_10=final_ndcg, is_main_process=main, best_step=best, kept=kept, decision=why,
        initial_weights=added,
    )


def _clean_failed_checkpoints(trainer: SparseEncoderTrainer, checkpoints: Path) -> None:
    """A checkpoint whose save failed (a full disk, a file-size limit, Ctrl-C) is removed, not left half
    written, and an OS error under the library's wrapping (safetensors reports a Rust IoError with no
    path) is raised as one OSError naming the checkpoint folder."""
    save = trainer._save_checkpoint

    def guarded(*args: Any, **kwargs: Any) -> None:
        folder = checkpoints / f"checkpoint-{trainer.state.global_step}"
        existed = folder.exists()
        try:
            save(*args, **kwargs)
        except BaseException as exc:
            if not existed:
                shutil.rmtree(folder, ignore_errors=True)
            error = as_os_error(exc, folder)
            if error is None or error is exc:
                raise
            raise OSError(error.errno, f"{error.strerror} while saving a checkpoint", error.filename) from None

    trainer._save_checkpoint = guarded


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
