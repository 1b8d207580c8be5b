"""`spladeforge judge`: the relevance-judging page on 127.0.0.1, writing the judgments folder.

Options left out fall back to the `judge` section of params.yaml. The pooled systems come from
`retrieval.searchers.open_searcher`; the page and its checks from `judging.server` and
`judging.session`. The command prints the page's address and never opens a browser itself
(it may run on a machine the judge reaches through an SSH tunnel).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from spladeforge.cli.options import ParamsOpt
from spladeforge.errors import ConfigError, SpladeforgeError

logger = logging.getLogger("spladeforge.judge")


def open_systems(names: list[str], corpus, *, params, model_dir: Path, cache_dir: Path) -> dict:
    """Each named system that can be opened over `corpus` (a loaded Chunks); one that cannot (no champion
    yet) is skipped with its reason."""
    from spladeforge.retrieval.searchers import open_searcher

    searchers = {}
    for name in names:
        try:
            searchers[name] = open_searcher(name, corpus.path, model_dir=model_dir, cache_dir=cache_dir,
                                            params=params, chunks=corpus)
        except (SpladeforgeError, OSError) as exc:
            logger.warning("system %s skipped: %s", name, exc)
    if not searchers:
        raise ConfigError(f"judge.systems: none of {', '.join(names)} could be opened (see the lines above); "
                          "bm25 needs only the chunks")
    return searchers


def judge_command(
    queries: Annotated[Path | None, typer.Option(
        help="Real queries to judge: a .txt file (one per line) or a JSONL query log ('query' or 'text' "
             "field). Default judge.queries.")] = None,
    judgments: Annotated[Path, typer.Option(help="The judgments folder (created when missing).")] = Path("judgments"),
    chunks: Annotated[Path, typer.Option(help="chunks.jsonl of the chunk stage: the passages judged.")] = Path(
        "data/chunks.jsonl"),
    systems: Annotated[str | None, typer.Option(
        help="Comma-separated systems to pool, e.g. bm25,dense,base,model,champion. Default judge.systems.")] = None,
    k: Annotated[int | None, typer.Option(min=1, max=100, help="Pool depth per system. Default judge.k.")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on. Default judge.host (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535,
                                             help="Port (0: any free one). Default judge.port.")] = None,
    user: Annotated[str | None, typer.Option(help="Your name, recorded as human:<user>. Default judge.user "
                                                  "($USER).")] = None,
    model_dir: Annotated[Path, typer.Option(help="The trained model folder (what model and base mean).")] = Path(
        "models/splade"),
    cache_dir: Annotated[Path, typer.Option(help="Where document vectors are kept between runs.")] = Path(
        ".spladeforge/index"),
    params: ParamsOpt = Path("params.yaml"),
) -> None:
    """Judge pooled passages of real queries in the browser; every grade lands in the judgments folder at once."""
    from spladeforge.config import Params, load_params
    from spladeforge.judging.queries import read_queries
    from spladeforge.judging.server import Server, bind
    from spladeforge.judging.session import JudgeSession
    from spladeforge.judging.storage import JudgmentStore
    from spladeforge.retrieval.chunks import load_chunks

    cfg = load_params(params) if params.is_file() else Params()
    section = cfg.judge
    names = [n.strip() for n in systems.split(",") if n.strip()] if systems is not None else section.systems
    if not names:
        raise ConfigError("--systems: name at least one system (accepted: bm25, dense, base, model, champion, "
                          "int8 or a model folder)")
    user = (user if user is not None else section.user).strip()
    if not user:
        raise ConfigError("--user: give a name to record the grades under")
    store = JudgmentStore(judgments)
    queries_file = queries if queries is not None else (Path(section.queries) if section.queries else None)
    if queries_file is not None:
        found = read_queries(queries_file)
        before = len(store.queries())
        for text in found.queries:
            store.add_query(text, found.source)
        logger.info("%s: %d queries, %d new to the judgments folder", queries_file, len(found.queries),
                    len(store.queries()) - before)
    corpus = load_chunks(chunks)
    searchers = open_systems(names, corpus, params=cfg, model_dir=model_dir, cache_dir=cache_dir)
    session = JudgeSession(store, corpus, searchers, k=k or section.k, user=user)
    logger.info("pooling the top %d of %s for %d queries", session.k, ", ".join(searchers), len(store.queries()))
    session.pool_all()
    server = Server(session, bind(host or section.host, section.port if port is None else port))
    typer.echo(f"Judge at {server.url}  (grades go to {judgments}/ as human:{user}; Ctrl-C stops)")
    server.run()
