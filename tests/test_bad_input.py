"""The bad-input battery: each case through the real CLI entry point, asserting the message, the
exit code, and that nothing was written where the stage would have written its output (nor a
stage manifest, which the CLI writes only after a stage succeeded).

Cases: empty corpus, only binary files, non-UTF-8 text, a 20 MB document, malformed JSONL (line
number named), a missing required field, duplicate document ids, a missing source folder, unknown
params keys (on the command line and in params.yaml), a wrong type, an out-of-range value, an
unknown preset, chunk overlap >= size (equal and larger), a missing base model path, a full disk
while writing, an unreachable MLflow server and an unreachable S3 endpoint.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest
import yaml

from spladeforge import cli
from tests.conftest import write_gate_inputs

REPO = Path(__file__).resolve().parents[1]
GOOD = "Sparse retrieval maps text to weighted vocabulary terms for an inverted index. " * 4


def run_cli(capsys, monkeypatch, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["spladeforge", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    code = exit_info.value.code if isinstance(exit_info.value.code, int) else 1
    return code, captured.err


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """A project folder with the repository's params and presets; manifests go under it too."""
    (tmp_path / "configs").mkdir()
    for preset in (REPO / "configs").glob("*.yaml"):
        (tmp_path / "configs" / preset.name).write_text(preset.read_text())
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPLADEFORGE_MANIFEST_DIR", str(tmp_path / "manifests"))
    return tmp_path


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _nothing_written(workdir: Path) -> None:
    assert _files(workdir / "out") == []
    assert _files(workdir / "manifests") == []


def _ingest(capsys, monkeypatch, source: Path, *extra: str) -> tuple[int, str]:
    return run_cli(capsys, monkeypatch, "ingest", "--output", "out/documents.jsonl",
                   "--set", f"data.source={source}", *extra)


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    folder = root / "docs"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no usable documents"),
        ({"a.txt": b"\x00\x01\x02\x03binary" * 50, "b.txt": b"\x7fELF\x00\x00" * 50},
         "a.txt: binary data in a text file"),
        ({"latin1.txt": "caf\u00e9 ".encode("latin-1") * 100}, "latin1.txt: not valid UTF-8"),
        ({"c.jsonl": (json.dumps({"_id": "1", "text": GOOD}) + "\n{broken\n").encode()},
         "c.jsonl:2: malformed JSON"),
        ({"c.jsonl": (json.dumps({"_id": "1", "text": GOOD}) + "\n" + json.dumps({"_id": "2"}) + "\n").encode()},
         "c.jsonl:2: missing field(s) text"),
        ({"c.jsonl": (json.dumps({"_id": "7", "text": GOOD}) + "\n" + json.dumps({"_id": "7", "text": GOOD + "."})
                      + "\n").encode()}, "duplicate document id '7'"),
        ({"huge.txt": b"word " * 4_200_000}, "over data.max_document_chars=2,000,000"),
    ],
    ids=["empty-corpus", "only-binary", "non-utf8", "malformed-jsonl", "missing-field", "duplicate-ids",
         "20mb-document"],
)
def test_bad_corpus(workdir, capsys, monkeypatch, files, message):
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, files))
    assert code == 2 and message in err, err
    assert "Traceback" not in err
    _nothing_written(workdir)


def test_missing_source_folder(workdir, capsys, monkeypatch):
    code, err = _ingest(capsys, monkeypatch, workdir / "no-such-folder")
    assert code == 2 and "no-such-folder does not exist" in err
    _nothing_written(workdir)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lerning_rate=1e-4", "train.lerning_rate: unknown key (accepted:"),
        ("train.batch_size=many", "train.batch_size: Input should be a valid integer"),
        ("chunk.overlap=1000", "overlap (1000) must be smaller than size (1000)"),
        ("chunk.overlap=1500", "overlap (1500) must be smaller than size (1000)"),
        ("train.document_regularizer_weight=-1", "train.document_regularizer_weight: Input should be greater"),
        ("preset=h200", "unknown preset 'h200'"),
    ],
)
def test_bad_params_fail_before_any_work(workdir, capsys, monkeypatch, override, message):
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}), "--set", override)
    assert code == 2 and message in err, err
    assert "Traceback" not in err
    _nothing_written(workdir)


def test_unknown_key_in_params_file(workdir, capsys, monkeypatch):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["mine"]["negatives"] = 3
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    before = _files(workdir)
    code, err = run_cli(capsys, monkeypatch, "check-params")
    assert code == 2 and "mine.negatives: unknown key" in err and "params.yaml" in err
    assert _files(workdir) == before


def test_base_model_path_missing(workdir, capsys, monkeypatch, tiny_beir_dir):
    tuples = workdir / "tuples.jsonl"
    tuples.write_text("".join(json.dumps({"anchor": f"q{i}", "positive": f"p{i}", "negative_1": "n"}) + "\n"
                              for i in range(40)))
    code, err = run_cli(capsys, monkeypatch, "train", "--tuples", str(tuples), "--dev", str(tiny_beir_dir),
                        "--output", "out/model", "--reports", "out/reports",
                        "--set", f"train.base_model={workdir / 'models' / 'missing'}")
    assert code == 2 and "train.base_model" in err and "does not exist" in err
    _nothing_written(workdir)


def test_disk_full_while_writing(workdir, capsys, monkeypatch):
    """A full disk mid-write: a clear error naming the file, exit 1, no partial output."""
    import spladeforge.io as sio

    real_open = open

    def full_disk_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if "w" in mode and ".documents.jsonl.tmp-" in str(file):
            def write(_data):
                raise OSError(errno.ENOSPC, "No space left on device", str(file))
            handle.write = write
        return handle

    monkeypatch.setattr(sio, "open", full_disk_open, raising=False)
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}))
    assert code == 1 and "No space left on device" in err and "documents.jsonl" in err
    assert "Traceback" not in err
    _nothing_written(workdir)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_mlflow(workdir, capsys, monkeypatch, model_dir, tiny_beir_dir):
    metrics, eval_dir = write_gate_inputs(workdir, tiny_beir_dir, 0.5, 0.4, name="metrics")
    before = _files(model_dir)
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, err = run_cli(capsys, monkeypatch, "register", "--model", str(model_dir), "--metrics", str(metrics),
                        "--decision", "out/register.json", "--quantize-report", "none.json", "--onnx", "none",
                        "--eval-dir", str(eval_dir), "--task", str(tiny_beir_dir))
    assert code == 2 and uri in err, err
    assert "unreachable" in err and "Traceback" not in err
    _nothing_written(workdir)
    assert _files(model_dir) == before
    assert not any((workdir / name).exists() for name in ("mlruns", "mlartifacts", "mlflow.db"))


def test_unreachable_s3_endpoint(workdir, capsys, monkeypatch, model_dir):
    """A required S3 upload to an endpoint nobody listens on: a clear error naming the endpoint and
    the bucket, within seconds (publish.s3 retries twice, 5 s connect timeout), no key in the
    message, and no export folder (the upload runs before the export is renamed into place)."""
    from spladeforge.io import sha256_tree

    secret = "fakeSECRETforTheBadInputBattery0123456789"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "http_proxy", "HTTP_PROXY",
                 "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # the closed port must be contacted directly
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIABADINPUTBATTERY0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    decision, metrics = workdir / "register.json", workdir / "metrics.json"
    decision.write_text(json.dumps({"model_name": "spladeforge-splade", "version": "2", "promoted": True,
                                    "reason": "beats the base model", "model_sha256": sha256_tree(model_dir)}))
    metrics.write_text(json.dumps({"model_ndcg_at_10": 0.5, "base_ndcg_at_10": 0.4}))
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    start = time.monotonic()
    code, err = run_cli(capsys, monkeypatch, "publish", "--model", str(model_dir), "--decision", str(decision),
                        "--metrics", str(metrics), "--quantize-report", "none.json", "--onnx", "none",
                        "--output", "out/export", "--set", "publish.s3.bucket=spladeforge-models",
                        "--set", f"publish.s3.endpoint_url={endpoint}", "--set", "publish.s3.required=true")
    assert time.monotonic() - start < 30
    assert code == 2, err
    assert "s3://spladeforge-models/models/spladeforge-splade/v2/" in err and f"endpoint {endpoint}" in err, err
    assert "failed" in err and "Traceback" not in err and secret not in err
    _nothing_written(workdir)
