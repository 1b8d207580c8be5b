"""The model's versions in the MLflow registry: log a run, register its model, gate it, move `champion`.

One MLflow run holds the run configuration (params), the evaluation and quantization figures
(metrics), the reports and the INT8 ONNX folder (artifacts) and the model as a pyfunc
(`registry.pyfunc`). The new version gets alias `challenger`; `champion` moves to it only when it
passes the gate of `registry.policy`. Each version carries its figures as tags, so the gate reads
the registry alone; a promotion is recorded by `registry.champion`, so that
`spladeforge registry rollback` can undo it.

The gate is decided before anything is logged, so a missing reference leaves the registry
untouched: the reference (`registry.reference`: the champion downloaded and scored on this run's
sets, else the base model) and the paired bootstrap of the per-query gain (`registry.evidence`)
come first. An INT8 export whose NDCG@10 drop exceeds `quantize.max_ndcg_drop` is withheld: not
logged, the version tagged `int8: withheld`, the decision saying so before any alias moves. A
version already holding the same model bytes and gate figure is gated again instead of
registering the model twice (a rerun killed before its decision file, or a retried Kubeflow
task).

Call these inside `registry.tracking.tracking_session`. MLflow is imported inside the functions,
as in `registry.tracking`: importing it starts its telemetry client unless that is switched off.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

from spladeforge.config import RegisterConfig
from spladeforge.errors import SpladeforgeError
from spladeforge.registry.champion import champion_of, move_champion
from spladeforge.registry.gate import Candidate, GateSets, decide_gate
from spladeforge.registry.policy import CHALLENGER, CHAMPION, DOC_DIMS_KEY, NDCG_KEY, NDCG_TAG, Decision, metric_tag
from spladeforge.registry.provenance import provenance_tags
from spladeforge.registry.reference import set_tag
from spladeforge.registry.split_check import identity_tags
from spladeforge.registry.tracking import flatten_params, sqlite_artifact_location

logger = logging.getLogger(__name__)

# What the pyfunc imports, pinned to the versions it was logged with. Given explicitly, MLflow
# skips inferring them (which loads the model again in a subprocess).
_PIP_PACKAGES = ("mlflow", "sentence-transformers", "transformers", "torch")


@dataclass(frozen=True)
class ChampionRecord:
    """The version `champion` points at."""

    version: str
    mv: Any  # its MLflow ModelVersion (tags: the figures of its own run, for a stale reference)


@dataclass(frozen=True)
class Registration:
    """The registered (or re-gated) version and the gate's decision on it."""

    decision: Decision
    version: str
    # The champion after the gate, or (not promoting) the one the gate compared against.
    champion_version: str | None
    run_id: str


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


def version_tags(cfg: RegisterConfig, candidate: Candidate, split: dict | None = None) -> dict[str, str]:
    """The figures the gate reads back from a version later, as tags, with the sets they are from and
    the identity of the split it was tested on (`split_check.identity_tags`)."""
    figures = candidate.figures
    tags = {NDCG_TAG: repr(figures[NDCG_KEY])}
    for key in dict.fromkeys([*cfg.gate_metrics(), NDCG_KEY, DOC_DIMS_KEY]):
        if key in figures:
            tags[metric_tag(key)] = repr(figures[key])
    for label, digest in candidate.set_hashes.items():
        tags[set_tag(label)] = digest
    tags["int8"] = "included" if candidate.int8["included"] else f"withheld: {candidate.int8['reason']}"
    return {**tags, **identity_tags(split)}


def find_champion(client, name: str) -> ChampionRecord | None:
    """The current champion of registered model `name`, or None (no such model, or no champion)."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_registered_model(name).aliases.get(CHAMPION)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    if version is None:
        return None
    return ChampionRecord(str(version), client.get_model_version(name, version))


def log_and_register(cfg: RegisterConfig, candidate: Candidate, gate: GateSets, params: dict | None = None,
                     promote: bool = True) -> Registration:
    """Log the run, register the model as `challenger`, gate it; move `champion` when it passed and `promote`."""
    import mlflow
    from mlflow import MlflowClient

    # Imported here: the pyfunc module imports mlflow at its top (MLflow runs it as a code file).
    from spladeforge.registry import pyfunc

    location = sqlite_artifact_location(mlflow.get_tracking_uri())  # before the store is created
    client = MlflowClient()
    earlier = _same_registration(client, cfg, candidate)
    if earlier is not None:
        return _reuse(client, cfg, earlier, candidate, gate, promote)
    champion = find_champion(client, cfg.model_name)
    decision = decide_gate(cfg, candidate, (champion.version, champion.mv) if champion else None, gate)
    experiment = client.get_experiment_by_name(cfg.experiment)
    if experiment is None:
        experiment_id = client.create_experiment(cfg.experiment, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id

    sidecar, model_sha = candidate.sidecar, candidate.model_sha256
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"register-{cfg.model_name}") as run:
        if params:
            mlflow.log_params(flatten_params(params))
        mlflow.log_metrics(candidate.figures)
        lineage = provenance_tags(sidecar)  # the data revision and input hashes it was trained on
        mlflow.set_tags({
            "spladeforge.base_model": str(sidecar.get("base_model", "")),
            "spladeforge.architecture": str(sidecar.get("architecture", "")),
            "spladeforge.model_sha256": model_sha,
            **lineage,
        })
        for report in candidate.reports:
            mlflow.log_artifact(str(report), artifact_path="reports")
        if candidate.onnx_dir is not None and candidate.int8["included"]:
            mlflow.log_artifacts(str(candidate.onnx_dir), artifact_path="onnx-int8")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=importlib.util.find_spec(pyfunc.__name__).origin,
            artifacts={pyfunc.MODEL_ARTIFACT: str(candidate.model_dir)},
            signature=_signature(),
            input_example=["how do I decode a json string"],
            pip_requirements=_pip_requirements(),
        )
        tags = {**version_tags(cfg, candidate, gate.split), "model_sha256": model_sha, **decision.tags(), **lineage}
        if candidate.onnx_dir is not None and candidate.int8["included"]:  # logged in the same run as the pyfunc
            tags["onnx_int8_uri"] = f"runs:/{run.info.run_id}/onnx-int8"
        version = str(mlflow.register_model(info.model_uri, cfg.model_name, tags=tags).version)
        client.set_registered_model_alias(cfg.model_name, CHALLENGER, version)
        mlflow.set_tags({**decision.tags(), "gate.version": version})
        champion_version = _promote_if_passed(client, cfg, decision, version, promote,
                                              champion.version if champion else None)
    return Registration(decision, version, champion_version, run.info.run_id)


def _promote_if_passed(client, cfg: RegisterConfig, decision: Decision, version: str, promote: bool,
                       champion_version: str | None) -> str | None:
    """Move `champion` to `version` when it passed the gate and `promote`; return the champion after."""
    if not (decision.promoted and promote):
        return champion_version
    move_champion(client, cfg.model_name, version, action="gate", reason=decision.reason)
    return version


def _same_registration(client, cfg: RegisterConfig, candidate: Candidate):
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
    figure = repr(candidate.figures[cfg.metric])
    same = [mv for mv in versions if mv.tags.get("model_sha256") == candidate.model_sha256
            and mv.tags.get(metric_tag(cfg.metric)) == figure]
    return max(same, key=lambda mv: int(mv.version), default=None)


def _reuse(client, cfg: RegisterConfig, mv, candidate: Candidate, gate: GateSets, promote: bool) -> Registration:
    """Gate an already registered version again instead of registering its model a second time.

    Already champion: nothing moves and the decision says so (re-deciding it against itself
    would fail any min_delta > 0). Otherwise the gate runs against the current champion as for
    a new version, and the version's decision tags are updated.
    """
    version = str(mv.version)
    champion = find_champion(client, cfg.model_name)
    champion_version = champion.version if champion else None
    if champion_version == version:
        value = candidate.figures[cfg.metric]
        dims = candidate.figures.get(DOC_DIMS_KEY)
        reason = (f"v{version} holds the same model (sha256 {mv.tags['model_sha256'][:12]}) and "
                  f"{cfg.metric} {value:.4f}, and is already {CHAMPION}; nothing was registered")
        decision = Decision(promoted=True, reason=reason, candidate_value=value, reference_value=value,
                            reference=f"{CHAMPION} v{version}", metric=cfg.metric, checks=[reason],
                            candidate_doc_active_dims=dims, reference_doc_active_dims=dims, int8=candidate.int8)
    else:
        decision = decide_gate(cfg, candidate, (champion.version, champion.mv) if champion else None, gate)
        for key, value in decision.tags().items():
            client.set_model_version_tag(cfg.model_name, version, key, value)
        if mv.run_id:
            for key, value in {**decision.tags(), "gate.version": version}.items():
                client.set_tag(mv.run_id, key, value)
        champion_version = _promote_if_passed(client, cfg, decision, version, promote, champion_version)
    client.set_registered_model_alias(cfg.model_name, CHALLENGER, version)
    logger.info("register: the model is already registered as v%s; gated it again instead of registering it twice",
                version)
    return Registration(decision, version, champion_version, mv.run_id)


def promote_decided(name: str, version: str, compared: str | None, reason: str) -> bool:
    """Move `champion` to `version`, which the gate compared against champion `compared`.

    False when `champion` is already there (a retried task). Refused when `champion` has moved
    since the gate compared against it: the comparison is stale.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    current = champion_of(client, name)
    if current is not None and str(current) == version:
        return False
    if str(current) != str(compared):
        raise SpladeforgeError(
            f"registered model {name!r}: champion is v{current}, but the gate compared "
            f"v{version} against {'v' + str(compared) if compared else 'no champion'}; register again")
    move_champion(client, name, version, action="gate", reason=reason)
    return True
