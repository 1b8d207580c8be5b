"""How far the judgments reach and how far machine judges can stand in for people.

- Judged fraction (`judged_at_10`): the share of each query's top 10 that holds a judgment of any
  grade (0 included), averaged over queries. An unjudged chunk in the top 10 counts as not
  relevant in NDCG, so a system whose top 10 is mostly unjudged is measured against a pool it did
  not contribute to (Buckley & Voorhees, 2004, on incomplete judgments); `spladeforge judge`
  offers such chunks for grading. On a generated test split every query has one to three graded
  chunks, so the fraction there is partial by construction, not a defect of the system.
- Agreement of a machine judge with the human grades on the pairs both graded: Cohen's kappa,
  unweighted and quadratic-weighted (graded relevance: a 0 against a 2 is a worse disagreement
  than a 1 against a 2), and one-vs-rest per grade; and Kendall's tau between the system rankings
  by NDCG@10 under human and under machine qrels on the queries both graded (Voorhees, 2000: what
  matters for evaluation is whether judges rank systems alike). Where they agree, UMBRELA-style
  LLM judgments can pool more chunks (Upadhyay et al., 2024).

The rankings are the top 100 per query that evaluate saves under `predictions/`.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

from spladeforge.config.release import JUDGED_LABEL, metric_label
from spladeforge.evaluation.judged import GRADES, Judgments, Qrels
from spladeforge.evaluation.tasks import EvalTask

K = 10


def read_run(predictions: Path, system: str, task_name: str) -> dict[str, dict[str, float]]:
    """query id -> {doc id: score} that `system` saved for MTEB task `task_name` ({} when none was saved)."""
    path = predictions / system / f"{task_name}_predictions.json"
    if not path.is_file():
        return {}
    subsets = json.loads(path.read_text())  # {"default": {"test": {qid: {doc: score}}}}
    splits = subsets.get("default") or next(iter(subsets.values()), {})
    return splits.get("test") or next(iter(splits.values()), {})


def top_k(scores: dict[str, float], k: int = K) -> list[str]:
    """The `k` best documents, ties broken by document id descending as trec_eval does."""
    return sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)[:k]


def judged_fraction(run: dict[str, dict[str, float]], qrels: Qrels, k: int = K) -> float | None:
    """Mean over the judged queries of the share of the top `k` that holds a judgment; None without a run."""
    if not run:
        return None
    shares = []
    for qid, rels in qrels.items():
        ranked = top_k(run.get(qid, {}), k)
        shares.append(sum(doc in rels for doc in ranked) / k if ranked else 0.0)
    return sum(shares) / len(shares) if shares else None


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _kappa(human: list[int], machine: list[int], **kwargs: Any) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # one grade only: kappa is undefined (nan)
        return _finite(cohen_kappa_score(human, machine, **kwargs))


def ndcg_at_10(run: dict[str, dict[str, float]], qrels: Qrels) -> float:
    """Mean NDCG@10 over `qrels`' queries (pytrec_eval's ndcg_cut_10, as MTEB scores; 0 for an all-zero query)."""
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    scores = evaluator.evaluate({qid: run.get(qid, {}) for qid in qrels})
    return sum(scores.get(qid, {}).get("ndcg_cut_10", 0.0) for qid in qrels) / len(qrels)


def agreement(human: Qrels, machine: Qrels, runs: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Kappa on the pairs both graded and Kendall's tau of the systems ranked by NDCG@10 under each."""
    from scipy.stats import kendalltau

    pairs = [(grade, machine[qid][doc]) for qid, rels in human.items() for doc, grade in rels.items()
             if doc in machine.get(qid, {})]
    result: dict[str, Any] = {"pairs": len(pairs)}
    if not pairs:
        return result
    h, m = [p[0] for p in pairs], [p[1] for p in pairs]
    result["kappa"] = _kappa(h, m, labels=list(GRADES))
    result["kappa_quadratic"] = _kappa(h, m, labels=list(GRADES), weights="quadratic")
    result["kappa_per_grade"] = {g: _kappa([x == g for x in h], [y == g for y in m]) for g in GRADES}
    queries = sorted(q for q in human if q in machine and any(d in machine[q] for d in human[q]))
    result["queries"] = len(queries)
    systems = sorted(s for s, run in runs.items() if run)
    if len(systems) >= 2 and queries:
        by_human = {s: ndcg_at_10(runs[s], {q: human[q] for q in queries}) for s in systems}
        by_machine = {s: ndcg_at_10(runs[s], {q: machine[q] for q in queries}) for s in systems}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all systems tied under one judge: nan
            result["tau"] = _finite(kendalltau([by_human[s] for s in systems], [by_machine[s] for s in systems])[0])
        result["ndcg_at_10"] = {"human": by_human, "machine": by_machine}
    return result


def agreement_metrics(judge: str, found: dict[str, Any], label: str) -> dict[str, float | int]:
    """The flat metrics.json keys `<label>_agreement_<judge>_*` of one judge's agreement (finite values only)."""
    prefix = f"{label}_agreement_{judge}_"
    flat: dict[str, float | int] = {f"{prefix}pairs": found["pairs"]}
    for key in ("kappa", "kappa_quadratic", "tau", "queries"):
        if found.get(key) is not None:
            flat[prefix + key] = round(found[key], 4) if isinstance(found[key], float) else found[key]
    for grade, value in (found.get("kappa_per_grade") or {}).items():
        if value is not None:
            flat[f"{prefix}kappa_grade_{grade}"] = round(value, 4)
    return flat


def agreement_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """report.md's table of each machine judge's agreement with the human grades."""
    def cell(value: Any) -> str:
        return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["## Machine judges against human grades", "",
             "Cohen's kappa on the (query, chunk) pairs both graded (unweighted, quadratic-weighted, and per grade "
             "one-vs-rest); Kendall's tau between the systems ranked by NDCG@10 under human and under machine "
             "grades, on the queries both graded.", "",
             "| judge | pairs | kappa | kappa (quadratic) | kappa 0 / 1 / 2 | queries | tau |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for judge, found in results.items():
        per_grade = " / ".join(cell((found.get("kappa_per_grade") or {}).get(g)) for g in GRADES)
        lines.append(f"| {judge} | {found['pairs']} | {cell(found.get('kappa'))} | "
                     f"{cell(found.get('kappa_quadratic'))} | {per_grade} | {cell(found.get('queries'))} | "
                     f"{cell(found.get('tau'))} |")
    return lines + [""]


def add_judged_fractions(per_task: dict[str, dict[str, dict[str, float]]], tasks: list[EvalTask],
                         predictions: Path) -> None:
    """Set `judged_at_10` of every system on every local task, from the rankings it saved."""
    for task in tasks:
        if task.data is None:
            continue
        for system, values in per_task[task.label].items():
            fraction = judged_fraction(read_run(predictions, system, task.task.metadata.name), task.data.qrels)
            if fraction is not None:
                values["judged_at_10"] = fraction


def machine_agreement(judgments: Judgments, task: EvalTask, systems: list[str], predictions: Path
                      ) -> dict[str, dict[str, Any]]:
    """judge -> `agreement` with the human grades, on the judged task's scored queries."""
    runs = {system: read_run(predictions, system, task.task.metadata.name) for system in systems}
    scored = task.data.queries if task.data is not None else {}
    human = {qid: rels for qid, rels in judgments.human.items() if qid in scored}
    return {judge: agreement(human, grades, runs) for judge, grades in judgments.machine.items()}


def judged_outcome(judged: Judgments | None, tasks: list[EvalTask], systems: list[str], predictions: Path
                   ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The judgments' metrics.json keys (counts, `judged_enough`, each judge's agreement) and the agreement."""
    if judged is None:
        return {}, {}
    task = next((t for t in tasks if t.label == JUDGED_LABEL), None)
    found = machine_agreement(judged, task, systems, predictions) if task is not None else {}
    metrics: dict[str, Any] = dict(judged.metrics())
    for judge, result in found.items():
        metrics.update(agreement_metrics(metric_label(judge), result, JUDGED_LABEL))
    return metrics, found
