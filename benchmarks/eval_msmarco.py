"""Benchmark the evaluate stage's baselines (BM25, zero-shot base model, dense, hybrid) on a BEIR folder.

    python benchmarks/eval_msmarco.py ../shared/benchmarks/msmarco-dl19-subset

Runs the same code path as `spladeforge evaluate` (local MTEB task, MTEB's bm25s baseline, the
SparseEncoder and the dense model retrieving over spladeforge's indexes, scored by MTEB, and
their min-max hybrid) and writes JSON and Markdown figures, with wall times, to
benchmarks/results/. The folder is read in place: never copy benchmark data into the repository.
Reference figures for msmarco-dl19-subset (its README): BM25 0.727, BERT-tiny SPLADE 0.810
nDCG@10 over the 43 judged queries.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REFERENCE = {"msmarco-dl19-subset": {"bm25": 0.727, "base": 0.810}}
TOLERANCE = 0.01
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("beir_folder", type=Path,
                        help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv")
    parser.add_argument("--base-model", default="builtin:splade-tiny")
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dense-model", default="builtin:minilm-l6", help="'none' skips dense and hybrid")
    parser.add_argument("--hybrid-weight", type=float, default=0.5)
    parser.add_argument("--latency-queries", type=int, default=43)
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for the JSON/Markdown figures")
    args = parser.parse_args(argv)

    import torch

    from spladeforge.evaluation.beir import load_beir
    from spladeforge.evaluation.mteb_task import LocalRetrievalTask
    from spladeforge.evaluation.search import HybridSearch, IndexedSearch
    from spladeforge.evaluation.systems import bm25_system, evaluate_model
    from spladeforge.io import write_json
    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.models.builtin import resolve_model

    start = time.perf_counter()
    data = load_beir(args.beir_folder)
    task = LocalRetrievalTask(data)
    systems = {}
    systems["bm25"] = evaluate_model(bm25_system(), task, name="bm25", batch_size=args.batch_size)
    model = load_sparse_encoder(args.base_model, max_seq_length=args.max_seq_length)
    base = IndexedSearch(model, "base", "sparse", args.batch_size)
    searches = {"base": base}
    if args.dense_model != "none":
        from sentence_transformers import SentenceTransformer

        dense_model = SentenceTransformer(resolve_model(args.dense_model, key="--dense-model"))
        dense_model.max_seq_length = min(dense_model.max_seq_length, args.max_seq_length)
        searches["dense"] = IndexedSearch(dense_model, "dense", "dense", args.batch_size)
        searches["hybrid"] = HybridSearch(base, searches["dense"], args.hybrid_weight)
    queries = list(data.queries.values())[:args.latency_queries]
    for name, search in searches.items():
        systems[name] = evaluate_model(search, task, name=name, batch_size=args.batch_size,
                                       show_progress_bar=False)
        if isinstance(search, IndexedSearch) and queries:
            systems[name].update(search.measure_latency(queries)[0])

    name = args.beir_folder.resolve().name
    reference = REFERENCE.get(name, {})
    figures = {
        "dataset": name,
        "num_queries": len(data.queries),
        "num_queries_without_judgments": len(data.unjudged_query_ids),
        "num_documents": len(data.corpus),
        "base_model": args.base_model,
        "max_seq_length": args.max_seq_length,
        "batch_size": args.batch_size,
        "dense_model": args.dense_model,
        "hybrid_weight": args.hybrid_weight,
        "systems": {k: {m: round(v, 4) for m, v in s.items()} for k, s in systems.items()},
        "reference_ndcg_at_10": reference,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "processor": platform.processor() or platform.machine(),
                    "python": sys.version.split()[0]},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    markdown = render(figures)
    write_json(args.output / f"eval_{name}.json", figures)
    (args.output / f"eval_{name}.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    off = [k for k, ref in reference.items() if abs(systems[k]["ndcg_at_10"] - ref) > TOLERANCE]
    return 1 if off else 0


def render(figures: dict) -> str:
    lines = [
        f"# evaluate on {figures['dataset']}",
        "",
        f"{figures['num_queries']} judged queries "
        f"({figures['num_queries_without_judgments']} without judgments left out), "
        f"{figures['num_documents']} documents; base model {figures['base_model']} at "
        f"max_seq_length {figures['max_seq_length']}, batch {figures['batch_size']}; "
        f"{figures['machine']['cpus']} CPUs. Wall time {figures['wall_seconds']} s. {figures['date']}",
        "",
        f"Dense model {figures['dense_model']}; hybrid weight {figures['hybrid_weight']} on the sparse side.",
        "",
        "| system | nDCG@10 | reference | MRR@10 | Recall@100 | Recall@1000 | query dims | doc dims | FLOPS "
        "| index MB | docs/s | p50 ms | p99 ms | seconds |",
        "| --- |" + " ---: |" * 13,
    ]
    for system, s in figures["systems"].items():
        ref = figures["reference_ndcg_at_10"].get(system)
        cells = [f"{s['ndcg_at_10']:.4f}", f"{ref:.3f}" if ref is not None else "–", f"{s['mrr_at_10']:.4f}",
                 f"{s['recall_at_100']:.4f}", f"{s['recall_at_1000']:.4f}"]
        cells += [f"{s[k]:.1f}" if k in s else "–" for k in ("query_active_dims", "doc_active_dims", "flops")]
        cells.append(f"{s['index_bytes'] / 1e6:.2f}" if "index_bytes" in s else "–")
        cells += [f"{s[k]:.1f}" if k in s else "–"
                  for k in ("docs_per_second", "latency_p50_ms", "latency_p99_ms")]
        cells.append(f"{s['seconds']:.1f}")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
