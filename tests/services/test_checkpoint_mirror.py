"""train's checkpoints mirrored to S3 (moto) and read back on a fresh node: what replaces a zonal
ReadWriteOnce volume when a spot GPU node is reclaimed and the retry lands somewhere else."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spladeforge.errors import InputError
from spladeforge.training.checkpoint_sync import (
    MARKER,
    STATE,
    CheckpointMirror,
    checkpoint_location,
    local_folder,
    mirrored,
)
from tests.services.conftest import aws_environ, s3_client
from tests.training.test_architectures import killable_train_script, write_tuples

REPO = Path(__file__).resolve().parents[2]


def keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def write_checkpoint(folder: Path, step: int, complete: bool = True) -> Path:
    ckpt = folder / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "model.safetensors").write_bytes(os.urandom(2048))
    (ckpt / "optimizer.pt").write_bytes(os.urandom(1024))
    (ckpt / "sub").mkdir()
    (ckpt / "sub" / "config.json").write_text("{}")
    if complete:
        (ckpt / STATE).write_text(json.dumps({"global_step": step}))
    return ckpt


class Recording:
    """A boto3 client that remembers the order of uploads (the completeness rule depends on it)."""

    def __init__(self, client) -> None:
        self.client, self.uploads = client, []

    def upload_file(self, path, bucket, key):
        self.uploads.append(key)
        return self.client.upload_file(path, bucket, key)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_sync_uploads_finished_checkpoints_state_last_and_follows_rotation(tmp_path, aws_env, bucket):
    local = tmp_path / "ckpt"
    client = Recording(s3_client(aws_env))
    mirror = CheckpointMirror(local, f"s3://{bucket}/runs/r1/train", client)
    assert mirror.sync() == []  # nothing local yet: nothing to do, nothing deleted
    local.mkdir()
    (local / MARKER).write_text('{"fingerprint": "abc"}')
    write_checkpoint(local, 2)
    write_checkpoint(local, 4, complete=False)  # the Trainer is still writing it
    assert mirror.sync() == ["checkpoint-2"]
    assert keys(aws_env, bucket) == [f"runs/r1/train/{k}" for k in (
        "checkpoint-2/model.safetensors", "checkpoint-2/optimizer.pt", "checkpoint-2/sub/config.json",
        f"checkpoint-2/{STATE}", MARKER)]
    assert client.uploads[-1] == f"runs/r1/train/checkpoint-2/{STATE}"  # whole once this is there

    # The Trainer finishes checkpoint-4 and rotates checkpoint-2 away: the bucket follows.
    (local / "checkpoint-4" / STATE).write_text(json.dumps({"global_step": 4}))
    shutil.rmtree(local / "checkpoint-2")
    assert mirror.sync() == ["checkpoint-4"]
    assert {k.split("/")[3] for k in keys(aws_env, bucket)} == {"checkpoint-4", MARKER}
    assert mirror.sync() == []  # already there: not uploaded twice
    uploads = len(client.uploads)
    (local / MARKER).write_text('{"fingerprint": "abd"}')  # same length, other run: the bucket must follow
    mirror.sync()
    assert client.uploads[uploads:] == [f"runs/r1/train/{MARKER}"]
    body = s3_client(aws_env).get_object(Bucket=bucket, Key=f"runs/r1/train/{MARKER}")["Body"].read()
    assert body == b'{"fingerprint": "abd"}'

    # A fresh node: only whole checkpoints come back (a half-uploaded one does not look resumable).
    s3_client(aws_env).put_object(Bucket=bucket, Key="runs/r1/train/checkpoint-6/model.safetensors", Body=b"x")
    fresh = tmp_path / "fresh"
    restored = CheckpointMirror(fresh, f"s3://{bucket}/runs/r1/train", s3_client(aws_env)).restore()
    assert restored == ["checkpoint-4"]
    assert sorted(p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()) == [
        "checkpoint-4/model.safetensors", "checkpoint-4/optimizer.pt", "checkpoint-4/sub/config.json",
        f"checkpoint-4/{STATE}", MARKER]
    assert (fresh / "checkpoint-4/model.safetensors").read_bytes() == (
        local / "checkpoint-4/model.safetensors").read_bytes()


def test_a_successful_run_deletes_the_mirror_a_failed_one_keeps_its_last_checkpoint(tmp_path, aws_env, bucket):
    uri = f"s3://{bucket}/runs/r2/train"
    local = tmp_path / "ckpt"
    with pytest.raises(RuntimeError, match="out of memory"):
        with mirrored(local, uri, s3_client(aws_env)):
            local.mkdir()
            write_checkpoint(local, 3)
            raise RuntimeError("CUDA out of memory")  # before the watcher's next poll
    assert f"runs/r2/train/checkpoint-3/{STATE}" in keys(aws_env, bucket)  # the last pass uploaded it
    shutil.rmtree(local)
    with mirrored(local, uri, s3_client(aws_env)):
        assert (local / "checkpoint-3" / STATE).is_file()  # read back before training
        shutil.rmtree(local)  # what save_outputs does once the model is saved
    assert keys(aws_env, bucket, "runs/r2/") == []


def test_unreadable_checkpoint_storage_fails_before_training_naming_the_uri(tmp_path, aws_env):
    with pytest.raises(InputError, match=r"cannot read the checkpoints at s3://no-such-bucket-x/p"):
        with mirrored(tmp_path / "ckpt", "s3://no-such-bucket-x/p", s3_client(aws_env)):
            pass


def test_where_a_kubeflow_train_task_keeps_its_checkpoints(tmp_path, caplog):
    model_uri = "s3://kfp-root/pipeline/spladeforge-training/run-9/train/abc/model"
    assert checkpoint_location("s3://ckpt/prefix/", "run-9", model_uri) == (
        local_folder("s3://ckpt/prefix/run-9/train"), "s3://ckpt/prefix/run-9/train")
    # Unset: under checkpoints/ in the pipeline root's bucket (per run, the same for every retry),
    # the prefix the bucket's lifecycle rule expires when a run failed for good.
    local, uri = checkpoint_location("", "run-9", model_uri)
    assert uri == "s3://kfp-root/checkpoints/run-9/train"
    assert local == local_folder(uri) == checkpoint_location("", "run-9", model_uri)[0]  # every attempt
    # kfp.local: a plain folder, used directly.
    assert checkpoint_location(str(tmp_path), "7", "/x/model") == (tmp_path / "7" / "train", None)
    with caplog.at_level(logging.WARNING):
        assert checkpoint_location("", "r", "gs://bucket/root/train/x/model")[1] is None
    assert "not mirrored" in caplog.text


@pytest.mark.slow
def test_a_killed_run_resumes_on_a_fresh_node_from_the_mirrored_checkpoint(tmp_path, aws_env, bucket, tiny_beir_dir):
    """SIGKILL after the first checkpoint reached S3, the local disk gone (another node), rerun:
    training continues at that step and finishes, and the mirror is removed."""
    tuples = write_tuples(tmp_path / "tuples.jsonl", repeat=8)
    uri = f"s3://{bucket}/runs/killed/train"
    local = tmp_path / "node-disk" / "ckpt"
    script = killable_train_script(tmp_path / "run.py", tuples, tiny_beir_dir, local, checkpoint_uri=uri)
    env = dict(os.environ, **aws_environ(), HF_HUB_OFFLINE="1", AWS_ENDPOINT_URL_S3=aws_env,
               PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), "30"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    state_key = f"runs/killed/train/checkpoint-2/{STATE}"
    deadline = time.time() + 240
    while time.time() < deadline and state_key not in keys(aws_env, bucket) and proc.poll() is None:
        time.sleep(0.5)
    assert state_key in keys(aws_env, bucket), proc.communicate(timeout=5)[0].decode()[-3000:] if proc.poll() else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    shutil.rmtree(tmp_path / "node-disk")  # the retry runs on another node: nothing local survives

    done = subprocess.run([sys.executable, str(script), str(tmp_path / "resumed"), "0"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RESUMED 2 STEPS 6" in done.stdout
    assert (tmp_path / "resumed" / "model.safetensors").exists()
    assert keys(aws_env, bucket, "runs/killed/") == [], "the mirror of a finished run is scratch"
    assert not local.exists()
