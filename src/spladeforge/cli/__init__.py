"""The `spladeforge` command: a subcommand per stage, plus `pipeline` (Kubeflow) and `registry` (MLflow).

- `stages`: `spladeforge <stage>` and `check-params`, what `dvc.yaml` runs;
- `pipeline`: compile, submit and schedule the Kubeflow pipeline;
- `registry`: list, show, promote and roll back registered model versions;
- `search`, `index`: search the chunk corpus with a model, export its document vectors.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import typer

from spladeforge.cli.judge import judge_command
from spladeforge.cli.judge_machine import judge_machine_command
from spladeforge.cli.pipeline import pipeline_app
from spladeforge.cli.registry import registry_app
from spladeforge.cli.search import index_command, search_command
from spladeforge.cli.stages import app
from spladeforge.errors import SpladeforgeError
from spladeforge.io import as_os_error
from spladeforge.redaction import RedactingFilter, redact_text

app.add_typer(pipeline_app, name="pipeline")
app.add_typer(registry_app, name="registry")
app.command("search")(search_command)
app.command("index")(index_command)
app.command("judge")(judge_command)
app.command("judge-machine")(judge_machine_command)

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
    for handler in logging.getLogger().handlers:
        # Libraries log URLs (MLflow, botocore, DVC): none may show a credential.
        handler.addFilter(RedactingFilter())


def _stopped(signum: int, _frame) -> None:
    """Ctrl-C (SIGINT) or SIGTERM: say so, then unwind, so that temporaries are removed on the way out.

    Typer turns a KeyboardInterrupt into exit code 130 without a word; the line is printed here.
    """
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    typer.secho(f"\ninterrupted ({name}): stopped; outputs not finished were not written, rerun to start again",
                err=True, fg=typer.colors.YELLOW)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    sys.exit(128 + signum)


def main() -> None:
    _offline_defaults()
    signal.signal(signal.SIGINT, _stopped)
    signal.signal(signal.SIGTERM, _stopped)
    try:
        app()
    except SpladeforgeError as exc:
        typer.secho(f"error: {redact_text(str(exc))}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - only OS errors are answered here; anything else is re-raised
        # Disk full, a file-size limit, permissions, a vanished mount, also wrapped by a library
        # (shutil's list of failed copies, safetensors' Rust IoError): one line naming the file.
        error = as_os_error(exc)
        if error is None:
            raise
        where = f": {os.fsdecode(error.filename)}" if error.filename else ""
        typer.secho(f"error: {redact_text(f'{error.strerror or error}{where}')}", err=True, fg=typer.colors.RED)
        sys.exit(1)
