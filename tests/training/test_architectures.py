"""Each architecture trains a few CPU steps from the offline models, saves, reloads and encodes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spladeforge.config import TrainConfig
from spladeforge.io import write_jsonl
from spladeforge.stages import train
from tests.conftest import TINY_CORPUS

pytestmark = pytest.mark.slow
QUERIES = ["json decoding", "gzip compression", "sqlite file database", "tcp socket",
           "random numbers", "dates and times"]


def write_tuples(path: Path, scores: bool = False, repeat: int = 4) -> Path:
    docs = [f"{title} {text}" for title, text in TINY_CORPUS.values()]
    rows = []
    for i, q in enumerate(QUERIES):
        row = {"anchor": q, "positive": docs[i], "negative_1": docs[(i + 1) % 6]}
        if scores:
            row["scores"] = [9.0, 1.0]
        rows.append(row)
    write_jsonl(path, rows * repeat)
    return path


def killable_train_script(path: Path, tuples: Path, dev: Path, checkpoints: Path, **run_kwargs: str) -> Path:
    """A script that trains 6 steps with a checkpoint every 2, then sleeps argv[2] s after each step
    past 2 (time to kill it), writing the model to argv[1] and printing resume step, steps and loss.
    `run_kwargs` are more `train.run` keyword arguments (Python literals)."""
    extra = "".join(f", {key}={value!r}" for key, value in run_kwargs.items())
    path.write_text(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from transformers import TrainerCallback\n"
        "from spladeforge.config import TrainConfig\n"
        "from spladeforge.stages import train\n"
        "import spladeforge.training.fit as fit\n"
        "class Slow(TrainerCallback):\n"
        "    def on_step_end(self, args, state, control, **kw):\n"
        "        if state.global_step > 2: time.sleep(float(sys.argv[2]))\n"
        "orig = fit.build_callbacks\n"
        "fit.build_callbacks = lambda *a: orig(*a) + [Slow()]\n"
        "cfg = TrainConfig(max_steps=6, batch_size=4, eval_steps=2, save_steps=2, logging_steps=1,\n"
        "                  max_seq_length=48, learning_rate=1e-4, device='cpu', tracking=[])\n"
        f"s = train.run(cfg, Path({str(tuples)!r}), Path({str(dev)!r}), Path(sys.argv[1]),\n"
        f"              Path(sys.argv[1] + '-reports'), seed=0, checkpoints=Path({str(checkpoints)!r}){extra})\n"
        "print('RESUMED', s['resumed_from_step'], 'STEPS', s['steps'], 'LOSS', s['final_loss'])\n"
    )
    return path


def _cfg(**kw) -> TrainConfig:
    base = dict(max_steps=3, batch_size=4, eval_steps=3, logging_steps=1, max_seq_length=48,
                learning_rate=1e-4, device="cpu", tracking=[])
    return TrainConfig(**{**base, **kw})


def _train(tmp_path, tiny_beir_dir, cfg, scores=False):
    tuples = write_tuples(tmp_path / "tuples.jsonl", scores=scores)
    out = tmp_path / "model"
    summary = train.run(cfg, tuples, tiny_beir_dir, out, tmp_path / "reports", seed=0)
    return summary, out


def test_inference_free_queries_skip_the_transformer(tmp_path, tiny_beir_dir, monkeypatch):
    from sentence_transformers.sparse_encoder import SparseEncoder

    cfg = _cfg(architecture="inference-free", query_regularizer_weight=0.0, static_learning_rate=1e-2)
    summary, out = _train(tmp_path, tiny_beir_dir, cfg)
    assert summary["architecture"] == "inference-free"
    model = SparseEncoder(str(out), device="cpu")
    router = model[0]
    query_side, doc_side = router.sub_modules["query"], router.sub_modules["document"]
    assert type(query_side[0]).__name__ == "SparseStaticEmbedding"
    # The static weights started from the corpus IDF: a word in every training passage weighs less.
    tokenizer = query_side[0].tokenizer
    (the,) = tokenizer("the", add_special_tokens=False)["input_ids"]
    (gzip,) = tokenizer("compresses", add_special_tokens=False)["input_ids"][:1]
    weights = query_side[0].weight.detach()
    assert weights[the] < weights[gzip]

    calls = []
    monkeypatch.setattr(type(doc_side[0]), "forward", lambda self, *a, **k: calls.append(1) or (_ for _ in ()).throw(
        AssertionError("the transformer ran for a query")))
    q = model.encode_query(["decode json text"])
    assert not calls and q.coalesce().values().numel() > 0


def test_csr_trains_from_the_dense_builtin(tmp_path, tiny_beir_dir):
    from sentence_transformers.sparse_encoder import SparseEncoder

    cfg = _cfg(architecture="csr", base_model="builtin:minilm-l6", csr_k=16, csr_k_aux=32,
               csr_hidden_factor=2, query_regularizer_weight=0.0)
    summary, out = _train(tmp_path, tiny_beir_dir, cfg)
    model = SparseEncoder(str(out), device="cpu")
    emb = model.encode_document(["The gzip module compresses files."])
    assert emb.shape[-1] == 2 * 384
    assert emb.coalesce().values().numel() <= 16
    assert json.loads((out / "spladeforge.json").read_text())["architecture"] == "csr"


def test_distillation_is_used_when_tuples_carry_teacher_scores(tmp_path, tiny_beir_dir):
    summary, _ = _train(tmp_path, tiny_beir_dir, _cfg(document_regularizer="idf-flops"), scores=True)
    assert summary["distillation"] == "margin-mse"


def test_tracking_failure_does_not_fail_the_run(tmp_path, tiny_beir_dir, monkeypatch):
    # An MLflow server that is not there: the run must still finish and save its model.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    summary, out = _train(tmp_path, tiny_beir_dir, _cfg(tracking=["mlflow", "tensorboard"]))
    assert summary["steps"] == 3 and (out / "model.safetensors").exists()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_killed_run_resumes_from_its_checkpoint(tmp_path, tiny_beir_dir):
    """SIGKILL after the first checkpoint; the rerun continues at that step and finishes."""
    tuples = write_tuples(tmp_path / "tuples.jsonl", repeat=8)
    ckpt = tmp_path / "ckpt"
    script = killable_train_script(tmp_path / "run.py", tuples, tiny_beir_dir, ckpt)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), "30"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    while time.time() < deadline and not (ckpt / "checkpoint-2" / "trainer_state.json").exists():
        time.sleep(0.5)
    time.sleep(1.0)  # let the checkpoint finish writing: the slow callback holds step 3
    assert (ckpt / "checkpoint-2").exists(), "no checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed").exists(), "a killed run left a model folder"

    done = subprocess.run([sys.executable, str(script), str(tmp_path / "resumed"), "0"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RESUMED 2 STEPS 6" in done.stdout
    assert (tmp_path / "resumed" / "model.safetensors").exists()
    assert not ckpt.exists(), "checkpoints of a finished run are scratch and are removed"

    # The same seed without the kill: the resumed run ends at the same loss (RNG, data order,
    # optimizer and scheduler state all come back from the checkpoint). Tolerance: 1e-4 relative.
    whole = subprocess.run([sys.executable, str(script), str(tmp_path / "whole"), "0"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-3000:]
    resumed_loss = float(done.stdout.rsplit("LOSS", 1)[1].split()[0])
    whole_loss = float(whole.stdout.rsplit("LOSS", 1)[1].split()[0])
    assert resumed_loss == pytest.approx(whole_loss, rel=1e-4)


def test_two_process_gloo_run_saves_one_model(tmp_path, tiny_beir_dir):
    # NO_DUPLICATES over 6 distinct anchors shared by 2 processes leaves too few batches here.
    cfg = _cfg(processes=2, max_steps=2, eval_steps=2, batch_size=2, batch_sampler="batch_sampler")
    summary, out = _train(tmp_path, tiny_beir_dir, cfg)
    assert summary["processes"] == 2 and summary["steps"] == 2
    assert (out / "model.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("model")) == ["model"]


def test_mlflow_tracking_logs_loss_parts_lr_grad_norm_and_validation(tmp_path, tiny_beir_dir, monkeypatch):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'track.db'}"
    monkeypatch.chdir(tmp_path)  # any default artifact folder lands here, not in the repository
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "spladeforge-train")
    summary, _ = _train(tmp_path, tiny_beir_dir, _cfg(tracking=["mlflow"], max_steps=2, eval_steps=2))
    assert summary["steps"] == 2
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("spladeforge-train").experiment_id])
    logged = set(run.data.metrics)
    for key in ("loss", "base_loss", "document_regularizer_loss", "query_regularizer_loss", "learning_rate",
                "grad_norm", "eval_validation_dot_ndcg_10", "eval_validation_query_active_dims"):  # MLflow: @ -> _
        assert any(name == key or name.endswith(key) for name in logged), (key, " ".join(sorted(logged)))
