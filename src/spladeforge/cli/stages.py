"""`spladeforge <stage>`: one subcommand per stage, each parsing paths and calling the stage's `run`.

No stage logic lives here: `dvc.yaml` runs these commands and the Kubeflow components call the same
`stages.<name>.run` functions, both through `spladeforge.orchestration`, which records the manifest.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from spladeforge.cli.options import ParamsOpt, SetOpt
from spladeforge.config import Params, load_params, run_config
from spladeforge.orchestration import run_stage

app = typer.Typer(
    help="Train learned sparse retrieval (SPLADE) models on your own documents and ship them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _params(path: Path, overrides: list[str] | None) -> Params:
    return load_params(path, overrides or [])


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


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


def _run(stage: str, fn, *args: Any, params: Params, **kwargs: Any) -> dict[str, Any]:
    """Run a stage through the orchestration (manifest and all), then print its summary."""
    started = time.perf_counter()
    result = run_stage(stage, fn, *args, params=params, **kwargs)
    _summary(stage, result, started)
    return result


@app.command()
def ingest(
    output: Annotated[Path, typer.Option(help="documents.jsonl to write.")] = Path("data/documents.jsonl"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Read `data.source` (python-stdlib-docs, a folder, or a JSONL corpus) into documents.jsonl."""
    from spladeforge.stages import ingest as stage

    p = _params(params, set_)
    _run("ingest", stage.run, p.data, output, params=p)


@app.command()
def chunk(
    documents: Annotated[Path, typer.Option(help="documents.jsonl from ingest.")] = Path("data/documents.jsonl"),
    output: Annotated[Path, typer.Option(help="chunks.jsonl to write.")] = Path("data/chunks.jsonl"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Cut documents into overlapping windows at paragraph, sentence or word boundaries."""
    from spladeforge.stages import chunk as stage

    p = _params(params, set_)
    _run("chunk", stage.run, p.chunk, documents, output, params=p, inputs=(documents,))


@app.command("generate-queries")
def generate_queries(
    chunks: Annotated[Path, typer.Option(help="chunks.jsonl from chunk.")] = Path("data/chunks.jsonl"),
    output: Annotated[Path, typer.Option(help="queries.jsonl to write.")] = Path("data/queries.jsonl"),
    documents_meta: Annotated[Path, typer.Option(
        help="ingest's record of the corpus language (English when the file is missing)."
    )] = Path("data/documents.meta.json"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Generate training queries (keywords, titles, questions, sentences, expansion terms) for every chunk."""
    from spladeforge.stages import generate_queries as stage

    p = _params(params, set_)
    _run("generate-queries", stage.run, p.generate_queries, chunks, output, p.seed, documents_meta=documents_meta,
         params=p, inputs=(chunks, *filter(None, [_existing(documents_meta)])))


@app.command()
def split(
    queries: Annotated[Path, typer.Option(help="queries.jsonl.")] = Path("data/queries.jsonl"),
    chunks: Annotated[Path, typer.Option(help="chunks.jsonl.")] = Path("data/chunks.jsonl"),
    train_output: Annotated[Path, typer.Option(help="Training pairs to write.")] = Path("data/split/train.jsonl"),
    dev_output: Annotated[Path, typer.Option(
        help="Dev BEIR folder to write (checkpoint choice, early stopping).")] = Path("data/split/dev"),
    test_output: Annotated[Path, typer.Option(
        help="Test BEIR folder to write (evaluation and the promotion gate).")] = Path("data/split/test"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Split by document into train, dev and test; dev and test are BEIR folders over the whole chunk corpus."""
    from spladeforge.stages import split as stage

    p = _params(params, set_)
    _run("split", stage.run, p.split, queries, chunks, train_output, dev_output, test_output, p.seed, params=p,
         inputs=(queries, chunks))


@app.command()
def mine(
    train: Annotated[Path, typer.Option(help="Training pairs from split.")] = Path("data/split/train.jsonl"),
    chunks: Annotated[Path, typer.Option(help="chunks.jsonl.")] = Path("data/chunks.jsonl"),
    output: Annotated[Path, typer.Option(help="Training tuples to write.")] = Path("data/train_tuples.jsonl"),
    documents_meta: Annotated[Path, typer.Option(
        help="ingest's record of the corpus language, which BM25 tokenizes for (English when missing)."
    )] = Path("data/documents.meta.json"),
    dev: Annotated[Path | None, typer.Option(
        help="The dev split (BEIR folder): the ensemble teacher is scored on it beside the base model.")] = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Mine hard negatives for each training query from a BM25 rank window."""
    from spladeforge.stages import mine as stage

    p = _params(params, set_)
    _run("mine", stage.run, p.mine, train, chunks, output, p.seed, dev, documents_meta=documents_meta, params=p,
         inputs=(train, chunks, *filter(None, [dev, _existing(documents_meta)])))


@app.command()
def train(
    tuples: Annotated[Path, typer.Option(help="Training tuples from mine.")] = Path("data/train_tuples.jsonl"),
    dev: Annotated[Path, typer.Option(
        help="Dev BEIR folder: picks the checkpoint and stops early (never the test folder).")] = Path(
        "data/split/dev"),
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
    """Fine-tune the base model with SpladeLoss; keep the step (0 included) with the best dev NDCG@10."""
    from spladeforge.stages import train as stage

    p = _params(params, set_)
    provenance = stage.provenance(tuples, dev, documents_meta)
    _run("train", stage.run, p.train, tuples, dev, output, reports, p.seed, provenance=provenance,
         checkpoints=checkpoints, params=p, input_hashes=stage.input_hashes(tuples, dev, provenance))


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="Trained model folder.")] = Path("models/splade"),
    task: Annotated[Path, typer.Option(help="BEIR folder of the held-out task.")] = Path("data/split/test"),
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

    p = _params(params, set_)
    _run("evaluate", stage.run, p.evaluate, model, task, output, metrics, int8_dir=int8, baseline=baseline,
         params=p, inputs=(model, task))


@app.command()
def quantize(
    model: Annotated[Path, typer.Option(help="Trained model folder.")] = Path("models/splade"),
    task: Annotated[Path, typer.Option(help="BEIR folder to measure quality on.")] = Path("data/split/test"),
    output: Annotated[Path, typer.Option(help="INT8 ONNX folder to write.")] = Path("models/splade-int8"),
    report: Annotated[Path, typer.Option(help="Quality/speed report JSON.")] = Path("reports/quantize.json"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Export to ONNX with dynamic INT8 quantization; report the NDCG@10 change and speed-up."""
    from spladeforge.stages import quantize as stage

    p = _params(params, set_)
    _run("quantize", stage.run, p.quantize, model, task, output, report, params=p, inputs=(model, task))


@app.command()
def register(
    model: Annotated[Path, typer.Option(help="Trained model folder.")] = Path("models/splade"),
    metrics: Annotated[Path, typer.Option(help="metrics.json from evaluate.")] = Path("reports/metrics.json"),
    quantize_report: Annotated[Path, typer.Option(help="quantize.json.")] = Path("reports/quantize.json"),
    onnx: Annotated[Path, typer.Option(help="INT8 ONNX folder.")] = Path("models/splade-int8"),
    decision: Annotated[Path, typer.Option(help="Gate decision JSON to write.")] = Path("reports/register.json"),
    eval_dir: Annotated[Path, typer.Option(
        help="evaluate's report folder: its per_query.json feeds the gate; the reports are logged with the run."
    )] = Path("reports/eval"),
    task: Annotated[Path, typer.Option(
        help="The test BEIR folder evaluate scored: the champion is scored on it too.")] = Path("data/split/test"),
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Log to MLflow, register a version as `challenger`, promote it to `champion` if it clears the gate."""
    from spladeforge.stages import register as stage

    p = _params(params, set_)
    _run("register", stage.run, p.register, model, metrics, decision, eval_dir, task, evaluate=p.evaluate,
         seed=p.seed, max_ndcg_drop=p.quantize.max_ndcg_drop, quantize_report=_existing(quantize_report),
         onnx_dir=_existing(onnx), run_params=run_config(p), params=p, inputs=(model, metrics, eval_dir, task))


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
    _run("publish", stage.run, p.publish, model, decision, metrics, output,
         quantize_report=_existing(quantize_report), onnx_dir=_existing(onnx),
         max_ndcg_drop=p.quantize.max_ndcg_drop, run_params=run_config(p), params=p,
         inputs=(model, decision, metrics))


@app.command("check-params")
def check_params(params: ParamsOpt = Path("params.yaml"), set_: SetOpt = None) -> None:
    """Validate the run configuration and print it, merged with its preset."""
    import yaml

    # Loading logs what validates but looks wrong (e.g. `chunk_overflow`: chunks longer than the model reads).
    typer.echo(yaml.safe_dump(_params(params, set_).model_dump(mode="json"), sort_keys=False))
