"""`spladeforge judge-machine llm|cross-encoder`: grade the pooled chunks of every judged query with a
machine judge, into the same judgments folder the judge page writes (under the judge's own label).

The queries are those of the folder's queries.jsonl plus `judge.queries` (or --queries); the pool is the
judge page's: the union of the top `judge.k` of `judge.systems`. The judges and the resumable loop live
in `judging.machine*`; this only wires params, files and systems together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spladeforge.cli.options import ParamsOpt, SetOpt


def _judge(kind: str, params):
    if kind == "llm":
        from spladeforge.judging.machine_llm import LLMJudge

        return LLMJudge(params.judge.machine.llm)
    from spladeforge.judging.machine_cross_encoder import CrossEncoderJudge

    return CrossEncoderJudge(params.judge.machine.cross_encoder)


def judge_machine_command(
    kind: Annotated[str, typer.Argument(help="Which machine judge: llm (judge.machine.llm) or cross-encoder "
                                             "(judge.machine.cross_encoder).")],
    judgments: Annotated[Path, typer.Option(help="The judgments folder (the one the gate reads).")] = Path("judgments"),
    queries: Annotated[Path | None, typer.Option(
        help="Queries to add first: a .txt file (one per line) or a JSONL query log (default judge.queries).")] = None,
    chunks: Annotated[Path, typer.Option(help="chunks.jsonl of the chunk stage.")] = Path("data/chunks.jsonl"),
    model_dir: Annotated[Path, typer.Option(help="The trained model folder (`model`, `base`).")] = Path(
        "models/splade"),
    cache_dir: Annotated[Path, typer.Option(help="Where document vectors are kept.")] = Path(".spladeforge/index"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    params: ParamsOpt = Path("params.yaml"),
    overrides: SetOpt = None,
) -> None:
    """Grade every pooled (query, chunk) pair the judge has not graded yet; print a JSON summary."""
    from spladeforge.cli.judge import open_systems
    from spladeforge.config import Params, load_params
    from spladeforge.errors import ConfigError
    from spladeforge.judging.machine import pooled_pairs, run_judge
    from spladeforge.judging.queries import read_queries
    from spladeforge.judging.storage import JudgmentStore
    from spladeforge.retrieval.chunks import load_chunks

    if kind not in ("llm", "cross-encoder"):
        raise ConfigError(f"judge-machine: unknown judge {kind!r} (accepted: llm, cross-encoder)")
    cfg = load_params(params, overrides) if params.is_file() or overrides else Params()
    judge = _judge(kind, cfg)  # a missing endpoint or model fails before any index is built
    store = JudgmentStore(judgments)
    source = queries or (Path(cfg.judge.queries) if cfg.judge.queries else None)
    if source is not None:
        found = read_queries(source)
        for text in found.queries:
            store.add_query(text, found.source)
    if not store.queries():
        raise ConfigError(f"{judgments}: no queries to judge; give --queries or judge.queries (a .txt file with "
                          "one query per line, or a JSONL query log), or type some into `spladeforge judge`")
    corpus = load_chunks(chunks)
    searchers = open_systems(cfg.judge.systems, corpus, params=cfg, model_dir=model_dir, cache_dir=cache_dir)
    records = {record["id"]: record for record in corpus.records}
    pairs = pooled_pairs(store, searchers, cfg.judge.k, records)
    summary = run_judge(store, judge, pairs, progress=progress)
    report = summary.as_dict() | {"systems": sorted(searchers), "k": cfg.judge.k, "judgments": str(judgments)}
    client = getattr(judge, "client", None)
    if client is not None:
        report["endpoint"] = client.report()
    typer.echo(json.dumps(report, indent=2))
