"""Like with like: register scores the champion itself, on the challenger's sets, with evaluate's code.

Two real models: the built-in SPLADE ("good") and a copy whose encoder weights carry seeded noise
("worse": about 0.53 NDCG@10 against 0.85 on the harder test set, 0.91 against 1.0 on the easier
one). Two test sets stand for the test splits of two data revisions: the harder one (40 documents,
24 queries) and an easier one (6 documents, 4 queries), where every model looks good. Each
challenger is evaluated by the evaluate stage, then registered; champions are promoted by hand
(`registry promote`), as an operator would, so that each scenario starts from the champion it needs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from spladeforge.config import EvaluateConfig, RegisterConfig  # noqa: E402
from spladeforge.errors import SpladeforgeError  # noqa: E402
from spladeforge.stages import evaluate, register  # noqa: E402

pytestmark = pytest.mark.slow

EVALUATE = EvaluateConfig(batch_size=16, compare_bm25=False, dense_model=None, error_analysis_queries=0,
                          latency_queries=0)


@pytest.fixture(scope="module")
def worse_model_dir(tmp_path_factory, _saved_model_dir) -> Path:
    import torch

    from spladeforge.models.saved import load_saved_model

    model, meta = load_saved_model(_saved_model_dir)
    noise = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, weights in model.named_parameters():
            if "encoder.layer" in name and weights.dim() == 2:
                weights.add_(torch.randn(weights.shape, generator=noise) * weights.std() * 0.6)
    folder = tmp_path_factory.mktemp("worse") / "splade"
    model.save(str(folder))
    (folder / "spladeforge.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture()
def registry(tmp_path, monkeypatch, request):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return RegisterConfig(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", model_name=f"m-{request.node.name}")


def challenge(cfg: RegisterConfig, model_dir: Path, task_dir: Path, name: str, root: Path) -> dict:
    """evaluate, then register, as `dvc repro` runs them on one data revision's test split."""
    out, metrics = root / name, root / f"{name}.json"
    evaluate.run(EVALUATE, model_dir, task_dir, out, metrics)
    return register.run(cfg, model_dir, metrics, root / f"{name}-decision.json", out, task_dir,
                        evaluate=EVALUATE, seed=0)


def promote_by_hand(cfg: RegisterConfig, version: str) -> dict[str, str]:
    from mlflow import MlflowClient

    from spladeforge.registry.champion import move_champion

    client = MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.tracking_uri)
    move_champion(client, cfg.model_name, version, action="promote", reason="operator's choice")
    return client.get_model_version(cfg.model_name, version).tags


def test_scheduled_retrain_on_an_easier_set_does_not_promote_a_worse_model(
        registry, tmp_path, _saved_model_dir, worse_model_dir, gate_task_dir, tiny_beir_dir):
    """Revision 1 (harder set): the good model is champion at 0.85. Revision 2 (easier set): the worse
    model scores 0.91 there, above the champion's recorded 0.85, which the old gate compared with; scored
    on the same set the champion has 1.0, so the challenger stays challenger."""
    champion = challenge(registry, _saved_model_dir, gate_task_dir, "rev1", tmp_path)
    tags = promote_by_hand(registry, champion["version"])
    recorded = float(tags["metric.model_ndcg_at_10"])
    decision = challenge(registry, worse_model_dir, tiny_beir_dir, "rev2", tmp_path)
    assert decision["reference"] == f"champion v{champion['version']}" and not decision["stale_reference"]
    assert decision["candidate_value"] > recorded, "the setup: its own easier set flatters the challenger"
    assert not decision["promoted"] and decision["failed"] == ["min_delta"]
    assert decision["reference_value"] > decision["candidate_value"]
    assert decision["candidate_set_sha256"] == decision["reference_set_sha256"] != tags["set_sha256.held-out"]
    assert decision["interval"]["high"] < 0.01


def test_scheduled_retrain_on_a_harder_set_promotes_a_better_model(
        registry, tmp_path, _saved_model_dir, worse_model_dir, gate_task_dir, tiny_beir_dir):
    """The reverse: the worse model is champion with 0.91 recorded on the easier set; the good model
    scores 0.85 on the harder set of the next revision, below that record, but above the champion
    scored on the same harder set (0.53), and the interval says so."""
    champion = challenge(registry, worse_model_dir, tiny_beir_dir, "rev1", tmp_path)
    assert not champion["promoted"], "the worse model loses to its base model"
    recorded = float(promote_by_hand(registry, champion["version"])["metric.model_ndcg_at_10"])
    decision = challenge(registry, _saved_model_dir, gate_task_dir, "rev2", tmp_path)
    assert decision["candidate_value"] < recorded, "the setup: its own harder set makes the challenger look worse"
    assert decision["promoted"] and decision["interval"]["low"] > 0
    assert decision["reference_value"] < 0.7 < decision["candidate_value"]
    assert decision["candidate_set_sha256"] == decision["reference_set_sha256"]
    assert decision["champion_version"] == decision["version"]


def _drop_artifacts(cfg: RegisterConfig) -> None:
    shutil.rmtree(Path(cfg.tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts")


def test_a_champion_that_cannot_be_loaded_stops_register_unless_stale_is_allowed(
        registry, tmp_path, _saved_model_dir, worse_model_dir, gate_task_dir):
    """Its artifacts are gone: register refuses, naming the way out; with allow_stale_reference the
    champion's tagged figures stand in, without an interval, and the decision says so."""
    first = challenge(registry, _saved_model_dir, gate_task_dir, "first", tmp_path)
    promote_by_hand(registry, first["version"])
    _drop_artifacts(registry)
    out, metrics = tmp_path / "second", tmp_path / "second.json"
    evaluate.run(EVALUATE, worse_model_dir, gate_task_dir, out, metrics)
    with pytest.raises(SpladeforgeError, match="could not be loaded from the registry.*allow_stale_reference"):
        register.run(registry, worse_model_dir, metrics, tmp_path / "d.json", out, gate_task_dir, evaluate=EVALUATE)
    assert not (tmp_path / "d.json").exists()

    registry.allow_stale_reference = True
    stale = register.run(registry, worse_model_dir, metrics, tmp_path / "d.json", out, gate_task_dir,
                         evaluate=EVALUATE)
    assert stale["stale_reference"] and stale["interval"] is None and not stale["promoted"]
    assert "stale reference: champion v1's tagged figures" in stale["reason"]
    assert stale["reference_value"] == pytest.approx(first["candidate_value"], abs=1e-4)
    assert stale["reference_set_sha256"] == stale["candidate_set_sha256"]  # its tag: it was measured here too


def test_a_test_folder_other_than_evaluates_is_refused(registry, tmp_path, _saved_model_dir, gate_task_dir,
                                                      tiny_beir_dir):
    """register scores the reference on the folder it is given: if that is not the set evaluate measured
    the challenger on, the comparison would not be like with like, and nothing registers."""
    evaluate.run(EVALUATE, _saved_model_dir, gate_task_dir, tmp_path / "out", tmp_path / "metrics.json")
    with pytest.raises(SpladeforgeError, match="holds another set than 'held-out' was measured on"):
        register.run(registry, _saved_model_dir, tmp_path / "metrics.json", tmp_path / "d.json", tmp_path / "out",
                     tiny_beir_dir, evaluate=EVALUATE)
    assert not (tmp_path / "d.json").exists()
