"""Does adapting to a corpus beat the base model on that corpus's judged queries? The pipeline on the
documents alone, then BM25, the base, the adapted model, dense and hybrid scored on human judgments.

Usage: python benchmarks/adaptation.py BEIR_FOLDER [--preset cpu-adapt] [--ablations all|a,b]
       [--steps 150,300] [--doc-reg 1e-3,3e-3] [--set KEY=VALUE ...] [--workdir DIR [--resume]]

BEIR_FOLDER holds `corpus.jsonl` and judged queries (`queries.jsonl`, `qrels/test.tsv`), e.g.
../shared/benchmarks/cisi. A copy of the project runs the real dvc.yaml (`dvc repro`, offline) with
`data.source: BEIR_FOLDER/corpus.jsonl` under the preset: every stage sees the documents only. The
folder is added to `evaluate.beir_datasets` (read where it is, never copied), so `evaluate` scores
the five systems on the judged queries; nothing that trains or selects reads them (train picks its
step on the generated dev split, the gate decides on the generated test split).

Then, in the same project, each ablation turns one technique off (params changed, `dvc repro`
reruns what depends on them), each `--steps` value retrains with that many steps and each `--doc-reg`
value with that document regularizer weight (the NDCG@10 against active dimensions trade-off). Recorded per
run: judged NDCG@10 of every system, document/query active dimensions, the generated test set's
figures, wall time of `dvc repro` and each stage's seconds and peak RSS (the stage manifests).
Writes benchmarks/results/adaptation_<folder>_<preset>.json and .md, and plots (NDCG@10 against
training steps; NDCG@10 against document active dimensions, with the base's dims as the budget).
`--resume` with the same --workdir adds runs to that record and skips the runs it already holds
(the preset's included), so a sweep can be extended without retraining what it measured.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _load import LoadSampler  # benchmarks/ is on sys.path: the scripts run from it

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SYSTEMS = ("bm25", "base", "model", "dense", "hybrid")
# train's `kept`: which weights the run shipped ("initial": train.max_dev_drop put the base back)
SHIPPED = {"last": "last step", "best": "best dev step", "initial": "the base (dev fell too far)"}

# name -> (what it turns off, params overrides as dotted keys). One technique off (or, for one the
# preset leaves off, on) at a time, relative to the preset.
ABLATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "no-teacher": ("teacher pseudo-labels (MNRL with the mined negative instead of MarginMSE)",
                   {"mine.teacher": "none", "train.distillation": "none"}),
    "no-title-queries": ("title -> body pairs", {"generate_queries.mix.title": 0.0}),
    "keep-ict-sentence": ("removing the inverse-cloze sentence from its passage",
                          {"generate_queries.ict_remove_sentence": 0.0}),
    "keep-false-negatives": ("dropping negatives the teacher scores at or above the positive",
                             {"mine.drop_false_negatives": False}),
    "teacher-scale-1": ("calibrating the teacher's scale to the student's margins", {"train.teacher_scale": 1.0}),
    "scratch-sparsity": ("regularizer weights for continued training (back to cpu-tiny's 5e-4 / 3e-3)",
                         {"train.query_regularizer_weight": 5e-4, "train.document_regularizer_weight": 3e-3}),
    # A technique the preset leaves off, turned on the same way (one change at a time).
    "expansion-queries": ("nothing; adds the base model's expansion terms as queries (mix.expansion 0.2)",
                          {"generate_queries.mix.expansion": 0.2}),
}


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", MLFLOW_DISABLE_TELEMETRY="true")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for name in ("MLFLOW_TRACKING_URI", "SPLADEFORGE_MANIFEST_DIR"):
        env.pop(name, None)
    return env


def _run(cmd: list[str], cwd: Path) -> str:
    """Run `cmd` in `cwd`, keep its output in last_command.log and return it.

    The copy's own `src` comes first on the path, so the stages run the sources the copy was made
    from even when the checkout is edited during a long run (the editable install points there).
    """
    env = _env()
    if (cwd / "src").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd / "src"), env.get("PYTHONPATH")]))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    (cwd / "last_command.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def set_dotted(params: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = params
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def preset_params(preset: str) -> dict[str, Any]:
    """The preset's values under params.yaml's, as the loader merges them (for editing in place)."""
    from spladeforge.config import load_params

    return load_params(REPO / "params.yaml", [f"preset={preset}"]).model_dump(mode="json")


def make_project(root: Path, preset: str, folder: Path, overrides: list[str]) -> dict[str, Any]:
    """The project copy in `root`; a `root` that already holds one (a kept --workdir) gets the current
    sources and params, and `dvc repro` then reruns only what changed."""
    existing = (root / ".dvc").is_dir()
    for name in ("dvc.yaml", "configs", "src", "judgments"):
        if (root / name).is_dir():
            shutil.rmtree(root / name)
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy)(REPO / name, root / name)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["preset"] = preset
    params["data"]["source"] = str(folder / "corpus.jsonl")
    params["evaluate"]["beir_datasets"] = [str(folder)]
    for item in overrides:
        key, _, value = item.partition("=")
        set_dotted(params, key, yaml.safe_load(value))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if existing:
        return params
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                [sys.executable, "-m", "dvc", "config", "core.analytics", "false"], ["git", "add", "-A"],
                ["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench", "commit", "-qm", "p"]):
        _run(cmd, root)
    return params


def with_changes(params: dict[str, Any], preset: str, changes: dict[str, Any]) -> dict[str, Any]:
    """params.yaml with `changes` applied on top of the preset's value of each changed section.

    A section's keys in params.yaml win over the preset's, so a changed key is written there; for
    `generate_queries.mix` the preset's whole mix is copied first, then the one weight changed. A
    weight turned off is written as 0, not left out: params.yaml is merged over the preset key by
    key, so a missing type would come back with the preset's weight.
    """
    out = copy.deepcopy(params)
    merged = preset_params(preset)
    for key, value in changes.items():
        if key.startswith("generate_queries.mix."):
            mix = dict(merged["generate_queries"]["mix"])
            mix[key.rsplit(".", 1)[1]] = value
            set_dotted(out, "generate_queries.mix", mix)
        else:
            set_dotted(out, key, value)
    return out


def repro(root: Path, params: dict[str, Any], name: str, changes: dict[str, Any]) -> dict[str, Any]:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    started = time.perf_counter()
    with LoadSampler() as load:
        log = _run([sys.executable, "-m", "dvc", "repro"], root)
    seconds = time.perf_counter() - started
    ran = re.findall(r"Running stage '([\w-]+)'", log)
    manifests = {m["stage"]: m for m in
                 (json.loads(p.read_text()) for p in (root / "reports/manifests").glob("*.json"))}
    metrics = json.loads((root / "reports/metrics.json").read_text())
    train = json.loads((root / "models/splade/spladeforge.json").read_text())
    label = next(k.removesuffix("_model_ndcg_at_10") for k in metrics
                 if k.endswith("_model_ndcg_at_10") and k != "model_ndcg_at_10")
    judged = {s: metrics.get(f"{label}_{s}_ndcg_at_10") for s in SYSTEMS}
    curves = root / "reports/train/val_ndcg.csv"
    result = {
        "run": name, "changes": changes, "repro_seconds": round(seconds, 1), "stages_run": ran,
        "mean_load_average": load.mean,
        "judged_ndcg_at_10": judged,
        "judged_queries": metrics.get(f"{label}_num_queries"),
        "doc_active_dims": {s: metrics.get(f"{label}_{s}_doc_active_dims") for s in ("base", "model")},
        "query_active_dims": {s: metrics.get(f"{label}_{s}_query_active_dims") for s in ("base", "model")},
        "generated_test": {s: metrics.get(f"{s}_ndcg_at_10") for s in ("bm25", "base", "model")},
        "steps": train.get("train", {}).get("max_steps"), "best_step": train.get("best_step"),
        "kept": train.get("kept"),
        "dev_curve": [line.split(",") for line in curves.read_text().splitlines()[1:]] if curves.is_file() else [],
        "stages": {stage: {"seconds": round(m["seconds"], 1), "peak_rss_mb": m.get("peak_rss_mb")}
                   for stage, m in sorted(manifests.items())},
        "peak_rss_mb": max((m.get("peak_rss_mb") or 0) for m in manifests.values()),
    }
    print(json.dumps({k: result[k] for k in ("run", "judged_ndcg_at_10", "doc_active_dims", "repro_seconds")}),
          flush=True)
    return result


def plots(result: dict[str, Any], stem: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    first = runs[0]
    written = []
    fig, ax = plt.subplots(figsize=(6.4, 5))
    # The preset's run and its --steps reruns; a record that outlived a preset change keeps the old
    # schedule as its own line (runs marked `steps_series`).
    schedule = [r for r in runs if r["run"] == "preset" or r["run"].startswith("steps-") or "steps_series" in r]
    series: dict[str, list[tuple[int, float]]] = {}
    for r in schedule:
        # A run whose dev fell past train.max_dev_drop shipped the base: its trained model was not scored.
        if r.get("kept") != "initial":
            series.setdefault(r.get("steps_series", "the preset"), []).append(
                (r["steps"], r["judged_ndcg_at_10"]["model"]))
    for name, points in series.items():
        points = [(0, first["judged_ndcg_at_10"]["base"]), *sorted(points)]
        ax.plot([s for s, _ in points], [v for _, v in points], "o-", label=f"adapted model (judged), {name}")
    guarded = sorted(r["steps"] for r in schedule if r.get("kept") == "initial")
    if guarded:
        ax.plot(guarded, [first["judged_ndcg_at_10"]["base"]] * len(guarded), "x", color="red", markersize=9,
                label="base shipped: dev fell past max_dev_drop")
    for system, style in (("bm25", "--"), ("dense", ":")):
        ax.axhline(first["judged_ndcg_at_10"][system], linestyle=style, color="grey", label=system)
    ax.set_xlabel("training steps (0: the base model)")
    ax.set_ylabel("NDCG@10 on judged queries")
    ax.set_title(f"{result['folder']}, {result['preset']}")
    longest = max(schedule, key=lambda r: len(r.get("dev_curve") or []), default=None)
    if longest and longest.get("dev_curve"):
        # The generated dev split of the longest run, on its own axis: it falls while judged rises.
        dev = ax.twinx()
        curve = [(int(s), float(v)) for s, v in longest["dev_curve"]]
        of = ", ".join([f"{longest['steps']}-step run", *filter(None, [longest.get("steps_series")])])
        dev.plot([s for s, _ in curve], [v for _, v in curve], "s--", color="tab:purple", alpha=0.6,
                 label=f"generated dev ({of})")
        dev.set_ylabel("NDCG@10 on generated dev queries")
        ax.set_zorder(dev.get_zorder() + 1)  # the judged points in front of the dev curve
        ax.patch.set_visible(False)
        handles, labels = ax.get_legend_handles_labels()
        more, more_labels = dev.get_legend_handles_labels()
        ax.legend(handles + more, labels + more_labels, fontsize=7, loc="upper center",
                  bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    else:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(stem.with_name(stem.name + "_steps.png"), dpi=120)
    written.append(stem.name + "_steps.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([first["doc_active_dims"]["base"]], [first["judged_ndcg_at_10"]["base"]], marker="s", label="base")
    for r in runs:
        ax.scatter([r["doc_active_dims"]["model"]], [r["judged_ndcg_at_10"]["model"]])
        ax.annotate(r["run"], (r["doc_active_dims"]["model"], r["judged_ndcg_at_10"]["model"]), fontsize=7)
    ax.axvline(first["doc_active_dims"]["base"], linestyle=":", color="grey", label="budget: the base's dims")
    ax.set_xlabel("document active dimensions")
    ax.set_ylabel("NDCG@10 on judged queries")
    ax.legend()
    fig.tight_layout()
    fig.savefig(stem.with_name(stem.name + "_dims.png"), dpi=120)
    written.append(stem.name + "_dims.png")
    plt.close(fig)
    return written


def markdown(result: dict[str, Any]) -> str:
    def cell(value: Any) -> str:
        return "–" if value is None else (f"{value:.4f}" if isinstance(value, float) and value < 1 else str(value))

    runs = result["runs"]
    first = runs[0]
    j = first["judged_ndcg_at_10"]
    lines = [f"# Adapting to {result['folder']} with {result['preset']}", "",
             f"{result['machine']}. `dvc repro` on the corpus only ({result['documents']} documents); "
             f"{first['judged_queries']} judged queries score the systems.", "",
             "| system | NDCG@10 (judged) |", "| --- | ---: |"]
    lines += [f"| {s} | {cell(j[s])} |" for s in SYSTEMS]
    ran = first.get("stages_run")
    which = "all stages" if ran is None or set(first["stages"]) <= set(ran) else \
        f"stages {', '.join(ran)}: a kept --workdir had the others"
    lines += ["", f"Wall time of the first `dvc repro` ({which}): {first['repro_seconds']:.0f} s at a mean "
                  f"1-minute load of {first['mean_load_average']} on {os.cpu_count()} cores (above the core count, "
                  f"the machine was shared and the time inflated); peak RSS {first['peak_rss_mb']:.0f} MB. Later "
                  "runs rerun only the stages their change touches.", "",
              "| run | what is off | model | delta vs preset | vs base | doc dims (base) | query dims | "
              "generated test model / base | shipped | repro s |",
              "| --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | ---: |"]
    for r in runs:
        m = r["judged_ndcg_at_10"]["model"]
        lines.append(
            f"| {r['run']} | {r['off']} | {cell(m)} | {m - j['model']:+.4f} | "
            f"{m - r['judged_ndcg_at_10']['base']:+.4f} | "
            f"{cell(r['doc_active_dims']['model'])} ({cell(r['doc_active_dims']['base'])}) | "
            f"{cell(r['query_active_dims']['model'])} | {cell(r['generated_test']['model'])} / "
            f"{cell(r['generated_test']['base'])} | {SHIPPED.get(r.get('kept'), cell(r.get('kept')))} | "
            f"{r['repro_seconds']:.0f} |")
    lines += ["", "Stages of the first run (seconds, peak RSS MB):", "",
              "| stage | seconds | peak RSS MB |", "| --- | ---: | ---: |"]
    lines += [f"| {s} | {v['seconds']} | {cell(v['peak_rss_mb'])} |" for s, v in first["stages"].items()]
    lines += ["", *[f"![{p}]({p})" for p in result["plots"]], "", f"Command: `{result['command']}`"]
    return "\n".join(lines) + "\n"


def record(result: dict[str, Any], stem: Path) -> None:
    """Write the runs so far: the JSON, the markdown table and the plots."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    result["plots"] = plots(result, stem)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a BEIR folder with judged queries (read, never copied)")
    parser.add_argument("--preset", default="cpu-adapt")
    parser.add_argument("--ablations", default="", help=f"'all' or comma-separated of {', '.join(ABLATIONS)}")
    parser.add_argument("--steps", default="", help="comma-separated train.max_steps to retrain with (the plot)")
    parser.add_argument("--doc-reg", default="",
                        help="comma-separated train.document_regularizer_weight values to retrain with")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE params override")
    parser.add_argument("--workdir", type=Path, help="keep the project here (default: a temporary folder)")
    parser.add_argument("--resume", action="store_true",
                        help="add to the record this --workdir's runs wrote, skipping the runs it holds")
    args = parser.parse_args()
    folder = args.folder.resolve()
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        if not (folder / name).is_file():
            raise SystemExit(f"{folder}: not a BEIR folder with judged queries (no {name})")
    ablations = list(ABLATIONS) if args.ablations == "all" else [a for a in args.ablations.split(",") if a]
    unknown = sorted(set(ablations) - set(ABLATIONS))
    if unknown:
        raise SystemExit(f"unknown ablation(s) {', '.join(unknown)}; known: {', '.join(ABLATIONS)}")
    if args.resume and args.workdir is None:
        raise SystemExit("--resume needs the --workdir of the runs it adds to")
    steps = [int(s) for s in args.steps.split(",") if s]
    doc_reg = [float(w) for w in args.doc_reg.split(",") if w]

    extras = (([f"--ablations {','.join(ablations)}"] if ablations else [])
              + ([f"--steps {args.steps}"] if steps else []) + ([f"--doc-reg {args.doc_reg}"] if doc_reg else [])
              + [f"--set {o}" for o in args.overrides])
    root = args.workdir or Path(tempfile.mkdtemp(prefix="spladeforge-adaptation-"))
    root.mkdir(parents=True, exist_ok=True)
    params = make_project(root, args.preset, folder, args.overrides)
    documents = sum(1 for _ in (folder / "corpus.jsonl").open())
    result = {
        "folder": folder.name, "preset": args.preset, "documents": documents,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "command": " ".join(["python benchmarks/adaptation.py", folder.name, f"--preset {args.preset}", *extras]),
        "runs": [],
    }
    stem = RESULTS / f"adaptation_{folder.name}_{args.preset}"
    if args.resume:
        if not stem.with_suffix(".json").is_file():
            raise SystemExit(f"--resume: no record {stem.with_suffix('.json')} to add to")
        previous = json.loads(stem.with_suffix(".json").read_text())
        result["runs"] = previous["runs"]
        result["command"] = previous["command"] + " ".join(["; then --resume", *extras])
    planned = [("preset", {}, "nothing (the preset)")]
    planned += [(f"doc-reg-{w:g}", {"train.document_regularizer_weight": w}, f"document regularizer {w:g}")
                for w in doc_reg]
    planned += [(name, ABLATIONS[name][1], ABLATIONS[name][0]) for name in ablations]
    planned += [(f"steps-{n}", {"train.max_steps": n}, f"{n} training steps") for n in steps]
    done = {r["run"] for r in result["runs"]}
    for name, changes, off in planned:
        if name in done:
            continue
        result["runs"].append({**repro(root, with_changes(params, args.preset, changes), name, changes), "off": off})
        record(result, stem)  # after every run: an interrupted sweep keeps what it measured
    print(markdown(result))
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
