"""The ensemble teacher as a retriever: NDCG@10 of every member and of their mean on the dev split.

A distilled student moves towards its teacher, so a teacher that ranks worse than the student's
base can only pull it down (GPL, Wang et al. 2022, distils a cross-encoder that is stronger than
the bi-encoder it teaches). `mine` therefore scores, on the generated dev split (`data/split/dev`,
never judged data), each member alone over the whole chunk corpus, the ensemble (the mean of the
members' normalized scores over the union of the rankers' top `rank_window` end, the candidate
rule of `mining.ensemble`, ranked by that mean) and the base model, and warns when the ensemble
does not beat the base. Dev's queries are those `split` keeps held out (none copied from its
chunk, none made of the base's own expansion terms), so the comparison does not start in the
base's favour.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from spladeforge.config import MineConfig
from spladeforge.evaluation.beir import load_beir
from spladeforge.evaluation.error_analysis import per_query_ndcg
from spladeforge.mining.ensemble import Scorers, candidates, ensemble_scores, rankers

logger = logging.getLogger(__name__)

_BATCH = 256
_TOP = 10


def _top(scores: np.ndarray, ids: list[str], k: int = _TOP) -> dict[str, float]:
    order = np.argsort(-scores, kind="stable")[:k]
    return {ids[j]: float(scores[j]) for j in order}


def teacher_report(cfg: MineConfig, scorers: Scorers, dev: Path) -> dict[str, Any]:
    """Dev NDCG@10 of each member, the ensemble and the base; `teacher_beats_base` and a warning if not."""
    data = load_beir(dev)
    ids = list(data.corpus)
    texts = [f"{title} {text}".strip() for title, text in data.corpus.values()]
    scorer = scorers.corpus(texts)
    members = list(dict.fromkeys([*cfg.ensemble, "base"]))
    runs: dict[str, dict[str, dict[str, float]]] = {m: {} for m in [*members, "ensemble"]}
    everything = np.ones(len(ids), dtype=bool)
    qids = list(data.queries)
    for lo in range(0, len(qids), _BATCH):
        batch = qids[lo: lo + _BATCH]
        scores = scorer([data.queries[q] for q in batch])
        for i, qid in enumerate(batch):
            for m in members:
                runs[m][qid] = _top(scores[m][i], ids)
            cand = candidates(scores, i, everything, cfg.rank_window[1], rankers(cfg))
            mean = ensemble_scores([scores[m][i][cand] for m in cfg.ensemble], cfg.ensemble_norm)
            runs["ensemble"][qid] = _top(mean, [ids[j] for j in cand])
    ndcg = {name: round(float(np.mean(list(per_query_ndcg(run, data.qrels).values()))), 4)
            for name, run in runs.items()}
    beats = ndcg["ensemble"] > ndcg["base"]
    if not beats:
        logger.warning("mine: the teacher (%s) scores %.4f NDCG@10 on dev, not above the base model's %.4f: "
                       "distilling it can only pull the student towards a weaker ranking; try another "
                       "mine.ensemble or a cross-encoder teacher", "+".join(cfg.ensemble), ndcg["ensemble"],
                       ndcg["base"])
    return {"dev_queries": len(qids), "dev_ndcg_at_10": ndcg, "dev_base_ndcg_at_10": ndcg["base"],
            "teacher_beats_base": beats, "dev": str(dev)}
