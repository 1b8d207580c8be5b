"""`spladeforge registry list|show|promote|rollback`: look at and move the registered versions.

The tracking server and model name come from `register` in params (MLFLOW_TRACKING_URI wins);
`--model-name` and `--tracking-uri` override them. Every manual move is recorded by
`registry.champion` with who (`--by`, default $SPLADEFORGE_USER or the login name), when and why
(`--reason`, required).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from spladeforge.cli.options import ParamsOpt
from spladeforge.errors import SpladeforgeError

registry_app = typer.Typer(help="List, inspect, promote and roll back registered model versions.",
                           no_args_is_help=True)

NameOpt = Annotated[str | None, typer.Option(help="Registered model name (default: register.model_name).")]
UriOpt = Annotated[str | None, typer.Option(help="Tracking URI (default: $MLFLOW_TRACKING_URI, "
                                                 "else register.tracking_uri).")]
ReasonOpt = Annotated[str, typer.Option(help="Why: recorded as a tag with who and when.")]
ByOpt = Annotated[str | None, typer.Option(help="Who (default: $SPLADEFORGE_USER or the login name).")]


@contextlib.contextmanager
def _client(params: Path, model_name: str | None, tracking_uri: str | None) -> Iterator[tuple[Any, str]]:
    from spladeforge.config import RegisterConfig, load_params
    from spladeforge.registry.tracking import (
        HttpBudget,
        check_reachable,
        http_budget,
        offline_mlflow,
        redact_uri,
        resolve_tracking_uri,
        use_tracking_uri,
    )

    cfg = load_params(params).register if params.is_file() else RegisterConfig()
    uri = tracking_uri or resolve_tracking_uri(cfg.tracking_uri)
    check_reachable(uri, cfg.connect_timeout_s)
    with offline_mlflow(), http_budget(HttpBudget.of(cfg)), use_tracking_uri(uri):
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            yield MlflowClient(tracking_uri=uri, registry_uri=uri), model_name or cfg.model_name
        except MlflowException as exc:
            raise SpladeforgeError(f"MLflow at {redact_uri(uri)}: {exc.message.splitlines()[0]}") from None


def version_rows(client, name: str) -> list[dict[str, Any]]:
    """One dict per version, newest first: aliases, gate decision and figures."""
    model = client.get_registered_model(name)
    by_version: dict[str, list[str]] = {}
    for alias, version in model.aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name='{name}'"):
        tags = mv.tags
        rows.append({
            "version": str(mv.version),
            "aliases": sorted(by_version.get(str(mv.version), [])),
            "promoted": tags.get("gate.promoted"),
            "metric": tags.get("gate.metric", "model_ndcg_at_10"),
            "value": tags.get("gate.candidate_value", tags.get("ndcg_at_10")),
            "doc_active_dims": tags.get("metric.model_doc_active_dims"),
            "failed": tags.get("gate.failed", ""),
            "reason": tags.get("gate.reason", ""),
            "created": mv.creation_timestamp,
            "run_id": mv.run_id,
        })
    return sorted(rows, key=lambda row: int(row["version"]), reverse=True)


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.4f}" if abs(number) < 10 else f"{number:.1f}"


@registry_app.command("list")
def list_versions(
    params: ParamsOpt = Path("params.yaml"), model_name: NameOpt = None, tracking_uri: UriOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List versions with their aliases, gate decision and figures, newest first."""
    from rich.console import Console
    from rich.table import Table

    with _client(params, model_name, tracking_uri) as (client, name):
        rows = version_rows(client, name)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{name}: {len(rows)} version(s)", title_justify="left")
    metric = rows[0]["metric"] if rows else "model_ndcg_at_10"
    for column in ("version", "aliases", "gate", metric, "doc dims", "failed checks"):
        table.add_column(column)
    for row in rows:
        gate = {"true": "promoted", "false": "refused"}.get(row["promoted"] or "", "–")
        value = _fmt(row["value"]) + ("" if row["metric"] == metric else f" ({row['metric']})")
        table.add_row(row["version"], ", ".join(row["aliases"]) or "–", gate, value,
                      _fmt(row["doc_active_dims"]), row["failed"] or "–")
    Console().print(table)


@registry_app.command()
def show(
    version: Annotated[str, typer.Argument(help="Version number, or an alias such as champion.")],
    params: ParamsOpt = Path("params.yaml"), model_name: NameOpt = None, tracking_uri: UriOpt = None,
) -> None:
    """Print one version: aliases, run, every tag (gate decision, figures, alias moves)."""
    with _client(params, model_name, tracking_uri) as (client, name):
        mv = (client.get_model_version(name, version) if version.isdigit()
              else client.get_model_version_by_alias(name, version))
        aliases = sorted(a for a, v in client.get_registered_model(name).aliases.items()
                         if str(v) == str(mv.version))
        info = {"name": name, "version": str(mv.version), "aliases": aliases, "run_id": mv.run_id,
                "source": mv.source, "tags": dict(sorted(mv.tags.items()))}
    typer.echo(json.dumps(info, indent=2))


@registry_app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Version number to make champion.")],
    reason: ReasonOpt,
    by: ByOpt = None,
    params: ParamsOpt = Path("params.yaml"), model_name: NameOpt = None, tracking_uri: UriOpt = None,
) -> None:
    """Move `champion` to VERSION by hand, bypassing the gate (recorded with who/when/why)."""
    from spladeforge.registry.champion import move_champion

    with _client(params, model_name, tracking_uri) as (client, name):
        event = move_champion(client, name, version, action="promote", reason=reason, by=by)
    typer.echo(f"{name}: champion v{event['previous'] or '–'} -> v{event['version']} "
               f"by {event['by']} at {event['at']}: {event['reason']}")


@registry_app.command()
def rollback(
    reason: ReasonOpt,
    by: ByOpt = None,
    params: ParamsOpt = Path("params.yaml"), model_name: NameOpt = None, tracking_uri: UriOpt = None,
) -> None:
    """Move `champion` back to the previous champion (from the recorded alias history)."""
    from spladeforge.registry.champion import rollback as roll_back

    with _client(params, model_name, tracking_uri) as (client, name):
        event = roll_back(client, name, reason=reason, by=by)
    typer.echo(f"{name}: champion v{event['previous']} -> v{event['version']} (rollback) "
               f"by {event['by']} at {event['at']}: {event['reason']}")
