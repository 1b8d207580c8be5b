"""How far a machine judge agrees with the people who graded the same pairs.

Two views, as the LLM-judging literature reports them (Thomas et al., 2024; Upadhyay et al., 2024):
- per grade: Cohen's kappa over the (query, chunk) pairs both graded: on the three grades (and its
  linearly weighted form, which counts 0-vs-2 as a worse miss than 0-vs-1), and one-vs-rest per
  grade (does the judge find the same "relevant" chunks?), with the confusion matrix;
- per system ranking: Kendall's tau between the systems ordered by a metric computed with the human
  grades and with the machine's, which is what a gate deciding on machine grades would need.

Kappa comes from scikit-learn (`cohen_kappa_score`), tau from scipy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GRADES = (0, 1, 2)
Key = tuple[str, str]  # (query id, chunk id)


def _kappa(a: list[int], b: list[int], **kwargs: Any) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(set(a) | set(b)) < 2:
        return None  # one label on both sides: chance agreement is total and kappa undefined
    value = float(cohen_kappa_score(a, b, **kwargs))
    return None if math.isnan(value) else value


def grade_agreement(human: Mapping[Key, int], machine: Mapping[Key, int]) -> dict[str, Any]:
    """Kappa (overall, weighted, per grade) and the confusion matrix over the pairs both judges graded."""
    shared = sorted(set(human) & set(machine))
    h = [human[key] for key in shared]
    m = [machine[key] for key in shared]
    confusion = [[sum(1 for x, y in zip(h, m, strict=True) if x == i and y == j) for j in GRADES] for i in GRADES]
    return {
        "pairs": len(shared),
        "queries": len({q for q, _ in shared}),
        "exact": sum(x == y for x, y in zip(h, m, strict=True)) / len(shared) if shared else None,
        "kappa": _kappa(h, m, labels=list(GRADES)) if shared else None,
        "kappa_linear": _kappa(h, m, labels=list(GRADES), weights="linear") if shared else None,
        "kappa_per_grade": {str(g): _kappa([x == g for x in h], [y == g for y in m]) if shared else None
                            for g in GRADES},
        "confusion": {"rows": "human grade 0-2", "columns": "machine grade 0-2", "counts": confusion},
    }


def ranking_agreement(human_scores: Mapping[str, float], machine_scores: Mapping[str, float]) -> float | None:
    """Kendall's tau (tau-b, ties allowed) between the systems ranked by the two sets of scores."""
    from scipy.stats import kendalltau

    systems = sorted(set(human_scores) & set(machine_scores))
    if len(systems) < 2:
        return None
    tau = float(kendalltau([human_scores[s] for s in systems], [machine_scores[s] for s in systems]).statistic)
    return None if math.isnan(tau) else tau


def folder_agreement(folder: str | Path) -> dict[str, dict[str, Any]]:
    """`grade_agreement` of every machine judge of a judgments folder with its human grades, by judge label."""
    from spladeforge.judging.storage import JudgmentStore

    store = JudgmentStore(folder)
    human = store.grades(human=True)
    judges = dict.fromkeys(e.judge for e in store.entries() if not e.human)
    return {judge: grade_agreement(human, store.grades(judge)) for judge in judges}
