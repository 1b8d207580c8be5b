"""register: MLflow logging, the champion/challenger gate, the pyfunc, and tracking failures.

Every MLflow test runs against a real sqlite store under a temporary folder; one store per module
(its schema migration costs seconds), one registered model name per test.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

# MLflow 3 starts its telemetry client at import unless this is set (DO_NOT_TRACK must be "true").
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from spladeforge.config import Params, RegisterConfig  # noqa: E402
from spladeforge.errors import InputError, SpladeforgeError  # noqa: E402
from spladeforge.io import sha256_tree  # noqa: E402
from spladeforge.registry.policy import decide  # noqa: E402
from spladeforge.registry.tracking import flatten_params, redact_uri, use_tracking_uri  # noqa: E402
from spladeforge.stages import register  # noqa: E402
from tests.conftest import write_gate_inputs  # noqa: E402


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("mlflow") / "not-yet" / "mlflow.db"  # register creates the folder


@pytest.fixture()
def cfg(store, request, monkeypatch, tmp_path) -> RegisterConfig:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # anything MLflow might drop in the working directory lands here
    return RegisterConfig(tracking_uri=f"sqlite:///{store}", model_name=f"m-{request.node.name}")


@pytest.fixture()
def gate(gate_task_dir, tmp_path):
    """register.run on made-up evaluate outputs for `gate_task_dir`, whose champion is scored for real.

    `model`/`base`: NDCG@10 of every test query (a certain gain) or {query id: NDCG@10}. The
    built-in model every version here holds scores about 0.85 there when it is champion."""
    def run(cfg, model_dir, name, model, decision_path, base=0.40, **kwargs):
        metrics, eval_dir = write_gate_inputs(tmp_path, gate_task_dir, model, base, name=name.removesuffix(".json"))
        return register.run(cfg, model_dir, metrics, decision_path, eval_dir, gate_task_dir, **kwargs)

    return run


def client(cfg: RegisterConfig):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.tracking_uri)


def aliases(cfg: RegisterConfig) -> dict[str, str]:
    return {k: str(v) for k, v in client(cfg).get_registered_model(cfg.model_name).aliases.items()}


def test_decide_compares_against_champion_then_base():
    """The gate rule on its own: champion first, base model when there is none, min_delta inclusive."""
    assert decide(0.5, min_delta=0.0, base_value=0.4).reference == "base model"
    kept = decide(0.5, min_delta=0.0, champion_value=0.6, champion_version="3", base_value=0.1)
    assert not kept.promoted and kept.reference == "champion v3"
    # A gain of exactly min_delta is a tie, which keeps the reference (0.4 + 0.1 in floating point too).
    assert decide(0.5, min_delta=0.1, base_value=0.4).promoted is False
    assert decide(0.5, min_delta=0.09, base_value=0.4).promoted is True
    assert decide(0.5, min_delta=0.11, base_value=0.4).promoted is False
    with pytest.raises(ValueError):
        decide(0.5, min_delta=0.0)


def test_params_are_flattened_and_secrets_masked():
    """Nested run configuration becomes dotted MLflow params; credentials never reach MLflow."""
    flat = flatten_params({"train": {"learning_rate": 2e-5, "rank_window": [3, 30]},
                           "publish": {"hub": {"token_env": "HF_TOKEN", "token": "hf_abc"}},
                           "register": {"tracking_uri": "http://bob:pw@127.0.0.1:5000"}})
    assert flat["train.learning_rate"] == "2e-05" and flat["train.rank_window"] == "[3, 30]"
    assert flat["publish.hub.token_env"] == "HF_TOKEN" and flat["publish.hub.token"] == "***"
    # The user part can be a token too (https://TOKEN@host): the one redaction masks all of it.
    assert flat["register.tracking_uri"] == "http://***@127.0.0.1:5000"
    assert redact_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_missing_candidate_figure_fails_before_mlflow(cfg, model_dir, tmp_path, gate_task_dir):
    """A metrics.json without model_ndcg_at_10 names the file and key and touches no store."""
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"base_ndcg_at_10": 0.4}))
    with pytest.raises(InputError, match=r"metrics\.json: model_ndcg_at_10"):
        register.run(cfg, model_dir, metrics, tmp_path / "decision.json", tmp_path, gate_task_dir)
    assert not (tmp_path / "decision.json").exists()


def test_missing_per_query_scores_or_set_hash_fail_before_mlflow(cfg, model_dir, tmp_path, gate_task_dir):
    """The gate resamples evaluate's per-query scores and checks its set hash: without them, nothing registers."""
    metrics, eval_dir = write_gate_inputs(tmp_path, gate_task_dir, 0.5)
    (eval_dir / "per_query.json").unlink()
    with pytest.raises(InputError, match=r"per_query\.json: not found"):
        register.run(cfg, model_dir, metrics, tmp_path / "decision.json", eval_dir, gate_task_dir)
    metrics, eval_dir = write_gate_inputs(tmp_path, gate_task_dir, 0.5, figures={"set_sha256": None})
    with pytest.raises(InputError, match="set_sha256 is missing"):
        register.run(cfg, model_dir, metrics, tmp_path / "decision.json", eval_dir, gate_task_dir)
    assert not (tmp_path / "decision.json").exists()


@pytest.mark.slow
def test_gate_promotes_only_better_versions(cfg, model_dir, tmp_path, gate):
    """v1 beats the base model; a worse v2 stays challenger; a better v3 takes champion. From v2 on, the
    reference is champion v1 scored by this run on the same test set (about 0.85 there)."""
    decision_path = tmp_path / "decision.json"
    params = Params().model_dump()
    first = gate(cfg, model_dir, "m1.json", 0.50, decision_path, run_params=params)
    assert first["promoted"] and first["reference"] == "base model"
    assert (first["version"], first["champion_version"]) == ("1", "1")
    assert json.loads(decision_path.read_text()) == first
    assert aliases(cfg) == {"champion": "1", "challenger": "1"}

    assert first["interval"]["low"] == pytest.approx(0.10) and first["candidate_set_sha256"]
    assert first["candidate_set_sha256"] == first["reference_set_sha256"]

    second = gate(cfg, model_dir, "m2.json", 0.45, decision_path)
    assert not second["promoted"] and second["reference"] == "champion v1"
    assert second["champion_version"] == "1" and 0.8 < second["reference_value"] < 0.9
    assert second["candidate_set_sha256"] == second["reference_set_sha256"] == first["candidate_set_sha256"]
    assert aliases(cfg) == {"champion": "1", "challenger": "2"}

    third = gate(cfg, model_dir, "m3.json", 1.0, decision_path)
    assert third["promoted"] and third["champion_version"] == "3" and third["interval"]["low"] > 0
    assert aliases(cfg) == {"champion": "3", "challenger": "3"}

    mlflow_client = client(cfg)
    v2 = mlflow_client.get_model_version(cfg.model_name, "2")
    assert float(v2.tags["ndcg_at_10"]) == 0.45 and v2.tags["gate.promoted"] == "false"
    assert v2.tags["gate.reference"] == "champion v1" and "falls short" in v2.tags["gate.reason"]
    assert v2.tags["gate.failed"] == "min_delta"
    assert float(v2.tags["gate.reference_value"]) == second["reference_value"]
    assert float(v2.tags["gate.interval.high"]) < 0 and v2.tags["set_sha256.held-out"] == first["candidate_set_sha256"]
    run = mlflow_client.get_run(first["run_id"])
    assert run.data.metrics["model_ndcg_at_10"] == 0.50 and "note" not in run.data.metrics
    assert run.data.params["train.learning_rate"] == "2e-05"
    assert run.data.tags["gate.promoted"] == "true" and run.data.tags["gate.version"] == "1"
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_min_delta_is_required_over_the_reference(cfg, model_dir, tmp_path, gate):
    """With min_delta 0.05 a certain +0.01 gain is not enough, nor an exact +0.05 (a tie), a +0.06 is."""
    cfg.min_delta = 0.05
    decision_path = tmp_path / "decision.json"
    small = gate(cfg, model_dir, "a.json", 0.41, decision_path)
    assert not small["promoted"] and small["champion_version"] is None
    assert aliases(cfg) == {"challenger": "1"}
    tie = gate(cfg, model_dir, "t.json", 0.45, decision_path)
    assert not tie["promoted"] and aliases(cfg) == {"challenger": "2"}
    enough = gate(cfg, model_dir, "b.json", 0.46, decision_path)
    assert enough["promoted"] and enough["reference"] == "base model"
    assert aliases(cfg) == {"champion": "3", "challenger": "3"}


@pytest.mark.slow
def test_champion_loads_as_pyfunc_and_returns_token_weights(cfg, model_dir, tmp_path, gate):
    """The registered pyfunc serves texts -> {token: weight}, from a list or a DataFrame."""
    import mlflow
    import pandas as pd

    onnx_dir = tmp_path / "int8"
    onnx_dir.mkdir()
    (onnx_dir / "model_int8.onnx").write_bytes(b"not really onnx")
    quantize = tmp_path / "quantize.json"
    quantize.write_text(json.dumps({"fp32_ndcg_at_10": 0.5, "int8_ndcg_at_10": 0.49,
                                    "ndcg_at_10_change": -0.01, "encode_speed_ratio": 2.0}))
    result = gate(cfg, model_dir, "m.json", 0.5, tmp_path / "decision.json", quantize_report=quantize,
                  onnx_dir=onnx_dir)
    assert result["int8"]["included"] and "INT8 withheld" not in result["reason"]
    run = client(cfg).get_run(result["run_id"])
    assert run.data.metrics["int8_ndcg_at_10"] == 0.49
    listed = {a.path for a in client(cfg).list_artifacts(result["run_id"], "onnx-int8")}
    assert listed == {"onnx-int8/model_int8.onnx"}
    version = client(cfg).get_model_version(cfg.model_name, result["version"])
    assert version.tags["onnx_int8_uri"] == f"runs:/{result['run_id']}/onnx-int8"

    with use_tracking_uri(cfg.tracking_uri):
        model = mlflow.pyfunc.load_model(f"models:/{cfg.model_name}@champion")
    weights = model.predict(["decode a json string", "compress a file with gzip"])
    assert len(weights) == 2 and all(isinstance(w, dict) and w for w in weights)
    assert all(isinstance(t, str) and isinstance(v, float) and v > 0 for t, v in weights[0].items())
    top = model.predict(pd.DataFrame({"text": ["decode a json string"]}), params={"top_k": 3})
    assert len(top) == 1 and len(top[0]) == 3


@pytest.mark.slow
def test_no_champion_and_no_base_figure_is_an_input_error(cfg, model_dir, tmp_path, gate):
    """Without a champion the base model is the reference; without its scores, nothing registers."""
    with pytest.raises(InputError, match="no per-query scores of the base model"):
        gate(cfg, model_dir, "metrics.json", 0.5, tmp_path / "decision.json", base=None)
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        client(cfg).get_registered_model(cfg.model_name)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_is_a_clear_error(cfg, model_dir, tmp_path, monkeypatch, gate):
    """A dead tracking server fails in seconds, names the URI (password hidden), writes nothing;
    MLFLOW_TRACKING_URI in the environment wins over register.tracking_uri."""
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)  # the dead server must be contacted directly
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    uri = f"http://ops:hunter2@127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    before = sha256_tree(model_dir)
    start = time.monotonic()
    with pytest.raises(SpladeforgeError) as info:
        gate(cfg, model_dir, "m.json", 0.5, tmp_path / "decision.json")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert redact_uri(uri) in message and "unreachable" in message and "hunter2" not in message
    assert not (tmp_path / "decision.json").exists()
    assert sha256_tree(model_dir) == before


def test_incomplete_model_folder_fails_before_mlflow(cfg, model_dir, tmp_path, gate):
    """A model folder without its weights is named and no store is created."""
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(InputError, match=r"incomplete model folder, missing a weights file"):
        gate(cfg, model_dir, "m.json", 0.5, tmp_path / "decision.json")
    assert not (tmp_path / "decision.json").exists()


def test_gate_figures_missing_from_metrics_are_named(cfg, model_dir, tmp_path, gate):
    """A ceiling on doc active dims needs model_doc_active_dims in metrics.json."""
    cfg.max_doc_active_dims = 300
    with pytest.raises(InputError, match=r"m\.json: model_doc_active_dims must be a finite number"):
        gate(cfg, model_dir, "m.json", 0.5, tmp_path / "decision.json")


@pytest.mark.slow
def test_register_without_promote_leaves_champion_to_the_promote_step(cfg, model_dir, tmp_path, gate):
    """The Kubeflow path: register decides but moves nothing; promote_champion moves the alias only
    for a passing decision, records the move like the gate, and refuses a stale comparison."""
    from spladeforge.registry import champion

    first = gate(cfg, model_dir, "m1.json", 0.50, tmp_path / "d1.json", promote=False)
    assert first["promoted"] and first["reference"] == "base model" and first["champion_version"] is None
    assert aliases(cfg) == {"challenger": "1"}, "register moved champion with promote=False"
    moved = register.promote_champion(cfg, tmp_path / "d1.json", tmp_path / "p1.json")
    assert moved["moved"] and aliases(cfg) == {"champion": "1", "challenger": "1"}
    # What publish reads: the decision as the dvc path's register writes it.
    assert json.loads((tmp_path / "p1.json").read_text()) == {**first, "champion_version": "1"}
    assert champion.history(client(cfg), cfg.model_name)[-1]["action"] == "gate"
    again = register.promote_champion(cfg, tmp_path / "d1.json", tmp_path / "p1.json")  # a retried task
    assert not again["moved"] and len(champion.history(client(cfg), cfg.model_name)) == 1

    worse = gate(cfg, model_dir, "m2.json", 0.45, tmp_path / "d2.json", promote=False)
    assert not worse["promoted"]
    with pytest.raises(InputError, match="did not pass the gate"):
        register.promote_champion(cfg, tmp_path / "d2.json", tmp_path / "p2.json")
    assert aliases(cfg) == {"champion": "1", "challenger": "2"} and not (tmp_path / "p2.json").exists()

    better = gate(cfg, model_dir, "m3.json", 1.0, tmp_path / "d3.json", promote=False)
    assert better["promoted"] and better["champion_version"] == "1"
    champion.move_champion(client(cfg), cfg.model_name, "2", action="promote", reason="by hand meanwhile")
    with pytest.raises(SpladeforgeError, match=r"champion is v2, but the gate compared v3 against v1"):
        register.promote_champion(cfg, tmp_path / "d3.json", tmp_path / "p3.json")
    assert aliases(cfg) == {"champion": "2", "challenger": "3"}


@pytest.mark.slow
def test_rerun_of_the_same_registration_reuses_its_version(cfg, model_dir, tmp_path, gate_task_dir):
    """Same model bytes and gate figure: the version is gated again, never registered twice.

    v1 (0.45) loses to the base model (0.50); a rerun of the same registration finds v1 and
    re-decides it (still refused), moving nothing; once v2 (0.60) is champion, v1's rerun is
    gated against champion v2; the same model evaluated to another figure is a new version.
    """
    decision_path = tmp_path / "decision.json"
    weak, weak_eval = write_gate_inputs(tmp_path, gate_task_dir, 0.45, base=0.50, name="weak")
    first = register.run(cfg, model_dir, weak, decision_path, weak_eval, gate_task_dir)
    assert (first["version"], first["promoted"]) == ("1", False)
    again = register.run(cfg, model_dir, weak, decision_path, weak_eval, gate_task_dir)
    assert (again["version"], again["promoted"], again["run_id"]) == ("1", False, first["run_id"])
    assert aliases(cfg) == {"challenger": "1"}

    strong, strong_eval = write_gate_inputs(tmp_path, gate_task_dir, 0.60, name="strong")
    register.run(cfg, model_dir, strong, decision_path, strong_eval, gate_task_dir)
    assert aliases(cfg) == {"champion": "2", "challenger": "2"}
    regated = register.run(cfg, model_dir, weak, decision_path, weak_eval, gate_task_dir)
    assert (regated["version"], regated["reference"], regated["promoted"]) == ("1", "champion v2", False)
    assert aliases(cfg) == {"champion": "2", "challenger": "1"}
    v1 = client(cfg).get_model_version(cfg.model_name, "1")
    assert v1.tags["gate.reference"] == "champion v2"

    assert len(client(cfg).search_model_versions(f"name='{cfg.model_name}'")) == 2
    best, best_eval = write_gate_inputs(tmp_path, gate_task_dir, 1.0, name="best")
    best = register.run(cfg, model_dir, best, decision_path, best_eval, gate_task_dir)
    assert (best["version"], best["champion_version"]) == ("3", "3")


@pytest.mark.slow
def test_a_judged_folder_guards_or_decides_the_gate(cfg, model_dir, tmp_path, gate_task_dir, tiny_beir_dir):
    """The generated test split says +0.4 on every query; a folder of judged queries says the model is
    worse: as a guard it refuses what the generated set alone would promote, and as the gate metric it
    decides. The figures are evaluate's outputs for both sets, made up."""
    from spladeforge.config import EvaluateConfig
    from spladeforge.evaluation.beir import load_beir

    judged = load_beir(tiny_beir_dir)
    metrics, eval_dir = write_gate_inputs(tmp_path, gate_task_dir, 0.9, 0.5, figures={
        "tiny_model_ndcg_at_10": 0.2, "tiny_base_ndcg_at_10": 0.6, "tiny_set_sha256": judged.content_sha256()})
    per_query = json.loads((eval_dir / "per_query.json").read_text())
    per_query["tiny"] = {"model": dict.fromkeys(judged.queries, 0.2), "base": dict.fromkeys(judged.queries, 0.6)}
    (eval_dir / "per_query.json").write_text(json.dumps(per_query))
    evaluate = EvaluateConfig(beir_datasets=[str(tiny_beir_dir)])

    cfg.guards = [{"metric": "tiny_model_ndcg_at_10", "max_drop": 0.0}]
    guarded = register.run(cfg, model_dir, metrics, tmp_path / "d1.json", eval_dir, gate_task_dir, evaluate=evaluate)
    assert not guarded["promoted"] and guarded["failed"] == ["guard:tiny_model_ndcg_at_10"]
    assert "its lower bound clears min_delta 0" in guarded["checks"][1], "the generated set alone would promote"
    assert guarded["metric_reason"].startswith("the test split: no judged queries")
    (guard,) = guarded["guards"]
    assert (guard["candidate"], guard["reference"]) == (pytest.approx(0.2), pytest.approx(0.6))
    assert guard["candidate_set_sha256"] == judged.content_sha256()

    cfg.guards, cfg.metric = [], "tiny_model_ndcg_at_10"
    decided = register.run(cfg, model_dir, metrics, tmp_path / "d2.json", eval_dir, gate_task_dir, evaluate=evaluate)
    assert not decided["promoted"] and decided["metric"] == "tiny_model_ndcg_at_10"
    assert decided["interval"]["queries"] == len(judged.queries) and decided["interval"]["high"] < 0
    assert decided["candidate_set_sha256"] == decided["reference_set_sha256"] == judged.content_sha256()
    assert aliases(cfg) == {"challenger": decided["version"]}, "no champion"
