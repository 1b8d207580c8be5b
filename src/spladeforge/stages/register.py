"""register: log the trained model to MLflow, register a version and gate its promotion on NDCG@10.

One MLflow run holds the run configuration (params), the evaluation and quantization figures
(metrics), the reports and the INT8 ONNX folder (artifacts) and the model as a pyfunc. The new
version gets alias `challenger`; `champion` moves to it only when it passes the gate of
`registry.policy` (`register.metric` >= the champion's, or with no champion yet the base model's,
+ `register.min_delta`; `register.min_ndcg`; `register.max_doc_active_dims`). Each version
carries its figures as tags, so the gate reads the registry alone. The decision, with its reasons
and both versions' figures, goes to the version, the run and `decision_path`; a promotion is
recorded by `registry.champion` so that `spladeforge registry rollback` can undo it.

Nothing is written outside MLflow until MLflow holds the final state, and the model folder is only
read: a tracking failure leaves the inputs as they were and no decision file behind. A rerun finds
a version holding the same model bytes and gate figure and gates it again rather than registering
the model twice (killed before its decision file, or a retried Kubeflow task).

`run(..., promote=False)` registers and decides but leaves `champion` where it is: the Kubeflow
DAG moves it in a separate task, `promote`, which runs only inside the `dsl.If` on the decision,
so the gate guards promotion as well as publishing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spladeforge.config import RegisterConfig
from spladeforge.errors import InputError, SpladeforgeError
from spladeforge.io import read_json, sha256_tree, write_json
from spladeforge.models.saved import SIDECAR, check_model_files, read_sidecar
from spladeforge.registry.champion import move_champion
from spladeforge.registry.policy import (
    CHALLENGER,
    CHAMPION,
    DOC_DIMS_KEY,
    NDCG_TAG,
    Decision,
    base_key,
    decide,
    metric_tag,
)
from spladeforge.registry.provenance import provenance_tags
from spladeforge.registry.tracking import (
    check_reachable,
    flatten_params,
    offline_mlflow,
    redact_uri,
    resolve_tracking_uri,
    sqlite_artifact_location,
    use_tracking_uri,
)

logger = logging.getLogger(__name__)

CANDIDATE_KEY = "model_ndcg_at_10"
BASE_KEY = "base_ndcg_at_10"
# What the pyfunc imports, pinned to the versions it was logged with. Given explicitly, MLflow
# skips inferring them (which loads the model again in a subprocess).
_PIP_PACKAGES = ("mlflow", "sentence-transformers", "transformers", "torch")


def read_figures(path: Path, *, required: tuple[str, ...] = ()) -> dict[str, float]:
    """The numeric entries of a flat JSON report; `required` keys must be finite numbers."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of metric name -> number")
    figures = {
        k: float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    for key in required:
        if key not in figures or not math.isfinite(figures[key]):
            raise InputError(f"{path}: {key} must be a finite number (got {data.get(key)!r})")
    return {k: v for k, v in figures.items() if math.isfinite(v)}


def _check_onnx_dir(onnx_dir: Path | None) -> None:
    if onnx_dir is not None and not any(onnx_dir.glob("*.onnx")):
        raise InputError(f"{onnx_dir}: expected an INT8 ONNX folder (model_int8.onnx + tokenizer files)")


def _signature():
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, DataType, Map, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec(DataType.string)]),
        outputs=Schema([ColSpec(Map(DataType.double))]),
        params=ParamSchema([
            ParamSpec("input_type", DataType.string, "document"),
            ParamSpec("top_k", DataType.long, 0),
        ]),
    )


def _pip_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in _PIP_PACKAGES:
        try:
            # A local label (torch's "+cpu") is not on PyPI; the public version is.
            pins.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            pins.append(name)
    return pins


def version_figure(client, mv, metric: str) -> float | None:
    """A version's figure for `metric`: its tag first, its run's metric as a fallback."""
    for tag in (metric_tag(metric), NDCG_TAG if metric == CANDIDATE_KEY else None):
        if tag and tag in mv.tags:
            return float(mv.tags[tag])
    if mv.run_id:
        value = client.get_run(mv.run_id).data.metrics.get(metric)
        if value is not None:
            return float(value)
    return None


def _champion(client, name: str, metric: str) -> tuple[str | None, float | None, float | None]:
    """The current champion's version, its `metric` and its doc active dims (if known)."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_registered_model(name).aliases.get(CHAMPION)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None, None, None
        raise
    if version is None:
        return None, None, None
    mv = client.get_model_version(name, version)
    value = version_figure(client, mv, metric)
    if value is None:
        raise SpladeforgeError(
            f"registered model {name!r}: champion v{version} has no {metric_tag(metric)!r} tag and "
            f"no {metric} metric on its run; set the tag on that version or move the alias"
        )
    return str(version), value, version_figure(client, mv, DOC_DIMS_KEY)


def _gate(
    client, cfg: RegisterConfig, figures: dict[str, float], metrics_path: Path,
    champion: tuple[str | None, float | None, float | None] | None = None,
) -> tuple[Decision, str | None]:
    """Decide before anything is logged, so a missing reference leaves the registry untouched.

    `champion`: `_champion`'s answer when the caller already has it."""
    champion_version, champion_value, champion_dims = champion or _champion(client, cfg.model_name, cfg.metric)
    reference_key = base_key(cfg.metric)
    if champion_version is None and reference_key not in figures:
        raise InputError(
            f"{metrics_path}: {reference_key} is missing and {cfg.model_name!r} has no {CHAMPION!r} "
            "version yet, so there is nothing to compare against (accepted: a metrics.json from "
            "evaluate with evaluate.compare_base: true)"
        )
    decision = decide(
        figures[cfg.metric], min_delta=cfg.min_delta, champion_value=champion_value,
        champion_version=champion_version, base_value=figures.get(reference_key),
        metric=cfg.metric, candidate_ndcg=figures.get(CANDIDATE_KEY), min_ndcg=cfg.min_ndcg,
        doc_active_dims=figures.get(DOC_DIMS_KEY), max_doc_active_dims=cfg.max_doc_active_dims,
        champion_doc_active_dims=champion_dims,
    )
    return decision, champion_version


def version_tags(cfg: RegisterConfig, figures: dict[str, float]) -> dict[str, str]:
    """The figures the gate reads back from a version later, as tags."""
    tags = {NDCG_TAG: repr(figures[CANDIDATE_KEY])}
    for key in {cfg.metric, CANDIDATE_KEY, DOC_DIMS_KEY}:
        if key in figures:
            tags[metric_tag(key)] = repr(figures[key])
    return tags


def _log_and_register(
    cfg: RegisterConfig,
    model_dir: Path,
    metrics_path: Path,
    figures: dict[str, float],
    reports: list[Path],
    onnx_dir: Path | None,
    params: dict | None,
    sidecar: dict[str, Any],
    model_sha: str,
    promote: bool = True,
) -> tuple[Decision, str, str | None, str]:
    import mlflow
    from mlflow import MlflowClient

    from spladeforge.registry import pyfunc

    location = sqlite_artifact_location(mlflow.get_tracking_uri())  # before the store is created
    client = MlflowClient()
    earlier = _same_registration(client, cfg, model_sha, figures)
    if earlier is not None:
        return _reuse(client, cfg, earlier, figures, metrics_path, promote)
    decision, champion_version = _gate(client, cfg, figures, metrics_path)
    experiment = client.get_experiment_by_name(cfg.experiment)
    if experiment is None:
        experiment_id = client.create_experiment(cfg.experiment, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id

    with mlflow.start_run(experiment_id=experiment_id, run_name=f"register-{cfg.model_name}") as run:
        if params:
            mlflow.log_params(flatten_params(params))
        mlflow.log_metrics(figures)
        lineage = provenance_tags(sidecar)  # the data revision and input hashes it was trained on
        mlflow.set_tags({
            "spladeforge.base_model": str(sidecar.get("base_model", "")),
            "spladeforge.architecture": str(sidecar.get("architecture", "")),
            "spladeforge.model_sha256": model_sha,
            **lineage,
        })
        for report in reports:
            mlflow.log_artifact(str(report), artifact_path="reports")
        if onnx_dir is not None:
            mlflow.log_artifacts(str(onnx_dir), artifact_path="onnx-int8")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=importlib.util.find_spec(pyfunc.__name__).origin,
            artifacts={pyfunc.MODEL_ARTIFACT: str(model_dir)},
            signature=_signature(),
            input_example=["how do I decode a json string"],
            pip_requirements=_pip_requirements(),
        )
        tags = {**version_tags(cfg, figures), "model_sha256": model_sha, **decision.tags(), **lineage}
        if onnx_dir is not None:  # the INT8 variant, logged in the same run beside the pyfunc
            tags["onnx_int8_uri"] = f"runs:/{run.info.run_id}/onnx-int8"
        version = str(mlflow.register_model(info.model_uri, cfg.model_name, tags=tags).version)
        client.set_registered_model_alias(cfg.model_name, CHALLENGER, version)
        mlflow.set_tags({**decision.tags(), "gate.version": version})
        champion_version = _promote_if_passed(client, cfg, decision, version, promote, champion_version)
    return decision, version, champion_version, run.info.run_id


def _promote_if_passed(client, cfg: RegisterConfig, decision: Decision, version: str, promote: bool,
                       champion_version: str | None) -> str | None:
    """Move `champion` to `version` when it passed the gate and `promote`; return the champion after."""
    if not (decision.promoted and promote):
        return champion_version
    move_champion(client, cfg.model_name, version, action="gate", reason=decision.reason)
    return version


def _same_registration(client, cfg: RegisterConfig, model_sha: str, figures: dict[str, float]):
    """The latest version holding these very model bytes with the same gate figure, if any.

    A rerun of register (after a kill between MLflow's final state and the decision file, or a
    retried Kubeflow task) finds its own earlier version here instead of registering the same
    model twice. A model evaluated to a different figure is a new registration.
    """
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name='{cfg.model_name}'")
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    same = [mv for mv in versions if mv.tags.get("model_sha256") == model_sha
            and mv.tags.get(metric_tag(cfg.metric)) == repr(figures[cfg.metric])]
    return max(same, key=lambda mv: int(mv.version), default=None)


def _reuse(client, cfg: RegisterConfig, mv, figures: dict[str, float], metrics_path: Path,
           promote: bool) -> tuple[Decision, str, str | None, str]:
    """Gate an already registered version again instead of registering its model a second time.

    Already champion: nothing moves and the decision says so (re-deciding it against itself
    would fail any min_delta > 0). Otherwise the gate runs against the current champion as for
    a new version, and the version's decision tags are updated.
    """
    version = str(mv.version)
    champion = _champion(client, cfg.model_name, cfg.metric)
    champion_version = champion[0]
    if champion_version == version:
        value = figures[cfg.metric]
        reason = (f"v{version} holds the same model (sha256 {mv.tags['model_sha256'][:12]}) and "
                  f"{cfg.metric} {value:.4f}, and is already {CHAMPION}; nothing was registered")
        decision = Decision(promoted=True, reason=reason, candidate_value=value, reference_value=value,
                            reference=f"{CHAMPION} v{version}", metric=cfg.metric, checks=[reason],
                            candidate_doc_active_dims=figures.get(DOC_DIMS_KEY),
                            reference_doc_active_dims=figures.get(DOC_DIMS_KEY))
    else:
        decision, champion_version = _gate(client, cfg, figures, metrics_path, champion)
        for key, value in decision.tags().items():
            client.set_model_version_tag(cfg.model_name, version, key, value)
        if mv.run_id:
            for key, value in {**decision.tags(), "gate.version": version}.items():
                client.set_tag(mv.run_id, key, value)
        champion_version = _promote_if_passed(client, cfg, decision, version, promote, champion_version)
    client.set_registered_model_alias(cfg.model_name, CHALLENGER, version)
    logger.info("register: the model is already registered as v%s; gated it again instead of registering it twice",
                version)
    return decision, version, champion_version, mv.run_id


def _is_tracking_error(exc: Exception) -> bool:
    """MLflow, requests and SQLAlchemy each raise their own types when the store fails."""
    from mlflow.exceptions import MlflowException

    return isinstance(exc, MlflowException | OSError) or type(exc).__module__.split(".")[0] in (
        "requests", "urllib3", "sqlalchemy",
    )


@contextlib.contextmanager
def _tracking_errors(uri: str, shown_uri: str) -> Iterator[None]:
    """Turn a failing tracking store into a SpladeforgeError naming the server, not a traceback."""
    try:
        yield
    except SpladeforgeError:
        raise
    except Exception as exc:
        if not _is_tracking_error(exc):
            raise
        # Keep a password in the URI out of the message.
        message = str(exc).replace(uri, shown_uri).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpladeforgeError(f"MLflow tracking at {shown_uri} failed: {message}") from exc


def run(
    cfg: RegisterConfig,
    model_dir: Path,
    metrics_path: Path,
    decision_path: Path,
    quantize_report: Path | None = None,
    onnx_dir: Path | None = None,
    run_params: dict | None = None,
    eval_dir: Path | None = None,
    promote: bool = True,
) -> dict:
    """Log, register and gate the model; write the decision JSON and return it.

    `eval_dir` (evaluate's output folder) adds its report, error analysis and plots to the run.
    `promote=False` records the decision (`promoted` is the gate's verdict) without moving
    `champion`; `champion_version` is then the champion the gate compared against, and
    `promote_champion` makes the move.
    """
    model_dir, metrics_path, decision_path = Path(model_dir), Path(metrics_path), Path(decision_path)
    sidecar = read_sidecar(model_dir)
    check_model_files(model_dir)
    required = (CANDIDATE_KEY, cfg.metric)
    if cfg.max_doc_active_dims is not None:
        required += (DOC_DIMS_KEY,)
    figures = read_figures(metrics_path, required=tuple(dict.fromkeys(required)))
    reports = [metrics_path]
    if quantize_report is not None:
        figures.update(read_figures(Path(quantize_report)))
        reports.append(Path(quantize_report))
    _check_onnx_dir(Path(onnx_dir) if onnx_dir is not None else None)
    reports.append(model_dir / SIDECAR)
    if eval_dir is not None and Path(eval_dir).is_dir():
        eval_dir = Path(eval_dir)
        reports += [eval_dir / name for name in ("report.md", "report.json", "errors.md", "errors.json")
                    if (eval_dir / name).is_file()]
        reports += sorted((eval_dir / "plots").glob("*.png"))
    model_sha = sha256_tree(model_dir)

    uri = resolve_tracking_uri(cfg.tracking_uri)
    shown_uri = redact_uri(uri)
    check_reachable(uri)
    with offline_mlflow(), use_tracking_uri(uri), _tracking_errors(uri, shown_uri):
        decision, version, champion_version, run_id = _log_and_register(
            cfg, model_dir, metrics_path, figures, reports,
            Path(onnx_dir) if onnx_dir else None, run_params, sidecar, model_sha, promote,
        )

    result = {
        "model_name": cfg.model_name,
        "version": version,
        **decision.as_dict(),
        "champion_version": champion_version,
        "tracking_uri": shown_uri,
        "run_id": run_id,
        "model_sha256": model_sha,
    }
    write_json(decision_path, result)
    return result


def promote_champion(cfg: RegisterConfig, decision_path: Path, output: Path) -> dict:
    """Move `champion` to the version `run(..., promote=False)` decided to promote; write `output`.

    `output` is the decision as `run` with `promote=True` would have written it (`champion_version`
    is the new champion). The move is refused when the decision did not pass the gate, or when
    `champion` has moved since the gate compared against it (the comparison is stale: register
    again). Run twice, the second call finds the alias already moved and changes nothing.
    """
    decision_path = Path(decision_path)
    decision = read_json(decision_path)
    if not isinstance(decision, dict) or not {"model_name", "version", "promoted", "reason"} <= set(decision):
        raise InputError(f"{decision_path}: not a decision from register (model_name, version, promoted, reason)")
    if decision["promoted"] is not True:
        raise InputError(f"{decision_path}: v{decision['version']} did not pass the gate ({decision['reason']}); "
                         "nothing to promote")
    if decision["model_name"] != cfg.model_name:
        raise InputError(f"{decision_path}: decided for {decision['model_name']!r}, register.model_name is "
                         f"{cfg.model_name!r}")
    version, compared = str(decision["version"]), decision.get("champion_version")
    uri = resolve_tracking_uri(cfg.tracking_uri)
    shown_uri = redact_uri(uri)
    check_reachable(uri)
    with offline_mlflow(), use_tracking_uri(uri), _tracking_errors(uri, shown_uri):
        from mlflow import MlflowClient

        from spladeforge.registry.champion import champion_of

        client = MlflowClient()
        current = champion_of(client, cfg.model_name)
        if current is not None and str(current) == version:
            moved = False  # already done (a retried task)
        elif str(current) != str(compared):
            raise SpladeforgeError(
                f"registered model {cfg.model_name!r}: champion is v{current}, but the gate compared "
                f"v{version} against {'v' + str(compared) if compared else 'no champion'}; register again")
        else:
            move_champion(client, cfg.model_name, version, action="gate", reason=decision["reason"])
            moved = True
    result = {**decision, "champion_version": version}
    write_json(output, result)
    return {**result, "moved": moved}
