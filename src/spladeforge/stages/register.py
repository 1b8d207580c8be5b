"""register: log the trained model to MLflow, register a version and gate its promotion on evidence.

Reads the model folder (only read, never changed), evaluate's `metrics.json` and `per_query.json`
(in its report folder `eval_dir`, whose report, error analysis and plots are logged too), the
test split folder and the BEIR folders the gate names (to score the champion on the very sets
the challenger was scored on), optionally the quantize report and the INT8 ONNX folder; writes
the decision JSON. The MLflow run, the version, the `challenger`/`champion` aliases and the
re-gating of a model already registered are `registry.store`; the reference (champion or base
model) `registry.reference`; the paired bootstrap `registry.evidence`; the rule `registry.policy` (the lower bound of the gain at `register.confidence` above
`register.min_delta`, guards, `min_ndcg`, `max_doc_active_dims`; INT8 withheld beyond
`quantize.max_ndcg_drop`); which metric decides `registry.choice`; the split check `registry.split_check`.

Nothing is written outside MLflow until MLflow holds the final state: a tracking failure leaves
the inputs as they were and no decision file behind.
`run(..., promote=False)` registers and decides but leaves `champion` where it is: the Kubeflow
DAG moves it in a separate task, `promote` (`promote_champion`), which runs only inside the
`dsl.If` on the decision, so the gate guards promotion as well as publishing.
"""

from __future__ import annotations

from pathlib import Path

from spladeforge.config import EvaluateConfig, RegisterConfig
from spladeforge.errors import InputError
from spladeforge.evaluation.metrics import PER_QUERY_FILE
from spladeforge.evaluation.reference import load_gate_sets
from spladeforge.io import read_figures, read_json, sha256_tree, write_json
from spladeforge.models.saved import SIDECAR, check_model_files, read_sidecar, training_reason
from spladeforge.registry.choice import choose_metric
from spladeforge.registry.gate import Candidate, GateSets, gate_labels, read_evaluation
from spladeforge.registry.policy import DOC_DIMS_KEY, NDCG_KEY, int8_verdict
from spladeforge.registry.split_check import read_identity
from spladeforge.registry.store import log_and_register, promote_decided
from spladeforge.registry.tracking import HttpBudget, tracking_session

EVAL_REPORTS = ("report.md", "report.json", "errors.md", "errors.json", PER_QUERY_FILE)


def _read_candidate(cfg: RegisterConfig, model_dir: Path, metrics_path: Path, eval_dir: Path,
                    quantize_report: Path | None, onnx_dir: Path | None, max_ndcg_drop: float) -> Candidate:
    sidecar = read_sidecar(model_dir)
    check_model_files(model_dir)
    required = (NDCG_KEY, cfg.metric) + ((DOC_DIMS_KEY,) if cfg.max_doc_active_dims is not None else ())
    figures = read_figures(metrics_path, required=tuple(dict.fromkeys(required)))
    per_query, set_hashes = read_evaluation(metrics_path, eval_dir / PER_QUERY_FILE, set(gate_labels(cfg).values()))
    reports = [metrics_path]
    quantize = None
    if quantize_report is not None:
        quantize = read_figures(quantize_report)
        figures.update(quantize)
        reports.append(quantize_report)
    if onnx_dir is not None and not any(onnx_dir.glob("*.onnx")):
        raise InputError(f"{onnx_dir}: expected an INT8 ONNX folder (model_int8.onnx + tokenizer files)")
    int8 = int8_verdict((quantize or {}).get("ndcg_at_10_change"), max_ndcg_drop, given=onnx_dir is not None)
    reports.append(model_dir / SIDECAR)
    reports += [eval_dir / name for name in EVAL_REPORTS if (eval_dir / name).is_file()]
    reports += sorted((eval_dir / "plots").glob("*.png"))
    return Candidate(model_dir, metrics_path, figures, reports, onnx_dir, sidecar, sha256_tree(model_dir),
                     per_query, eval_dir / PER_QUERY_FILE, set_hashes, int8)


def run(cfg: RegisterConfig, model_dir: Path, metrics_path: Path, decision_path: Path, eval_dir: Path,
        task_dir: Path, *, evaluate: EvaluateConfig | None = None, seed: int = 0, max_ndcg_drop: float = 0.02,
        quantize_report: Path | None = None, onnx_dir: Path | None = None, run_params: dict | None = None,
        promote: bool = True, judgments: Path | None = None) -> dict:
    """Log, register and gate the model; write the decision JSON and return it.

    `eval_dir` is evaluate's output folder and `task_dir` the test split it scored (with
    `evaluate`, the settings it scored it with; `seed` seeds the bootstrap). `promote=False`
    records the decision (`promoted` is the gate's verdict) without moving `champion`;
    `champion_version` is then the champion the gate compared against, and `promote_champion`
    makes the move. `judgments`: the folder evaluate scored as `judged` (default `evaluate.judgments`)."""
    evaluate = evaluate or EvaluateConfig()
    cfg, why = choose_metric(cfg, Path(metrics_path), evaluate)
    candidate = _read_candidate(cfg, Path(model_dir), Path(metrics_path), Path(eval_dir),
                                Path(quantize_report) if quantize_report is not None else None,
                                Path(onnx_dir) if onnx_dir is not None else None, max_ndcg_drop)
    gate = GateSets(evaluate, load_gate_sets(evaluate, Path(task_dir), set(gate_labels(cfg).values()), judgments),
                    seed, metric_reason=why, split=read_identity(Path(task_dir)))
    with tracking_session(cfg.tracking_uri, HttpBudget.of(cfg)) as shown_uri:
        registered = log_and_register(cfg, candidate, gate, run_params, promote)
    result = {
        "model_name": cfg.model_name,
        "version": registered.version,
        **registered.decision.as_dict(),
        **training_reason(candidate.sidecar, registered.decision.reason),
        "champion_version": registered.champion_version,
        "tracking_uri": shown_uri,
        "run_id": registered.run_id,
        "model_sha256": candidate.model_sha256,
    }
    write_json(Path(decision_path), result)
    return result


def promote_champion(cfg: RegisterConfig, decision_path: Path, output: Path) -> dict:
    """Move `champion` to the version `run(..., promote=False)` decided to promote; write `output`.

    `output` is the decision as `run` with `promote=True` would have written it (`champion_version`
    is the new champion). The move is refused when the decision did not pass the gate, or when
    `champion` has moved since the gate compared against it (the comparison is stale: register
    again). Run twice, the second call finds the alias already moved and changes nothing.
    """
    decision_path = Path(decision_path)
    decision = read_json(decision_path)
    if not isinstance(decision, dict) or not {"model_name", "version", "promoted", "reason"} <= set(decision):
        raise InputError(f"{decision_path}: not a decision from register (model_name, version, promoted, reason)")
    if decision["promoted"] is not True:
        raise InputError(f"{decision_path}: v{decision['version']} did not pass the gate ({decision['reason']}); "
                         "nothing to promote")
    if decision["model_name"] != cfg.model_name:
        raise InputError(f"{decision_path}: decided for {decision['model_name']!r}, register.model_name is "
                         f"{cfg.model_name!r}")
    version = str(decision["version"])
    with tracking_session(cfg.tracking_uri, HttpBudget.of(cfg)):
        moved = promote_decided(cfg.model_name, version, decision.get("champion_version"), decision["reason"])
    result = {**decision, "champion_version": version}
    write_json(output, result)
    return {**result, "moved": moved}
