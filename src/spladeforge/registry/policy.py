"""The promotion gate: a challenger becomes champion only when it is at least as good.

Kept free of MLflow so the rule can be read, and tested, on its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

CHAMPION = "champion"
CHALLENGER = "challenger"
# Version tag holding each version's NDCG@10, so the gate never has to find (or trust) a run.
NDCG_TAG = "ndcg_at_10"
# Figures are read back from string tags; without a tolerance, 0.5 >= 0.4 + 0.1 would be False.
_EPS = 1e-9


@dataclass(frozen=True)
class Decision:
    promoted: bool
    reason: str
    candidate_ndcg_at_10: float
    reference_ndcg_at_10: float
    reference: str  # "champion vN" or "base model"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tags(self) -> dict[str, str]:
        """The decision as MLflow tags (strings), for the model version and the run."""
        return {
            "gate.promoted": str(self.promoted).lower(),
            "gate.reason": self.reason,
            "gate.candidate_ndcg_at_10": repr(self.candidate_ndcg_at_10),
            "gate.reference_ndcg_at_10": repr(self.reference_ndcg_at_10),
            "gate.reference": self.reference,
        }


def decide(
    candidate: float,
    *,
    min_delta: float,
    champion_ndcg: float | None = None,
    champion_version: str | None = None,
    base_ndcg: float | None = None,
) -> Decision:
    """Promote when `candidate >= reference + min_delta`.

    The reference is the current champion's NDCG@10 or, with no champion yet, the base model's:
    a first version must still beat what it was trained from.
    """
    if champion_ndcg is not None:
        reference, figure = f"champion v{champion_version}", champion_ndcg
    elif base_ndcg is not None:
        reference, figure = "base model", base_ndcg
    else:
        raise ValueError("decide() needs the champion's or the base model's NDCG@10")
    delta = candidate - figure
    promoted = delta >= min_delta - _EPS
    verb = "reaches" if promoted else "falls short of"
    reason = (
        f"NDCG@10 {candidate:.4f} {verb} {reference} {figure:.4f} + min_delta {min_delta:g} "
        f"(difference {delta:+.4f})"
    )
    return Decision(promoted, reason, candidate, figure, reference)
