"""Data-preparation throughput: chunk -> extractive queries (with filters) -> BM25 mining.

Measures chunks/s of each step and the peak resident memory at 1k, 10k and 100k chunks. The
corpus is the embedded stdlib docs, repeated with a per-copy marker word until it yields the
wanted number of chunks (copies share text, so the global query dedupe drops many of their
queries: the `queries` column says how many went on to mining). Each size runs in its own
process so that the peak RSS (`ru_maxrss`) belongs to that size alone.

    .venv/bin/python benchmarks/data_prep_throughput.py [--sizes 1000 10000 100000]

Writes benchmarks/results/data_prep_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def measure(target_chunks: int) -> dict:
    from spladeforge.chunking import chunk_document
    from spladeforge.config import ChunkConfig, DataConfig, GenerateQueriesConfig, MineConfig
    from spladeforge.io import read_jsonl, write_jsonl
    from spladeforge.stages import chunk, generate_queries, ingest, mine

    tmp = Path(tempfile.mkdtemp(prefix="sf-bench-"))
    ingest.run(DataConfig(), tmp / "base.jsonl")
    base = read_jsonl(tmp / "base.jsonl")
    per_doc = sum(len(chunk_document(d, ChunkConfig())) for d in base) / len(base)
    docs, copy = [], 0
    while len(docs) * per_doc < target_chunks:
        for d in base:
            docs.append({**d, "id": f"{d['id']}~{copy}", "text": f"copy{copy} " + d["text"]})
        copy += 1
    write_jsonl(tmp / "documents.jsonl", docs)

    out = {"target_chunks": target_chunks, "documents": len(docs)}
    t = time.perf_counter()
    summary = chunk.run(ChunkConfig(), tmp / "documents.jsonl", tmp / "chunks.jsonl")
    out["chunk_s"] = time.perf_counter() - t
    out["chunks"] = summary["chunks"]

    t = time.perf_counter()
    summary = generate_queries.run(GenerateQueriesConfig(), tmp / "chunks.jsonl", tmp / "queries.jsonl", seed=42)
    out["generate_s"] = time.perf_counter() - t
    out["queries"] = summary["queries"]

    # Every query is a training row here: mining cost is what is measured, not the split.
    write_jsonl(tmp / "train.jsonl", ({"query_id": q["id"], "query": q["text"], "chunk_id": q["chunk_id"],
                                       "doc_id": q["doc_id"]} for q in read_jsonl(tmp / "queries.jsonl")))
    t = time.perf_counter()
    mine.run(MineConfig(), tmp / "train.jsonl", tmp / "chunks.jsonl", tmp / "tuples.jsonl", seed=42)
    out["mine_s"] = time.perf_counter() - t

    n = out["chunks"]
    out["chunk_per_s"] = n / out["chunk_s"]
    out["generate_chunks_per_s"] = n / out["generate_s"]
    out["mine_queries_per_s"] = out["queries"] / out["mine_s"]
    out["total_chunks_per_s"] = n / (out["chunk_s"] + out["generate_s"] + out["mine_s"])
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for size in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(size)], capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"size {size} failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    meta = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
            "cpus": __import__("os").cpu_count()}
    (RESULTS / "data_prep_throughput.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    lines = ["# Data-preparation throughput (chunk -> extractive queries + filters -> BM25 mining)", "",
             f"{meta['cpus']} CPUs, Python {meta['python']}. Peak RSS is the whole process's.", "",
             "| chunks | queries | chunk (chunks/s) | generate (chunks/s) | mine (queries/s) | "
             "all three (chunks/s) | peak RSS (MB) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['chunks']:,} | {r['queries']:,} | {r['chunk_per_s']:,.0f} "
                     f"| {r['generate_chunks_per_s']:,.0f} | {r['mine_queries_per_s']:,.0f} "
                     f"| {r['total_chunks_per_s']:,.0f} | {r['peak_rss_mb']:,.0f} |")
    (RESULTS / "data_prep_throughput.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
