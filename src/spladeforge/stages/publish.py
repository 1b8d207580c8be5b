"""publish: export the promoted model with its model card, and push it to the Hub when configured.

Reads register's decision, the model folder, evaluate's `metrics.json` and optionally the
quantize report and the INT8 ONNX folder; whether the INT8 model ships is the decision's (register
decided it before any alias moved; `max_ndcg_drop` only serves decisions written before that);
writes the export folder, always, whole and atomically,
so DVC and KFP have their output and nothing from an earlier run survives in it. Its layout and
which INT8 variants go in are `publishing.export`, the card `publishing.model_card`, the uploads
`publishing.hub` and `publishing.s3`. The export ends with publish.json, this stage's summary.

The Hub upload (`publish.hub`) pushes `model/`, the S3 upload (`publish.s3`) the whole export
under `<prefix>/<model_name>/v<version>/`, once the export is complete in its temporary folder;
without a repo id, bucket or credentials each lists the files it would have uploaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.config import PublishConfig
from spladeforge.errors import ConfigError
from spladeforge.io import atomic_output, read_figures, write_json
from spladeforge.models.saved import check_model_files, read_sidecar
from spladeforge.publishing import hub, s3
from spladeforge.publishing.decision import check_same_model, read_decision
from spladeforge.publishing.export import export_not_promoted, export_promoted, int8_verdict, pruned_verdict
from spladeforge.publishing.model_card import render_card
from spladeforge.publishing.search_engine import is_inference_free


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
    decision = read_decision(decision_path)
    hub_plan = hub.plan(cfg.hub)  # a required Hub without repo/token fails before any writing
    s3_plan = s3.plan(cfg.s3)  # likewise a required S3 upload without bucket/credentials

    summary: dict[str, Any] = {
        "model_name": decision["model_name"], "version": decision["version"],
        "promoted": decision["promoted"], "reason": decision["reason"],
        "run_id": decision.get("run_id"), "model_sha256": decision.get("model_sha256"),
    }
    if not decision["promoted"]:
        with atomic_output(export_dir, directory=True) as tmp:
            summary.update(export_not_promoted(tmp, decision, hub_plan, s3_plan))
            write_json(tmp / "publish.json", summary)
        return summary

    sidecar = read_sidecar(model_dir)
    check_model_files(model_dir)
    check_same_model(decision, decision_path, model_dir)
    metrics = read_figures(Path(metrics_path))
    quantize = read_figures(quantize_report) if quantize_report is not None else None
    int8 = int8_verdict(quantize, quantize_report, onnx_dir, max_ndcg_drop, decision.get("int8"))
    # The pruned variant is held to the drop the decision applied to the INT8 model.
    pruned = pruned_verdict(quantize, onnx_dir, int8.get("max_ndcg_drop", max_ndcg_drop)) if int8["included"] else None
    card = render_card(
        decision=decision, metrics=metrics, sidecar=sidecar, params=run_params, quantize=quantize,
        int8=int8, model_ref=hub_plan.repo_id or str(export_dir / "model"),
    )
    with atomic_output(export_dir, directory=True) as tmp:
        summary["exported"] = export_promoted(tmp, model_dir, onnx_dir, int8, card, pruned,
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
