"""The promotion gate: a challenger becomes champion only when it is at least as good.

Kept free of MLflow so the rule can be read, and tested, on its own. Three checks, all of which
must pass (`register.*` in params):

- `metric` (default `model_ndcg_at_10`, higher is better) >= the champion's + `min_delta`, or,
  with no champion yet, >= the base model's figure (the `base_` key) + `min_delta`;
- `min_ndcg`: an absolute floor on the candidate's NDCG@10;
- `max_doc_active_dims`: a ceiling on the candidate's non-zero weights per document, which sets
  index size and query latency.

Whatever the figures, a promotion never lowers the champion's metric: a candidate below the
champion is refused even when `min_delta` is 0 and the tolerance below would let it through.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
# Version tag holding each version's NDCG@10, so the gate never has to find (or trust) a run.
NDCG_TAG = "ndcg_at_10"
DEFAULT_METRIC = "model_ndcg_at_10"
NDCG_KEY = "model_ndcg_at_10"
DOC_DIMS_KEY = "model_doc_active_dims"
# `0.5 >= 0.4 + 0.1` is False in floating point; min_delta is met within this tolerance.
_EPS = 1e-9


def metric_tag(metric: str) -> str:
    """Version tag holding a version's figure for `metric` (`metric.model_ndcg_at_10`)."""
    return f"metric.{metric}"


def base_key(metric: str) -> str:
    """`model_ndcg_at_10` -> `base_ndcg_at_10`: the base model's figure in metrics.json."""
    return "base_" + metric.removeprefix("model_")


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
        }
        for name in ("candidate_doc_active_dims", "reference_doc_active_dims"):
            value = getattr(self, name)
            if value is not None:
                tags[f"gate.{name}"] = repr(value)
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
) -> Decision:
    """Promote when every check passes; the reason lists each check with both versions' figures.

    `candidate` is the candidate's `metric`; `candidate_ndcg` its NDCG@10 for the `min_ndcg`
    floor (defaults to `candidate` when the metric is NDCG@10).
    """
    if champion_value is not None:
        reference, figure = f"champion v{champion_version}", champion_value
    elif base_value is not None:
        reference, figure = "base model", base_value
    else:
        raise ValueError(f"decide() needs the champion's or the base model's {metric}")
    checks: list[str] = []
    failed: list[str] = []

    delta = candidate - figure
    better = delta >= min_delta - _EPS and (champion_value is None or candidate >= champion_value)
    verb = "reaches" if better else "falls short of"
    checks.append(f"{metric} {candidate:.4f} {verb} {reference} {figure:.4f} + min_delta "
                  f"{min_delta:g} (difference {delta:+.4f})")
    if not better:
        failed.append("min_delta")

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

    return Decision(
        promoted=not failed, reason="; ".join(checks), candidate_value=candidate,
        reference_value=figure, reference=reference, metric=metric, checks=checks, failed=failed,
        candidate_doc_active_dims=doc_active_dims, reference_doc_active_dims=champion_doc_active_dims,
    )
