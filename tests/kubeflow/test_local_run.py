"""The whole DAG under kfp.local (SubprocessRunner, this interpreter) on a tiny corpus.

One run per module, with both fan-outs at two shards and a gate no model can pass
(`register.min_delta=1.0`): every stage must leave its artifact, the collected shard outputs must
equal what the unsharded stages compute, the version must be registered as `challenger` but not
`champion`, and the `dsl.If` must skip promote and publish. A second, short run drives the same
gated tail (`pipelines.training.release`) with the first run's model and figures that pass the
gate: promote moves `champion` and publish exports the model.

kfp.local ignores the Kubernetes settings (node selector, toleration, volumes, secrets, resource
requests) with a warning; the retry policy and the tasks' environment variables it honours, so the
run sets `kubeflow.train_retries=0` to fail fast and `kubeflow.hf_hub_offline=true`.
"""

# No `from __future__ import annotations`: KFP reads the test pipeline's annotations as types.
import json
import re
import shutil

import pytest

from spladeforge.config import load_params

from .conftest import REPO

pytestmark = pytest.mark.slow

SHARDS = 2
TINY = ["data.max_documents=12", "split.dev_fraction=0.2", "split.test_fraction=0.2", "train.max_steps=4",
        "train.batch_size=8", "train.eval_steps=2", "train.logging_steps=1", "train.max_seq_length=64",
        "evaluate.batch_size=16",
        "register.min_delta=1.0", "kubeflow.train_retries=0", f"kubeflow.mine_shards={SHARDS}",
        f"kubeflow.encode_shards={SHARDS}",
        # kfp.local applies the environment the compiled tasks get: offline, as every test is.
        "kubeflow.hf_hub_offline=true"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("kfp-local")
    mp = pytest.MonkeyPatch()
    mp.delenv("MLFLOW_TRACKING_URI", raising=False)
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.chdir(root)  # anything a stage drops in the working directory stays out of the repo
    try:
        yield root
    finally:
        mp.undo()


def _run_locally(pipeline_root, pipeline_func, **arguments):
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root),
               raise_on_error=True)
    pipeline_func(**arguments)
    (run_dir,) = pipeline_root.iterdir()
    return run_dir


@pytest.fixture(scope="module")
def run(env) -> dict:
    from spladeforge.pipelines import make_pipeline

    uri = f"sqlite:///{env / 'mlflow.db'}"
    params = load_params(REPO / "params.yaml", [*TINY, f"register.tracking_uri={uri}"])
    run_dir = _run_locally(env / "pipeline-root", make_pipeline(params), checkpoint_uri=str(env / "checkpoints"))
    return {"dir": run_dir, "root": env, "uri": uri, "model_name": params.register.model_name, "params": params}


@pytest.fixture(scope="module")
def passing(run) -> dict:
    """The gated tail of the DAG again, on a fresh registry, with the trained model and figures that
    clear the gate: what a run whose model wins does after quantize."""
    from kfp import dsl

    from spladeforge.components import build, check_params
    from spladeforge.pipelines import run_arguments
    from spladeforge.pipelines.training import release

    d, root, params = run["dir"], run["root"], run["params"]
    figures = json.loads((d / "evaluate/metrics").read_text())
    figures.update(model_ndcg_at_10=0.9, base_ndcg_at_10=0.1)
    (root / "passing-metrics.json").write_text(json.dumps(figures))
    # evaluate's report folder with per-query scores to match: the model ahead on every test query.
    shutil.copytree(d / "evaluate/report", root / "passing-report")
    per_query = json.loads((root / "passing-report/per_query.json").read_text())
    held_out = per_query["held-out"]
    held_out.update(model=dict.fromkeys(held_out["model"], 0.9), base=dict.fromkeys(held_out["base"], 0.1))
    (root / "passing-report/per_query.json").write_text(json.dumps(per_query))
    uri = f"sqlite:///{root / 'mlflow-passing.db'}"
    p = run_arguments(params)
    p["register"] = {**p["register"], "tracking_uri": uri, "min_delta": 0.0}
    run_config = check_params(**p)
    c = build(params.kubeflow.image)

    @dsl.pipeline(name="spladeforge-release")
    def tail(register: dict = p["register"], publish: dict = p["publish"], quantize: dict = p["quantize"],
             run_config: dict = run_config):
        def imported(path, cls):
            return dsl.importer(artifact_uri=str(path), artifact_class=cls, reimport=True).output

        release(c, register=register, publish=publish, quantize=quantize, run_config=run_config,
                model=imported(d / "train/model", dsl.Model),
                metrics=imported(root / "passing-metrics.json", dsl.Metrics),
                eval_report=imported(root / "passing-report", dsl.Artifact),
                test=imported(d / "split/test", dsl.Dataset),
                quantize_report=imported(d / "quantize/report", dsl.Metrics),
                onnx_model=imported(d / "quantize/onnx_model", dsl.Model))

    run_dir = _run_locally(root / "pipeline-root-passing", tail)
    return {"dir": run_dir, "uri": uri, "model_name": run["model_name"]}


def _aliases(uri: str, name: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def test_every_stage_left_its_artifact(run):
    d = run["dir"]
    for path in ("ingest/documents", "chunk/chunks", "generate-queries/queries", "split/train_pairs",
                 "split/dev/qrels/test.tsv", "split/test/qrels/test.tsv", "mine/tuples",
                 "train/model/model.safetensors", "evaluate/report/per_query.json",
                 "train/model/spladeforge.json", "train/curves/val_ndcg.csv", "evaluate/metrics",
                 "evaluate/report/report.md", "quantize/report", "register/decision"):
        assert (d / path).exists(), path
    assert list((d / "quantize/onnx_model").glob("*.onnx"))
    metrics = json.loads((d / "evaluate/metrics").read_text())
    assert 0.0 <= metrics["model_ndcg_at_10"] <= 1.0 and "base_ndcg_at_10" in metrics


def test_outputs_are_what_the_cli_stages_write(run):
    """Same functions as `dvc repro`: JSONL rows with the stage contracts' fields."""
    d = run["dir"]
    chunk = json.loads((d / "chunk/chunks").read_text().splitlines()[0])
    assert {"id", "doc_id", "text"} <= set(chunk)
    tup = json.loads((d / "mine/tuples").read_text().splitlines()[0])
    assert {"anchor", "positive", "negative_1"} <= set(tup)


def test_mining_fanned_out_and_the_collected_tuples_are_the_unsharded_ones(run, tmp_path):
    """Two mine-shard tasks; mine's file is their concatenation in shard order, byte for byte what
    `stages.mine.run` writes from the same inputs and seed."""
    from spladeforge.stages import mine

    d, params = run["dir"], run["params"]
    shards = {}
    for folder in d.glob("for-loop-*-iteration-*/mine-shard/tuples_shard"):
        meta = json.loads((folder / "summary.json").read_text())
        assert meta["num_shards"] == SHARDS and meta["tuples"] > 0, meta  # each shard mined its part
        shards[meta["shard"]] = folder
    assert sorted(shards) == list(range(SHARDS))
    collected = (d / "mine/tuples").read_bytes()
    assert collected == b"".join((shards[i] / "tuples.jsonl").read_bytes() for i in range(SHARDS))
    mine.run(params.mine, d / "split/train_pairs", d / "chunk/chunks", tmp_path / "tuples.jsonl", params.seed)
    assert collected == (tmp_path / "tuples.jsonl").read_bytes()


def test_document_encoding_fanned_out_and_evaluate_read_the_collected_vectors(run):
    """Two encode-shard files that together are the trained model's encoding of the held-out corpus."""
    from spladeforge.evaluation.beir import load_beir
    from spladeforge.evaluation.embeddings import read_document_embeddings
    from spladeforge.evaluation.search import passages
    from spladeforge.evaluation.systems import model_system
    from spladeforge.io import sha256_tree
    from spladeforge.retrieval.sparse_index import to_csr

    d, cfg = run["dir"], run["params"].evaluate
    files = sorted(d.glob("for-loop-*-iteration-*/encode-shard/embeddings"))
    assert len(files) == SHARDS
    corpus = load_beir(d / "split/test").corpus
    ids, matrix, _ = read_document_embeddings(files, list(corpus), sha256_tree(d / "train/model"))
    assert ids == list(corpus) and len(ids) >= SHARDS
    matrix.eliminate_zeros()
    system = model_system(cfg, d / "train/model", "cpu")
    own = to_csr(system.encode_documents(passages({"title": t, "text": x} for t, x in corpus.values())))
    assert matrix.shape == own.shape and abs(matrix - own).max() <= 1e-4 * abs(own).max()
    metrics = json.loads((d / "evaluate/metrics").read_text())
    assert metrics["model_doc_active_dims"] == pytest.approx(matrix.getnnz() / len(ids), rel=1e-3)


def test_a_model_that_fails_the_gate_is_challenger_not_champion_and_is_not_promoted_or_published(run):
    decision = json.loads((run["dir"] / "register/decision").read_text())
    assert decision["promoted"] is False and "falls short" in decision["reason"]
    aliases = _aliases(run["uri"], run["model_name"])
    assert aliases == {"challenger": str(decision["version"])}, "a version that failed the gate is champion"
    for task in ("promote", "publish"):
        assert not list(run["dir"].glob(f"**/{task}")), f"{task} ran although the gate failed"
    promoted = json.loads((run["dir"] / "promoted/executor_output.json").read_text())
    assert promoted["parameterValues"]["Output"] is False


def test_a_model_that_passes_the_gate_is_promoted_by_the_promote_task_and_published(passing):
    d = passing["dir"]
    decision = json.loads((d / "register/decision").read_text())
    # register decided but left champion to promote: its record names no champion yet.
    assert decision["promoted"] is True and decision["champion_version"] is None
    assert _aliases(passing["uri"], passing["model_name"]) == {"challenger": "1", "champion": "1"}
    promotion = json.loads((d / "promote/promotion").read_text())
    assert promotion == {**decision, "champion_version": "1"}
    export = json.loads((d / "publish/export/publish.json").read_text())
    assert export["promoted"] is True and export["version"] == "1"
    assert (d / "publish/export/model/model.safetensors").exists()


def test_train_checkpoints_went_under_the_run_id(run):
    """Checkpoints are kept under checkpoint_uri/<run id>/ (a local folder here; mirrored to object
    storage in the cluster); train removes its own folder after a successful run."""
    (folder,) = (run["root"] / "checkpoints").iterdir()
    # The run's id (a uuid in the cluster, digits under kfp.local), not an unresolved placeholder.
    assert re.fullmatch(r"[0-9a-f-]+", folder.name), folder.name
    assert not (folder / "train").exists()
