"""The gate for one candidate: its reference scored like it, the paired bootstrap, the guards, `policy.decide`.

`register` reads the candidate (`Candidate`: evaluate's figures and per-query scores, the set
hashes, the INT8 verdict); `registry.store` finds the champion in MLflow and calls `decide_gate`
before anything is logged. Every figure the gate compares comes from the same sets: the
reference's set hashes must equal the candidate's, except for a stale reference, which the
decision names and whose tagged figures are compared with the candidate's as metrics.json
rounds them. Against a champion of another split, the test split's queries are those whose
documents both held out (`registry.split_check`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spladeforge.config import EvaluateConfig, RegisterConfig
from spladeforge.config.release import CollapseGuard, metric_prefix
from spladeforge.errors import InputError
from spladeforge.evaluation.metrics import DIGITS, HELD_OUT_LABEL, task_label
from spladeforge.io import read_json
from spladeforge.registry.evidence import Interval, paired_bootstrap
from spladeforge.registry.policy import DOC_DIMS_KEY, NDCG_KEY, Decision, GuardFigures, decide
from spladeforge.registry.reference import Reference, base_reference, champion_reference, mean
from spladeforge.registry.split_check import SplitCheck, check_split

if TYPE_CHECKING:
    from spladeforge.evaluation.beir import BeirData


@dataclass(frozen=True)
class Candidate:
    """The model to register, as `register` read it."""

    model_dir: Path
    metrics_path: Path  # named in the error when the gate has nothing to compare against
    figures: dict[str, float]  # metrics.json and the quantize report, logged as run metrics
    reports: list[Path]  # logged as run artifacts under reports/
    onnx_dir: Path | None  # the INT8 ONNX folder, logged under onnx-int8/ when `int8` includes it
    sidecar: dict[str, Any]  # the model's spladeforge.json
    model_sha256: str
    per_query: dict[str, dict[str, dict[str, float]]]  # evaluate's: task label -> system -> query -> NDCG@10
    per_query_path: Path
    set_hashes: dict[str, str]  # task label -> the content hash of the set evaluate measured
    int8: dict[str, Any]  # `policy.int8_verdict`


@dataclass(frozen=True)
class GateSets:
    """What the reference is scored on and with: evaluate's settings and the loaded sets."""

    evaluate: EvaluateConfig
    sets: dict[str, BeirData]  # task label -> data, as evaluate loaded it
    seed: int  # of the bootstrap
    metric_reason: str | None = None  # why `register.metric` decides (`registry.choice`)
    split: dict[str, Any] | None = None  # the test split's identity (`registry.split_check.read_identity`)


def read_evaluation(metrics_path: Path, per_query_path: Path, labels: set[str]
                    ) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, str]]:
    """Evaluate's per-query NDCG@10 (task label -> system -> query id -> score) and set hashes, for `labels`."""
    if not per_query_path.is_file():
        raise InputError(f"{per_query_path}: not found; the gate resamples evaluate's per-query scores "
                         "(rerun evaluate, which writes it beside report.md)")
    data = read_json(per_query_path)
    ok = isinstance(data, dict) and all(
        isinstance(systems, dict) and all(isinstance(scores, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in scores.values())
            for scores in systems.values()) for systems in data.values())
    if not ok:
        raise InputError(f"{per_query_path}: expected {{task label: {{system: {{query id: NDCG@10}}}}}}")
    metrics = read_json(metrics_path)
    hashes = {}
    for label in labels:
        key = f"{'' if label == HELD_OUT_LABEL else label + '_'}set_sha256"
        if not isinstance(metrics, dict) or not isinstance(metrics.get(key), str):
            raise InputError(f"{metrics_path}: {key} is missing (the content hash of the set the figures were "
                             "measured on); rerun evaluate")
        hashes[label] = metrics[key]
    per_query = {label: {system: {q: float(v) for q, v in scores.items()} for system, scores in systems.items()}
                 for label, systems in data.items() if label in labels}
    return per_query, hashes


def gate_labels(cfg: RegisterConfig) -> dict[str, str]:
    """Gate metric and guard metrics -> the task label of the set each is measured on."""
    return {metric: task_label(metric_prefix(metric)) for metric in cfg.gate_metrics()}


def _reference(cfg: RegisterConfig, candidate: Candidate, champion: tuple[str, Any] | None,
               gate: GateSets) -> Reference:
    labels = gate_labels(cfg)
    if champion is None:
        return base_reference(cfg, candidate.per_query, candidate.set_hashes, labels, candidate.figures,
                              candidate.per_query_path)
    version, mv = champion
    return champion_reference(cfg, gate.evaluate, version, mv, gate.sets, labels)


def _held_out_subset(cfg: RegisterConfig, candidate: Candidate, champion: tuple[str, Any] | None,
                     reference: Reference, gate: GateSets) -> SplitCheck | None:
    """The split identity check against a champion scored afresh, when a gate metric is on the test split."""
    labels = gate_labels(cfg)
    if champion is None or reference.stale is not None or HELD_OUT_LABEL not in labels.values():
        return None
    queries = set(candidate.per_query.get(HELD_OUT_LABEL, {}).get("model", {}))
    return check_split(gate.split, champion[1].tags, reference.name, queries)


def decide_gate(cfg: RegisterConfig, candidate: Candidate, champion: tuple[str, Any] | None,
                gate: GateSets) -> Decision:
    """The gate against `champion` ((version, MLflow model version), scored on this run's sets), else
    against the base model's scores from the candidate's own evaluate run."""
    for label, data in gate.sets.items():
        if data.content_sha256() != candidate.set_hashes.get(label):
            raise InputError(f"{data.folder}: holds another set than {label!r} was measured on by evaluate "
                             f"({candidate.metrics_path}: set hash {str(candidate.set_hashes.get(label))[:12]}); "
                             "give register the folder evaluate scored, or rerun evaluate")
    reference = _reference(cfg, candidate, champion, gate)
    labels = gate_labels(cfg)
    ours, theirs = {}, {}
    for metric, label in labels.items():
        model = candidate.per_query.get(label, {}).get("model")
        if not model:
            raise InputError(f"{candidate.per_query_path}: no per-query scores of the model on {label!r}, which "
                             f"{metric} is measured on; rerun evaluate")
        ref = reference.scores[metric]
        if reference.stale is None and ref.set_sha256 != candidate.set_hashes.get(label):
            raise InputError(f"{candidate.metrics_path}: {label!r} was measured on a set with hash "
                             f"{str(candidate.set_hashes.get(label))[:12]}, but the folder given to register "
                             f"holds {str(ref.set_sha256)[:12]}; rerun evaluate on the same folders")
        ours[metric], theirs[metric] = model, ref.per_query
    split = _held_out_subset(cfg, candidate, champion, reference, gate)
    if split is not None and split.keep is not None:
        for metric, label in labels.items():
            if label == HELD_OUT_LABEL:
                ours[metric] = {q: v for q, v in ours[metric].items() if q in split.keep}
                theirs[metric] = {q: v for q, v in theirs[metric].items() if q in split.keep}

    def figures(metric: str) -> tuple[float, float]:
        if theirs[metric] is None:
            # A stale reference is a tag, rounded as metrics.json rounds: the candidate's figure at the
            # same precision and from the same source, so that a rounding difference is no gain.
            own = candidate.figures.get(metric, round(mean(ours[metric]), DIGITS))
            return own, reference.scores[metric].figure
        return mean(ours[metric]), mean(theirs[metric])

    def interval(metric: str) -> Interval | None:
        if theirs[metric] is None:
            return None
        return paired_bootstrap(ours[metric], theirs[metric], samples=cfg.bootstrap_samples,
                                confidence=cfg.confidence, seed=gate.seed)

    guards = [GuardFigures(g.metric, *figures(g.metric), g.max_drop, candidate.set_hashes.get(labels[g.metric]),
                           reference.scores[g.metric].set_sha256, interval(g.metric),
                           "collapse guard" if isinstance(g, CollapseGuard) else "guard") for g in cfg.guards]
    own, ref_figure = figures(cfg.metric)
    gate_scores = reference.scores[cfg.metric]
    # Scored afresh, the same bytes score the same per query: a zero gain, which is a tie already. A
    # stale reference's tag is another run's rounded figure, so the bytes themselves must say it.
    stale_same = reference.stale is not None and reference.model_sha256 == candidate.model_sha256
    same = reference.model_sha256 if stale_same else None
    return decide(
        own, min_delta=cfg.min_delta, champion_value=ref_figure if champion is not None else None,
        champion_version=reference.version,
        base_value=ref_figure if champion is None else None, metric=cfg.metric,
        candidate_ndcg=candidate.figures.get(NDCG_KEY), min_ndcg=cfg.min_ndcg,
        doc_active_dims=candidate.figures.get(DOC_DIMS_KEY), max_doc_active_dims=cfg.max_doc_active_dims,
        champion_doc_active_dims=reference.doc_active_dims if champion else None, interval=interval(cfg.metric),
        guards=guards, int8=candidate.int8, stale_reference=reference.stale,
        candidate_set_sha256=candidate.set_hashes.get(labels[cfg.metric]),
        reference_set_sha256=gate_scores.set_sha256, metric_reason=gate.metric_reason, same_model=same,
        split=split.note if split is not None else None, split_refused=split is not None and split.refuse,
    )
