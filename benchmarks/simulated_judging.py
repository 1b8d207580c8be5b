"""How far a few dozen pooled judgments go: a simulated judge grades the pools of N queries, and the
figures they give are compared with the full judgments.

Usage: python benchmarks/simulated_judging.py BEIR_FOLDER [--sizes 10,20,40] [--draws 3] [--seed 0]
       [--workdir DIR]

BEIR_FOLDER holds a corpus and judged queries, e.g. ../shared/benchmarks/cisi. The corpus stands in
for the chunk corpus (written as a chunks.jsonl, one chunk per document). The systems are the ones
that exist offline, opened as `spladeforge search` and the judge page open them: bm25, dense
(evaluate.dense_model, builtin:minilm-l6) and base (train.base_model, builtin:splade-tiny).

For each N in --sizes and each of --draws seeded random samples of N judged queries, the real
judging code runs: the queries go into a fresh judgments folder (`JudgmentStore`), each is pooled
(`judging.pooling.pool`, the union of the systems' top 10), and a simulated judge grades every
pooled chunk through the machine-judge loop (`judging.machine.run_judge`) as a person would on the
page: from the dataset's qrels, an unjudged chunk being not relevant, the dataset's grades mapped to
0/1/2 (binary 1 -> 2; a 0-3 scale as UMBRELA's: 0,1 -> 0, 2 -> 1, 3 -> 2). Then, on those N queries:

- each system's NDCG@10 with the pooled judgments (the folder's human grades) against the full
  qrels (mapped the same way) on the same queries;
- Kendall's tau between the two rankings of the systems;
- for each pair of systems, the gate's call on the N queries (a 90% paired bootstrap: a winner
  when the interval excludes 0) against the winner on the REST of the queries by the full qrels;
  beside it the same call made with the full qrels on the N queries, which separates what pooling
  loses from what a small N loses;
- the judged fraction of each system's top 10 (1 for a pooled system, by construction), and the
  same with that system left out of the pool (a new model arriving after the judging: its judged
  fraction and its NDCG@10 on the others' judgments, the bias of pooling, Zobel 1998);
- the effort: the pool size per query, the number of passages a person would grade.

It writes benchmarks/results/simulated_judging_<folder>.json and .md. A measurement of the
judging protocol; nothing here chooses a setting.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _load import LoadSampler  # benchmarks/ is on sys.path: the scripts run from it

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SYSTEMS = ("bm25", "dense", "base")
K = 10
JUDGE = "human:simulated-qrels"


class Memo:
    """A searcher whose answers are kept: the pool and the metrics then see the very same rankings."""

    def __init__(self, searcher: Any) -> None:
        self.name, self._searcher, self._seen = searcher.name, searcher, {}

    def search(self, query: str, k: int = K) -> list:
        if (query, k) not in self._seen:
            self._seen[(query, k)] = self._searcher.search(query, k)
        return self._seen[(query, k)]


def grade_map(qrels: dict[str, dict[str, int]]) -> dict[int, int]:
    """The dataset's grades -> 0/1/2: binary 1 -> 2 (relevant), 0-2 as is, 0-3 as UMBRELA's mapping."""
    from spladeforge.config.machine_judges import UMBRELA_GRADES

    top = max(g for rels in qrels.values() for g in rels.values())
    if top <= 2:
        return {0: 0, 1: 2} if top == 1 else {0: 0, 1: 1, 2: 2}
    if top == 3:
        return dict(enumerate(UMBRELA_GRADES))
    raise SystemExit(f"grades up to {top}: no mapping to 0/1/2 is defined here")


class SimulatedJudge:
    """Answers from the qrels, as a person who agrees with the dataset's assessors would."""

    label = JUDGE

    def __init__(self, qrels: dict[str, dict[str, int]], dataset_id: dict[str, str]) -> None:
        self.qrels, self.dataset_id = qrels, dataset_id

    def grade(self, pairs) -> list[int]:
        return [self.qrels.get(self.dataset_id[p.query_id], {}).get(p.chunk_id, 0) for p in pairs]


def ndcg(runs: dict[str, dict[str, dict[str, float]]], qrels: dict[str, dict[str, int]]) -> dict[str, dict]:
    from spladeforge.evaluation.error_analysis import per_query_ndcg

    return {name: per_query_ndcg({q: run[q] for q in qrels}, qrels) for name, run in runs.items()}


def call(a: dict[str, float], b: dict[str, float], seed: int) -> str:
    """The gate's call between a and b: 'a', 'b', or 'none' when the 90% interval holds 0."""
    from spladeforge.registry.evidence import paired_bootstrap

    interval = paired_bootstrap(a, b, confidence=0.9, seed=seed)
    return "a" if interval.low > 0 else "b" if interval.high < 0 else "none"


def one_draw(data, mapped, runs, searchers, chunks, sample: list[str], rest: list[str], folder: Path,
             seed: int) -> dict[str, Any]:
    from scipy.stats import kendalltau

    from spladeforge.judging.machine import pooled_pairs, run_judge
    from spladeforge.judging.storage import JudgmentStore

    shutil.rmtree(folder, ignore_errors=True)
    store = JudgmentStore(folder)
    dataset_id = {}
    for qid in sample:
        dataset_id[store.add_query(data.queries[qid], "file:simulated")] = qid
    if len(dataset_id) != len(sample):
        raise SystemExit(f"{len(sample) - len(dataset_id)} sampled queries share their text with another one: the "
                         "judgments folder keeps such queries as one, so this dataset cannot be simulated as is")
    pairs = pooled_pairs(store, searchers, K, chunks)
    run_judge(store, SimulatedJudge(mapped, dataset_id), pairs, progress=False)
    pooled: dict[str, dict[str, int]] = {q: {} for q in sample}
    for (sq, chunk_id), grade in store.grades(human=True).items():
        pooled[dataset_id[sq]][chunk_id] = grade
    found_by: dict[tuple[str, str], set[str]] = {}
    for entry in store.entries():
        found_by[(dataset_id[entry.query_id], entry.chunk_id)] = set(entry.systems)
    full_n = {q: mapped[q] for q in sample}
    on_pool, on_full = ndcg(runs, pooled), ndcg(runs, full_n)
    on_rest = ndcg(runs, {q: mapped[q] for q in rest})
    mean = lambda scores: statistics.fmean(scores.values())  # noqa: E731
    out: dict[str, Any] = {"queries": len(sample), "pool_sizes": [len(pooled[q]) for q in sample],
                           "queries_without_relevant_in_pool": sum(all(g == 0 for g in pooled[q].values())
                                                                   for q in sample), "systems": {}}
    for name in SYSTEMS:
        top = [(q, c) for q in sample for c in runs[name][q]]
        # Left out of the pool: only the chunks another system also brought in are judged.
        loo = {q: {c: g for c, g in pooled[q].items() if found_by[(q, c)] - {name}} for q in sample}
        others = {(q, c) for q in sample for c in loo[q]}
        out["systems"][name] = {
            "ndcg_pooled": mean(on_pool[name]), "ndcg_full": mean(on_full[name]), "ndcg_rest_full": mean(on_rest[name]),
            "judged_fraction": sum(c in pooled[q] for q, c in top) / len(top),
            "left_out_judged_fraction": sum((q, c) in others for q, c in top) / len(top),
            "left_out_ndcg": mean(ndcg({name: runs[name]}, loo)[name]),
        }
    s = out["systems"]
    tau = float(kendalltau([s[n]["ndcg_pooled"] for n in SYSTEMS], [s[n]["ndcg_full"] for n in SYSTEMS]).statistic)
    out["kendall_tau"] = None if math.isnan(tau) else tau  # undefined when one side ties every system
    out["pairs"] = {}
    for a, b in itertools.combinations(SYSTEMS, 2):
        gap = s[a]["ndcg_rest_full"] - s[b]["ndcg_rest_full"]
        truth = "a" if gap > 0 else "b" if gap < 0 else "tie"
        out["pairs"][f"{a}-{b}"] = {"truth_on_rest": truth, "pooled_call": call(on_pool[a], on_pool[b], seed),
                                    "full_call": call(on_full[a], on_full[b], seed)}
    return out


def outcome(called: str, truth: str) -> str:
    """A call is right when it names the winner on the rest; any call on a tie is wrong."""
    return "no call" if called == "none" else "right" if called == truth else "wrong"


def summarize(draws: list[dict[str, Any]]) -> dict[str, Any]:
    def spread(values: list[float]) -> dict[str, float]:
        return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}

    systems = {}
    for name in SYSTEMS:
        rows = [d["systems"][name] for d in draws]
        systems[name] = {key: spread([r[key] for r in rows]) for key in rows[0]}
        systems[name]["abs_error"] = spread([abs(r["ndcg_pooled"] - r["ndcg_full"]) for r in rows])
        systems[name]["left_out_abs_error"] = spread([abs(r["left_out_ndcg"] - r["ndcg_full"]) for r in rows])
    calls = {"pooled": {"right": 0, "wrong": 0, "no call": 0}, "full": {"right": 0, "wrong": 0, "no call": 0}}
    for d in draws:
        for p in d["pairs"].values():
            calls["pooled"][outcome(p["pooled_call"], p["truth_on_rest"])] += 1
            calls["full"][outcome(p["full_call"], p["truth_on_rest"])] += 1
    sizes = [n for d in draws for n in d["pool_sizes"]]
    return {"systems": systems, "kendall_tau": [d["kendall_tau"] for d in draws], "pair_calls": calls,
            "pool_size_per_query": {"mean": statistics.fmean(sizes), "min": min(sizes), "max": max(sizes)},
            "passages_to_grade": spread([float(sum(d["pool_sizes"])) for d in draws]),
            "queries_without_relevant_in_pool": [d["queries_without_relevant_in_pool"] for d in draws]}


def render(result: dict[str, Any]) -> str:
    lines = [f"# Simulated judging on {result['dataset']}", "",
             f"{result['corpus_documents']} documents, {result['judged_queries']} judged queries; systems "
             f"{', '.join(f'{n} ({m})' for n, m in result['system_models'].items())}; pool = union of top {K}; "
             f"{result['draws']} seeded draws per N; 90% paired bootstrap. Wall time {result['seconds']:.0f} s, "
             f"load {result['load_mean']} (the wall time is mostly encoding the corpus).", "",
             "NDCG@10 of each system on all judged queries with the full judgments: "
             + ", ".join(f"{n} {v:.3f}" for n, v in result["ndcg_all_queries_full"].items()) + ".", "",
             "| N | passages to grade (mean) | pool per query | system | NDCG@10 pooled | NDCG@10 full | "
             "abs. error | left out: judged top 10 | left out: NDCG@10 (abs. error) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, s in result["sizes"].items():
        for i, name in enumerate(SYSTEMS):
            m = s["systems"][name]
            head = (f"| {n} | {s['passages_to_grade']['mean']:.0f} | {s['pool_size_per_query']['mean']:.1f} "
                    f"({s['pool_size_per_query']['min']}-{s['pool_size_per_query']['max']})") if i == 0 else "| | | "
            lines.append(f"{head} | {name} | {m['ndcg_pooled']['mean']:.3f} ± {m['ndcg_pooled']['sd']:.3f} | "
                         f"{m['ndcg_full']['mean']:.3f} ± {m['ndcg_full']['sd']:.3f} | {m['abs_error']['mean']:.3f} | "
                         f"{m['left_out_judged_fraction']['mean']:.2f} | {m['left_out_ndcg']['mean']:.3f} "
                         f"({m['left_out_abs_error']['mean']:.3f}) |")
    lines += ["", "| N | Kendall's tau per draw (pooled vs full, same queries) | pair calls with pooled judgments "
              "(right / wrong / no call) | with full judgments on the same N |", "| --- | --- | --- | --- |"]
    for n, s in result["sizes"].items():
        p, f = s["pair_calls"]["pooled"], s["pair_calls"]["full"]
        taus = ", ".join("n/a" if t is None else f"{t:+.2f}" for t in s["kendall_tau"])
        lines.append(f"| {n} | {taus} | {p['right']} / {p['wrong']} / "
                     f"{p['no call']} | {f['right']} / {f['wrong']} / {f['no call']} |")
    lines += ["", "Truth for a pair: the winner by mean NDCG@10 with the full judgments on the queries not drawn. "
              "The judged fraction of a pooled system's own top 10 is 1 by construction (checked: "
              + ", ".join(f"{n} {min(s['systems'][m]['judged_fraction']['mean'] for m in SYSTEMS):.2f}"
                          for n, s in result["sizes"].items()) + ")."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sizes", default="10,20,40")
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="Keeps the indexes (default: a temp dir).")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    from spladeforge.config import load_params
    from spladeforge.evaluation.beir import load_beir
    from spladeforge.io import write_jsonl
    from spladeforge.retrieval.chunks import load_chunks
    from spladeforge.retrieval.searchers import open_searcher

    start = time.perf_counter()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="simulated-judging-"))
    data = load_beir(args.folder)
    mapping = grade_map(data.qrels)
    mapped = {q: {d: mapping[g] for d, g in rels.items()} for q, rels in data.qrels.items()}
    records = [{"id": d, "doc_id": d, "title": t, "section": "", "text": x} for d, (t, x) in data.corpus.items()]
    write_jsonl(work / "chunks.jsonl", records)
    chunks = load_chunks(work / "chunks.jsonl")
    params = load_params(REPO / "params.yaml")
    with LoadSampler() as load:
        searchers = {n: Memo(open_searcher(n, work / "chunks.jsonl", model_dir=work / "no-trained-model",
                                           cache_dir=work / "index", params=params, chunks=chunks)) for n in SYSTEMS}
        runs = {n: {q: {h.chunk_id: h.score for h in s.search(text, K)} for q, text in data.queries.items()}
                for n, s in searchers.items()}
        by_id = {r["id"]: r for r in records}
        ids, sizes = sorted(data.queries), [int(n) for n in args.sizes.split(",")]
        result_sizes = {}
        for n in sizes:
            draws = []
            for d in range(args.draws):
                sample = sorted(random.Random(f"{args.seed}-{n}-{d}").sample(ids, n))
                rest = [q for q in ids if q not in set(sample)]
                draws.append(one_draw(data, mapped, runs, searchers, by_id, sample, rest,
                                      work / "judgments" / f"{n}-{d}", args.seed))
            result_sizes[str(n)] = summarize(draws) | {"draws": draws}
    result = {
        "dataset": args.folder.name, "corpus_documents": len(data.corpus), "judged_queries": len(data.queries),
        "grade_map": {str(k): v for k, v in mapping.items()}, "sizes": result_sizes, "draws": args.draws,
        "ndcg_all_queries_full": {n: statistics.fmean(v.values()) for n, v in ndcg(runs, mapped).items()},
        "seed": args.seed, "system_models": {"bm25": "bm25s", "dense": params.evaluate.dense_model,
                                             "base": params.train.base_model},
        "seconds": time.perf_counter() - start, "load_mean": load.mean, "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "judged_looks": 1,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / f"simulated_judging_{args.folder.name}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(render(result), encoding="utf-8")
    print(render(result))


if __name__ == "__main__":
    main()
