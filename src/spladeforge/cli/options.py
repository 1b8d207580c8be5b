"""Options every `spladeforge` command that reads the run configuration shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="Run configuration (YAML).")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a parameter, e.g. --set train.learning_rate=1e-4 (repeatable).")]
