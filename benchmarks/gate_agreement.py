"""How often the gate's decision on generated queries agrees with judged queries, before and after
the three-way split, the whole-corpus test set and the interval.

Usage: python benchmarks/gate_agreement.py BEIR_FOLDER [--variants a,b] [--max-steps N]
       [--max-documents N] [--workdir DIR] [--set KEY=VALUE ...]

BEIR_FOLDER holds a corpus (`corpus.jsonl`) and judged queries (`queries.jsonl`,
`qrels/test.tsv`), e.g. ../shared/benchmarks/cisi. The pipeline sees the corpus only: every
variant is what `dvc repro` runs with `data.source: BEIR_FOLDER/corpus.jsonl` (the stage
functions in order, params.yaml and its preset, plus `--set` and the variant's `train.*`); the
data stages run once, since the variants differ only from train on, as `dvc repro` would rerun
them. The judged queries only measure.

For each variant (training steps, learning rate, regularizer weight) it records:

- truth: is the trained model better than its base model on the judged queries (NDCG@10)?
- before: the gate as it was: the held-out set is the held-out documents' chunks only, the
  same set picks the checkpoint (here the dev documents: the model was selected on them), and the
  model's NDCG@10 must be at least the base model's (min_delta 0, no interval);
- after: the gate now: the test split, searched against the whole chunk corpus, never seen by
  training; promotion needs the lower end of the 90% paired-bootstrap interval of the gain above 0;
- judged gate: the same rule with the judged folder as `register.metric`, the recommended setup.

It writes benchmarks/results/gate_agreement_<folder>.json and .md. Approximation: "before" uses
the model this code trains (checkpoint chosen on dev with the whole corpus, initial weights when
step 0 wins), so it isolates the evaluation set and rule, not the old checkpoint bug.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

# name -> train.* overrides: steps, learning rates and regularizer weights around the cpu-tiny preset.
VARIANTS: dict[str, dict[str, Any]] = {
    "preset": {},
    "long": {"max_steps": 120},
    "lr-high": {"learning_rate": 3e-4},
    "lr-low": {"learning_rate": 5e-6},
    "reg-light": {"query_regularizer_weight": 5e-5, "document_regularizer_weight": 3e-4},
    "reg-heavy": {"query_regularizer_weight": 5e-3, "document_regularizer_weight": 3e-2},
}


def load(overrides: list[str]):
    from spladeforge.config import load_params

    return load_params(REPO / "params.yaml", overrides)


def data_stages(params, root: Path) -> dict[str, Any]:
    """ingest -> chunk -> generate-queries -> split -> mine, as dvc.yaml runs them."""
    from spladeforge.stages import chunk, generate_queries, ingest, mine, split

    data = root / "data"
    ingest.run(params.data, data / "documents.jsonl")
    chunk.run(params.chunk, data / "documents.jsonl", data / "chunks.jsonl")
    generate_queries.run(params.generate_queries, data / "chunks.jsonl", data / "queries.jsonl", params.seed)
    counts = split.run(params.split, data / "queries.jsonl", data / "chunks.jsonl", data / "split/train.jsonl",
                       data / "split/dev", data / "split/test", params.seed)
    mine.run(params.mine, data / "split/train.jsonl", data / "chunks.jsonl", data / "train_tuples.jsonl",
             params.seed)
    return {k: v for k, v in counts.items() if k != "outputs"}


def old_heldout_set(root: Path) -> Path:
    """The held-out set as the two-way split wrote it: dev's queries over the dev documents' chunks only."""
    from spladeforge.evaluation.beir import load_beir, write_beir
    from spladeforge.io import iter_jsonl

    dev = load_beir(root / "data/split/dev")
    docs = {r["doc_id"] for r in iter_jsonl(root / "data/chunks.jsonl") if r["id"] in
            {c for rels in dev.qrels.values() for c in rels}}
    corpus = {c["id"]: (c.get("title", ""), c["text"]) for c in iter_jsonl(root / "data/chunks.jsonl")
              if c["doc_id"] in docs}
    qrels = {q: {c: 1 for c, g in rels.items() if c in corpus and g == 2} for q, rels in dev.qrels.items()}
    folder = root / "data/old-heldout"
    write_beir(folder, corpus, dev.queries, qrels)
    return folder


def base_folder(params, root: Path) -> Path:
    from spladeforge.models.build import load_sparse_encoder

    folder = root / "models/base"
    if not (folder / "modules.json").is_file():
        load_sparse_encoder(params.train.base_model, max_seq_length=params.train.max_seq_length).save(str(folder))
        (folder / "spladeforge.json").write_text(json.dumps({"base_model": params.train.base_model,
                                                             "max_seq_length": params.train.max_seq_length}))
    return folder


def gate(candidate: dict[str, float], reference: dict[str, float], seed: int) -> dict[str, Any]:
    """register's rule with no champion: the paired bootstrap's lower bound above min_delta 0."""
    from spladeforge.registry.evidence import paired_bootstrap
    from spladeforge.registry.policy import decide

    interval = paired_bootstrap(candidate, reference, samples=2000, confidence=0.9, seed=seed)
    mean = sum(candidate.values()) / len(candidate)
    ref = sum(reference.values()) / len(reference)
    decision = decide(mean, min_delta=0.0, base_value=ref, interval=interval)
    return {"promoted": decision.promoted, "model": round(mean, 4), "base": round(ref, 4),
            "low": round(interval.low, 4), "high": round(interval.high, 4), "queries": interval.queries}


def run_variant(name: str, train_overrides: dict[str, Any], params, folder: Path, root: Path,
                old_set: Path) -> dict[str, Any]:
    from spladeforge.config import EvaluateConfig
    from spladeforge.evaluation.beir import load_beir
    from spladeforge.evaluation.reference import score_saved_model
    from spladeforge.stages import evaluate, train

    work = root / "variants" / name
    cfg = params.train.model_copy(update=train_overrides)
    cfg = type(cfg).model_validate(cfg.model_dump())  # validated like params.yaml
    started = time.perf_counter()
    summary = train.run(cfg, root / "data/train_tuples.jsonl", root / "data/split/dev", work / "model",
                        work / "reports", params.seed)
    ecfg = params.evaluate.model_copy(update={"beir_datasets": [str(folder)], "beir_split": "test",
                                              "mteb_tasks": [], "dense_model": None, "compare_bm25": False,
                                              "error_analysis_queries": 0, "latency_queries": 0})
    ecfg = EvaluateConfig.model_validate(ecfg.model_dump())
    evaluate.run(ecfg, work / "model", root / "data/split/test", work / "eval", work / "metrics.json")
    per_query = json.loads((work / "eval/per_query.json").read_text())
    judged_label = next(label for label in per_query if label != "held-out")
    sets = {"old": load_beir(old_set)}
    old_model = score_saved_model(ecfg, work / "model", sets)["old"].figures["ndcg_at_10"]
    old_base = score_saved_model(ecfg, base_folder(params, root), sets)["old"].figures["ndcg_at_10"]
    judged = per_query[judged_label]
    after = gate(per_query["held-out"]["model"], per_query["held-out"]["base"], params.seed)
    judged_gate = gate(judged["model"], judged["base"], params.seed)
    truth = judged_gate["model"] > judged_gate["base"]
    before = old_model >= old_base
    return {
        "variant": name, "train": train_overrides, "steps": summary["steps"], "best_step": summary["best_step"],
        "kept": summary["kept"], "seconds": round(time.perf_counter() - started, 1),
        "truth_better_on_judged": truth, "judged": judged_gate,
        "before": {"promoted": before, "model": round(old_model, 4), "base": round(old_base, 4),
                   "queries": len(sets["old"].queries), "corpus": len(sets["old"].corpus)},
        "after": after, "before_agrees": before == truth, "after_agrees": after["promoted"] == truth,
        "judged_gate_agrees": judged_gate["promoted"] == truth,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Gate agreement on {result['folder']}", "",
             f"{result['machine']}; {result['split']['train_documents']} / {result['split']['dev_documents']} / "
             f"{result['split']['test_documents']} train / dev / test documents, "
             f"{result['split']['test_queries']} generated test queries over {result['split']['corpus_chunks']} "
             f"chunks; the old held-out set: {result['variants'][0]['before']['queries']} queries over "
             f"{result['variants'][0]['before']['corpus']} chunks.", "",
             "| variant | kept (best step) | judged model / base | truth | before: model / base | before | "
             "after: model / base [90% interval] | after | judged gate |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for v in result["variants"]:
        b, a, j = v["before"], v["after"], v["judged"]
        lines.append(
            f"| {v['variant']} | {v['kept']} ({v['best_step']}) | {j['model']:.4f} / {j['base']:.4f} | "
            f"{'better' if v['truth_better_on_judged'] else 'not better'} | {b['model']:.4f} / {b['base']:.4f} | "
            f"{'promote' if b['promoted'] else 'keep'} ({'agrees' if v['before_agrees'] else 'disagrees'}) | "
            f"{a['model']:.4f} / {a['base']:.4f} [{a['low']:+.4f}, {a['high']:+.4f}] | "
            f"{'promote' if a['promoted'] else 'keep'} ({'agrees' if v['after_agrees'] else 'disagrees'}) | "
            f"{'promote' if j['promoted'] else 'keep'} |")
    s = result["summary"]
    lines += ["", f"Agreement with the judged truth: before {s['before_agrees']}/{s['variants']}, "
                  f"after {s['after_agrees']}/{s['variants']}, judged gate {s['judged_gate_agrees']}/{s['variants']}.",
              "", f"Command: `{result['command']}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a BEIR folder with judged queries")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--max-steps", type=int, help="train.max_steps of every variant that does not set its own")
    parser.add_argument("--max-documents", default="null", help="data.max_documents (default: the whole corpus)")
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE params override")
    args = parser.parse_args()

    folder = args.folder.resolve()
    names = [n for n in args.variants.split(",") if n]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    overrides = [f"data.source={folder / 'corpus.jsonl'}", f"data.max_documents={args.max_documents}",
                 *args.overrides]
    params = load(overrides)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="spladeforge-gate-agreement-"))
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SPLADEFORGE_MANIFEST_DIR", str(root / "manifests"))
    started = time.perf_counter()
    split = data_stages(params, root)
    old_set = old_heldout_set(root)
    variants = []
    for name in names:
        train_overrides = dict(VARIANTS[name])
        if args.max_steps is not None and "max_steps" not in train_overrides:
            train_overrides["max_steps"] = args.max_steps
        variants.append(run_variant(name, train_overrides, params, folder, root, old_set))
        print(json.dumps(variants[-1]), flush=True)
    result = {
        "folder": folder.name, "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "command": "python benchmarks/gate_agreement.py " + " ".join(
            [folder.name, f"--variants {','.join(names)}"]
            + ([f"--max-steps {args.max_steps}"] if args.max_steps is not None else [])
            + [f"--max-documents {args.max_documents}"] + [f"--set {o}" for o in args.overrides]),
        "split": split, "seconds": round(time.perf_counter() - started, 1), "variants": variants,
        "summary": {"variants": len(variants), **{key: sum(v[key] for v in variants) for key in
                                                   ("before_agrees", "after_agrees", "judged_gate_agrees")}},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"gate_agreement_{folder.name}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
