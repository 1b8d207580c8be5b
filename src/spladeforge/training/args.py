"""Trainer arguments from `train` params, and the checkpoint folder that makes runs resumable."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from pathlib import Path

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError
from spladeforge.models.architectures import STATIC_WEIGHT_PATTERN

logger = logging.getLogger(__name__)

EVAL_NAME = "validation"  # the dev split; the name MLflow/TensorBoard curves have always carried
BEST_METRIC = f"eval_{EVAL_NAME}_dot_ndcg@10"
FINGERPRINT = "spladeforge-run.json"
INITIAL = "initial"  # the model before its first step, beside the trainer's checkpoint-N folders


def training_args(cfg: TrainConfig, checkpoints: Path, device: str, seed: int,
                  steps: int, columns: list[str]):
    from sentence_transformers.base.sampler import BatchSamplers, MultiDatasetBatchSamplers
    from sentence_transformers.sparse_encoder import SparseEncoderTrainingArguments

    if cfg.precision == "fp16" and device != "cuda":
        raise ConfigError("train.precision: fp16 needs a CUDA device (accepted here: fp32, bf16)")
    eval_steps = min(cfg.eval_steps, steps)
    save_steps = min(cfg.save_steps or eval_steps, steps)
    if save_steps % eval_steps:
        raise ConfigError(f"train.save_steps: {save_steps} must be a multiple of train.eval_steps "
                          f"({eval_steps}) so that the best checkpoint can be kept")
    router_mapping = lr_mapping = None
    if cfg.architecture == "inference-free":
        router_mapping = {c: ("query" if c == "anchor" else "document") for c in columns if c != "label"}
        lr_mapping = {STATIC_WEIGHT_PATTERN: cfg.static_learning_rate}
    return SparseEncoderTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        activation_checkpointing=cfg.gradient_checkpointing,
        learning_rate=cfg.learning_rate,
        learning_rate_mapping=lr_mapping or {},
        router_mapping=router_mapping or {},
        warmup_steps=math.ceil(cfg.warmup_ratio * steps),
        bf16=cfg.precision == "bf16",
        fp16=cfg.precision == "fp16",
        tf32=cfg.tf32 if device == "cuda" else None,
        torch_compile=cfg.torch_compile,
        batch_sampler=BatchSamplers.NO_DUPLICATES if cfg.batch_sampler == "no_duplicates"
        else BatchSamplers.BATCH_SAMPLER,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers.ROUND_ROBIN
        if cfg.multi_dataset_sampler == "round_robin" else MultiDatasetBatchSamplers.PROPORTIONAL,
        dataloader_num_workers=cfg.dataloader_num_workers,
        dataloader_pin_memory=cfg.dataloader_pin_memory,
        dataloader_prefetch_factor=cfg.dataloader_prefetch_factor if cfg.dataloader_num_workers else None,
        ddp_backend=("nccl" if device == "cuda" else "gloo") if cfg.processes > 1 else None,
        eval_strategy="steps",
        eval_steps=eval_steps,
        eval_on_start=True,  # the base model's dev NDCG@10 starts the curve, and can be the best
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=cfg.keep == "best",
        metric_for_best_model=BEST_METRIC,
        greater_is_better=True,
        logging_steps=min(cfg.logging_steps, steps),
        logging_first_step=True,
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        report_to="none",  # tracking callbacks are added wrapped, see training.callbacks
        run_name="spladeforge-train",
    )


def fingerprint(cfg: TrainConfig, seed: int, inputs: dict[str, str]) -> str:
    """What a checkpoint must have been trained with to be resumed: params, seed, input hashes."""
    keep = cfg.model_dump(mode="json", exclude={"resume", "tracking", "eval_steps", "save_steps",
                                                "save_total_limit", "logging_steps", "processes",
                                                "dataloader_num_workers", "dataloader_pin_memory",
                                                "dataloader_prefetch_factor"})
    blob = json.dumps({"train": keep, "seed": seed, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def prepare_checkpoints(folder: Path, cfg: TrainConfig, run_fingerprint: str) -> str | None:
    """Return the checkpoint to resume from, or None; clear a folder left by a different run."""
    marker = folder / FINGERPRINT
    if folder.exists():
        previous = json.loads(marker.read_text()).get("fingerprint") if marker.is_file() else None
        checkpoints = sorted((p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()),
                             key=lambda p: int(p.name.rsplit("-", 1)[1]))
        if cfg.resume == "auto" and previous == run_fingerprint and checkpoints:
            logger.info("resuming from %s", checkpoints[-1])
            return str(checkpoints[-1])
        if previous not in (None, run_fingerprint):
            logger.info("%s holds checkpoints of a run with other params or inputs: starting over", folder)
        shutil.rmtree(folder)  # our own scratch space, never user data
    folder.mkdir(parents=True)
    marker.write_text(json.dumps({"fingerprint": run_fingerprint}))
    return None
