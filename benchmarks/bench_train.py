"""Training throughput and peak memory: fused SPLADE head vs plain sentence-transformers (issue 9).

    python benchmarks/bench_train.py [--steps 6] [--repeats 2] [--batch-size 16] [--max-seq-length 256]

Both sides run the same manual loop (SpladeLoss(SparseMultipleNegativesRankingLoss) with FLOPS
regularizers, AdamW, fp32, CPU) on the same model (builtin:splade-tiny), the same triplets
(standard-library docstring passages: query = 8 words of a passage, positive = the passage,
negative = another passage), the same seed. Only `enable_fused_head(model)` differs.

Memory method: every (side, repetition) runs in its own subprocess; peak memory is that
process's `resource.getrusage(RUSAGE_SELF).ru_maxrss` (the kernel's RSS high-water mark, which
sees torch's CPU allocations that tracemalloc does not). We report the peak RSS and the training
increment: peak RSS minus the RSS just before the first step (psutil), i.e. what training added
on top of the loaded model, Python and torch.

Throughput excludes the first step (allocator and thread-pool warm-up). Loss curves of both sides
are recorded per step; their max abs difference is asserted to be small and both are plotted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fused_common import RESULTS, machine, stdlib_passages, write_results  # noqa: E402

SIDES = ("plain", "fused")
LOSS_TOLERANCE = 1e-3


def triplets(n: int) -> tuple[list[str], list[str], list[str]]:
    passages = stdlib_passages()
    passages = [p for p in passages if len(p.split()) >= 100]
    anchors, positives, negatives = [], [], []
    for i in range(n):
        p = passages[i % len(passages)]
        anchors.append(" ".join(p.split()[10:18]))
        positives.append(p)
        negatives.append(passages[(i * 7 + 3) % len(passages)])
    return anchors, positives, negatives


def worker(side: str, args: argparse.Namespace) -> dict:
    import resource

    import psutil
    import torch
    from sentence_transformers.sparse_encoder import losses
    from transformers import set_seed

    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.models.fused_head import enable_fused_head

    set_seed(args.seed)
    model = load_sparse_encoder(args.model, max_seq_length=args.max_seq_length)
    if side == "fused" and not enable_fused_head(model):
        raise SystemExit("enable_fused_head refused the model")
    loss = losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model),
                             document_regularizer_weight=3e-3, query_regularizer_weight=5e-4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    a, p, n = triplets(args.steps * args.batch_size)
    model.train()
    baseline = psutil.Process().memory_info().rss
    curve, seconds = [], []
    for step in range(args.steps):
        batch = slice(step * args.batch_size, (step + 1) * args.batch_size)
        start = time.perf_counter()
        features = [model.preprocess(column[batch]) for column in (a, p, n)]
        parts = loss(features, None)
        total = sum(parts.values())
        total.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds.append(time.perf_counter() - start)
        curve.append(total.item())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    timed = seconds[1:] or seconds
    return {"side": side, "loss": curve, "step_seconds": seconds,
            "triplets_per_second": args.batch_size * len(timed) / sum(timed),
            "peak_rss_mb": peak / 2**20, "baseline_rss_mb": baseline / 2**20,
            "train_increment_mb": (peak - baseline) / 2**20}


def plot(curves: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for side, style in zip(SIDES, ("-o", "--x"), strict=True):
        ax.plot(range(1, len(curves[side]) + 1), curves[side], style, label=side)
    ax.set(title="training loss, plain vs fused SPLADE head", xlabel="step", ylabel="loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="builtin:splade-tiny")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args)))
        return 0

    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
    for _ in range(args.repeats):
        for side in SIDES:  # alternate sides so drift of the machine hits both
            proc = subprocess.run([sys.executable, __file__, *passthrough, "--worker", side],
                                  capture_output=True, text=True)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                sys.stderr.write(proc.stderr[-4000:])
                return 1
            runs[side].append(json.loads(line.removeprefix("RESULT ")))

    def best(side: str, key: str, fn=max) -> float:
        return fn(r[key] for r in runs[side])

    curves = {side: runs[side][0]["loss"] for side in SIDES}
    loss_diff = max(abs(x - y) for x, y in zip(curves["plain"], curves["fused"], strict=True))
    figures = {
        "model": args.model, "batch_size": args.batch_size, "max_seq_length": args.max_seq_length,
        "steps": args.steps, "repeats": args.repeats, "seed": args.seed,
        "memory_method": "ru_maxrss of a fresh subprocess per run; increment = peak - RSS before step 1",
        "runs": runs,
        "triplets_per_second": {s: best(s, "triplets_per_second") for s in SIDES},
        "peak_rss_mb": {s: best(s, "peak_rss_mb", min) for s in SIDES},
        "train_increment_mb": {s: best(s, "train_increment_mb", min) for s in SIDES},
        "loss_curve_max_abs_diff": loss_diff,
        "machine": machine(),
    }
    tps, rss, inc = figures["triplets_per_second"], figures["peak_rss_mb"], figures["train_increment_mb"]
    figures["speedup"] = tps["fused"] / tps["plain"]
    figures["peak_rss_ratio"] = rss["fused"] / rss["plain"]
    figures["train_increment_ratio"] = inc["fused"] / inc["plain"]
    args.output.mkdir(parents=True, exist_ok=True)
    plot(curves, args.output / "bench_train_loss.png")
    rows = [f"| {s} | {tps[s]:.2f} | {rss[s]:.0f} | {inc[s]:.0f} | "
            + ", ".join(f"{x:.4f}" for x in curves[s]) + " |" for s in SIDES]
    markdown = "\n".join([
        "# training: fused SPLADE head vs plain sentence-transformers",
        "",
        f"{args.model}, batch {args.batch_size} triplets, max_seq_length {args.max_seq_length}, "
        f"{args.steps} steps x {args.repeats} runs per side (best run shown; first step not timed), "
        f"fp32, {figures['machine']['cpus']} CPUs, {figures['machine']['date']}.",
        f"Memory: {figures['memory_method']}.",
        "",
        "| side | triplets/s | peak RSS MB | training increment MB | loss per step |",
        "| --- | ---: | ---: | ---: | --- |",
        *rows,
        "",
        f"Speed-up {figures['speedup']:.2f}x; peak RSS ratio {figures['peak_rss_ratio']:.2f}; "
        f"training-increment ratio {figures['train_increment_ratio']:.2f}; "
        f"loss curves max abs difference {loss_diff:.2e}.",
        "",
    ])
    write_results("bench_train", figures, markdown, args.output)
    if loss_diff > LOSS_TOLERANCE:
        print(f"loss curves differ by {loss_diff:.2e} > {LOSS_TOLERANCE}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
