"""Does the teacher score the positive the student sees? Its z-score over the candidate list, full chunk
against the training passage, and how many tuples' margins change sign. Needs no judged queries.

Usage: python benchmarks/teacher_positive.py PROJECT [--name cisi]

PROJECT is a project folder run through `mine` (e.g. the --workdir of benchmarks/adaptation.py on
a corpus's documents): it reads `params.yaml`, `data/split/train.jsonl`, `data/chunks.jsonl` and
`data/train_tuples.jsonl`. For every training query that has its own `positive` (an inverse-cloze
passage without its sentence, a title query's body), each teacher member and the ensemble score
the candidate list `mine` builds (`mining.ensemble`) twice: with the full chunk as the positive
(what the corpus holds, the teacher's positive before) and with the query's `positive` (what the
student trains on, the teacher's positive now). Recorded per query type: the positive's mean
z-score over [positive, candidates] per member, and the share of mined tuples whose ensemble
margin (positive minus negative) has the opposite sign under the two positives.
Writes benchmarks/results/teacher_positive_<name>.json and .md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from spladeforge.config import load_params
from spladeforge.io import iter_jsonl
from spladeforge.mining.ensemble import Scorers, candidates, ensemble_scores, normalize, rankers
from spladeforge.text import passage

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
MEMBERS = ("bm25", "dense", "base")
_BATCH = 256


def measure(root: Path) -> dict[str, Any]:
    cfg = load_params(root / "params.yaml").mine
    rows = [r for r in iter_jsonl(root / "data/split/train.jsonl") if r.get("positive")]
    train_docs = {r["doc_id"] for r in iter_jsonl(root / "data/split/train.jsonl")}
    corpus = [c for c in iter_jsonl(root / "data/chunks.jsonl") if c["doc_id"] in train_docs]
    texts = [passage(c) for c in corpus]
    by_id = {c["id"]: i for i, c in enumerate(corpus)}
    negative = {t["query_id"]: t["negative_ids"][0] for t in iter_jsonl(root / "data/train_tuples.jsonl")}
    scorer = Scorers(cfg, set(MEMBERS)).corpus(texts)
    docs = np.array([c["doc_id"] for c in corpus])
    z: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    flips: dict[str, list[bool]] = defaultdict(list)
    for lo in range(0, len(rows), _BATCH):
        batch = rows[lo: lo + _BATCH]
        queries = [r["query"] for r in batch]
        scores = scorer(queries)
        own = {"full": scorer.passages(queries, [texts[by_id[r["chunk_id"]]] for r in batch]),
               "seen": scorer.passages(queries, [r["positive"] for r in batch])}
        for i, row in enumerate(batch):
            cand = candidates(scores, i, docs != row["doc_id"], cfg.rank_window[1], rankers(cfg))
            margins = {}
            for which, pos in own.items():
                lists = {m: np.concatenate([[pos[m][i]], scores[m][i][cand]]) for m in MEMBERS}
                for m in MEMBERS:
                    z[row["type"]][which][m].append(float(normalize(lists[m], "zscore")[0]))
                teacher = ensemble_scores([lists[m] for m in cfg.ensemble], cfg.ensemble_norm)
                z[row["type"]][which]["ensemble"].append(float(teacher[0]))
                neg = negative.get(row["query_id"])
                if neg is not None and by_id.get(neg) in cand:
                    margins[which] = float(teacher[0] - teacher[1 + cand.index(by_id[neg])])
            if len(margins) == 2:
                flips[row["type"]].append((margins["full"] > 0) != (margins["seen"] > 0))
    tuples = sum(1 for _ in iter_jsonl(root / "data/train_tuples.jsonl"))
    return {
        "ensemble": list(cfg.ensemble), "ensemble_norm": cfg.ensemble_norm, "rank_window": list(cfg.rank_window),
        "training_tuples": tuples,
        "by_type": {qtype: {
            "queries": len(z[qtype]["full"]["bm25"]),
            "positive_zscore_full_chunk": {m: round(float(np.mean(v)), 2) for m, v in z[qtype]["full"].items()},
            "positive_zscore_student_passage": {m: round(float(np.mean(v)), 2) for m, v in z[qtype]["seen"].items()},
            "tuples_compared": len(flips[qtype]),
            "margin_sign_changes": sum(flips[qtype]),
            "margin_sign_change_share": round(sum(flips[qtype]) / max(1, len(flips[qtype])), 3),
        } for qtype in sorted(z)},
        "all_tuples_margin_sign_change_share": round(
            sum(sum(f) for f in flips.values()) / max(1, tuples), 4),
    }


def markdown(name: str, result: dict[str, Any]) -> str:
    lines = [f"# The teacher's positive on {name}: full chunk vs the passage the student sees", "",
             f"Ensemble {' + '.join(result['ensemble'])} ({result['ensemble_norm']}), candidates of rank window "
             f"{result['rank_window']}; {result['training_tuples']} training tuples. No judged query is read.", "",
             "| query type | queries | member | z full chunk | z student's passage |", "|---|---|---|---|---|"]
    for qtype, row in result["by_type"].items():
        for m, full in row["positive_zscore_full_chunk"].items():
            lines.append(f"| {qtype} | {row['queries']} | {m} | {full} | {row['positive_zscore_student_passage'][m]} |")
    lines += ["", "| query type | tuples compared | margin changes sign | share |", "|---|---|---|---|"]
    for qtype, row in result["by_type"].items():
        lines.append(f"| {qtype} | {row['tuples_compared']} | {row['margin_sign_changes']} | "
                     f"{row['margin_sign_change_share']} |")
    lines += ["", f"Share of all training tuples whose margin changes sign: "
                  f"{result['all_tuples_margin_sign_change_share']}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path, help="a project folder run through mine")
    parser.add_argument("--name", default="corpus", help="names the record: teacher_positive_<name>")
    args = parser.parse_args()
    result = {"project": args.project.name, **measure(args.project.resolve())}
    stem = RESULTS / f"teacher_positive_{args.name}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(args.name, result))
    print(markdown(args.name, result))


if __name__ == "__main__":
    main()
