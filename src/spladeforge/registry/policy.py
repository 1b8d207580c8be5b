"""The promotion gate: a challenger becomes champion only on evidence that it is better.

Kept free of MLflow so the rule can be read, and tested, on its own. The caller scores the
challenger and its reference (the champion, else the base model) on the same sets, by the same
code; every check below must pass (`register.*` in params):

- `metric` (NDCG@10 on the test split or on a judged BEIR folder): the lower end of the
  interval of the mean per-query gain (`registry.evidence`, at `confidence`) is above
  `min_delta`. A tie keeps the champion. Without per-query scores (a stale reference, allowed
  by `register.allow_stale_reference`) the point estimate must be above it instead;
- `guards`: a guard refuses only on evidence of a regression beyond its `max_drop`: the upper
  bound of the paired bootstrap interval of the gain on its set (at `confidence`) is below
  `-max_drop`. A point estimate would refuse an equal challenger about half the time (the
  measured rate on 40 queries with max_drop 0; `tests/registry/test_policy.py`). Without
  per-query scores (a stale reference) the point estimate must stay within `max_drop`;
- `min_ndcg`: an absolute floor on the candidate's NDCG@10;
- `max_doc_active_dims`: a ceiling on the candidate's non-zero weights per document, which sets
  index size and query latency.

Whatever the figures, a promotion never lowers the champion's metric on the shared set: a
candidate whose mean is not above the reference's is refused even where the interval, a
percentile of resampled means, would let it through.

A challenger holding the same model bytes (equal sha256) as a stale reference is a tie, whatever
the figures say: rounding or another run's set cannot make a model better than itself (scored
afresh, the same bytes give the same per-query scores, a zero gain, which is a tie already).

INT8 is part of the decision but not of the verdict (`int8_verdict`): an INT8 model that loses
more than `quantize.max_ndcg_drop` is withheld, and the fp32 model may still be promoted without
it. The INT8 model serves the same queries as the fp32 one it was measured against; refusing the
fp32 model for its export's loss would keep a worse champion serving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from spladeforge.registry.evidence import Interval

CHAMPION = "champion"
CHALLENGER = "challenger"
# Version tag holding each version's NDCG@10, so the gate never has to find (or trust) a run.
NDCG_TAG = "ndcg_at_10"
DEFAULT_METRIC = "model_ndcg_at_10"
NDCG_KEY = "model_ndcg_at_10"
DOC_DIMS_KEY = "model_doc_active_dims"
# `0.5 >= 0.4 + 0.1` is False in floating point; figures within this are equal, and a tie keeps the champion.
_EPS = 1e-9


def metric_tag(metric: str) -> str:
    """Version tag holding a version's figure for `metric` (`metric.model_ndcg_at_10`)."""
    return f"metric.{metric}"


def base_key(metric: str) -> str:
    """`model_ndcg_at_10` -> `base_ndcg_at_10`, `cisi_model_ndcg_at_10` -> `cisi_base_ndcg_at_10`."""
    head, sep, tail = metric.rpartition("model_")
    return f"{head}base_{tail}" if sep else "base_" + metric


@dataclass(frozen=True)
class GuardFigures:
    """One guard: both versions' figures on its metric and the drop allowed."""

    metric: str
    candidate: float
    reference: float
    max_drop: float
    candidate_set_sha256: str | None = None
    reference_set_sha256: str | None = None
    interval: Interval | None = None  # the paired bootstrap of the gain on the guard's set
    role: str = "guard"  # "collapse guard": the test split while the judged set decides


def int8_verdict(change: float | None, max_ndcg_drop: float, *, given: bool = True) -> dict[str, Any]:
    """Whether the INT8 export ships with the model: its NDCG@10 change against fp32 within the drop."""
    verdict: dict[str, Any] = {"included": False, "max_ndcg_drop": max_ndcg_drop}
    if not given:
        verdict["reason"] = "no INT8 model was given"
    elif change is None or not math.isfinite(change):
        verdict["reason"] = "no quantize report to check its NDCG@10 change against"
    elif change < -max_ndcg_drop - _EPS:
        verdict.update(ndcg_at_10_change=change, reason=f"its NDCG@10 change {change:+.4f} exceeds the allowed "
                                                        f"drop of {max_ndcg_drop:g} (quantize.max_ndcg_drop)")
    else:
        verdict.update(included=True, ndcg_at_10_change=change,
                       reason=f"its NDCG@10 change {change:+.4f} is within the allowed drop of {max_ndcg_drop:g}")
    return verdict


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str  # every check, passed or failed, joined with "; "
    candidate_value: float
    reference_value: float
    reference: str  # "champion vN" or "base model"
    metric: str = DEFAULT_METRIC
    checks: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # names of the failed checks
    candidate_doc_active_dims: float | None = None
    reference_doc_active_dims: float | None = None
    interval: dict[str, Any] | None = None  # `evidence.Interval.as_dict()`; None for a stale reference
    guards: list[dict[str, Any]] = field(default_factory=list)
    int8: dict[str, Any] | None = None  # `int8_verdict`
    stale_reference: bool = False
    candidate_set_sha256: str | None = None  # what the gate metric's figures were measured on
    reference_set_sha256: str | None = None
    metric_reason: str | None = None  # why `metric` decides (register.metric auto, or params)
    split: str | None = None  # what the split identity check found, when it ran

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tags(self) -> dict[str, str]:
        """The decision as MLflow tags (strings), for the model version and the run."""
        tags = {
            "gate.promoted": str(self.promoted).lower(),
            "gate.reason": self.reason,
            "gate.metric": self.metric,
            "gate.candidate_value": repr(self.candidate_value),
            "gate.reference_value": repr(self.reference_value),
            "gate.reference": self.reference,
            "gate.failed": ",".join(self.failed),
            "gate.stale_reference": str(self.stale_reference).lower(),
        }
        for name in ("candidate_doc_active_dims", "reference_doc_active_dims", "candidate_set_sha256",
                     "reference_set_sha256", "metric_reason", "split"):
            value = getattr(self, name)
            if value is not None:
                tags[f"gate.{name}"] = value if isinstance(value, str) else repr(value)
        if self.interval is not None:
            for key in ("mean_delta", "low", "high", "confidence", "samples", "queries"):
                tags[f"gate.interval.{key}"] = repr(self.interval[key])
        if self.int8 is not None:
            tags["gate.int8"] = "included" if self.int8["included"] else "withheld"
        return tags


def decide(
    candidate: float,
    *,
    min_delta: float,
    champion_value: float | None = None,
    champion_version: str | None = None,
    base_value: float | None = None,
    metric: str = DEFAULT_METRIC,
    candidate_ndcg: float | None = None,
    min_ndcg: float | None = None,
    doc_active_dims: float | None = None,
    max_doc_active_dims: float | None = None,
    champion_doc_active_dims: float | None = None,
    interval: Interval | None = None,
    guards: Sequence[GuardFigures] = (),
    int8: dict[str, Any] | None = None,
    stale_reference: str | None = None,
    candidate_set_sha256: str | None = None,
    reference_set_sha256: str | None = None,
    metric_reason: str | None = None,
    same_model: str | None = None,
    split: str | None = None,
    split_refused: bool = False,
) -> Decision:
    """Promote when every check passes; the reason lists each check with both versions' figures.

    `candidate` is the candidate's `metric` and the reference's the champion's (else the base
    model's), both means over the same queries; `interval` is the paired bootstrap of their
    per-query gain. `candidate_ndcg` is its NDCG@10 for the `min_ndcg` floor (defaults to
    `candidate` when the metric is the test split's NDCG@10). `stale_reference` says why the
    reference is a recorded figure rather than a fresh score (no interval then). `metric_reason`
    says why `metric` decides; `same_model` is the sha256 the candidate shares with its reference
    (a tie); `split` what the split identity check found, `split_refused` whether it refuses.
    """
    if champion_value is not None:
        reference, figure = f"champion v{champion_version}", champion_value
    elif base_value is not None:
        reference, figure = "base model", base_value
    else:
        raise ValueError(f"decide() needs the champion's or the base model's {metric}")
    if interval is not None and abs(interval.mean_delta - (candidate - figure)) > 1e-6:
        raise ValueError(f"the interval's mean gain {interval.mean_delta:+.6f} is not {metric} "
                         f"{candidate:.6f} - {figure:.6f}: they were measured on different queries")
    checks: list[str] = [f"{metric} decides: {metric_reason}"] if metric_reason else []
    failed: list[str] = []

    delta = candidate - figure
    # The point estimate must be above the reference's, whatever the interval says.
    bound = min(interval.low, delta) if interval is not None else delta
    better = bound > min_delta + _EPS and delta > _EPS and same_model is None
    if same_model is not None:
        checks.append(f"{metric} {candidate:.4f} against {reference} {figure:.4f}: the same model bytes (sha256 "
                      f"{same_model[:12]}), a tie, never a gain")
    elif interval is not None:
        verdict = "clears" if better else "falls short of"
        checks.append(f"{metric} {candidate:.4f} against {reference} {figure:.4f} on the same queries: "
                      f"{interval.describe()}; its lower bound {verdict} min_delta {min_delta:g}")
    else:
        verb = "exceeds" if better else "falls short of"
        checks.append(f"{metric} {candidate:.4f} {verb} {reference} {figure:.4f} + min_delta {min_delta:g} "
                      f"(difference {delta:+.4f}, no interval)")
    if stale_reference:
        checks.append(f"stale reference: {stale_reference}")
    if not better:
        failed.append("min_delta")

    if split:
        checks.append(f"split: {split}")
    if split_refused:
        failed.append("split")

    for guard in guards:
        change = guard.candidate - guard.reference
        head = f"{guard.role} {guard.metric} {guard.candidate:.4f} against {reference} {guard.reference:.4f}"
        if guard.interval is not None:
            ok = guard.interval.high >= -guard.max_drop - _EPS
            checks.append(f"{head}: {guard.interval.describe()}; refused only when the upper bound is below "
                          f"-max_drop {guard.max_drop:g}: {'no evidence' if ok else 'evidence'} of a drop beyond it")
        else:
            ok = change >= -guard.max_drop - _EPS
            checks.append(f"{head} (change {change:+.4f}, no interval) {'within' if ok else 'exceeds'} "
                          f"max_drop {guard.max_drop:g}")
        if not ok:
            failed.append(f"guard:{guard.metric}")

    if min_ndcg is not None:
        ndcg = candidate if candidate_ndcg is None and metric == NDCG_KEY else candidate_ndcg
        if ndcg is None:
            raise ValueError(f"min_ndcg is set but the candidate's {NDCG_KEY} is unknown")
        ok = ndcg >= min_ndcg - _EPS
        checks.append(f"NDCG@10 {ndcg:.4f} {'is at least' if ok else 'is below'} the floor "
                      f"min_ndcg {min_ndcg:g}")
        if not ok:
            failed.append("min_ndcg")

    if max_doc_active_dims is not None:
        if doc_active_dims is None:
            raise ValueError(f"max_doc_active_dims is set but the candidate's {DOC_DIMS_KEY} is unknown")
        ok = doc_active_dims <= max_doc_active_dims
        was = ("" if champion_doc_active_dims is None
               else f"; {reference} had {champion_doc_active_dims:.1f}")
        checks.append(f"doc active dims {doc_active_dims:.1f} {'within' if ok else 'exceed'} the "
                      f"ceiling max_doc_active_dims {max_doc_active_dims:g}{was}")
        if not ok:
            failed.append("max_doc_active_dims")

    if int8 is not None and not int8["included"]:
        checks.append(f"INT8 withheld: {int8['reason']}; the fp32 model is judged without it")

    return Decision(
        promoted=not failed, reason="; ".join(checks), candidate_value=candidate,
        reference_value=figure, reference=reference, metric=metric, checks=checks, failed=failed,
        candidate_doc_active_dims=doc_active_dims, reference_doc_active_dims=champion_doc_active_dims,
        interval=interval.as_dict() if interval is not None else None,
        guards=[asdict(g) for g in guards], int8=int8, stale_reference=stale_reference is not None,
        candidate_set_sha256=candidate_set_sha256, reference_set_sha256=reference_set_sha256,
        metric_reason=metric_reason, split=split,
    )
