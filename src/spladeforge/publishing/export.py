"""The export folder `publish` writes, and which INT8 variants go into it.

    promoted:      model/ (with the card as its README.md), onnx-int8/ when register's decision
                   includes the INT8 model (it kept NDCG@10 within `quantize.max_ndcg_drop`; its
                   vocabulary-pruned variant is held to the same drop),
                   search-engine/ for an inference-free model (document encoder, tokenizer,
                   idf.json: the OpenSearch neural sparse layout), README.md (the card)
    not promoted:  README.md (why)

The functions fill a folder the caller has made (the temporary side of an atomic output) and
return what `publish.json` records; the caller writes publish.json.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from spladeforge.errors import InputError
from spladeforge.publishing.hub import HubPlan
from spladeforge.publishing.model_card import render_not_promoted
from spladeforge.publishing.s3 import S3Plan
from spladeforge.publishing.search_engine import FOLDER as SEARCH_ENGINE_DIR
from spladeforge.publishing.search_engine import export_search_engine

INT8_FILE = "model_int8.onnx"
PRUNED_FILE = "model_int8_pruned.onnx"
# Figures come from JSON written elsewhere; -0.02 must pass a 0.02 guard despite rounding.
_EPS = 1e-9


def int8_verdict(
    quantize: dict[str, float] | None, quantize_report: Path | None, onnx_dir: Path | None,
    max_ndcg_drop: float, decided: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Whether the INT8 folder goes into the export.

    `decided` is register's verdict (the decision's `int8`), which publish follows: the version
    was registered with or without the INT8 artifact on that verdict, before any alias moved.
    A decision written before register decided INT8 has none: then only a report showing a small
    enough drop lets it in.
    """
    if decided is not None:
        verdict = dict(decided)
        if verdict.get("included"):
            if onnx_dir is None or not (onnx_dir / INT8_FILE).is_file():
                raise InputError(f"{onnx_dir}: {INT8_FILE} not found, but the decision includes the INT8 model "
                                 "(expected the folder `quantize` writes)")
        return verdict
    verdict: dict[str, Any] = {"included": False, "max_ndcg_drop": max_ndcg_drop}
    if onnx_dir is None:
        verdict["reason"] = "no INT8 model was given"
        return verdict
    if quantize is None:
        verdict["reason"] = "no quantize report to check its NDCG@10 change against"
        return verdict
    change = quantize.get("ndcg_at_10_change")
    if change is None or not math.isfinite(change):
        raise InputError(f"{quantize_report}: ndcg_at_10_change must be a finite number (INT8 minus fp32)")
    verdict["ndcg_at_10_change"] = change
    if change < -max_ndcg_drop - _EPS:
        verdict["reason"] = (f"its NDCG@10 change {change:+.4f} exceeds the allowed drop of "
                             f"{max_ndcg_drop:g} (quantize.max_ndcg_drop)")
        return verdict
    if not (onnx_dir / INT8_FILE).is_file():
        raise InputError(f"{onnx_dir}: {INT8_FILE} not found (expected the folder `quantize` writes)")
    verdict.update(included=True, reason=f"its NDCG@10 change {change:+.4f} is within the allowed "
                                         f"drop of {max_ndcg_drop:g}")
    return verdict


def pruned_verdict(quantize: dict[str, float] | None, onnx_dir: Path | None,
                   max_ndcg_drop: float) -> dict[str, Any] | None:
    """The same guard for the vocabulary-pruned INT8 model, when `quantize` wrote one."""
    if onnx_dir is None or not (onnx_dir / PRUNED_FILE).is_file():
        return None
    change = (quantize or {}).get("pruned_ndcg_at_10_change")
    if change is None or not math.isfinite(change):
        return {"included": False, "reason": "no pruned_ndcg_at_10_change in the quantize report"}
    if change < -max_ndcg_drop - _EPS:
        return {"included": False, "ndcg_at_10_change": change,
                "reason": f"its NDCG@10 change {change:+.4f} exceeds the allowed drop of {max_ndcg_drop:g}"}
    return {"included": True, "ndcg_at_10_change": change,
            "reason": f"its NDCG@10 change {change:+.4f} is within the allowed drop of {max_ndcg_drop:g}"}


def export_promoted(
    folder: Path, model_dir: Path, onnx_dir: Path | None, int8: dict[str, Any], card: str,
    pruned: dict[str, Any] | None = None, inference_free: bool = False,
) -> list[str]:
    """Fill `folder` with the promoted model's export; return the names exported."""
    shutil.copytree(model_dir, folder / "model")
    # The card replaces the generic one sentence-transformers saved, so the Hub shows it too.
    (folder / "model" / "README.md").write_text(card, encoding="utf-8")
    exported = ["README.md", "model"]
    if int8["included"]:
        shutil.copytree(onnx_dir, folder / "onnx-int8")
        if pruned is not None and not pruned["included"]:
            (folder / "onnx-int8" / PRUNED_FILE).unlink()
        exported.append("onnx-int8")
    if inference_free:
        export_search_engine(model_dir, folder / SEARCH_ENGINE_DIR)
        exported.append(SEARCH_ENGINE_DIR)
    (folder / "README.md").write_text(card, encoding="utf-8")
    return exported


def export_not_promoted(folder: Path, decision: dict[str, Any], hub_plan: HubPlan,
                        s3_plan: S3Plan) -> dict[str, Any]:
    """Fill `folder` with a README saying why the model was not promoted; nothing is uploaded."""
    (folder / "README.md").write_text(render_not_promoted(decision), encoding="utf-8")
    return {
        "exported": ["README.md"],
        "hub": {"repo_id": hub_plan.repo_id, "pushed": False, "files": [],
                "message": "Hub upload skipped: the model was not promoted"},
        "s3": {"bucket": s3_plan.bucket, "uploaded": False, "files": [],
               "message": "S3 upload skipped: the model was not promoted"},
    }
