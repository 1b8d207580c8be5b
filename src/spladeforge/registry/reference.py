"""The reference a challenger is compared with, measured like the challenger: same code, same sets.

- No champion yet: the base model, whose per-query scores this run's evaluate wrote beside the
  challenger's (same sets, same code, by construction).
- A champion: its model folder, downloaded from the registry (the SparseEncoder folder the
  version's pyfunc holds), scored by `evaluation.reference` on the very sets evaluate scored the
  challenger on (the test split, and every BEIR folder the gate metric or a guard names).
  Comparing with the figure the champion's own run measured would compare different sets: a
  scheduled retrain on new data gets a new test set, and an easier set promotes a worse model.
- A champion that cannot be downloaded or loaded stops register, unless
  `register.allow_stale_reference`: then its tagged figures stand in, without an interval, and
  the decision says so.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spladeforge.config import EvaluateConfig, RegisterConfig
from spladeforge.errors import InputError, SpladeforgeError
from spladeforge.registry.policy import DOC_DIMS_KEY, base_key, metric_tag

if TYPE_CHECKING:
    from spladeforge.evaluation.beir import BeirData

logger = logging.getLogger(__name__)
SET_TAG = "set_sha256"  # version tag prefix: `set_sha256.<task label>`, the set its figures are from


def set_tag(label: str) -> str:
    return f"{SET_TAG}.{label}"


@dataclass(frozen=True)
class SetScores:
    """A version's figure for one gate metric, its per-query scores and the set they are from."""

    figure: float
    per_query: dict[str, float] | None  # None for a stale reference: no interval
    set_sha256: str | None


@dataclass(frozen=True)
class Reference:
    name: str  # "base model" or "champion vN"
    version: str | None  # the champion's version, None for the base model
    scores: dict[str, SetScores]  # gate metric (and guards') -> scores
    doc_active_dims: float | None
    stale: str | None = None  # why tagged figures stand in for a fresh score
    model_sha256: str | None = None  # the champion's model bytes (its `model_sha256` tag)


def mean(per_query: dict[str, float]) -> float:
    return sum(per_query.values()) / len(per_query)


def base_reference(cfg: RegisterConfig, per_query: dict[str, dict[str, dict[str, float]]],
                   set_hashes: dict[str, str], labels: dict[str, str], figures: dict[str, float],
                   source: Path) -> Reference:
    """The base model's scores from evaluate's per-query file (`labels`: metric -> task label)."""
    scores = {}
    for metric, label in labels.items():
        base = per_query.get(label, {}).get("base")
        if not base:
            raise InputError(f"{source}: no per-query scores of the base model on {label!r}, and "
                             f"{cfg.model_name!r} has no champion yet, so there is nothing to compare "
                             f"{metric} against (accepted: evaluate's output with evaluate.compare_base: true)")
        scores[metric] = SetScores(mean(base), base, set_hashes.get(label))
    return Reference("base model", None, scores, figures.get(base_key(DOC_DIMS_KEY)))


def download_model(name: str, version: str, dest: Path) -> Path:
    """The SparseEncoder folder registered as `name` version `version` (the pyfunc's artifact)."""
    import mlflow

    from spladeforge.registry.pyfunc import MODEL_ARTIFACT

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dest)))
    # The pyfunc's MLmodel maps the artifact key to the path MLflow copied the folder to.
    flavor = mlflow.models.Model.load(str(local)).flavors.get("python_function", {})
    relative = (flavor.get("artifacts") or {}).get(MODEL_ARTIFACT, {}).get("path")
    folder = local / relative if relative else None
    if folder is None or not (folder / "modules.json").is_file():
        raise SpladeforgeError(f"models:/{name}/{version} holds no SparseEncoder folder as pyfunc artifact "
                               f"{MODEL_ARTIFACT!r}")
    return folder


def champion_reference(cfg: RegisterConfig, evaluate: EvaluateConfig, version: str, mv: Any,
                       sets: dict[str, BeirData], labels: dict[str, str]) -> Reference:
    """Champion `version` (`mv`, its MLflow model version) scored on `sets`, or its tags when stale."""
    from mlflow.exceptions import MlflowException

    from spladeforge.evaluation.reference import score_saved_model

    name = f"champion v{version}"
    try:
        with tempfile.TemporaryDirectory(prefix="spladeforge-champion-") as tmp:
            folder = download_model(cfg.model_name, version, Path(tmp))
            scored = score_saved_model(evaluate, folder, {label: sets[label] for label in set(labels.values())},
                                       name="champion")
    except (MlflowException, OSError, SpladeforgeError, ValueError, RuntimeError) as exc:
        problem = f"its model could not be loaded from the registry ({type(exc).__name__}: {str(exc)[:300]})"
        if not cfg.allow_stale_reference:
            raise SpladeforgeError(
                f"registered model {cfg.model_name!r}: {name} must be scored on this run's sets to compare "
                f"like with like, but {problem}. Restore its artifacts, move the champion alias, or set "
                "register.allow_stale_reference: true to compare with its tagged figures (measured on "
                "its own run's sets, without an interval)") from None
        logger.warning("register: %s: %s; comparing with its tagged figures (register.allow_stale_reference)",
                       name, problem)
        return stale_reference(cfg, version, mv, labels, problem)
    scores = {metric: SetScores(mean(scored[label].per_query), scored[label].per_query, scored[label].set_sha256)
              for metric, label in labels.items()}
    gate_label = labels[cfg.metric]
    return Reference(name, version, scores, scored[gate_label].figures.get("doc_active_dims"),
                     model_sha256=mv.tags.get("model_sha256"))


def stale_reference(cfg: RegisterConfig, version: str, mv: Any, labels: dict[str, str], problem: str) -> Reference:
    """The champion's tagged figures, named as such: `register.allow_stale_reference`."""
    scores = {}
    for metric, label in labels.items():
        tag = metric_tag(metric)
        if tag not in mv.tags:
            raise SpladeforgeError(f"registered model {cfg.model_name!r}: champion v{version} {problem}, and has "
                                   f"no {tag!r} tag to fall back on (register.allow_stale_reference)")
        scores[metric] = SetScores(float(mv.tags[tag]), None, mv.tags.get(set_tag(label)))
    dims = mv.tags.get(metric_tag(DOC_DIMS_KEY))
    return Reference(f"champion v{version}", version, scores, float(dims) if dims is not None else None,
                     stale=f"champion v{version}'s tagged figures, measured on its own run's sets: {problem}",
                     model_sha256=mv.tags.get("model_sha256"))
