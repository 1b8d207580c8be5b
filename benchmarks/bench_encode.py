"""Document encoding speed and NDCG@10: plain encode_document vs fused head vs INT8 ONNX (issue 9).

    python benchmarks/bench_encode.py ../shared/benchmarks/msmarco-dl19-subset
    python benchmarks/bench_encode.py            # a generated corpus from stdlib docstrings

One process, one model (builtin:splade-tiny unless --model), the same passages, batch size and
max_seq_length for every system:
- plain: SparseEncoder.encode_document as sentence-transformers runs it;
- fused: the same SparseEncoder after `enable_fused_head` (spladeforge.models.fused_head);
- onnx-int8: `export_onnx` + `quantize_int8`, encoded by `OnnxSparseEncoder`.
Speed: the corpus is encoded in slices of `--slice-docs` passages, the systems taking turns on
each slice (one repetition per slice), and NDCG@10 is computed from those same embeddings. NDCG@10: gain =
grade, log2 discount, over the judged queries. The BEIR folder is read in place, never copied.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fused_common import (  # noqa: E402
    RESULTS,
    load_beir_folder,
    machine,
    ndcg_at_10,
    synthetic_beir,
    write_results,
)


def systems(args: argparse.Namespace, tmp: Path) -> dict:
    import torch

    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.models.fused_head import enable_fused_head
    from spladeforge.models.onnx_encoder import OnnxSparseEncoder
    from spladeforge.models.onnx_export import INT8_FILE, export_onnx, quantize_int8

    plain = load_sparse_encoder(args.model, max_seq_length=args.max_seq_length)
    fused = copy.deepcopy(plain)
    if not enable_fused_head(fused):
        raise SystemExit(f"{args.model}: the fused head does not support this model")
    found = {"plain": plain, "fused": fused}
    if not args.no_onnx:
        export_onnx(plain, tmp)
        quantize_int8(tmp)
        found["onnx-int8"] = OnnxSparseEncoder(tmp, INT8_FILE, threads=torch.get_num_threads())
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("beir_folder", type=Path, nargs="?",
                        help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv); default: generated")
    parser.add_argument("--model", default="builtin:splade-tiny")
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--slice-docs", type=int, default=500,
                        help="passages per timed slice; systems take turns on each slice")
    parser.add_argument("--max-docs", type=int, default=None,
                        help="cap the corpus (NDCG is then only indicative)")
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import torch

    if args.beir_folder:
        corpus, queries, qrels = load_beir_folder(args.beir_folder)
        dataset = args.beir_folder.resolve().name
    else:
        corpus, queries, qrels = synthetic_beir()
        dataset = "generated-stdlib"
    doc_ids = list(corpus)[: args.max_docs]
    docs = [corpus[d] for d in doc_ids]
    query_ids = list(queries)
    common = {"batch_size": args.batch_size, "convert_to_sparse_tensor": True}

    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        found = systems(args, Path(tmp))
        for system in found.values():  # warm-up, not timed
            system.encode_document(docs[: args.batch_size], **common)
        # The corpus is encoded in slices, every system in turn on each slice, so that load from
        # other processes on the machine falls on all systems alike; each slice is one repetition.
        seconds = {name: [] for name in found}
        parts: dict[str, list] = {name: [] for name in found}
        for lo in range(0, len(docs), args.slice_docs):
            for name, system in found.items():
                start = time.perf_counter()
                parts[name].append(system.encode_document(docs[lo:lo + args.slice_docs], **common))
                seconds[name].append(time.perf_counter() - start)
        sizes = [len(docs[lo:lo + args.slice_docs]) for lo in range(0, len(docs), args.slice_docs)]
        results = {}
        for name, system in found.items():
            doc_emb = torch.cat(parts[name]).coalesce()
            query_emb = system.encode_query([queries[q] for q in query_ids], **common).coalesce()
            scores = torch.sparse.mm(query_emb, doc_emb.t()).to_dense()
            ratios = [p / b for p, b in zip(seconds["plain"], seconds[name], strict=True)]
            results[name] = {
                "ndcg_at_10": ndcg_at_10(scores, doc_ids, query_ids, qrels),
                "full_corpus_passages_per_second": len(docs) / sum(seconds[name]),
                "slice_passages_per_second": [n / t for n, t in zip(sizes, seconds[name], strict=True)],
                "median_slice_speedup_vs_plain": statistics.median(ratios),
                "doc_active_dims": doc_emb._nnz() / len(docs),
                "query_active_dims": query_emb._nnz() / len(query_ids),
            }
            print(name, results[name], flush=True)

    base = results["plain"]
    for r in results.values():
        r["speedup_vs_plain"] = r["full_corpus_passages_per_second"] / base["full_corpus_passages_per_second"]
        r["ndcg_delta_vs_plain"] = r["ndcg_at_10"] - base["ndcg_at_10"]
    figures = {"dataset": dataset, "num_documents": len(docs), "num_queries": len(query_ids),
               "model": args.model, "max_seq_length": args.max_seq_length, "batch_size": args.batch_size,
               "slice_docs": args.slice_docs, "systems": results, "machine": machine()}
    rows = [f"| {name} | {r['full_corpus_passages_per_second']:.1f} "
            f"| {r['speedup_vs_plain']:.2f}x | {r['median_slice_speedup_vs_plain']:.2f}x "
            f"| {r['ndcg_at_10']:.4f} | {r['ndcg_delta_vs_plain']:+.4f} "
            f"| {r['doc_active_dims']:.1f} |" for name, r in results.items()]
    markdown = "\n".join([
        f"# document encoding on {dataset}: plain vs fused head vs INT8 ONNX",
        "",
        f"{len(docs)} passages, {len(query_ids)} judged queries; {args.model}, max_seq_length "
        f"{args.max_seq_length}, batch {args.batch_size}; {figures['machine']['cpus']} CPUs, "
        f"{figures['machine']['date']}. The systems take turns on each slice of {args.slice_docs} "
        "passages (each slice is one repetition), so load from other processes hits all alike.",
        "",
        "| system | passages/s | speed-up (total) | speed-up (median slice) | NDCG@10 "
        "| Δ NDCG@10 | doc dims |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
    ])
    write_results(f"bench_encode_{dataset}", figures, markdown, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
