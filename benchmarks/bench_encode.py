"""Document encoding speed and NDCG@10: plain encode_document vs fused head vs INT8 ONNX.

    python benchmarks/bench_encode.py ../shared/benchmarks/msmarco-dl19-subset
    python benchmarks/bench_encode.py            # a generated corpus from stdlib docstrings
    python benchmarks/bench_encode.py --device cuda --max-batch 8192

One process, one model (builtin:splade-tiny unless --model), the same passages, batch size and
max_seq_length for every system:
- plain: SparseEncoder.encode_document as sentence-transformers runs it;
- fused: the same SparseEncoder after `enable_fused_head` (spladeforge.models.fused_head);
- onnx-int8: `export_onnx` + `quantize_int8`, encoded by `OnnxSparseEncoder` (the CPU path: left
  out when --device is cuda).
The device defaults to cuda when one is visible, else cpu; CUDA timings synchronise the device
before reading the clock, and each system's peak CUDA memory (max_memory_allocated over its
slices) is recorded. On CUDA, the largest batch of the longest passages that `encode_document`
runs without running out of memory is searched for plain and fused (doubling, then bisection, up
to --max-batch, cache emptied between attempts); without CUDA the results say it was skipped.
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
    cuda_note,
    largest_batch,
    load_beir_folder,
    machine,
    ndcg_at_10,
    pick_device,
    synchronize,
    synthetic_beir,
    write_results,
)


def systems(args: argparse.Namespace, tmp: Path) -> dict:
    import torch

    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.models.fused_head import enable_fused_head
    from spladeforge.models.onnx_encoder import OnnxSparseEncoder
    from spladeforge.models.onnx_export import INT8_FILE, export_onnx, quantize_int8

    plain = load_sparse_encoder(args.model, max_seq_length=args.max_seq_length, device=args.device)
    fused = copy.deepcopy(plain)
    if not enable_fused_head(fused):
        raise SystemExit(f"{args.model}: the fused head does not support this model")
    found = {"plain": plain, "fused": fused}
    if not args.no_onnx and args.device == "cpu":
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
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when one is visible)")
    parser.add_argument("--max-batch", type=int, default=8192, help="upper bound of the largest-batch search")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.device = pick_device(args.device)
    cuda = args.device.startswith("cuda")

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
        peak_mb = {name: 0.0 for name in found}
        for lo in range(0, len(docs), args.slice_docs):
            for name, system in found.items():
                if cuda:
                    torch.cuda.reset_peak_memory_stats(args.device)
                synchronize(args.device)
                start = time.perf_counter()
                parts[name].append(system.encode_document(docs[lo:lo + args.slice_docs], **common))
                synchronize(args.device)
                seconds[name].append(time.perf_counter() - start)
                if cuda:
                    peak_mb[name] = max(peak_mb[name], torch.cuda.max_memory_allocated(args.device) / 2**20)
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
            if cuda:
                results[name]["peak_cuda_mb"] = peak_mb[name]
            print(name, results[name], flush=True)
        largest = {"device": args.device, "note": cuda_note(args.device)}
        if cuda:
            del parts, doc_emb, query_emb, scores  # the embeddings would count against every attempt
            longest = sorted(docs, key=len, reverse=True)
            for name in ("plain", "fused"):
                system = found[name]

                def step(n: int, system=system) -> None:
                    batch = [longest[i % len(longest)] for i in range(n)]
                    system.encode_document(batch, batch_size=n, convert_to_sparse_tensor=True)
                    synchronize(args.device)

                largest[name], largest[f"{name}_attempts"] = largest_batch(step, start=1, limit=args.max_batch)
            largest["ratio"] = largest["fused"] / largest["plain"] if largest["plain"] else None

    base = results["plain"]
    for r in results.values():
        r["speedup_vs_plain"] = r["full_corpus_passages_per_second"] / base["full_corpus_passages_per_second"]
        r["ndcg_delta_vs_plain"] = r["ndcg_at_10"] - base["ndcg_at_10"]
    figures = {"dataset": dataset, "num_documents": len(docs), "num_queries": len(query_ids),
               "model": args.model, "max_seq_length": args.max_seq_length, "batch_size": args.batch_size,
               "slice_docs": args.slice_docs, "device": args.device, "systems": results,
               "largest_batch": largest, "machine": machine()}
    rows = [f"| {name} | {r['full_corpus_passages_per_second']:.1f} "
            f"| {r['speedup_vs_plain']:.2f}x | {r['median_slice_speedup_vs_plain']:.2f}x "
            f"| {r['ndcg_at_10']:.4f} | {r['ndcg_delta_vs_plain']:+.4f} "
            f"| {r['doc_active_dims']:.1f} |" for name, r in results.items()]
    if cuda:
        rows = [row + f" {results[name]['peak_cuda_mb']:.0f} |" for row, name in zip(rows, results, strict=True)]
        batch_lines = [
            f"| system | largest batch (longest passages, max_seq_length {args.max_seq_length}) |",
            "| --- | ---: |",
            *(f"| {name} | {largest[name]} |" for name in ("plain", "fused")),
            "",
            f"Largest-batch ratio fused / plain: {largest['ratio']:.2f}" if largest["ratio"] else
            "The plain side does not fit a batch of 1.",
        ]
        where = f"{args.device} ({largest['note']}); INT8 ONNX is the CPU path and is not run here"
    else:
        batch_lines = [f"Largest batch: {largest['note']}."]
        where = f"{figures['machine']['cpus']} CPUs"
    markdown = "\n".join([
        f"# document encoding on {dataset}: plain vs fused head"
        + (" vs INT8 ONNX" if "onnx-int8" in results else ""),
        "",
        f"{len(docs)} passages, {len(query_ids)} judged queries; {args.model}, max_seq_length "
        f"{args.max_seq_length}, batch {args.batch_size}; {where}, "
        f"{figures['machine']['date']}. The systems take turns on each slice of {args.slice_docs} "
        "passages (each slice is one repetition), so load from other processes hits all alike.",
        "",
        "| system | passages/s | speed-up (total) | speed-up (median slice) | NDCG@10 "
        "| Δ NDCG@10 | doc dims |" + (" peak CUDA MB |" if cuda else ""),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if cuda else ""),
        *rows,
        "",
        "## largest batch that fits",
        "",
        *batch_lines,
        "",
    ])
    write_results(f"bench_encode_{dataset}" + ("_cuda" if cuda else ""), figures, markdown, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
