"""Benchmark the evaluate stage's BM25 and zero-shot base-model figures on a BEIR folder.

    python benchmarks/eval_msmarco.py ../shared/benchmarks/msmarco-dl19-subset

Runs the same code path as `spladeforge evaluate` (local MTEB task, MTEB's bm25s baseline,
the SparseEncoder through MTEB) and writes JSON and Markdown figures, with wall times, to
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
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for the JSON/Markdown figures")
    args = parser.parse_args(argv)

    import torch

    from spladeforge.evaluation.beir import load_beir
    from spladeforge.evaluation.mteb_task import LocalRetrievalTask
    from spladeforge.evaluation.systems import bm25_system, evaluate_model
    from spladeforge.io import write_json
    from spladeforge.models.build import load_sparse_encoder

    start = time.perf_counter()
    data = load_beir(args.beir_folder)
    task = LocalRetrievalTask(data)
    systems = {}
    systems["bm25"] = evaluate_model(bm25_system(), task, name="bm25", batch_size=args.batch_size)
    model = load_sparse_encoder(args.base_model, max_seq_length=args.max_seq_length)
    systems["base"] = evaluate_model(model, task, name="base", batch_size=args.batch_size)

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
        "| system | nDCG@10 | reference | MRR@10 | Recall@100 | query dims | doc dims | docs/s | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for system, s in figures["systems"].items():
        ref = figures["reference_ndcg_at_10"].get(system)
        cells = [f"{s['ndcg_at_10']:.4f}", f"{ref:.3f}" if ref is not None else "–", f"{s['mrr_at_10']:.4f}",
                 f"{s['recall_at_100']:.4f}"]
        cells += [f"{s[k]:.1f}" if k in s else "–"
                  for k in ("query_active_dims", "doc_active_dims", "docs_per_second")]
        cells.append(f"{s['seconds']:.1f}")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
