"""Which model a training run keeps: the step with the best dev NDCG@10, step 0 included.

The trainer scores the model before its first step (`eval_on_start`) and keeps the best
checkpoint (`load_best_model_at_end`). When step 0 scores best, the HF Trainer records
`best_global_step = 0`, which it then treats as unset: it reloads nothing and the last, possibly
worst, checkpoint would ship. So the run saves the model it starts from (`INITIAL` in the
checkpoint folder, once per run fingerprint: a resumed run finds it there) and, when no later
evaluation beats step 0, ships those weights and says so.

With `train.keep: last` the final step ships whatever dev says, unless it fell more than
`train.max_dev_drop` below step 0 (`last_or_initial`). `max_dev_drop: collapse` sets that margin
from the dev set's size alone: Hoeffding's bound (1963) for a mean of n per-query differences in
[-1, 1], sqrt(2 ln(1/alpha) / n) at alpha 0.05 one-sided. A fall beyond it is evidence of a real
regression whatever the per-query spread, so only a clear collapse puts the base back: generated
dev queries are copied from the documents and rate adapted models below the base while judged
queries rate them above it, so a tighter margin would refuse the adaptation the run exists for.

Every choice also comes as one line (`decision`) for the train summary and the register reason.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

from spladeforge.training.args import INITIAL

logger = logging.getLogger(__name__)


def save_initial(model: Any, checkpoints: Path) -> Path:
    """Save `model` as the run's step-0 weights unless a resumed run's are already there."""
    folder = checkpoints / INITIAL
    if (folder / "modules.json").is_file():
        return folder
    partial = checkpoints / f"{INITIAL}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    model.save(str(partial))
    os.replace(partial, folder)  # scratch space: whole or absent, so a resume never reads half of it
    return folder


def best_step(log_history: list[dict[str, Any]], metric: str) -> tuple[int | None, float | None]:
    """(step, value) of the best `metric` in the trainer's log, by the trainer's own rule.

    The HF Trainer keeps a new best only when it is strictly greater, so the earliest of equal
    figures wins; step 0 (the model before training) competes like any other evaluation.
    """
    best: tuple[int | None, float | None] = (None, None)
    for entry in log_history:
        value = entry.get(metric)
        if value is not None and (best[1] is None or value > best[1]):
            best = (int(entry["step"]), float(value))
    return best


def initial_wins(log_history: list[dict[str, Any]], metric: str) -> bool:
    """True when no evaluation after step 0 beat step 0's, which the trainer then fails to reload."""
    step, value = best_step(log_history, metric)
    if step != 0:
        return False
    later = [e[metric] for e in log_history if metric in e and e["step"] > 0]
    logger.warning("train: the base model scored best on dev (NDCG@10 %.4f at step 0, at most %s later): "
                   "shipping the initial weights, not a trained checkpoint", value,
                   f"{max(later):.4f}" if later else "nothing")
    return True


def value_at(log_history: list[dict[str, Any]], metric: str, step: int) -> float | None:
    """`metric` as evaluated at `step`, or None when that step was not evaluated."""
    values = [e[metric] for e in log_history if metric in e and int(e["step"]) == step]
    return float(values[-1]) if values else None


COLLAPSE_ALPHA = 0.05  # one-sided: the chance that a model as good as the base falls past the bound


def collapse_margin(dev_queries: int, alpha: float = COLLAPSE_ALPHA) -> float:
    """Hoeffding's one-sided bound on a mean of `dev_queries` differences in [-1, 1] (see the module docstring)."""
    return math.sqrt(2 * math.log(1 / alpha) / max(1, dev_queries))


def last_or_initial(log_history: list[dict[str, Any]], metric: str, step: int,
                    max_drop: float | str | None, dev_queries: int = 0) -> tuple[str, float | None]:
    """`train.keep: last`: ("last", its dev figure), or ("initial", step 0's) when the final step's
    `metric` fell more than `max_drop` below step 0's (`collapse`: `collapse_margin(dev_queries)`).
    Logs the choice, so a falling curve is on record."""
    last = value_at(log_history, metric, step)
    initial = value_at(log_history, metric, 0)
    if last is None or initial is None:
        return "last", last
    if max_drop == "collapse":
        max_drop = collapse_margin(dev_queries)
    drop = initial - last
    if max_drop is not None and drop > max_drop + 1e-9:  # a fall of exactly max_drop is within it
        logger.warning("train.keep: last: step %d scored %.4f on dev, %.4f below step 0's %.4f, more than "
                       "train.max_dev_drop %.4f: shipping the initial weights, not the trained model",
                       step, last, drop, initial, max_drop)
        return "initial", initial
    if drop > 0:
        logger.warning("train.keep: last: shipping step %d (dev NDCG@10 %.4f) although step 0 scored %.4f on "
                       "dev; with generated dev queries this is expected (see train.keep), and the gate "
                       "needs judged queries to promote it", step, last, initial)
    else:
        logger.info("train.keep: last: shipping step %d (dev NDCG@10 %.4f, step 0 %.4f)", step, last, initial)
    return "last", last


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def decision(kept: str, log_history: list[dict[str, Any]], metric: str, step: int, keep: str,
             max_drop: float | str | None, dev_queries: int) -> str:
    """One line: which weights ship and the evidence, e.g. why the base model was kept."""
    initial = value_at(log_history, metric, 0)
    last = value_at(log_history, metric, step)
    best, best_value = best_step(log_history, metric)
    if keep == "last":
        margin = collapse_margin(dev_queries) if max_drop == "collapse" else max_drop
        if kept == "initial":
            return (f"kept the base model: dev NDCG@10 fell from {_fmt(initial)} at step 0 to {_fmt(last)} at step "
                    f"{step}, more than train.max_dev_drop ({_fmt(margin)})")
        return (f"shipped step {step} (train.keep: last): dev NDCG@10 {_fmt(last)}, step 0 {_fmt(initial)}"
                + (f", within train.max_dev_drop {_fmt(margin)}" if margin is not None else ""))
    if kept == "initial":
        later = [e[metric] for e in log_history if metric in e and e["step"] > 0]
        return (f"kept the base model: no trained step beat its dev NDCG@10 {_fmt(initial)} "
                f"(best later {_fmt(max(later) if later else None)})")
    return f"shipped step {best}: dev NDCG@10 {_fmt(best_value)} above step 0's {_fmt(initial)}"
