"""Training throughput and peak memory: fused SPLADE head vs plain sentence-transformers.

    python benchmarks/bench_train.py [--steps 6] [--repeats 2] [--batch-size 16] [--max-seq-length 256]
                                     [--device cuda|cpu] [--bf16] [--max-batch 4096]

Both sides run the same manual loop (SpladeLoss(SparseMultipleNegativesRankingLoss) with FLOPS
regularizers, AdamW, fp32 unless --bf16) on the same model (builtin:splade-tiny), the same
triplets (standard-library docstring passages: query = 8 words of a passage, positive = the
passage, negative = another passage), the same seed, on the same device (default: cuda when one
is visible, else cpu). Only `enable_fused_head(model)` differs. `--bf16` runs forward and loss
under bf16 autocast, as the H100 presets train.

Memory method: every (side, repetition) runs in its own subprocess. On CPU, peak memory is that
process's `resource.getrusage(RUSAGE_SELF).ru_maxrss` (the kernel's RSS high-water mark, which
sees torch's CPU allocations that tracemalloc does not). On CUDA it is
`torch.cuda.max_memory_allocated()` after `reset_peak_memory_stats()`. We report the peak and the
training increment: peak minus the memory in use just before the first step (RSS from psutil,
or `torch.cuda.memory_allocated()`), i.e. what training added on top of the loaded model.
CUDA timings synchronise the device before reading the clock.

Largest batch (CUDA only): one more subprocess per side finds the largest batch of triplets for
which a training step runs without CUDA running out of memory (doubling from 1, then bisection,
up to --max-batch; cache emptied between attempts). Without CUDA the results say the search was
skipped. Results go to bench_train.{json,md} on CPU and bench_train_cuda.{json,md} on CUDA.

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
from _fused_common import (  # noqa: E402
    RESULTS,
    cuda_note,
    largest_batch,
    machine,
    pick_device,
    stdlib_passages,
    synchronize,
    write_results,
)

SIDES = ("plain", "fused")
LOSS_TOLERANCE = 1e-3
# bf16 rounds every logit (~0.4% relative) and the fused and plain heads round differently, and
# a max-pool tie may be broken differently: the two loss curves then agree to bf16 precision only.
LOSS_TOLERANCE_BF16 = 3e-2


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


def to_device(features: dict, device: str) -> dict:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def worker(side: str, args: argparse.Namespace) -> dict:
    import resource

    import psutil
    import torch
    from sentence_transformers.sparse_encoder import losses
    from transformers import set_seed

    from spladeforge.models.build import load_sparse_encoder
    from spladeforge.models.fused_head import enable_fused_head

    cuda = args.device.startswith("cuda")
    set_seed(args.seed)
    model = load_sparse_encoder(args.model, max_seq_length=args.max_seq_length, device=args.device)
    if side == "fused" and not enable_fused_head(model):
        raise SystemExit("enable_fused_head refused the model")
    loss = losses.SpladeLoss(model, losses.SparseMultipleNegativesRankingLoss(model),
                             document_regularizer_weight=3e-3, query_regularizer_weight=5e-4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
    device_type = torch.device(args.device).type

    def train_step(columns: tuple[list[str], ...]) -> float:
        try:
            features = [to_device(model.preprocess(column), args.device) for column in columns]
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=args.bf16):
                total = sum(loss(features, None).values())
            total.backward()
            optimizer.step()
            return total.item()
        finally:
            optimizer.zero_grad(set_to_none=True)

    model.train()
    if args.find_batch:
        train_step(triplets(1))  # optimizer state exists before the search, as in training
        peaks: dict[int, float] = {}

        def step(n: int) -> None:
            torch.cuda.reset_peak_memory_stats(args.device)
            train_step(triplets(n))
            peaks[n] = torch.cuda.max_memory_allocated(args.device) / 2**20

        found, attempts = largest_batch(step, start=1, limit=args.max_batch)
        for attempt in attempts:
            attempt["peak_cuda_mb"] = peaks.get(attempt["batch"])
        return {"side": side, "largest_batch": found, "attempts": attempts}

    a, p, n = triplets(args.steps * args.batch_size)
    if cuda:
        torch.cuda.synchronize(args.device)
        baseline = torch.cuda.memory_allocated(args.device)
        torch.cuda.reset_peak_memory_stats(args.device)
    else:
        baseline = psutil.Process().memory_info().rss
    curve, seconds = [], []
    for step_index in range(args.steps):
        batch = slice(step_index * args.batch_size, (step_index + 1) * args.batch_size)
        synchronize(args.device)
        start = time.perf_counter()
        curve.append(train_step((a[batch], p[batch], n[batch])))
        synchronize(args.device)
        seconds.append(time.perf_counter() - start)
    if cuda:
        peak, memory = torch.cuda.max_memory_allocated(args.device), "cuda"
    else:
        peak, memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "rss"
    timed = seconds[1:] or seconds
    return {"side": side, "loss": curve, "step_seconds": seconds,
            "triplets_per_second": args.batch_size * len(timed) / sum(timed),
            f"peak_{memory}_mb": peak / 2**20, f"baseline_{memory}_mb": baseline / 2**20,
            "train_increment_mb": (peak - baseline) / 2**20}


def run_worker(argv: list[str], side: str, *extra: str) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, *argv, "--worker", side, *extra],
                          capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        sys.stderr.write(proc.stderr[-4000:])
        return None
    return json.loads(line.removeprefix("RESULT "))


def plot(curves: dict[str, list[float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for side, style in zip(SIDES, ("-o", "--x"), strict=True):
        ax.plot(range(1, len(curves[side]) + 1), curves[side], style, label=side)
    ax.set(title=title, xlabel="step", ylabel="loss")
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
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when one is visible)")
    parser.add_argument("--bf16", action="store_true", help="forward and loss under bf16 autocast")
    parser.add_argument("--max-batch", type=int, default=4096, help="upper bound of the largest-batch search")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--find-batch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.device = pick_device(args.device)
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args)))
        return 0

    cuda = args.device.startswith("cuda")
    memory = "cuda" if cuda else "rss"
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    passthrough = [*(argv if argv is not None else sys.argv[1:]), "--device", args.device]
    for _ in range(args.repeats):
        for side in SIDES:  # alternate sides so drift of the machine hits both
            result = run_worker(passthrough, side)
            if result is None:
                return 1
            runs[side].append(result)
    largest: dict = {"device": args.device, "note": cuda_note(args.device)}
    if cuda:
        for side in SIDES:
            result = run_worker(passthrough, side, "--find-batch")
            if result is None:
                return 1
            largest[side], largest[f"{side}_attempts"] = result["largest_batch"], result["attempts"]
        largest["ratio"] = largest["fused"] / largest["plain"] if largest["plain"] else None

    def best(side: str, key: str, fn=max) -> float:
        return fn(r[key] for r in runs[side])

    curves = {side: runs[side][0]["loss"] for side in SIDES}
    loss_diff = max(abs(x - y) for x, y in zip(curves["plain"], curves["fused"], strict=True))
    precision = "bf16 autocast" if args.bf16 else "fp32"
    if cuda:
        memory_method = "torch.cuda.max_memory_allocated in a fresh subprocess per run; increment = peak - " \
                        "torch.cuda.memory_allocated before step 1"
    else:
        memory_method = "ru_maxrss of a fresh subprocess per run; increment = peak - RSS before step 1"
    figures = {
        "model": args.model, "batch_size": args.batch_size, "max_seq_length": args.max_seq_length,
        "steps": args.steps, "repeats": args.repeats, "seed": args.seed, "device": args.device,
        "precision": precision, "memory_method": memory_method,
        "runs": runs,
        "triplets_per_second": {s: best(s, "triplets_per_second") for s in SIDES},
        f"peak_{memory}_mb": {s: best(s, f"peak_{memory}_mb", min) for s in SIDES},
        "train_increment_mb": {s: best(s, "train_increment_mb", min) for s in SIDES},
        "loss_curve_max_abs_diff": loss_diff,
        "largest_batch": largest,
        "machine": machine(),
    }
    tps, peak, inc = figures["triplets_per_second"], figures[f"peak_{memory}_mb"], figures["train_increment_mb"]
    figures["speedup"] = tps["fused"] / tps["plain"]
    figures[f"peak_{memory}_ratio"] = peak["fused"] / peak["plain"]
    figures["train_increment_ratio"] = inc["fused"] / inc["plain"]
    name = "bench_train" if not cuda else "bench_train_cuda"
    args.output.mkdir(parents=True, exist_ok=True)
    plot(curves, args.output / f"{name}_loss.png", f"training loss ({args.device}), plain vs fused SPLADE head")
    rows = [f"| {s} | {tps[s]:.2f} | {peak[s]:.0f} | {inc[s]:.0f} | "
            + ", ".join(f"{x:.4f}" for x in curves[s]) + " |" for s in SIDES]
    peak_label = "peak CUDA MB" if cuda else "peak RSS MB"
    where = (f"{args.device} ({largest['note']})" if cuda
             else f"{figures['machine']['cpus']} CPUs")
    if cuda:
        batch_lines = [
            f"| side | largest batch (triplets, max_seq_length {args.max_seq_length}, {precision}) "
            "| peak CUDA MB at that batch |",
            "| --- | ---: | ---: |",
            *(f"| {s} | {largest[s]} | "
              + next((f"{a['peak_cuda_mb']:.0f}" for a in largest[f"{s}_attempts"]
                      if a["batch"] == largest[s] and a["fits"]), "–") + " |" for s in SIDES),
            "",
            f"Largest-batch ratio fused / plain: {largest['ratio']:.2f}" if largest["ratio"] else
            "The plain side does not fit a batch of 1.",
        ]
    else:
        batch_lines = [f"Largest batch: {largest['note']}."]
    markdown = "\n".join([
        "# training: fused SPLADE head vs plain sentence-transformers",
        "",
        f"{args.model}, batch {args.batch_size} triplets, max_seq_length {args.max_seq_length}, "
        f"{args.steps} steps x {args.repeats} runs per side (best run shown; first step not timed), "
        f"{precision}, {where}, {figures['machine']['date']}.",
        f"Memory: {memory_method}.",
        "",
        f"| side | triplets/s | {peak_label} | training increment MB | loss per step |",
        "| --- | ---: | ---: | ---: | --- |",
        *rows,
        "",
        f"Speed-up {figures['speedup']:.2f}x; peak memory ratio {figures[f'peak_{memory}_ratio']:.2f}; "
        f"training-increment ratio {figures['train_increment_ratio']:.2f}; "
        f"loss curves max abs difference {loss_diff:.2e}.",
        "",
        "## largest batch that fits",
        "",
        *batch_lines,
        "",
    ])
    write_results(name, figures, markdown, args.output)
    tolerance = LOSS_TOLERANCE_BF16 if args.bf16 else LOSS_TOLERANCE
    if loss_diff > tolerance:
        print(f"loss curves differ by {loss_diff:.2e} > {tolerance}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
