"""What `spladeforge search` costs: index build time and per-query latency, fp32 against INT8.

    python benchmarks/search_latency.py BEIR_FOLDER [--limit 1000] [--repeats 3]

Only the folder's corpus and query texts are read (no judgments). The corpus becomes a
chunks.jsonl (id, title, text) in a scratch folder, and each system is opened through
`retrieval.searchers.open_searcher`, exactly as the command opens it:

- `fp32`: builtin:splade-tiny (BERT-tiny SPLADE, its own max_seq_length) with the fused head;
- `int8`: its INT8 ONNX export, built by the project's quantize code (`models.int8.export_int8`,
  quantize's defaults: opset 17, per-channel), run by onnxruntime.

Per system: the cold open (load the model, encode the corpus, write the index cache), the warm
open (load the model, read the cached vectors, build the posting lists), and then per query,
one at a time, `search(query, k=10)` (encode the query, dot product over the posting lists,
top 10) and, apart, the index's top-10 alone for the already encoded query. The two systems take
turns query by query, so load from other processes hits both alike; the machine's mean load is
reported beside the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fused_common import RESULTS, machine, write_results  # noqa: E402
from _load import LoadSampler  # noqa: E402

MODEL = "builtin:splade-tiny"
K = 10


def read_texts(folder: Path, limit: int | None) -> tuple[list[dict], list[str]]:
    """Corpus records (as chunks) and query texts of a BEIR folder; nothing else is opened."""
    from spladeforge.io import iter_jsonl

    chunks = []
    for record in iter_jsonl(folder / "corpus.jsonl", required=("_id", "text")):
        chunks.append({"id": str(record["_id"]), "doc_id": str(record["_id"]), "title": record.get("title") or "",
                       "section": "", "text": record["text"], "start": 0})
        if limit is not None and len(chunks) == limit:
            break
    queries = [record["text"] for record in iter_jsonl(folder / "queries.jsonl", required=("_id", "text"))]
    return chunks, queries


def percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
            "mean_ms": round(statistics.fmean(ordered), 3), "n": len(ordered)}


def timed_open(name: str, chunks_path: Path, cache: Path, int8_dir: Path, threads: int) -> tuple[object, float]:
    """Open a system as `open_searcher` does; the INT8 one with onnxruntime held to `threads` too."""
    from spladeforge.config import Params
    from spladeforge.retrieval.chunks import load_chunks
    from spladeforge.retrieval.searchers import SparseSearcher, open_searcher
    from spladeforge.retrieval.systems import onnx_model

    start = time.perf_counter()
    if name == "int8":
        searcher = SparseSearcher("int8", onnx_model(int8_dir, 32, threads=threads), load_chunks(chunks_path), cache)
    else:
        searcher = open_searcher(name, chunks_path, cache_dir=cache, params=Params())
    return searcher, time.perf_counter() - start


def encode_seconds(cache: Path, searcher) -> float:
    from spladeforge.retrieval.index_cache import META_FILE, entry_dir

    folder = entry_dir(cache, searcher.model.key, searcher.chunks.sha256)
    return json.loads((folder / META_FILE).read_text())["encode_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="Index only the first N passages.")
    parser.add_argument("--repeats", type=int, default=3, help="Passes over the queries per system.")
    parser.add_argument("--output", type=Path, default=RESULTS, help="Folder for search_latency.{json,md}.")
    parser.add_argument("--threads", type=int, default=1,
                        help="Intra-op threads of torch and onnxruntime (1: one query at a time, as a service "
                             "worker runs it; on a loaded machine more threads mostly wait for each other).")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from spladeforge.io import write_jsonl
    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.models.int8 import export_int8

    chunks, queries = read_texts(args.folder, args.limit)
    figures: dict = {"folder": args.folder.name, "passages": len(chunks), "queries": len(queries), "k": K,
                     "model": MODEL, "repeats": args.repeats, "threads": args.threads, "machine": machine(),
                     "systems": {}}
    with tempfile.TemporaryDirectory(prefix="search-latency-") as tmp, LoadSampler() as load:
        root = Path(tmp)
        chunks_path = root / "chunks.jsonl"
        write_jsonl(chunks_path, chunks)
        int8_dir = root / "splade-int8"
        start = time.perf_counter()
        model = load_sparse_encoder(MODEL)
        exported = export_int8(model, int8_dir, [c["text"] for c in chunks[:32]] + queries[:32], opset=17,
                               per_channel=True)
        figures["int8_export_seconds"] = round(time.perf_counter() - start, 2)
        figures["max_seq_length"] = model.max_seq_length
        figures["int8_size_bytes"], figures["fp32_onnx_size_bytes"] = exported.int8_size_bytes, exported.fp32_size_bytes
        del model
        names = {"fp32": MODEL, "int8": "int8"}
        warm = {}
        for label, name in names.items():
            cache = root / f"cache-{label}"
            cold, cold_seconds = timed_open(name, chunks_path, cache, int8_dir, args.threads)
            assert cold.built, label
            del cold
            searcher, warm_seconds = timed_open(name, chunks_path, cache, int8_dir, args.threads)
            assert not searcher.built, label  # the second open reads the cache
            warm[label] = searcher
            vectors = searcher.doc_vectors
            figures["systems"][label] = {
                "index_build_seconds": round(cold_seconds, 2), "encode_seconds": encode_seconds(cache, searcher),
                "passages_per_second": round(len(chunks) / encode_seconds(cache, searcher), 1),
                "cached_open_seconds": round(warm_seconds, 2), "doc_active_dims": round(vectors.nnz / len(chunks), 1),
                "index_bytes": searcher.index.nbytes}
        for searcher in warm.values():  # warm-up
            for query in queries[:5]:
                searcher.search(query, K)
        search_ms = {label: [] for label in warm}
        index_ms = {label: [] for label in warm}
        for _ in range(args.repeats):
            for query in queries:
                for label, searcher in warm.items():
                    start = time.perf_counter()
                    searcher.search(query, K)
                    search_ms[label].append((time.perf_counter() - start) * 1000)
                    vector = searcher.query_vector(query)
                    start = time.perf_counter()
                    searcher.index.search(vector, K)
                    index_ms[label].append((time.perf_counter() - start) * 1000)
        for label in warm:
            figures["systems"][label]["search"] = percentiles(search_ms[label])
            figures["systems"][label]["index_top10"] = percentiles(index_ms[label])
        fp32, int8 = (warm[label].search(queries[0], K) for label in ("fp32", "int8"))
        figures["first_query_top10_overlap"] = len({h.chunk_id for h in fp32} & {h.chunk_id for h in int8})
    figures["mean_load"] = load.mean
    write_results("search_latency", figures, markdown(figures), args.output)


def markdown(f: dict) -> str:
    lines = [f"# `spladeforge search` latency on {f['folder']}", "",
             f"{f['passages']} passages, {f['queries']} queries x {f['repeats']} passes, top {f['k']}; {f['model']} "
             f"(max_seq_length {f['max_seq_length']}), fp32 with the fused head against its INT8 ONNX export "
             f"(built in {f['int8_export_seconds']} s, {f['int8_size_bytes'] / 1e6:.1f} MB); {f['threads']} intra-op "
             "thread(s) for torch and onnxruntime; "
             f"{f['machine']['cpus']} CPUs shared, mean load {f['mean_load']}, {f['machine']['date']}. Only the corpus "
             "and query texts were read.", "",
             "| system | index build (s) | of which encoding (s) | passages/s | open from cache (s) | doc dims | "
             "index MB | search p50 (ms) | search p95 (ms) | top-10 alone p50 (ms) | p95 (ms) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, s in f["systems"].items():
        lines.append(f"| {label} | {s['index_build_seconds']} | {s['encode_seconds']} | {s['passages_per_second']} | "
                     f"{s['cached_open_seconds']} | {s['doc_active_dims']} | {s['index_bytes'] / 1e6:.2f} | "
                     f"{s['search']['p50_ms']} | {s['search']['p95_ms']} | {s['index_top10']['p50_ms']} | "
                     f"{s['index_top10']['p95_ms']} |")
    lines += ["", "Index build = the first `open_searcher` (model load, corpus encoding, cache write, posting "
              "lists); open from cache = the second (model load, cached vectors read, posting lists). Search = "
              "`search(query, k=10)` one query at a time after the index is built: query encoding plus the top 10; "
              "top-10 alone = the posting-list dot product and selection for an encoded query.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
