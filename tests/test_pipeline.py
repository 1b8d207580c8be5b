"""End to end: `dvc repro` of the real dvc.yaml on a tiny slice of the default corpus.

The pipeline runs once per session in a temporary copy of the project; the tests below assert
on what it produced, on DVC's idea of what is up to date, and on the MLflow registry.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from tests.pipeline_project import FAKE_SECRETS, TINY, dvc, make_project, repro

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def project(tmp_path_factory) -> Path:
    """A copy of the project (dvc.yaml, params, presets, sources) after one `dvc repro`."""
    return repro(make_project(tmp_path_factory.mktemp("project"), overrides=TINY))


def test_every_stage_ran_and_wrote_its_outputs(project):
    for path in ("data/documents.jsonl", "data/chunks.jsonl", "data/queries.jsonl",
                 "data/split/train.jsonl", "data/split/dev/qrels/test.tsv", "data/split/test/qrels/test.tsv",
                 "data/train_tuples.jsonl", "models/splade/model.safetensors",
                 "models/splade/spladeforge.json", "reports/train/val_ndcg.csv",
                 "reports/metrics.json", "reports/quantize.json", "reports/register.json",
                 "export/publish.json", "export/README.md"):
        assert (project / path).exists(), path
    assert list((project / "models/splade-int8").glob("*.onnx"))


def test_trained_model_ranks_training_positives_above_random_negatives(project):
    from sentence_transformers.sparse_encoder import SparseEncoder

    model = SparseEncoder(str(project / "models/splade"), device="cpu")
    tuples = [json.loads(line) for line in (project / "data/train_tuples.jsonl").read_text().splitlines()]
    chunks = [json.loads(line) for line in (project / "data/chunks.jsonl").read_text().splitlines()]
    rng = random.Random(0)
    sample = rng.sample(tuples, min(20, len(tuples)))
    wins = 0
    for t in sample:
        doc = t["positive_id"].split("#")[0]
        other = rng.choice([c for c in chunks if c["doc_id"] != doc])
        q = model.encode_query([t["anchor"]])
        d = model.encode_document([t["positive"], f"{other['title']} {other['text']}"])
        scores = model.similarity(q, d)[0]
        wins += int(scores[0] > scores[1])
    assert wins >= 0.8 * len(sample), f"positive ranked first in only {wins}/{len(sample)}"


def test_metrics_hold_every_field_in_range(project):
    metrics = json.loads((project / "reports/metrics.json").read_text())
    for system in ("model", "base", "bm25"):
        for metric in ("ndcg_at_10", "mrr_at_10", "recall_at_100"):
            assert 0.0 <= metrics[f"{system}_{metric}"] <= 1.0, (system, metric)
    for system in ("model", "base"):
        assert 0 < metrics[f"{system}_query_active_dims"] < 30522
        assert 0 < metrics[f"{system}_doc_active_dims"] < 30522
    assert metrics["num_queries"] > 0
    assert all(not isinstance(v, dict) for v in metrics.values()), "metrics.json must be flat"
    quant = json.loads((project / "reports/quantize.json").read_text())
    assert 0 < quant["int8_size_bytes"] < quant["fp32_size_bytes"]
    assert abs(quant["ndcg_at_10_change"]) <= 0.2


def test_mlflow_holds_the_version_with_the_right_alias(project):
    from mlflow import MlflowClient

    decision = json.loads((project / "reports/register.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    name = decision["model_name"]
    version = client.get_model_version_by_alias(name, "challenger")
    assert str(version.version) == str(decision["version"])
    # lineage: the project commit and the DVC hash of the training tuples, as dvc.lock has them
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    tuples_md5 = next(d["md5"] for d in lock["stages"]["train"]["deps"] if d["path"] == "data/train_tuples.jsonl")
    assert version.tags["provenance.dvc.data/train_tuples.jsonl"] == tuples_md5
    assert version.tags["provenance.data.source"] == "python-stdlib-docs"
    assert len(version.tags["provenance.project.commit"]) == 40
    run = client.get_run(version.run_id)
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "reports")}
    assert {"reports/report.md", "reports/errors.md", "reports/ndcg.png"} <= logged, logged
    assert run.data.params["train.learning_rate"] == "5e-05", "the run configuration is logged as params"
    assert run.data.metrics["model_ndcg_at_10"] == pytest.approx(
        json.loads((project / "reports/metrics.json").read_text())["model_ndcg_at_10"])
    if decision["promoted"]:
        assert str(client.get_model_version_by_alias(name, "champion").version) == str(version.version)
        assert (project / "export/model/modules.json").exists()
    else:
        assert not (project / "export/model").exists()


def test_second_repro_is_a_noop(project):
    out = dvc(project, "repro").stdout
    assert "Running stage" not in out, out


def test_changing_learning_rate_reruns_train_and_downstream_only(project):
    params_file = project / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["train"]["learning_rate"] = 7e-5
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        # A real run: a dry run cannot know that train's new output changes what follows.
        out = dvc(project, "repro").stdout
    finally:
        params_file.write_text(original)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == {"train", "evaluate", "quantize", "register", "publish"}, out


def test_a_worse_model_does_not_become_champion(project, tmp_path):
    from mlflow import MlflowClient

    from spladeforge.config import RegisterConfig, load_params
    from spladeforge.stages import register

    metrics = json.loads((project / "reports/metrics.json").read_text())
    worse = dict(metrics, model_ndcg_at_10=0.0)
    (tmp_path / "metrics.json").write_text(json.dumps(worse))
    per_query = json.loads((project / "reports/eval/per_query.json").read_text())
    per_query["held-out"]["model"] = dict.fromkeys(per_query["held-out"]["model"], 0.0)
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval/per_query.json").write_text(json.dumps(per_query))
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    first = json.loads((project / "reports/register.json").read_text())
    before = str(client.get_model_version_by_alias(first["model_name"], "champion").version) \
        if first["promoted"] else None

    cfg = RegisterConfig(tracking_uri=uri, model_name=first["model_name"])
    params = load_params(project / "params.yaml")
    result = register.run(cfg, project / "models/splade", tmp_path / "metrics.json", tmp_path / "decision.json",
                          tmp_path / "eval", project / "data/split/test", evaluate=params.evaluate, seed=params.seed)
    decision = json.loads((tmp_path / "decision.json").read_text())
    assert decision["promoted"] is False and result
    challenger = client.get_model_version_by_alias(first["model_name"], "challenger")
    assert str(challenger.version) == str(decision["version"])
    if before is not None:
        assert str(client.get_model_version_by_alias(first["model_name"], "champion").version) == before


def test_no_secret_reaches_any_output(project):
    """Logs, metrics, manifests, dvc.lock, MLflow's store and artifacts, the model card: no secret."""
    leaks = []
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            data = path.read_bytes()
            leaks += [(str(path.relative_to(project)), name) for name, value in FAKE_SECRETS.items()
                      if value.encode() in data]
    assert leaks == []
    assert (project / "dvc.lock").is_file() and (project / "mlflow.db").is_file()
    assert (project / "repro.log").is_file()


def test_every_stage_wrote_a_manifest(project):
    for stage in ("ingest", "chunk", "generate-queries", "split", "mine", "train", "evaluate", "quantize",
                  "register", "publish"):
        manifest = json.loads((project / "reports" / "manifests" / f"{stage}.json").read_text())
        assert manifest["stage"] == stage and manifest["packages"]["torch"]
        assert manifest["seconds"] >= 0
    train = json.loads((project / "reports/manifests/train.json").read_text())
    assert set(train["inputs"]) == {"data/train_tuples.jsonl", "data/split/dev"}, "train never reads the test split"
    assert train["params"]["seed"] == 42 and "learning_rate" in train["params"]["train"]
