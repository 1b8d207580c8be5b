"""The `spladeforge` command: a subcommand per stage, plus `pipeline` (Kubeflow) and `registry` (MLflow).

- `stages`: `spladeforge <stage>` and `check-params`, what `dvc.yaml` runs;
- `pipeline`: compile, submit and schedule the Kubeflow pipeline;
- `registry`: list, show, promote and roll back registered model versions.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from spladeforge.cli.pipeline import pipeline_app
from spladeforge.cli.registry import registry_app
from spladeforge.cli.stages import app
from spladeforge.errors import SpladeforgeError

app.add_typer(pipeline_app, name="pipeline")
app.add_typer(registry_app, name="registry")

__all__ = ["app", "main"]


def _offline_defaults() -> None:
    # Hub ids still work when the user opts in with HF_HUB_OFFLINE=0; the default run and the
    # tests never reach for the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("spladeforge").setLevel(logging.INFO)


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
