"""The bad-input battery: each case through the real CLI entry point, asserting the message, the
exit code, and that nothing was written where the stage would have written its output."""

from __future__ import annotations

import errno
import json
import socket
import sys
from pathlib import Path

import pytest
import yaml

from spladeforge import cli

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
    assert _files(workdir / "out") == []
    assert _files(workdir / "manifests") == []


def test_missing_source_folder(workdir, capsys, monkeypatch):
    code, err = _ingest(capsys, monkeypatch, workdir / "no-such-folder")
    assert code == 2 and "no-such-folder does not exist" in err
    assert _files(workdir / "out") == []


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
    assert _files(workdir / "out") == []


def test_unknown_key_in_params_file(workdir, capsys, monkeypatch):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["mine"]["negatives"] = 3
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    code, err = run_cli(capsys, monkeypatch, "check-params")
    assert code == 2 and "mine.negatives: unknown key" in err and "params.yaml" in err


def test_base_model_path_missing(workdir, capsys, monkeypatch, tiny_beir_dir):
    tuples = workdir / "tuples.jsonl"
    tuples.write_text("".join(json.dumps({"anchor": f"q{i}", "positive": f"p{i}", "negative_1": "n"}) + "\n"
                              for i in range(40)))
    code, err = run_cli(capsys, monkeypatch, "train", "--tuples", str(tuples), "--validation", str(tiny_beir_dir),
                        "--output", "out/model", "--reports", "out/reports",
                        "--set", f"train.base_model={workdir / 'models' / 'missing'}")
    assert code == 2 and "train.base_model" in err and "does not exist" in err
    assert _files(workdir / "out") == []


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
    assert _files(workdir / "out") == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_mlflow(workdir, capsys, monkeypatch, model_dir):
    metrics = workdir / "metrics.json"
    metrics.write_text(json.dumps({"model_ndcg_at_10": 0.5, "base_ndcg_at_10": 0.4}))
    before = _files(model_dir)
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, err = run_cli(capsys, monkeypatch, "register", "--model", str(model_dir), "--metrics", str(metrics),
                        "--decision", "out/register.json", "--quantize-report", "none.json", "--onnx", "none")
    assert code == 2 and uri in err, err
    assert _files(workdir / "out") == [] and _files(model_dir) == before
