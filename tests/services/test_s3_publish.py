"""publish to S3 (moto): every file lands under <prefix>/<model>/v<version>/, a version is never
overwritten, and bad credentials or a missing bucket name the bucket and endpoint, never the key."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from spladeforge.config import PublishConfig, S3Config, TrainConfig
from spladeforge.errors import ConfigError, InputError, SpladeforgeError
from spladeforge.io import sha256_tree
from spladeforge.stages import publish
from tests.services.conftest import FAKE_SECRET, s3_client

pytestmark = pytest.mark.slow


def write_decision(tmp_path: Path, model_dir: Path, version: str = "7") -> tuple[Path, Path]:
    decision = {"model_name": "docs-splade", "version": version, "promoted": True,
                "reason": "NDCG@10 0.51 reaches base model 0.40", "run_id": "r1",
                "model_sha256": sha256_tree(model_dir)}
    (tmp_path / "decision.json").write_text(json.dumps(decision))
    (tmp_path / "metrics.json").write_text(json.dumps({"model_ndcg_at_10": 0.51, "base_ndcg_at_10": 0.4}))
    return tmp_path / "decision.json", tmp_path / "metrics.json"


def keys(endpoint: str, bucket: str, prefix: str = "") -> set[str]:
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def local_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_every_file_lands_once_under_the_version_prefix(tmp_path, model_dir, aws_env, bucket):
    """The bucket listing equals the export (minus publish.json) plus manifest.json; a rerun of
    the same model is a no-op, another model under the same version is refused."""
    cfg = PublishConfig(s3=S3Config(bucket=bucket, prefix="releases", endpoint_url=aws_env, required=True))
    decision, metrics = write_decision(tmp_path, model_dir)
    export = tmp_path / "export"
    summary = publish.run(cfg, model_dir, decision, metrics, export)
    prefix = "releases/docs-splade/v7/"
    expected = {prefix + name for name in local_files(export) - {"publish.json"}} | {prefix + "manifest.json"}
    assert keys(aws_env, bucket) == expected
    assert summary["s3"]["uploaded"] is True and summary["s3"]["prefix"] == prefix
    body = s3_client(aws_env).get_object(Bucket=bucket, Key=prefix + "manifest.json")["Body"].read()
    manifest = json.loads(body)
    assert manifest["model_sha256"] == sha256_tree(model_dir)

    again = publish.run(cfg, model_dir, decision, metrics, tmp_path / "export2")
    assert again["s3"].get("already_published") is True and keys(aws_env, bucket) == expected

    (model_dir / "spladeforge.json").write_text(json.dumps({"base_model": "x", "max_seq_length": 64}))
    other, _ = write_decision(tmp_path, model_dir)  # same version number, different model
    with pytest.raises(SpladeforgeError, match="never overwritten"):
        publish.run(cfg, model_dir, other, metrics, tmp_path / "export3")
    assert keys(aws_env, bucket) == expected and not (tmp_path / "export3").exists()


def test_inference_free_export_carries_idf_json(tmp_path, aws_env, bucket, tiny_beir_dir):
    """An inference-free model also ships a document encoder, tokenizer and idf.json {token: weight}."""
    from transformers import AutoModelForMaskedLM

    from spladeforge.models.architectures import build_model

    model = build_model(TrainConfig(architecture="inference-free", query_regularizer_weight=0.0,
                                    max_seq_length=64), "cpu", ["json decodes text", "gzip compresses"])
    model_dir = tmp_path / "if-model"
    model.save(str(model_dir))
    (model_dir / "spladeforge.json").write_text(json.dumps(
        {"base_model": "builtin:splade-tiny", "architecture": "inference-free", "max_seq_length": 64}))
    decision, metrics = write_decision(tmp_path, model_dir, version="1")
    cfg = PublishConfig(s3=S3Config(bucket=bucket, endpoint_url=aws_env))
    export = tmp_path / "export"
    summary = publish.run(cfg, model_dir, decision, metrics, export)
    engine = export / "search-engine"
    assert "search-engine" in summary["exported"]
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "idf.json"} <= local_files(engine)
    idf = json.loads((engine / "idf.json").read_text())
    assert len(idf) == 30522 and idf["[CLS]"] == 0.0 and idf["text"] > 0
    assert AutoModelForMaskedLM.from_pretrained(str(engine)).config.vocab_size == 30522
    assert "models/docs-splade/v1/search-engine/idf.json" in keys(aws_env, bucket)


def test_wrong_credentials_name_bucket_and_endpoint_not_the_secret(tmp_path, model_dir, aws_env, bucket,
                                                                  monkeypatch, caplog):
    """moto with authentication on rejects the key: required fails, optional warns; no secret shown."""
    from moto import settings

    decision, metrics = write_decision(tmp_path, model_dir)
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto checks keys from now on
    cfg = PublishConfig(s3=S3Config(bucket=bucket, endpoint_url=aws_env, required=True))
    with pytest.raises(SpladeforgeError) as info:
        publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")
    message = str(info.value)
    assert f"s3://{bucket}/" in message and aws_env in message and "InvalidAccessKeyId" in message
    assert FAKE_SECRET not in message and not (tmp_path / "export").exists()

    cfg.s3.required = False
    with caplog.at_level(logging.WARNING):
        summary = publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")
    assert summary["s3"]["uploaded"] is False and bucket in summary["s3"]["message"]
    assert FAKE_SECRET not in caplog.text
    assert FAKE_SECRET not in (tmp_path / "export" / "publish.json").read_text()


def test_missing_bucket_is_named(tmp_path, model_dir, aws_env):
    decision, metrics = write_decision(tmp_path, model_dir)
    cfg = PublishConfig(s3=S3Config(bucket="no-such-bucket", endpoint_url=aws_env, required=True))
    with pytest.raises(SpladeforgeError, match=rf"s3://no-such-bucket/models/docs-splade/v7/ \(endpoint "
                                               rf"{aws_env}\) failed: NoSuchBucket"):
        publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")


def test_without_credentials_it_says_what_it_would_upload(tmp_path, model_dir, aws_env, monkeypatch):
    """Exit 0 with the plan when S3 is optional; a ConfigError before any writing when required."""
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    decision, metrics = write_decision(tmp_path, model_dir)
    cfg = PublishConfig(s3=S3Config(bucket="planned", endpoint_url=aws_env))
    summary = publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")
    message = summary["s3"]["message"]
    assert "AWS_SECRET_ACCESS_KEY" in message and "s3://planned/models/docs-splade/v7/" in message
    assert all(name in message for name in summary["s3"]["files"]) and "model/model.safetensors" in message
    cfg.s3.required = True
    with pytest.raises(ConfigError, match="publish.s3.required is true"):
        publish.run(cfg, model_dir, decision, metrics, tmp_path / "export2")
    assert not (tmp_path / "export2").exists()


def test_incomplete_model_folder_is_refused(tmp_path, model_dir, aws_env, bucket):
    """A model folder that lost its weights is named, and nothing is uploaded."""
    decision, metrics = write_decision(tmp_path, model_dir)
    (model_dir / "model.safetensors").unlink()
    cfg = PublishConfig(s3=S3Config(bucket=bucket, endpoint_url=aws_env, required=True))
    with pytest.raises(InputError, match="incomplete model folder, missing a weights file"):
        publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")
    assert keys(aws_env, bucket) == set()


def test_interrupted_upload_is_removed_so_a_rerun_succeeds(tmp_path, model_dir, aws_env, bucket, monkeypatch):
    """A connection lost mid-upload leaves no orphan objects, so the version is not blocked."""
    from spladeforge.publishing import s3 as s3_module

    real_client = s3_module._client
    calls = []

    def flaky_client(plan):
        client = real_client(plan)
        upload = client.upload_file

        def failing_upload(*args, **kwargs):
            calls.append(args[2])
            if len(calls) == 3:
                raise ConnectionError("connection reset by peer")
            return upload(*args, **kwargs)

        client.upload_file = failing_upload
        return client

    monkeypatch.setattr(s3_module, "_client", flaky_client)
    decision, metrics = write_decision(tmp_path, model_dir)
    cfg = PublishConfig(s3=S3Config(bucket=bucket, endpoint_url=aws_env, required=True))
    with pytest.raises(SpladeforgeError, match="connection reset by peer"):
        publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")
    assert keys(aws_env, bucket) == set()
    monkeypatch.setattr(s3_module, "_client", real_client)
    assert publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")["s3"]["uploaded"] is True
