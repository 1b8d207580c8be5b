"""`spladeforge search "QUERY"` and `spladeforge index`: try a model on the chunk corpus, and export
the corpus's document vectors for a search engine.

No search logic lives here: systems come from `retrieval.searchers.open_searcher`, their answers
from `retrieval.results`, the engine files from `retrieval.engine_export`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from spladeforge.cli.options import ParamsOpt
from spladeforge.errors import InputError

SYSTEMS = "model (models/splade), base, champion, int8, bm25, dense, builtin:<name>, or a model folder"
ModelOpt = Annotated[str, typer.Option("--model", "-m", help=f"System to search with: {SYSTEMS}.")]
ChunksOpt = Annotated[Path, typer.Option(help="chunks.jsonl of the chunk stage.")]
ModelDirOpt = Annotated[Path, typer.Option(help="The trained model folder (what `model` and `base` mean).")]
Int8Opt = Annotated[Path, typer.Option(help="The INT8 ONNX export (what `int8` means).")]
CacheOpt = Annotated[Path, typer.Option(help="Where document vectors are kept between searches.")]


def _model_dir(model: str, model_dir: Path) -> Path:
    """A folder given as --model with a spladeforge.json is also what `base` and `dense` refer to."""
    folder = Path(model)
    return folder if (folder / "spladeforge.json").is_file() else model_dir


def _open(names: list[str], chunks: Path, model_dir: Path, int8_dir: Path, cache_dir: Path, params: Path) -> list:
    from spladeforge.config import Params, load_params
    from spladeforge.retrieval.chunks import load_chunks
    from spladeforge.retrieval.searchers import open_searcher

    corpus = load_chunks(chunks)
    cfg = load_params(params) if params.is_file() else Params()
    return [open_searcher(name, chunks, model_dir=model_dir, int8_dir=int8_dir, cache_dir=cache_dir,
                          params=cfg, chunks=corpus) for name in names]


def _names(model: str, compare: str | None) -> list[str]:
    names = [model]
    for name in (compare or "").split(","):
        if name.strip() and name.strip() not in names:
            names.append(name.strip())
    return names


def _print_one(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape

    from spladeforge.retrieval.results import LATENT_LEGEND, LEGEND, term_text

    console = Console(highlight=False)
    index = f", index {result['index']}" if "index" in result else ""
    console.print(f"[bold]{escape(result['system'])}[/] ({result['kind']}{index}): {len(result['hits'])} hit(s)")
    for hit in result["hits"]:
        title = " / ".join(part for part in (hit["title"], hit["section"]) if part)
        console.print(f"[bold]{hit['rank']:>2}.[/] {escape(hit['chunk_id'])}  [cyan]{escape(title)}[/]  "
                      f"score {hit['score']:.4f}")
        console.print(f"    {escape(hit['snippet'])}")
        if hit["terms"]:
            console.print("    terms: " + escape(", ".join(term_text(t) for t in hit["terms"])))
    if result.get("dimensions"):
        console.print(f"[dim]{LATENT_LEGEND if result['dimensions'] == 'latent' else LEGEND}[/]")


def _print_side_by_side(results: list[dict[str, Any]], k: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from spladeforge.retrieval.results import LEGEND, term_text

    table = Table(show_lines=True, title_justify="left")
    table.add_column("rank", justify="right")
    for result in results:
        table.add_column(f"{result['system']} ({result['kind']})", overflow="fold")
    for rank in range(1, k + 1):
        cells = []
        for result in results:
            hit = next((h for h in result["hits"] if h["rank"] == rank), None)
            if hit is None:
                cells.append("")
                continue
            terms = ", ".join(term_text(t).split(" ")[0] for t in hit["terms"][:4])
            cells.append(f"{hit['chunk_id']}\n{hit['title']}\n{hit['score']:.4f}" + (f"\n{terms}" if terms else ""))
        if any(cells):
            table.add_row(str(rank), *cells)
    console = Console(highlight=False)
    console.print(table)
    if any(r.get("dimensions") == "tokens" for r in results):
        console.print(f"[dim]{LEGEND}[/]")


def search_command(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    model: ModelOpt = "model",
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Hits per system.")] = 10,
    chunks: ChunksOpt = Path("data/chunks.jsonl"),
    compare: Annotated[str | None, typer.Option(
        help="Other systems to show beside --model, comma-separated, e.g. bm25,base,champion.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    model_dir: ModelDirOpt = Path("models/splade"),
    int8_dir: Int8Opt = Path("models/splade-int8"),
    cache_dir: CacheOpt = Path(".spladeforge/index"),
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Search the chunk corpus: rank, chunk id, title, snippet, score and the terms that produced it."""
    from spladeforge.retrieval.results import LATENT_LEGEND, LEGEND, system_results
    from spladeforge.retrieval.searchers import check_query

    query = check_query(query)
    searchers = _open(_names(model, compare), chunks, _model_dir(model, model_dir), int8_dir, cache_dir, params)
    results = [system_results(searcher, query, k) for searcher in searchers]
    if as_json:
        typer.echo(json.dumps({"query": query, "k": k, "chunks": str(chunks), "legend": LEGEND,
                               "latent_legend": LATENT_LEGEND, "systems": results}, indent=2, ensure_ascii=False))
    elif len(results) == 1:
        _print_one(results[0])
    else:
        _print_side_by_side(results, k)


def index_command(
    export: Annotated[str | None, typer.Option(
        help="Also write the document vectors for a search engine: anserini or opensearch.")] = None,
    output: Annotated[Path | None, typer.Option(help="Folder to write the export to (must not exist).")] = None,
    model: ModelOpt = "model",
    chunks: ChunksOpt = Path("data/chunks.jsonl"),
    model_dir: ModelDirOpt = Path("models/splade"),
    int8_dir: Int8Opt = Path("models/splade-int8"),
    cache_dir: CacheOpt = Path(".spladeforge/index"),
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Build the document index of a sparse system (kept for `search`), and optionally export it."""
    from spladeforge.retrieval.engine_export import FORMATS, export_index
    from spladeforge.retrieval.searchers import SparseSearcher

    if export is not None and export not in FORMATS:
        raise InputError(f"--export {export}: unknown format (accepted: {', '.join(FORMATS)})")
    if export is not None and output is None:
        raise InputError(f"--export {export} needs --output DIR (a folder that does not exist yet)")
    if output is not None and output.exists():
        raise InputError(f"--output {output}: already exists; choose a new folder (nothing is overwritten)")
    [searcher] = _open([model], chunks, _model_dir(model, model_dir), int8_dir, cache_dir, params)
    if not isinstance(searcher, SparseSearcher):
        raise InputError(f"--model {model}: only a sparse system has document vectors to export "
                         f"(accepted: {SYSTEMS.replace('bm25, dense, ', '')})")
    state = "built" if searcher.built else "read from the cache"
    typer.echo(f"{searcher.name}: {len(searcher.chunks)} chunks, {searcher.doc_vectors.nnz} weights, index {state}")
    if export is not None:
        files = export_index(searcher, export, output)
        typer.echo(f"{export}: wrote {', '.join(files)} to {output}")
