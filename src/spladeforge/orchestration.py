"""What both orchestrators do around a stage: the CLI (which `dvc.yaml` runs) and the Kubeflow components.

- `STAGE_SECTIONS`: the params sections each stage reads. `dvc.yaml` lists the same sections under
  each stage's `params:` (a test compares them), and the stage's manifest records them.
- `validated`: sections handed over as plain dicts (Kubeflow parameters) turned into `Params`, with
  the same error message as `params.yaml` gets.
- `run_stage`: first finish any publish of several outputs that a killed run left half done
  beside the stage's paths (`io.recover_outputs`); then time the stage and write its manifest
  once it has succeeded, to `reports/manifests/<stage>.json` ($SPLADEFORGE_MANIFEST_DIR) or a
  Kubeflow output: what it read (by content hash), with which params and package versions, how
  long and how much memory it took, and its summary, so that any output can be traced to the
  inputs and versions that made it. Secrets never get there: params hold only the names of the
  variables that carry them, and the params and summary pass through `redaction.redact_params`.
- `metadata` / `log_metrics`: a stage's summary as Kubeflow artifact metadata and metrics.
- `run_config`: the run parameters `register` logs to MLflow and `publish` writes into the model card.

Nothing here changes what a stage computes.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from spladeforge.config import Params, format_errors, run_config
from spladeforge.config.loading import params_source
from spladeforge.errors import ConfigError
from spladeforge.io import publish_guard, recover_outputs, remove_outputs, sha256_tree, write_json
from spladeforge.redaction import redact_params

__all__ = ["STAGES", "STAGE_SECTIONS", "log_metrics", "metadata", "recorded_params", "run_config", "run_stage",
           "validated"]

# Stage name (the CLI subcommand and dvc.yaml stage) -> the params sections it reads.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "ingest": ("data",),
    "chunk": ("chunk",),
    "generate-queries": ("seed", "generate_queries"),
    "split": ("seed", "split"),
    "mine": ("seed", "mine"),
    "train": ("seed", "train"),
    "evaluate": ("evaluate",),
    "quantize": ("quantize",),
    # evaluate's settings score the champion as evaluate scored the challenger; quantize.max_ndcg_drop
    # decides whether the INT8 export ships; seed seeds the bootstrap.
    "register": ("seed", "register", "evaluate", "quantize"),
    # quantize.max_ndcg_drop guards which INT8 model may be published.
    "publish": ("publish", "quantize"),
}
STAGES: tuple[str, ...] = tuple(STAGE_SECTIONS)


def validated(sections: Mapping[str, Any], source: str = "pipeline parameters") -> Params:
    """`Params` from some sections as plain values (the others take their defaults).

    A bad value raises ConfigError naming the key path and what is accepted, exactly as a bad
    `params.yaml` does.
    """
    try:
        return Params.model_validate(dict(sections))
    except ValidationError as exc:
        raise ConfigError(format_errors(source, exc)) from None


def recorded_params(params: Params, stage: str) -> dict[str, Any]:
    """The sections `stage` reads, as JSON values: what its manifest records."""
    dumped = params.model_dump(mode="json")
    return {section: dumped[section] for section in STAGE_SECTIONS[stage]}


def run_stage(stage: str, fn: Callable[..., dict[str, Any]], *args: Any, params: Params,
              inputs: Iterable[Path] = (), input_hashes: Mapping[str, str] | None = None,
              manifest: Path | None = None, **kwargs: Any) -> dict[str, Any]:
    """Call `fn(*args, **kwargs)`, then write the stage's manifest; return `fn`'s summary.

    `input_hashes` replaces hashing `inputs` when the caller has the hashes already. The manifest
    goes to `manifest` (a Kubeflow output artifact) or `reports/manifests/<stage>.json`
    ($SPLADEFORGE_MANIFEST_DIR); a stage that fails writes none.
    """
    recover_outputs(*_paths([*args, *kwargs.values(), *inputs]))
    hashes = dict(input_hashes) if input_hashes is not None else hash_inputs(inputs)
    wall, started = time.time(), time.perf_counter()
    check = _unchanged(stage, params)
    with publish_guard(check) as published:
        result = fn(*args, **kwargs)
    try:
        check()
    except ConfigError:
        remove_outputs(published)  # put in place before the edit was seen: made with values not recorded
        raise
    seconds = time.perf_counter() - started
    write_manifest(stage, recorded_params(params, stage), hashes, result, wall, seconds,
                   dest=manifest or manifest_dir() / f"{stage}.json")
    return result


def _unchanged(stage: str, params: Params) -> Callable[[], None]:
    """A check that the params files still hold what `stage` read when it started.

    DVC records a stage's params in dvc.lock when its command has returned, reading the files
    again; an edit made while the stage ran would be recorded as what made outputs computed with
    the old values, and `dvc status` would call them up to date. So the stage re-reads its own
    sections before each output is put in place and once more when it ends, and a difference
    fails it, naming the keys, with no new output left. (An edit in the moment between this last
    check and DVC's own read is not seen; the window is the few milliseconds it takes to exit.)
    """
    source = params_source(params)
    if source is None:
        return lambda: None  # values handed over directly (Kubeflow): there is no file to change

    def check() -> None:
        try:
            keys = source.changed(STAGE_SECTIONS[stage])
        except ConfigError as exc:
            raise ConfigError(f"{source.path} changed while {stage} ran and can no longer be read ({exc}); its "
                              "outputs were not written: fix the file and rerun") from None
        if keys:
            shown = ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
            raise ConfigError(f"{source.path} changed while {stage} ran ({shown}): the stage read the old "
                              "values, so its outputs were not written (dvc.lock would have recorded the new "
                              "ones); rerun it to use the new values")
    return check


def _paths(values: Iterable[Any]) -> list[Path]:
    """The paths among a stage's arguments (and in lists of them): its inputs and outputs."""
    found: list[Path] = []
    for value in values:
        if isinstance(value, Path):
            found.append(value)
        elif isinstance(value, list | tuple):
            found += [v for v in value if isinstance(v, Path)]
    return found


def metadata(result: Mapping[str, Any]) -> dict[str, Any]:
    """A stage summary as Kubeflow artifact metadata: its JSON values, with None left out."""
    return {key: value for key, value in result.items() if value is not None}


def log_metrics(artifact: Any, figures: Mapping[str, Any]) -> None:
    """Log every finite number of `figures` (not booleans) as a Kubeflow metric of `artifact`."""
    for key, value in figures.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            artifact.log_metric(key, value)


# Manifests

PACKAGES = ("spladeforge", "torch", "transformers", "sentence-transformers", "mteb", "bm25s",
            "onnxruntime", "mlflow", "dvc", "datasets", "numpy")


def manifest_dir() -> Path:
    return Path(os.environ.get("SPLADEFORGE_MANIFEST_DIR", "reports/manifests"))


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def hash_inputs(paths: Iterable[Path]) -> dict[str, str]:
    return {str(p): sha256_tree(p) for p in paths if p.exists()}


def write_manifest(stage: str, params: dict[str, Any], inputs: dict[str, str], summary: dict[str, Any],
                   started: float, seconds: float, dest: Path | None = None) -> Path:
    dest = dest or manifest_dir() / f"{stage}.json"
    write_json(dest, redact_params({
        "stage": stage,
        "params": params,
        "inputs": inputs,
        "packages": package_versions(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(seconds, 3),
        "peak_rss_mb": peak_rss_mb(),
        "summary": summary,
    }))
    return dest
