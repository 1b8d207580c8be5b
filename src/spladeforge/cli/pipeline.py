"""`spladeforge pipeline compile|submit|schedule`: the Kubeflow side of the CLI.

`compile` writes the pipeline's IR YAML with params.yaml (merged with its preset and `--set`
overrides) as the parameter defaults and `kubeflow:` as placement, its images pinned to the git
commit `make images` tagged them with (or to `--image`/`--train-image`). `submit` starts one run;
`schedule` uploads the pipeline as a new version and creates a recurring run on a cron schedule,
replacing one of the same name when told. Caching is off unless `--cache`, and then only for the
pure data tasks (pipelines/placement.py). The host, namespace and credentials come from flags or
KFP_HOST, KFP_NAMESPACE, KF_PIPELINES_TOKEN / KF_PIPELINES_SA_TOKEN_PATH / KF_PIPELINES_COOKIE.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from spladeforge.cli.kfp_client import CookieOpt, HostOpt, NamespaceOpt, SaTokenOpt, TokenOpt, api_errors, connect
from spladeforge.cli.options import SetOpt
from spladeforge.config import RUN_PARAMETERS, Params, deep_merge, format_errors, load_params, parse_override
from spladeforge.errors import ConfigError

pipeline_app = typer.Typer(help="Compile, submit and schedule the Kubeflow pipeline.", no_args_is_help=True)

ExperimentOpt = Annotated[str, typer.Option(help="KFP experiment (created if missing).")]
RootOpt = Annotated[str | None, typer.Option(envvar="KFP_PIPELINE_ROOT", help=(
    "Where artifacts go, e.g. s3://bucket/kfp; default: the kfp-launcher ConfigMap's defaultPipelineRoot."))]
PackageOpt = Annotated[Path | None, typer.Option(
    help="A compiled IR YAML to use instead of compiling; --set then overrides its run parameters.")]
ParamsOpt = Annotated[Path | None, typer.Option(
    "--params", "-p", help="Run configuration (YAML) [default: params.yaml].")]
ImageOpt = Annotated[str | None, typer.Option(
    help="Image of the CPU tasks, e.g. registry/spladeforge@sha256:...; default: kubeflow.image at the git commit.")]
TrainImageOpt = Annotated[str | None, typer.Option(
    help="Image of train and the GPU tasks (the CUDA build); default: kubeflow.train_image at the git commit.")]
DirtyOpt = Annotated[bool, typer.Option(
    help="Compile although the image sources have uncommitted changes (the image will not contain them).")]
CacheOpt = Annotated[bool, typer.Option(
    "--cache/--no-cache", help="Let KFP reuse cached results of the pure data tasks (never train or the gate).")]


def _params(params: Path | None, overrides: list[str] | None) -> Params:
    return load_params(params or Path("params.yaml"), overrides or [])


def _project(params: Path | None) -> Path:
    """The checkout the images are built from: the one holding the params file."""
    return (params or Path("params.yaml")).resolve().parent


def _compile(run_params: Params, output: Path, *, image: str | None, train_image: str | None, allow_dirty: bool,
             cache: bool, project: Path) -> Path:
    from spladeforge.pipelines import compile_pipeline
    from spladeforge.pipelines.images import commit_tag, is_pinned

    k = run_params.kubeflow.model_copy(update={key: value for key, value in
                                               (("image", image), ("train_image", train_image)) if value})
    tag = None if is_pinned(k.image) and is_pinned(k.train_image) else commit_tag(project, allow_dirty)
    compile_pipeline(run_params.model_copy(update={"kubeflow": k}), str(output), enable_caching=cache, image_tag=tag)
    return output


def package_arguments(package: Path, overrides: list[str]) -> dict[str, Any]:
    """Run arguments for a compiled package: its compiled defaults with `--set` applied, validated.

    Only run parameters can change without recompiling; placement (`kubeflow.*`) and the preset are
    compiled into the package. Returns just the sections an override touched.
    """
    if not package.is_file():
        raise ConfigError(f"--package {package}: file not found")
    ir = next(yaml.safe_load_all(package.read_text()))
    defaults = {name: spec.get("defaultValue") for name, spec in
                ir.get("root", {}).get("inputDefinitions", {}).get("parameters", {}).items()}
    touched: dict[str, Any] = {}
    for text in overrides:
        touched = deep_merge(touched, parse_override(text))
    refused = sorted(set(touched) - set(RUN_PARAMETERS))
    if refused:
        raise ConfigError(f"--set {', '.join(refused)}: not a run parameter of --package {package} (accepted: "
                          f"{', '.join(RUN_PARAMETERS)}); placement and the preset are compiled in: recompile")
    merged = deep_merge({k: v for k, v in defaults.items() if k in RUN_PARAMETERS}, touched)
    from pydantic import ValidationError

    try:
        checked = Params.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_errors(f"--package {package} with --set", exc)) from None
    dumped = checked.model_dump(mode="json", exclude_none=True)
    return {name: dumped[name] for name in touched}


def _run_inputs(package: Path | None, params: Path | None, overrides: list[str] | None, workdir: str, *,
                image: str | None, train_image: str | None, allow_dirty: bool, cache: bool
                ) -> tuple[Path, dict[str, Any], Params | None]:
    """(IR path, run arguments, params compiled with or None for a package)."""
    if package is None:
        run_params = _params(params, overrides)
        path = _compile(run_params, Path(workdir) / "spladeforge-training.yaml", image=image, train_image=train_image,
                        allow_dirty=allow_dirty, cache=cache, project=_project(params))
        return path, {}, run_params
    given = [flag for flag, value in (("--params", params), ("--image", image), ("--train-image", train_image),
                                      ("--cache", cache)) if value]
    if given:
        raise ConfigError(f"{', '.join(given)} with --package: the package's defaults, images and caching are "
                          "compiled in; use --set to change its run parameters, or compile again without --package")
    return package, package_arguments(package, overrides or []), None


def check_cron(expression: str) -> str:
    """KFP's scheduler takes robfig/cron expressions with a leading seconds field: 6 fields."""
    fields = expression.split()
    if len(fields) != 6:
        raise ConfigError(f"--cron {expression!r}: expected 6 fields (second minute hour day-of-month month "
                          f"day-of-week), e.g. '0 0 3 * * 1' for Mondays at 03:00; got {len(fields)}")
    return " ".join(fields)


@pipeline_app.command("compile")
def compile_(
    output: Annotated[Path, typer.Option(help="IR YAML to write.")] = Path("spladeforge-training.yaml"),
    params: ParamsOpt = None,
    set_: SetOpt = None,
    image: ImageOpt = None,
    train_image: TrainImageOpt = None,
    allow_dirty: DirtyOpt = False,
    cache: CacheOpt = False,
) -> None:
    """Compile the pipeline to IR YAML (upload it in the KFP UI or with `submit --package`)."""
    typer.echo(str(_compile(_params(params, set_), output, image=image, train_image=train_image,
                            allow_dirty=allow_dirty, cache=cache, project=_project(params))))


@pipeline_app.command()
def submit(
    host: HostOpt,
    namespace: NamespaceOpt = None,
    experiment: ExperimentOpt = "spladeforge",
    pipeline_root: RootOpt = None,
    run_name: Annotated[str | None, typer.Option(help="Run name; default: spladeforge-<timestamp>.")] = None,
    cache: CacheOpt = False,
    package: PackageOpt = None,
    params: ParamsOpt = None,
    set_: SetOpt = None,
    image: ImageOpt = None,
    train_image: TrainImageOpt = None,
    allow_dirty: DirtyOpt = False,
    token: TokenOpt = None,
    sa_token_path: SaTokenOpt = None,
    cookie: CookieOpt = None,
) -> None:
    """Start one run of the pipeline now."""
    with tempfile.TemporaryDirectory() as workdir:
        path, arguments, _ = _run_inputs(package, params, set_, workdir, image=image, train_image=train_image,
                                         allow_dirty=allow_dirty, cache=cache)
        client = connect(host, namespace, token, sa_token_path, cookie)
        with api_errors(host):
            # enable_caching=None: the per-task caching compiled into the IR stands; True would mark
            # every root task cached, the gate included.
            result = client.create_run_from_pipeline_package(
                str(path), arguments=arguments, run_name=run_name or f"spladeforge-{time.strftime('%Y%m%d-%H%M%S')}",
                experiment_name=experiment, namespace=namespace, pipeline_root=pipeline_root, enable_caching=None)
    typer.echo(f"run {result.run_id} in experiment {experiment!r}")


def _pipeline_id(client, name: str, namespace: str | None) -> str | None:
    """The id of the pipeline called `name` in `namespace` (shared pipelines when None).

    kfp.Client.get_pipeline_id asks without a namespace: on a multi-user Kubeflow that lists the
    shared pipelines (refused with REQUIRE_NAMESPACE_FOR_PIPELINES=true), not the profile's own.
    """
    predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": name}
    page = client.list_pipelines(filter=json.dumps({"predicates": [predicate]}), namespace=namespace, page_size=2)
    found = [p.pipeline_id for p in page.pipelines or [] if p.display_name == name]
    if len(found) > 1:
        raise ConfigError(f"more than one pipeline named {name!r} in namespace {namespace or '(shared)'}: "
                          f"{', '.join(found)}; delete one or choose another --name")
    return found[0] if found else None


def _recurring_runs_named(client, name: str, namespace: str | None) -> list[str]:
    """Ids of the recurring runs called `name` (in `namespace`, when given)."""
    predicate = {"operation": "EQUALS", "key": "display_name", "stringValue": name}
    found, token = [], ""
    while True:
        page = client.list_recurring_runs(page_token=token, page_size=100, namespace=namespace,
                                          filter=json.dumps({"predicates": [predicate]}))
        found += [r.recurring_run_id for r in page.recurring_runs or [] if r.display_name == name]
        token = page.next_page_token
        if not token:
            return found


@pipeline_app.command()
def schedule(
    host: HostOpt,
    cron: Annotated[str, typer.Option(help="6-field cron (with seconds), e.g. '0 0 3 * * 1', in --timezone.")],
    namespace: NamespaceOpt = None,
    timezone: Annotated[str, typer.Option(envvar="KFP_SCHEDULE_TIMEZONE", help=(
        "IANA zone the cron is written in; KFP runs crons in UTC, so it is shifted by the zone's "
        "current offset (again with --replace after a daylight-saving change)."))] = "UTC",
    experiment: ExperimentOpt = "spladeforge",
    pipeline_root: RootOpt = None,
    name: Annotated[str, typer.Option(help="Recurring run and pipeline name.")] = "spladeforge-retrain",
    replace: Annotated[bool, typer.Option(help=(
        "Replace the recurring run of the same name (the new one is created first, then the old deleted)."))] = False,
    cache: CacheOpt = False,
    package: PackageOpt = None,
    params: ParamsOpt = None,
    set_: SetOpt = None,
    image: ImageOpt = None,
    train_image: TrainImageOpt = None,
    allow_dirty: DirtyOpt = False,
    token: TokenOpt = None,
    sa_token_path: SaTokenOpt = None,
    cookie: CookieOpt = None,
) -> None:
    """Upload the pipeline as a new version and retrain on a schedule, one run at a time, uncached.

    Caching is off unless `--cache` because a scheduled retrain exists to see new documents;
    `max_concurrency=1` keeps a slow run from overlapping the next one on the same GPU pool and
    registry. Two recurring runs of one name would both fire, the old one with the old version:
    an existing one is refused, or replaced with `--replace`. The pipeline is uploaded to and
    looked up in `--namespace` (a profile's own pipelines on a multi-user Kubeflow).
    """
    from spladeforge.cli.cron import to_utc
    from spladeforge.pipelines import run_arguments

    local = to_utc(check_cron(cron), timezone)
    cron = local.expression
    with tempfile.TemporaryDirectory() as workdir:
        path, arguments, run_params = _run_inputs(package, params, set_, workdir, image=image,
                                                  train_image=train_image, allow_dirty=allow_dirty, cache=cache)
        client = connect(host, namespace, token, sa_token_path, cookie)
        with api_errors(host):
            existing = _recurring_runs_named(client, name, namespace)
            if existing and not replace:
                raise ConfigError(f"a recurring run named {name!r} exists ({', '.join(existing)}); pass --replace "
                                  "to replace it with this version, or choose another --name")
            version_name = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
            pipeline_id = _pipeline_id(client, name, namespace)
            if pipeline_id is None:
                pipeline_id = client.upload_pipeline(str(path), pipeline_name=name, namespace=namespace).pipeline_id
            version = client.upload_pipeline_version(str(path), pipeline_version_name=version_name,
                                                     pipeline_id=pipeline_id)
            exp = client.create_experiment(experiment, namespace=namespace)
            job = client.create_recurring_run(
                experiment_id=exp.experiment_id, job_name=name, cron_expression=cron, max_concurrency=1,
                no_catchup=True, pipeline_id=pipeline_id, version_id=version.pipeline_version_id,
                # The parameters are also the version's defaults; sent explicitly, the schedule shows and
                # keeps them even if someone uploads a version with other defaults.
                params=run_arguments(run_params) if run_params is not None else arguments,
                pipeline_root=pipeline_root)
            for old in existing:
                client.delete_recurring_run(old)
    replaced = f", replacing {', '.join(existing)}" if existing else ""
    zone = "" if timezone == "UTC" else f" (UTC; {timezone} at UTC{_hours(local.offset)})"
    typer.echo(f"recurring run {job.recurring_run_id}: {cron!r}{zone}, pipeline version {version_name}{replaced}")
    if local.changes_offset:
        typer.echo(f"{timezone} changes its UTC offset with daylight saving time: run schedule --replace after "
                   "the change to keep the local time", err=True)


def _hours(offset) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
