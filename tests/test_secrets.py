"""Secrets hygiene with the secrets in use: recognizable fake credentials sit in the environment
while the stages that read them run, and no output holds any of them.

`generate-queries` sends its OpenAI-style key to an endpoint on 127.0.0.1; `publish` tries the
Hub push with the HF token (offline, the Hub endpoint pointed at a closed 127.0.0.1 port) and the
S3 upload with the AWS keys (a closed 127.0.0.1 port); `register` logs every param to MLflow.
Searched: the logs (stdout and stderr of every command), every file written (queries, their
report, the LLM cache, the stage manifests, the decision file, the model card, publish.json,
MLflow's store and artifacts), MLflow's params and tags read back through its API, and the
compiled Kubeflow pipeline YAML. `dvc.lock` is searched by tests/test_pipeline.py, whose
`dvc repro` runs with the same kind of secrets in its environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from spladeforge.io import sha256_tree, write_jsonl
from tests.conftest import write_gate_inputs
from tests.local_http import JSONHandler, LocalServer

REPO = Path(__file__).resolve().parents[1]

FAKE_SECRETS = {
    "HF_TOKEN": "hf_FAKEsecretsTESTtoken0123456789abcdef",
    "AWS_ACCESS_KEY_ID": "AKIAFAKESECRETSTEST0",
    "AWS_SECRET_ACCESS_KEY": "fakeSECRETSaccessKEYtest/0123456789abcdefgh",
    "AWS_SESSION_TOKEN": "FAKEsessionTOKENsecretsTEST0123456789",
    "OPENAI_API_KEY": "sk-FAKEsecretsTESTopenaiKEY0123456789",
    "MLFLOW_TRACKING_PASSWORD": "FAKEmlflowPASSWORDsecretsTEST",
}
_PROXIES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
TOPICS = {
    "json": "The json module encodes Python objects as JSON strings and decodes JSON text back into "
            "dictionaries and lists, with options for indentation and key sorting.",
    "gzip": "The gzip module compresses and decompresses files in the gzip format, like the GNU gzip "
            "and gunzip programs, through a file object interface.",
    "sqlite3": "The sqlite3 module provides a SQL interface to SQLite databases stored in a single file "
               "on disk, with cursors, transactions and parameter binding.",
    "socket": "The socket module gives access to the BSD socket interface for network connections over "
              "TCP and UDP, including address families and timeouts.",
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChatEndpoint:
    """An OpenAI-compatible chat-completions endpoint on 127.0.0.1 that records what it was sent."""

    def __init__(self) -> None:
        self.authorization: set[str] = set()
        endpoint = self

        class Handler(JSONHandler):
            def do_POST(self):
                body = self.read_json()
                endpoint.authorization.add(self.headers.get("Authorization", ""))
                prompt = body["messages"][-1]["content"]
                title = next((t for t in TOPICS if t in prompt), "python")
                queries = [f"how does the {title} module work", f"what is {title} used for in python"]
                self.send(200, {"choices": [{"message": {"role": "assistant",
                                                         "content": json.dumps({"queries": queries})}}]})

        self.local = LocalServer(Handler, "/v1")
        self.url = self.local.url

    def close(self) -> None:
        self.local.close()


@pytest.fixture()
def chat_endpoint():
    endpoint = ChatEndpoint()
    yield endpoint
    endpoint.close()


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (*_PROXIES, "MLFLOW_TRACKING_URI", "AWS_PROFILE", "AWS_CONFIG_FILE")}
    env.update(FAKE_SECRETS)
    env.update(HF_HUB_OFFLINE="1", HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}",
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull, AWS_DEFAULT_REGION="us-east-1",
               NO_PROXY="127.0.0.1", no_proxy="127.0.0.1",
               SPLADEFORGE_MANIFEST_DIR=str(root / "reports" / "manifests"))
    return env


def _cli(root: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "spladeforge.cli", *args], cwd=root, env=_env(root),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _leaks(text: str | bytes, where: str) -> list[tuple[str, str]]:
    data = text.encode() if isinstance(text, str) else text
    return [(where, name) for name, value in FAKE_SECRETS.items() if value.encode() in data]


def _mlflow_records(root: Path) -> dict:
    """Every param and tag of every run, registered model and version in the store."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    models = client.search_registered_models()
    return {
        "runs": [{"params": r.data.params, "tags": r.data.tags} for r in runs],
        "models": [{"tags": m.tags, "aliases": m.aliases} for m in models],
        "versions": [{"tags": v.tags} for m in models for v in client.search_model_versions(f"name='{m.name}'")],
    }


@pytest.mark.slow
def test_fake_secrets_in_use_reach_no_log_file_mlflow_record_or_model_card(tmp_path, model_dir, chat_endpoint,
                                                                          tiny_beir_dir):
    root = tmp_path / "project"
    (root / "configs").mkdir(parents=True)
    for preset in (REPO / "configs").glob("*.yaml"):
        (root / "configs" / preset.name).write_text(preset.read_text())
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    write_jsonl(root / "data" / "chunks.jsonl", [
        {"id": f"{t}#0", "doc_id": t, "title": t, "section": t, "text": text} for t, text in TOPICS.items()])
    metrics, _ = write_gate_inputs(root / "reports", tiny_beir_dir, 0.5, 0.4, name="eval")
    metrics.rename(root / "reports" / "metrics.json")
    overrides = [
        "generate_queries.backend=openai", f"generate_queries.openai.base_url={chat_endpoint.url}",
        "generate_queries.openai.model=tiny-llm", "generate_queries.openai.backoff_initial_s=0.01",
        f"register.tracking_uri=sqlite:///{root / 'mlflow' / 'mlflow.db'}",
        "publish.hub.repo_id=acme/splade-secrets-test",
        "publish.s3.bucket=spladeforge-secrets-test", f"publish.s3.endpoint_url=http://127.0.0.1:{_closed_port()}",
    ]
    sets = [arg for item in overrides for arg in ("--set", item)]
    model_hash = sha256_tree(model_dir)

    logs = _cli(root, "generate-queries", "--chunks", "data/chunks.jsonl", "--output", "data/queries.jsonl", *sets)
    logs += _cli(root, "register", "--model", str(model_dir), "--metrics", "reports/metrics.json",
                 "--decision", "reports/register.json", "--quantize-report", "none.json", "--onnx", "none",
                 "--eval-dir", "reports/eval", "--task", str(tiny_beir_dir), *sets)
    logs += _cli(root, "publish", "--model", str(model_dir), "--decision", "reports/register.json",
                 "--metrics", "reports/metrics.json", "--quantize-report", "none.json", "--onnx", "none",
                 "--output", "export", *sets)

    # The secrets were used, and the code paths that carry them ran:
    assert chat_endpoint.authorization == {f"Bearer {FAKE_SECRETS['OPENAI_API_KEY']}"}
    queries = [json.loads(line) for line in (root / "data" / "queries.jsonl").read_text().splitlines()]
    assert any(q["backend"] == "openai" for q in queries)
    assert list((root / "data" / ".llm-cache").rglob("*.json"))
    published = json.loads((root / "export" / "publish.json").read_text())
    assert published["promoted"] is True
    assert published["hub"]["pushed"] is False and "failed" in published["hub"]["message"]
    assert published["s3"]["uploaded"] is False and "failed" in published["s3"]["message"]
    card = (root / "export" / "README.md").read_text()
    assert "## Data" in card and "generate_queries.openai.api_key_env" in card and chat_endpoint.url in card
    assert (root / "export" / "model" / "README.md").read_text() == card
    records = _mlflow_records(root)
    params = records["runs"][0]["params"]
    assert params["generate_queries.openai.api_key_env"] == "OPENAI_API_KEY"
    assert params["publish.hub.token_env"] == "HF_TOKEN" and records["versions"][0]["tags"]
    assert {p.name for p in (root / "reports" / "manifests").iterdir()} == {
        "generate-queries.json", "register.json", "publish.json"}

    leaks = _leaks(logs, "logs") + _leaks(json.dumps(records), "MLflow params and tags")
    files = [p for p in root.rglob("*") if p.is_file()]
    assert {"mlflow.db", "README.md", "publish.json", "register.json", "queries.report.json"} <= {p.name for p in files}
    assert any("mlartifacts" in p.parts for p in files)
    for path in files:
        leaks += _leaks(path.read_bytes(), str(path.relative_to(root)))
    assert leaks == []
    assert sha256_tree(model_dir) == model_hash  # only read


def test_compiled_pipeline_yaml_holds_no_secret_value(tmp_path, monkeypatch):
    """With every fake secret in the environment (the OpenAI key included) and the OpenAI backend
    configured, the compiled pipeline names the variables but holds none of their values."""
    from spladeforge.config import load_params
    from spladeforge.pipelines import compile_pipeline

    for name, value in FAKE_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"https://ops:{FAKE_SECRETS['MLFLOW_TRACKING_PASSWORD']}@mlflow.invalid")
    params = load_params(REPO / "params.yaml", [
        "generate_queries.backend=openai", "generate_queries.openai.base_url=http://127.0.0.1:9/v1",
        "generate_queries.openai.model=tiny-llm", "publish.hub.repo_id=acme/splade-secrets-test",
        "publish.s3.bucket=spladeforge-secrets-test"])
    path = tmp_path / "pipeline.yaml"
    compile_pipeline(params, str(path), image_tag="0" * 40)  # the images' commit tag, as `pipeline compile` pins it
    text = path.read_text()
    assert "OPENAI_API_KEY" in text and "HF_TOKEN" in text and "spladeforge-secrets-test" in text
    assert _leaks(text, "pipeline.yaml") == []


def test_credentials_that_reach_a_card_manifest_or_mlflow_params_are_masked(tmp_path):
    """Params refuse credentials at load, but a model's sidecar written elsewhere, a value built in
    code or a URL from the environment can still hold one: every writer masks them on the way out
    (the model card pushed to the Hub, stage manifests, MLflow params)."""
    from spladeforge.orchestration import write_manifest
    from spladeforge.publishing.model_card import render_card
    from spladeforge.registry.tracking import flatten_params

    token = "ghp_FAKEcardMANIFESTtoken0123456789"
    tainted = {
        "data": {"dvc_repo": f"https://oauth2:{token}@git.example/org/docs.git", "source": "docs",
                 "dvc_remote_config": {"endpointurl": f"https://minio.example/?X-Amz-Signature={token}"}},
        "generate_queries": {"openai": {"base_url": f"https://{token}@llm.example/v1",
                                        "api_key_env": "OPENAI_API_KEY"}},
        "publish": {"hub": {"token": token, "token_env": "HF_TOKEN"}},
    }
    card = render_card(
        decision={"model_name": "m", "version": "1", "reason": f"beats https://u:{token}@h", "run_id": "r"},
        metrics={"model_ndcg_at_10": 0.5}, sidecar={"base_model": "builtin:splade-tiny", "data": tainted["data"]},
        params=tainted, quantize=None, int8={"included": False, "reason": "none given"}, model_ref="m")
    manifest = write_manifest("ingest", tainted, {"inputs": "x"}, {"output": f"https://{token}@h/o"}, 0.0, 1.0,
                              dest=tmp_path / "ingest.json")
    flat = flatten_params(tainted)
    for where, text in (("card", card), ("manifest", manifest.read_text()), ("mlflow", json.dumps(flat))):
        assert token not in text, where
    assert "| `dvc_repo` | https://***@git.example/org/docs.git |" in card and "| `source` | docs |" in card
    assert flat["generate_queries.openai.api_key_env"] == "OPENAI_API_KEY" and flat["publish.hub.token"] == "***"
