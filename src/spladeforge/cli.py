"""The `spladeforge` command: one subcommand per stage, each parsing paths and calling `run`.

No stage logic lives here: the same `stages.<name>.run` functions are called by `dvc.yaml`
(through this CLI) and by the Kubeflow components.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from spladeforge.config import Params, load_params
from spladeforge.errors import SpladeforgeError
from spladeforge.kubeflow import pipeline_app
from spladeforge.registry.cli import registry_app

app = typer.Typer(
    help="Train learned sparse retrieval (SPLADE) models on your own documents and ship them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

app.add_typer(pipeline_app, name="pipeline")
app.add_typer(registry_app, name="registry")

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="Run configuration (YAML).")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a parameter, e.g. --set train.learning_rate=1e-4 (repeatable).")]


def _offline_defaults() -> None:
    # Hub ids still work when the user opts in with HF_HUB_OFFLINE=0; the default run and the
    # tests never reach for the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("spladeforge").setLevel(logging.INFO)


def _params(path: Path, overrides: list[str] | None) -> Params:
    return load_params(path, overrides or [])


def _summary(stage: str, result: dict[str, Any], started: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"spladeforge {stage}: done in {time.perf_counter() - started:.1f} s",
                  show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key.replace("_", " "), str(value))
    Console(stderr=False).print(table)


def _stage(name: str, fn, *args, inputs: tuple[Path, ...] = (), recorded: Any = None,
           hashed: dict[str, str] | None = None, **kwargs) -> dict[str, Any]:
    """Run a stage, print its summary, and record its manifest (input hashes, params, versions)."""
    from spladeforge.manifest import hash_inputs, write_manifest

    input_hashes = hashed if hashed is not None else hash_inputs(inputs)
    wall, started = time.time(), time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - started
    section = recorded.model_dump(mode="json") if hasattr(recorded, "model_dump") else (recorded or {})
    write_manifest(name, section, input_hashes, result, wall, seconds)
    _summary(name, result, started)
    return result


@app.command()
def ingest(
    output: Annotated[Path, typer.Option(help="documents.jsonl to write.")] = Path("data/documents.jsonl"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Read `data.source` (python-stdlib-docs, a folder, or a JSONL corpus) into documents.jsonl."""
    from spladeforge.stages import ingest as stage

    cfg = _params(params, set_).data
    _stage("ingest", stage.run, cfg, output, recorded=cfg)


@app.command()
def chunk(
    documents: Annotated[Path, typer.Option(help="documents.jsonl from ingest.")] = Path("data/documents.jsonl"),
    output: Annotated[Path, typer.Option(help="chunks.jsonl to write.")] = Path("data/chunks.jsonl"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Cut documents into overlapping windows at paragraph, sentence or word boundaries."""
    from spladeforge.stages import chunk as stage

    cfg = _params(params, set_).chunk
    _stage("chunk", stage.run, cfg, documents, output, inputs=(documents,), recorded=cfg)


@app.command("generate-queries")
def generate_queries(
    chunks: Annotated[Path, typer.Option(help="chunks.jsonl from chunk.")] = Path("data/chunks.jsonl"),
    output: Annotated[Path, typer.Option(help="queries.jsonl to write.")] = Path("data/queries.jsonl"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Generate training queries (keywords, questions, sentences) for every chunk."""
    from spladeforge.stages import generate_queries as stage

    p = _params(params, set_)
    _stage("generate-queries", stage.run, p.generate_queries, chunks, output, p.seed, inputs=(chunks,),
           recorded={"seed": p.seed, **p.generate_queries.model_dump(mode="json")})


@app.command()
def split(
    queries: Annotated[Path, typer.Option(help="queries.jsonl.")] = Path("data/queries.jsonl"),
    chunks: Annotated[Path, typer.Option(help="chunks.jsonl.")] = Path("data/chunks.jsonl"),
    train_output: Annotated[Path, typer.Option(help="Training pairs to write.")] = Path("data/split/train.jsonl"),
    validation_output: Annotated[Path, typer.Option(help="BEIR folder to write.")] = Path("data/split/validation"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Hold out whole documents for validation; write the held-out side as a BEIR folder."""
    from spladeforge.stages import split as stage

    p = _params(params, set_)
    _stage("split", stage.run, p.split, queries, chunks, train_output, validation_output, p.seed,
           inputs=(queries, chunks), recorded={"seed": p.seed, **p.split.model_dump(mode="json")})


@app.command()
def mine(
    train: Annotated[Path, typer.Option(help="Training pairs from split.")] = Path("data/split/train.jsonl"),
    chunks: Annotated[Path, typer.Option(help="chunks.jsonl.")] = Path("data/chunks.jsonl"),
    output: Annotated[Path, typer.Option(help="Training tuples to write.")] = Path("data/train_tuples.jsonl"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Mine hard negatives for each training query from a BM25 rank window."""
    from spladeforge.stages import mine as stage

    p = _params(params, set_)
    _stage("mine", stage.run, p.mine, train, chunks, output, p.seed, inputs=(train, chunks),
           recorded={"seed": p.seed, **p.mine.model_dump(mode="json")})


@app.command()
def train(
    tuples: Annotated[Path, typer.Option(help="Training tuples from mine.")] = Path("data/train_tuples.jsonl"),
    validation: Annotated[Path, typer.Option(help="Validation BEIR folder.")] = Path("data/split/validation"),
    output: Annotated[Path, typer.Option(help="Model folder to write.")] = Path("models/splade"),
    reports: Annotated[Path, typer.Option(help="Training curves folder.")] = Path("reports/train"),
    documents_meta: Annotated[Path, typer.Option(
        help="ingest's normalization record, copied into the model so inference normalizes alike."
    )] = Path("data/documents.meta.json"),
    checkpoints: Annotated[Path | None, typer.Option(
        help="Checkpoint folder (default: hidden beside --output); a rerun resumes from it.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Fine-tune the base model with SpladeLoss; keep the checkpoint with the best validation NDCG@10."""
    from spladeforge.stages import train as stage

    p = _params(params, set_)
    provenance = stage.provenance(tuples, validation, documents_meta)
    hashed = {str(tuples): provenance["tuples_sha256"], str(validation): provenance["validation_sha256"]}
    _stage("train", stage.run, p.train, tuples, validation, output, reports, p.seed, provenance=provenance,
           checkpoints=checkpoints, hashed=hashed, recorded={"seed": p.seed, **p.train.model_dump(mode="json")})


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="Trained model folder.")] = Path("models/splade"),
    task: Annotated[Path, typer.Option(help="BEIR folder of the held-out task.")] = Path("data/split/validation"),
    output: Annotated[Path, typer.Option(help="Folder for MTEB results and the report.")] = Path("reports/eval"),
    metrics: Annotated[Path, typer.Option(help="Flat metrics JSON for DVC.")] = Path("reports/metrics.json"),
    int8: Annotated[Path | None, typer.Option(
        help="INT8 ONNX folder from `quantize`: also evaluate it (quantize reports it on the held-out task)."
    )] = None,
    baseline: Annotated[Path | None, typer.Option(
        help="A previous metrics.json or report JSON: report the changes against it."
    )] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Evaluate the model against its base model, BM25, a dense model and a hybrid, with MTEB."""
    from spladeforge.stages import evaluate as stage

    cfg = _params(params, set_).evaluate
    _stage("evaluate", stage.run, cfg, model, task, output, metrics, int8_dir=int8, baseline=baseline,
           inputs=(model, task), recorded=cfg)


@app.command()
def quantize(
    model: Annotated[Path, typer.Option(help="Trained model folder.")] = Path("models/splade"),
    task: Annotated[Path, typer.Option(help="BEIR folder to measure quality on.")] = Path("data/split/validation"),
    output: Annotated[Path, typer.Option(help="INT8 ONNX folder to write.")] = Path("models/splade-int8"),
    report: Annotated[Path, typer.Option(help="Quality/speed report JSON.")] = Path("reports/quantize.json"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Export to ONNX with dynamic INT8 quantization; report the NDCG@10 change and speed-up."""
    from spladeforge.stages import quantize as stage

    cfg = _params(params, set_).quantize
    _stage("quantize", stage.run, cfg, model, task, output, report, inputs=(model, task), recorded=cfg)


@app.command()
def register(
    model: Annotated[Path, typer.Option(help="Trained model folder.")] = Path("models/splade"),
    metrics: Annotated[Path, typer.Option(help="metrics.json from evaluate.")] = Path("reports/metrics.json"),
    quantize_report: Annotated[Path, typer.Option(help="quantize.json.")] = Path("reports/quantize.json"),
    onnx: Annotated[Path, typer.Option(help="INT8 ONNX folder.")] = Path("models/splade-int8"),
    decision: Annotated[Path, typer.Option(help="Gate decision JSON to write.")] = Path("reports/register.json"),
    eval_dir: Annotated[Path, typer.Option(help="evaluate's report folder, logged with the run.")] = Path(
        "reports/eval"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Log to MLflow, register a version as `challenger`, promote to `champion` if it wins on NDCG@10."""
    from spladeforge.stages import register as stage

    p = _params(params, set_)
    _stage("register", stage.run, p.register, model, metrics, decision,
           quantize_report=quantize_report if quantize_report.exists() else None,
           onnx_dir=onnx if onnx.exists() else None, params=p.model_dump(mode="json"),
           eval_dir=eval_dir if eval_dir.exists() else None, inputs=(model, metrics), recorded=p.register)


@app.command()
def publish(
    model: Annotated[Path, typer.Option(help="Trained model folder.")] = Path("models/splade"),
    decision: Annotated[Path, typer.Option(help="register.json.")] = Path("reports/register.json"),
    metrics: Annotated[Path, typer.Option(help="metrics.json.")] = Path("reports/metrics.json"),
    quantize_report: Annotated[Path, typer.Option(help="quantize.json.")] = Path("reports/quantize.json"),
    onnx: Annotated[Path, typer.Option(help="INT8 ONNX folder.")] = Path("models/splade-int8"),
    output: Annotated[Path, typer.Option(help="Export folder to write.")] = Path("export"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Export the promoted model with a model card; push to the Hugging Face Hub when configured."""
    from spladeforge.stages import publish as stage

    p = _params(params, set_)
    _stage("publish", stage.run, p.publish, model, decision, metrics, output,
           quantize_report=quantize_report if quantize_report.exists() else None,
           onnx_dir=onnx if onnx.exists() else None,
           max_ndcg_drop=p.quantize.max_ndcg_drop, params=p.model_dump(mode="json"),
           inputs=(model, decision, metrics), recorded=p.publish)


@app.command("check-params")
def check_params(params: ParamsOpt = Path("params.yaml"), set_: SetOpt = None) -> None:
    """Validate the run configuration and print it, merged with its preset."""
    import yaml

    typer.echo(yaml.safe_dump(_params(params, set_).model_dump(mode="json"), sort_keys=False))


def main() -> None:
    _offline_defaults()
    try:
        app()
    except SpladeforgeError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except OSError as exc:
        # Disk full, permissions, a vanished mount: say which file, without a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        typer.secho(f"error: {exc.strerror or exc}{where}", err=True, fg=typer.colors.RED)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
