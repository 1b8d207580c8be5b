"""publish: export the promoted model with its model card, and push it to the Hub when configured.

The export folder is always written, whole and atomically, so DVC and KFP have their output and
nothing from an earlier run survives in it:

    promoted:      model/ (with the card as its README.md), onnx-int8/ when the INT8 model kept
                   NDCG@10 within `max_ndcg_drop` (its vocabulary-pruned variant likewise),
                   search-engine/ for an inference-free model (document encoder, tokenizer,
                   idf.json: the OpenSearch neural sparse layout), README.md (the card),
                   publish.json
    not promoted:  README.md (why), publish.json

The Hub upload (`publish.hub`) pushes `model/`, the S3 upload (`publish.s3`) the whole export
under `<prefix>/<model_name>/v<version>/`, once the export is complete in its temporary folder;
without a repo id, bucket or credentials each lists the files it would have uploaded.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from spladeforge.config import PublishConfig
from spladeforge.errors import ConfigError, InputError
from spladeforge.io import atomic_output, read_json, sha256_tree, write_json
from spladeforge.models.saved import check_model_files, read_sidecar
from spladeforge.publishing import hub, s3
from spladeforge.publishing.model_card import render_card, render_not_promoted
from spladeforge.publishing.search_engine import FOLDER as SEARCH_ENGINE_DIR
from spladeforge.publishing.search_engine import export_search_engine, is_inference_free
from spladeforge.stages.register import read_figures

DECISION_KEYS = ("model_name", "version", "promoted", "reason")
INT8_FILE = "model_int8.onnx"
PRUNED_FILE = "model_int8_pruned.onnx"
# Figures come from JSON written elsewhere; -0.02 must pass a 0.02 guard despite rounding.
_EPS = 1e-9


def _read_decision(path: Path) -> dict[str, Any]:
    decision = read_json(path)
    if not isinstance(decision, dict):
        raise InputError(f"{path}: expected the JSON object written by `register`")
    missing = [k for k in DECISION_KEYS if k not in decision]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)} (written by `register`)")
    if not isinstance(decision["promoted"], bool):
        raise InputError(f"{path}: promoted must be true or false, got {decision['promoted']!r}")
    return decision


def _check_same_model(decision: dict[str, Any], decision_path: Path, model_dir: Path) -> None:
    """Refuse to publish a folder other than the one `register` gated."""
    expected = decision.get("model_sha256")
    if expected and sha256_tree(model_dir) != expected:
        raise InputError(
            f"{model_dir}: differs from the model {decision_path} was decided on "
            f"(sha256 {expected[:12]}...); run `register` on this model first"
        )


def int8_verdict(
    quantize: dict[str, float] | None, quantize_report: Path | None, onnx_dir: Path | None,
    max_ndcg_drop: float,
) -> dict[str, Any]:
    """Whether the INT8 folder goes into the export: only with a report showing a small enough drop."""
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


def _export_promoted(
    tmp: Path, model_dir: Path, onnx_dir: Path | None, int8: dict[str, Any], card: str,
    pruned: dict[str, Any] | None = None, inference_free: bool = False,
) -> list[str]:
    shutil.copytree(model_dir, tmp / "model")
    # The card replaces the generic one sentence-transformers saved, so the Hub shows it too.
    (tmp / "model" / "README.md").write_text(card, encoding="utf-8")
    exported = ["README.md", "model"]
    if int8["included"]:
        shutil.copytree(onnx_dir, tmp / "onnx-int8")
        if pruned is not None and not pruned["included"]:
            (tmp / "onnx-int8" / PRUNED_FILE).unlink()
        exported.append("onnx-int8")
    if inference_free:
        export_search_engine(model_dir, tmp / SEARCH_ENGINE_DIR)
        exported.append(SEARCH_ENGINE_DIR)
    (tmp / "README.md").write_text(card, encoding="utf-8")
    return exported


def run(
    cfg: PublishConfig,
    model_dir: Path,
    decision_path: Path,
    metrics_path: Path,
    export_dir: Path,
    quantize_report: Path | None = None,
    onnx_dir: Path | None = None,
    max_ndcg_drop: float = 0.02,
    run_params: dict | None = None,
) -> dict:
    """Write `export_dir` for the decision in `decision_path`; push to the Hub when configured."""
    if not 0.0 <= max_ndcg_drop <= 1.0:
        raise ConfigError(f"quantize.max_ndcg_drop: must be in [0, 1], got {max_ndcg_drop}")
    model_dir, decision_path, export_dir = Path(model_dir), Path(decision_path), Path(export_dir)
    onnx_dir = Path(onnx_dir) if onnx_dir is not None else None
    quantize_report = Path(quantize_report) if quantize_report is not None else None
    decision = _read_decision(decision_path)
    hub_plan = hub.plan(cfg.hub)  # a required Hub without repo/token fails before any writing
    s3_plan = s3.plan(cfg.s3)  # likewise a required S3 upload without bucket/credentials

    summary: dict[str, Any] = {
        "model_name": decision["model_name"], "version": decision["version"],
        "promoted": decision["promoted"], "reason": decision["reason"],
        "run_id": decision.get("run_id"), "model_sha256": decision.get("model_sha256"),
    }
    if not decision["promoted"]:
        with atomic_output(export_dir, directory=True) as tmp:
            (tmp / "README.md").write_text(render_not_promoted(decision), encoding="utf-8")
            summary["exported"] = ["README.md"]
            summary["hub"] = {"repo_id": hub_plan.repo_id, "pushed": False, "files": [],
                              "message": "Hub upload skipped: the model was not promoted"}
            summary["s3"] = {"bucket": s3_plan.bucket, "uploaded": False, "files": [],
                             "message": "S3 upload skipped: the model was not promoted"}
            write_json(tmp / "publish.json", summary)
        return summary

    sidecar = read_sidecar(model_dir)
    check_model_files(model_dir)
    _check_same_model(decision, decision_path, model_dir)
    metrics = read_figures(Path(metrics_path))
    quantize = read_figures(quantize_report) if quantize_report is not None else None
    int8 = int8_verdict(quantize, quantize_report, onnx_dir, max_ndcg_drop)
    pruned = pruned_verdict(quantize, onnx_dir, max_ndcg_drop) if int8["included"] else None
    card = render_card(
        decision=decision, metrics=metrics, sidecar=sidecar, params=run_params, quantize=quantize,
        int8=int8, model_ref=hub_plan.repo_id or str(export_dir / "model"),
    )
    with atomic_output(export_dir, directory=True) as tmp:
        summary["exported"] = _export_promoted(tmp, model_dir, onnx_dir, int8, card, pruned,
                                               is_inference_free(sidecar))
        summary["int8"] = int8
        if pruned is not None:
            summary["int8_pruned"] = pruned
        # Pushed from the temporary folder, so publish.json can record the outcome; a required
        # upload that fails leaves the previous export in place.
        summary["hub"] = hub.push(
            hub_plan, tmp / "model", export_dir / "model",
            commit_message=f"{decision['model_name']} v{decision['version']} (spladeforge)",
        )
        summary["s3"] = s3.push(s3_plan, tmp, export_dir, model_name=decision["model_name"],
                                version=str(decision["version"]), model_sha256=decision.get("model_sha256"))
        write_json(tmp / "publish.json", summary)
    return summary
