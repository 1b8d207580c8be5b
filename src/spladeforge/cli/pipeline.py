"""`spladeforge pipeline compile|submit|schedule`: the Kubeflow side of the CLI.

`compile` writes the pipeline's IR YAML with params.yaml (merged with its preset and `--set`
overrides) as the parameter defaults and `kubeflow:` as placement. `submit` starts one run;
`schedule` uploads the pipeline as a new version and creates a recurring run on a cron schedule.
The host and namespace come from flags or from KFP_HOST / KFP_NAMESPACE.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from spladeforge.cli.options import ParamsOpt, SetOpt
from spladeforge.config import Params, load_params
from spladeforge.errors import ConfigError

pipeline_app = typer.Typer(help="Compile, submit and schedule the Kubeflow pipeline.", no_args_is_help=True)

HostOpt = Annotated[str, typer.Option(envvar="KFP_HOST", help="KFP API endpoint, e.g. http://ml-pipeline-ui:80.")]
NamespaceOpt = Annotated[str, typer.Option(envvar="KFP_NAMESPACE", help="Kubernetes namespace of the runs.")]
ExperimentOpt = Annotated[str, typer.Option(help="KFP experiment (created if missing).")]
RootOpt = Annotated[str | None, typer.Option(
    envvar="KFP_PIPELINE_ROOT", help="Where artifacts go, e.g. s3://bucket/kfp; default: the server's.")]
PackageOpt = Annotated[Path | None, typer.Option(
    help="A compiled IR YAML to use instead of compiling from --params.")]


def _compile(params: Params, output: Path, enable_caching: bool = True) -> Path:
    from spladeforge.pipelines import compile_pipeline

    compile_pipeline(params, str(output), enable_caching=enable_caching)
    return output


def _package(package: Path | None, params: Params, workdir: str, enable_caching: bool = True) -> Path:
    if package is not None:
        if not package.is_file():
            raise ConfigError(f"--package {package}: file not found")
        return package
    return _compile(params, Path(workdir) / "spladeforge-training.yaml", enable_caching)


def _client(host: str, namespace: str):
    import kfp

    return kfp.Client(host=host, namespace=namespace)


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
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Compile the pipeline to IR YAML (upload it in the KFP UI or with `submit --package`)."""
    typer.echo(str(_compile(load_params(params, set_ or []), output)))


@pipeline_app.command()
def submit(
    host: HostOpt,
    namespace: NamespaceOpt = "kubeflow",
    experiment: ExperimentOpt = "spladeforge",
    pipeline_root: RootOpt = None,
    run_name: Annotated[str | None, typer.Option(help="Run name; default: spladeforge-<timestamp>.")] = None,
    caching: Annotated[bool, typer.Option(help="Reuse cached results of unchanged tasks.")] = True,
    package: PackageOpt = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Start one run of the pipeline now."""
    with tempfile.TemporaryDirectory() as workdir:
        path = _package(package, load_params(params, set_ or []), workdir)
        result = _client(host, namespace).create_run_from_pipeline_package(
            str(path), arguments={}, run_name=run_name or f"spladeforge-{time.strftime('%Y%m%d-%H%M%S')}",
            experiment_name=experiment, namespace=namespace, pipeline_root=pipeline_root,
            enable_caching=caching)
    typer.echo(f"run {result.run_id} in experiment {experiment!r}")


@pipeline_app.command()
def schedule(
    host: HostOpt,
    cron: Annotated[str, typer.Option(help="6-field cron (with seconds), e.g. '0 0 3 * * 1'.")],
    namespace: NamespaceOpt = "kubeflow",
    experiment: ExperimentOpt = "spladeforge",
    pipeline_root: RootOpt = None,
    name: Annotated[str, typer.Option(help="Recurring run and pipeline name.")] = "spladeforge-retrain",
    package: PackageOpt = None,
    params: ParamsOpt = Path("params.yaml"),
    set_: SetOpt = None,
) -> None:
    """Upload the pipeline as a new version and retrain on a schedule, one run at a time, uncached.

    Caching is off because a scheduled retrain exists to see new documents; `max_concurrency=1`
    keeps a slow run from overlapping the next one on the same GPU pool and registry.
    """
    from spladeforge.pipelines import run_arguments

    cron = check_cron(cron)
    run_params = load_params(params, set_ or [])
    client = _client(host, namespace)
    with tempfile.TemporaryDirectory() as workdir:
        path = _package(package, run_params, workdir, enable_caching=False)
        version_name = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        pipeline_id = client.get_pipeline_id(name)
        if pipeline_id is None:
            pipeline = client.upload_pipeline(str(path), pipeline_name=name)
            pipeline_id = pipeline.pipeline_id
        version = client.upload_pipeline_version(str(path), pipeline_version_name=version_name,
                                                 pipeline_id=pipeline_id)
    exp = client.create_experiment(experiment, namespace=namespace)
    job = client.create_recurring_run(
        experiment_id=exp.experiment_id, job_name=name, cron_expression=cron, max_concurrency=1,
        no_catchup=True, pipeline_id=pipeline_id, version_id=version.pipeline_version_id,
        # The parameters are also the version's defaults; sent explicitly, the schedule shows and
        # keeps them even if someone uploads a version with other defaults.
        params=run_arguments(run_params), pipeline_root=pipeline_root, enable_caching=False)
    typer.echo(f"recurring run {job.recurring_run_id}: {cron!r}, pipeline version {version_name}")
