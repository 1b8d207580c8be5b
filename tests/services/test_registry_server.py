"""register and `spladeforge registry` against a real `mlflow server` whose artifacts live in S3
(moto): promote, refuse, roll back, promote by hand, serve the champion; a dead server at
register time."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spladeforge.cli.registry import registry_app
from spladeforge.config import RegisterConfig
from spladeforge.errors import SpladeforgeError
from spladeforge.io import sha256_tree
from spladeforge.stages import register
from tests.conftest import write_gate_inputs
from tests.services.conftest import MLFLOW_BUCKET, s3_client

pytestmark = pytest.mark.slow


def gate_inputs(folder: Path, task_dir: Path, name: str, ndcg: float, dims: float = 150.0) -> tuple[Path, Path]:
    """metrics.json and per_query.json as evaluate writes them: NDCG@10 `ndcg` on every test query."""
    return write_gate_inputs(folder, task_dir, ndcg, 0.40, name=name, figures={"model_doc_active_dims": dims})


@pytest.fixture()
def server_env(mlflow_server, monkeypatch, tmp_path) -> str:
    """The server through MLFLOW_TRACKING_URI (which wins over register.tracking_uri)."""
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("SPLADEFORGE_USER", "ci-bot")
    monkeypatch.chdir(tmp_path)
    return mlflow_server


def registry(*args: str) -> str:
    result = CliRunner().invoke(registry_app, [*args, "--params", "absent.yaml"])
    assert result.exit_code == 0, result.output
    return result.output


def test_gate_rollback_and_serving_through_the_server(server_env, model_dir, tmp_path, moto_endpoint,
                                                       gate_task_dir):
    """v1 beats base; v2 refused by the doc-dims ceiling; v3 promoted; rollback -> v1; a manual
    promote and a second rollback are recorded with who/when/why; the champion serves. v2 and v3 are
    compared with champion v1 downloaded from the server's S3 store and scored on their test set."""
    import mlflow
    from mlflow import MlflowClient

    from spladeforge.registry.tracking import use_tracking_uri

    cfg = RegisterConfig(tracking_uri="sqlite:///never-used.db", model_name="served", max_doc_active_dims=400)
    decision = tmp_path / "decision.json"
    versions = []
    for name, ndcg, dims in (("1", 0.50, 150.0), ("2", 0.995, 900.0), ("3", 1.0, 150.0)):
        metrics, eval_dir = gate_inputs(tmp_path, gate_task_dir, name, ndcg, dims)
        versions.append(register.run(cfg, model_dir, metrics, decision, eval_dir, gate_task_dir))
    v1, v2, v3 = versions
    assert (v1["promoted"], v2["promoted"], v3["promoted"]) == (True, False, True)
    assert v2["failed"] == ["max_doc_active_dims"] and v3["reference"] == "champion v1"
    # The champion's dims are measured again, on v2's test set, like its NDCG@10.
    champion_dims = v2["reference_doc_active_dims"]
    assert champion_dims is not None and champion_dims != 150.0
    assert v1["tracking_uri"] == server_env and not Path("never-used.db").exists()

    client = MlflowClient(tracking_uri=server_env, registry_uri=server_env)
    tags = client.get_model_version("served", "2").tags
    assert tags["gate.promoted"] == "false" and tags["gate.candidate_doc_active_dims"] == "900.0"
    assert f"exceed the ceiling max_doc_active_dims 400; champion v1 had {champion_dims:.1f}" in tags["gate.reason"]
    listed = json.loads(registry("list", "--model-name", "served", "--json"))
    assert [(r["version"], r["aliases"], r["promoted"]) for r in listed] == [
        ("3", ["challenger", "champion"], "true"), ("2", [], "false"), ("1", [], "true")]

    assert "champion v3 -> v1 (rollback) by ci-bot" in registry(
        "rollback", "--model-name", "served", "--reason", "v3 regressed in production")
    assert "champion v1 -> v2 by alice" in registry(
        "promote", "2", "--model-name", "served", "--reason", "ceiling waived", "--by", "alice")
    shown = json.loads(registry("show", "champion", "--model-name", "served"))
    assert shown["version"] == "2" and shown["tags"]["champion.by"] == "alice"
    assert shown["tags"]["champion.reason"] == "ceiling waived" and shown["tags"]["champion.previous"] == "1"
    registry("rollback", "--model-name", "served", "--reason", "back to the gated champion")
    model = client.get_registered_model("served")
    assert str(model.aliases["champion"]) == "1"
    assert client.get_model_version("served", "2").tags["rollback.reason"] == "back to the gated champion"
    actions = [(e["action"], e["version"]) for e in json.loads(model.tags["champion.history"])]
    assert actions == [("gate", "1"), ("gate", "3"), ("rollback", "1"), ("promote", "2"), ("rollback", "1")]

    with use_tracking_uri(server_env):
        served = mlflow.pyfunc.load_model("models:/served@champion")
        info = mlflow.models.get_model_info("models:/served@champion")
    assert info.signature is not None and info.saved_input_example_info is not None
    weights = served.predict(["decode a json string"], params={"top_k": 5})
    assert len(weights) == 1 and len(weights[0]) == 5 and all(v > 0 for v in weights[0].values())
    stored = s3_client(moto_endpoint).list_objects_v2(Bucket=MLFLOW_BUCKET, Prefix="mlflow/")
    assert any(o["Key"].endswith("model.safetensors") for o in stored["Contents"])  # artifacts in S3


def test_rollback_without_a_previous_champion_is_a_clear_error(server_env, model_dir, tmp_path, gate_task_dir):
    cfg = RegisterConfig(model_name="lonely")
    metrics, eval_dir = gate_inputs(tmp_path, gate_task_dir, "m", 0.5)
    register.run(cfg, model_dir, metrics, tmp_path / "d.json", eval_dir, gate_task_dir)
    result = CliRunner().invoke(registry_app, ["rollback", "--model-name", "lonely", "--reason", "x",
                                               "--params", "absent.yaml"])
    assert result.exit_code != 0 and "nothing to roll back to" in str(result.exception)


def test_server_down_then_rerun_succeeds(server_env, model_dir, tmp_path, monkeypatch, gate_task_dir):
    """A dead server: a clear error naming it, the model folder intact, no decision; rerun works."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    before = sha256_tree(model_dir)
    metrics, eval_dir = gate_inputs(tmp_path, gate_task_dir, "m", 0.5)
    with pytest.raises(SpladeforgeError, match=f"{dead} is unreachable"):
        register.run(RegisterConfig(model_name="rerun"), model_dir, metrics, tmp_path / "d.json", eval_dir,
                     gate_task_dir)
    assert sha256_tree(model_dir) == before and not (tmp_path / "d.json").exists()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server_env)
    result = register.run(RegisterConfig(model_name="rerun"), model_dir, metrics, tmp_path / "d.json", eval_dir,
                          gate_task_dir)
    assert result["promoted"] and result["version"] == "1"
