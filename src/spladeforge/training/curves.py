"""Training loss and dev NDCG@10 by step: CSV for `dvc plots`, a PNG for people."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Below this share of the loss the FLOPS regularizers barely move the model's sparsity: on cpu-adapt's
# MarginMSE, a share of 0.2% (document weight 3e-2) left documents at 291 active dims against 299
# without it; 7% (weight 1.0) brought them to 222.
NEGLIGIBLE_SHARE = 0.01


def write_curves(history: list[dict[str, Any]], folder: Path, metric: str) -> dict[str, Any]:
    """Fill `folder` (the temporary side of the stage's atomic outputs) with the curves."""
    loss = [(h["step"], h["loss"]) for h in history if "loss" in h]
    ndcg = [(h["step"], h[metric]) for h in history if metric in h]
    (folder / "log_history.json").write_text(json.dumps(history, indent=1))
    for name, header, rows in (("loss.csv", ("step", "loss"), loss),
                               ("val_ndcg.csv", ("step", "ndcg_at_10"), ndcg)):
        with open(folder / name, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
    _plot(loss, ndcg, folder / "curves.png")
    share = regularizer_share(history)
    if share is not None and share < NEGLIGIBLE_SHARE:
        logger.warning("the sparsity regularizers are %.2g%% of the training loss at its last logged step: at "
                       "these weights they barely shape the model. Their weights act relative to the ranking "
                       "loss (MarginMSE runs ~100x an in-batch loss); raise train.document_regularizer_weight "
                       "(and train.query_regularizer_weight) to sparsify", 100 * share)
    return {"final_loss": loss[-1][1] if loss else None,
            "best_val_ndcg_at_10": max((v for _, v in ndcg), default=None),
            "regularizer_share": share}


def regularizer_share(history: list[dict[str, Any]]) -> float | None:
    """The sparsity regularizers' share of the last logged training loss (None without them).

    FLOPS weights act relative to the ranking loss's scale: an in-batch cross-entropy stays below
    ln(batch size), MarginMSE on dot-product margins runs in the hundreds (cpu-adapt: ~190), so a
    weight that sparsifies one leaves the other untouched. A share of a few thousandths means the
    regularizer does not shape the model.
    """
    last = next((h for h in reversed(history) if h.get("loss") and "base_loss" in h), None)
    if last is None:
        return None
    regularizers = [v for k, v in last.items() if k.endswith("_regularizer_loss")]
    return round(sum(regularizers) / last["loss"], 5) if regularizers else None


def _plot(loss: list[tuple[int, float]], ndcg: list[tuple[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    if loss:
        a.plot(*zip(*loss, strict=True), marker=".")
    a.set(title="training loss", xlabel="step", ylabel="loss")
    if ndcg:
        b.plot(*zip(*ndcg, strict=True), marker="o", color="tab:green")
    b.set(title="dev NDCG@10", xlabel="step", ylabel="NDCG@10")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
