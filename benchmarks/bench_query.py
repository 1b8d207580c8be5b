"""Query latency (inference-free and regular SPLADE) and inverted-index top-k latency.

    python benchmarks/bench_query.py [beir_folder] [--queries 200] [--sizes 10000 100000] [--device cuda]

1. Query encoding latency, one query at a time (what a search service does), p50/p95 in ms:
   - inference-free: a SparseStaticEmbedding of corpus IDF weights (as `train.architecture:
     inference-free` builds it) through `SparseEncoder.encode_query`, and through
     `spladeforge.models.static_query.StaticQueryEncoder` (tokenizer + weight lookup only);
   - regular SPLADE (builtin:splade-tiny): `encode_query` plain and with the fused head.
2. Top-k (k=10) retrieval latency over an inverted index: a scipy.sparse CSR matrix
   [vocab, documents] of synthetic document vectors with ~128 active dimensions each (term ids
   drawn Zipf-like, weights log-normal, like real SPLADE passages), at 10k and 100k documents,
   for queries of ~17 active dimensions (regular SPLADE) taken from real encoded queries.

`--device` (default: cuda when present) runs the query encoders there, synchronising before each
clock read; the static lookup and the CSR index stay on the CPU, where a search service runs them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fused_common import (  # noqa: E402
    RESULTS,
    load_beir_folder,
    machine,
    pick_device,
    stdlib_passages,
    synchronize,
    write_results,
)


def percentiles(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"p50_ms": statistics.median(ms), "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
            "mean_ms": statistics.fmean(ms)}


def time_each(fn, items: list, warmup: int = 5, device: str = "cpu") -> dict[str, float]:
    for item in items[:warmup]:
        fn(item)
    ms = []
    for item in items:
        synchronize(device)
        start = time.perf_counter()
        fn(item)
        synchronize(device)
        ms.append((time.perf_counter() - start) * 1000)
    return percentiles(ms)


def query_latency(queries: list[str], passages: list[str], model_ref: str,
                  device: str = "cpu") -> tuple[dict, list]:
    import torch
    from sentence_transformers.sparse_encoder import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding

    from spladeforge.models.architectures import corpus_idf
    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.models.fused_head import enable_fused_head
    from spladeforge.models.static_query import StaticQueryEncoder

    regular = load_sparse_encoder(model_ref, max_seq_length=256, device=device)
    tokenizer = regular.tokenizer
    idf = corpus_idf(tokenizer, passages)
    static = SparseStaticEmbedding(tokenizer=tokenizer, weight=idf, frozen=True)
    inference_free = SparseEncoder(modules=[Router.for_query_document(
        query_modules=[static],
        document_modules=list(load_sparse_encoder(model_ref, max_seq_length=256, device=device)))],
        device=device, similarity_fn_name="dot")
    lookup = StaticQueryEncoder(inference_free)

    figures = {
        "inference_free_encode_query": time_each(lambda q: inference_free.encode_query(q), queries, device=device),
        "inference_free_static_query_encoder": time_each(lookup.encode, queries),
        "regular_encode_query_plain": time_each(lambda q: regular.encode_query(q), queries, device=device),
    }
    with torch.inference_mode():
        encoded = regular.encode_query(queries, convert_to_sparse_tensor=True).coalesce()
    enable_fused_head(regular)
    figures["regular_encode_query_fused"] = time_each(lambda q: regular.encode_query(q), queries, device=device)
    rows = [encoded[i].coalesce().cpu() for i in range(len(queries))]
    return figures, [(r.indices()[0].numpy(), r.values().numpy()) for r in rows]


def synthetic_index(n_docs: int, vocab: int, active: int, seed: int = 0):
    """[vocab, docs] CSR of documents with `active` distinct Zipf-distributed terms each."""
    import numpy as np
    from scipy import sparse

    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, vocab + 1) ** 0.8
    popularity = rng.permutation(popularity / popularity.sum())
    terms = rng.choice(vocab, size=(n_docs, active * 2), p=popularity)
    rows, cols = [], []
    for doc, row in enumerate(terms):
        unique = np.unique(row)[:active]
        rows.append(np.full(len(unique), doc))
        cols.append(unique)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    values = rng.lognormal(mean=-0.5, sigma=0.6, size=len(rows)).astype(np.float32)
    docs = sparse.csr_matrix((values, (rows, cols)), shape=(n_docs, vocab))
    return docs.T.tocsr()  # inverted index: one row (posting list) per vocabulary entry


def topk_latency(index, query_vectors: list, k: int = 10) -> dict[str, float]:
    import numpy as np

    def search(query) -> np.ndarray:
        ids, weights = query
        scores = index[ids].T @ weights  # only the query terms' posting lists are touched
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])]

    return time_each(search, query_vectors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("beir_folder", type=Path, nargs="?", help="queries and corpus (IDF) to use")
    parser.add_argument("--model", default="builtin:splade-tiny")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--doc-active-dims", type=int, default=128)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu; default: cuda when present")
    args = parser.parse_args(argv)
    device = pick_device(args.device)

    if args.beir_folder:
        corpus, queries, _ = load_beir_folder(args.beir_folder)
        passages, query_texts = list(corpus.values()), list(queries.values())
    else:
        passages = stdlib_passages()
        query_texts = [" ".join(p.split()[5:12]) for p in passages]
    query_texts = (query_texts * (args.queries // max(1, len(query_texts)) + 1))[: args.queries]
    latency, query_vectors = query_latency(query_texts, passages, args.model, device)
    vocab = 30522
    retrieval = {}
    for size in args.sizes:
        index = synthetic_index(size, vocab, args.doc_active_dims)
        retrieval[str(size)] = {**topk_latency(index, query_vectors),
                                "doc_active_dims": index.nnz / size}
        print(size, retrieval[str(size)], flush=True)
    mean_query_dims = statistics.fmean(len(ids) for ids, _ in query_vectors)
    figures = {"model": args.model, "device": device, "queries": len(query_texts), "query_latency": latency,
               "topk10_latency": retrieval, "query_active_dims": mean_query_dims, "machine": machine()}
    rows = [f"| {name} | {v['p50_ms']:.3f} | {v['p95_ms']:.3f} |" for name, v in latency.items()]
    rows += [f"| top-10 over {int(size):,} docs (CSR index) | {v['p50_ms']:.3f} | {v['p95_ms']:.3f} |"
             for size, v in retrieval.items()]
    markdown = "\n".join([
        "# query latency and inverted-index retrieval",
        "",
        f"{len(query_texts)} queries one at a time; {args.model} on {device}; synthetic documents with "
        f"{args.doc_active_dims} active dims, queries with {mean_query_dims:.1f} active dims (real "
        f"encoded queries); {figures['machine']['cpus']} CPUs, {figures['machine']['date']}.",
        "",
        "| what | p50 ms | p95 ms |",
        "| --- | ---: | ---: |",
        *rows,
        "",
    ])
    write_results("bench_query" if device == "cpu" else "bench_query_cuda", figures, markdown, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
