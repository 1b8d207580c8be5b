"""The bad-input battery: each case through the real CLI entry point, asserting the message, the
exit code, and that nothing was written where the stage would have written its output (nor a
stage manifest, which the CLI writes only after a stage succeeded).

Cases: empty corpus, only binary files, non-UTF-8 text, a 20 MB document, malformed JSONL (line
number named), a missing required field, duplicate document ids, a missing source folder, unknown
params keys (on the command line and in params.yaml), a wrong type, an out-of-range value, an
unknown preset, chunk overlap >= size (equal and larger), a missing base model path, a full disk
while writing, an unreachable MLflow server and an unreachable S3 endpoint.

And by class, each with variants: credentials in URL-valued params and tokens pasted into `*_env`
keys (refused, never echoed); params files with duplicate keys, deep nesting, alias bombs and
bytes that are not UTF-8 (file:line); `--set` text that is not YAML (the override named); values a
library would reject later (seed range, int64, inf/NaN, ports, preset paths, MLflow model names,
prompt templates); document ids with control characters; a source holding the pipeline's outputs;
too-long documents under on_error: skip; wordless documents (all kept); unspaced scripts in the
extractive backend; offline hub ids and truncated weights; a full disk on either of two outputs;
Ctrl-C; an MLflow server that accepts connections and never answers.
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
        ("chunk.overlap=1000", "overlap (1000) must be smaller than size (500)"),
        ("chunk.overlap=1500", "overlap (1500) must be smaller than size (500)"),
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


# --- secrets in params: refused at load, never echoed ------------------------------------------------

SECRET = "ghp_FAKEbadINPUTbatteryTOKEN0123456789"


@pytest.mark.parametrize(("override", "key"), [
    (f"data.dvc_repo=https://oauth2:{SECRET}@git.example/org/docs.git", "data.dvc_repo"),
    (f"data.dvc_repo=https://{SECRET}@git.example/org/docs.git", "data.dvc_repo"),
    (f"data.dvc_repo=https://git.example/org/docs.git?access_token={SECRET}", "data.dvc_repo"),
    (f"data.dvc_remote_config={{endpointurl: 'https://minio:{SECRET}@minio.example'}}", "data.dvc_remote_config"),
    (f"data.dvc_remote_config={{secret_access_key: {SECRET}}}", "data.dvc_remote_config"),
    (f"register.tracking_uri=http://{SECRET}@127.0.0.1:5000", "register.tracking_uri"),
    (f"generate_queries.openai.base_url=https://u:{SECRET}@llm.example/v1", "generate_queries.openai.base_url"),
    (f"publish.s3.endpoint_url=https://s3.example/?X-Amz-Signature={SECRET}", "publish.s3.endpoint_url"),
    (f"publish.hub.token_env={SECRET}", "publish.hub.token_env"),
    ("publish.hub.token_env=hf_FAKEbadINPUTbatteryTOKEN0123456789ab", "publish.hub.token_env"),
    ("generate_queries.openai.api_key_env=sk-FAKEbadINPUTbatteryKEY0123456789", "generate_queries.openai.api_key_env"),
    ("publish.hub.token_env=fake/SECRET+access/KEY0123456789", "publish.hub.token_env"),
])
def test_credentials_in_params_are_refused_without_being_echoed(workdir, capsys, monkeypatch, override, key):
    """DVC copies params into dvc.lock verbatim: a credential there is refused at load, naming the
    key and where it goes instead, and the message never repeats it."""
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}), "--set", override)
    secret = override.split("=", 1)[1]
    assert code == 2 and key in err, err
    assert SECRET not in err and "FAKEbadINPUT" not in err and "fake/SECRET" not in err
    assert "environment" in err or "credential helper" in err or "variable" in err, err
    assert "Traceback" not in err and secret not in err
    _nothing_written(workdir)


def test_a_token_in_mlflow_tracking_uri_is_masked_in_the_error(workdir, capsys, monkeypatch, model_dir,
                                                               tiny_beir_dir):
    """MLFLOW_TRACKING_URI comes from the environment (never written), but messages show it: masked."""
    metrics, eval_dir = write_gate_inputs(workdir, tiny_beir_dir, 0.5, 0.4, name="metrics")
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://{SECRET}@127.0.0.1:{_closed_port()}")
    code, err = run_cli(capsys, monkeypatch, "register", "--model", str(model_dir), "--metrics", str(metrics),
                        "--decision", "out/register.json", "--quantize-report", "none.json", "--onnx", "none",
                        "--eval-dir", str(eval_dir), "--task", str(tiny_beir_dir))
    assert code == 2 and "http://***@127.0.0.1:" in err and SECRET not in err, err
    _nothing_written(workdir)


# --- params files and --set: every YAML and encoding problem named, no traceback ---------------------

def _params_text(workdir: Path, text: str, name: str = "params.yaml") -> None:
    (workdir / name).write_bytes(text.encode() if isinstance(text, str) else text)


@pytest.mark.parametrize(("text", "message"), [
    ("preset: cpu-tiny\ndata:\n  source: docs\ndata:\n  lowercase: true\n",
     "params.yaml:4: not valid YAML (duplicate key 'data' (first at line 2)"),
    ("preset: cpu-tiny\ntrain:\n  batch_size: 8\n  epochs: 1\n  batch_size: 16\n",
     "params.yaml:5: not valid YAML (duplicate key 'batch_size' (first at line 3)"),
    ("preset: cpu-tiny\nseed: 1\nseed: 2\n", "params.yaml:3: not valid YAML (duplicate key 'seed'"),
    ("preset: cpu-tiny\ntrain:\n  base_model: " + "[" * 1000 + "]" * 1000 + "\n", "nested deeper than 32 levels"),
    ("preset: cpu-tiny\ntrain:\n  learning_rate: [1e-4\n", "params.yaml:4: not valid YAML"),
    ("a: &a ['x','x','x','x','x','x','x','x','x']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
     "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
     "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
     "train:\n  extra_datasets: *f\n", "aliases expand to more than 100,000 values"),
    ("preset: cpu-tiny\ntrain: &t\n  extra_datasets: [*t]\n", "not valid YAML"),
], ids=["duplicate-section", "duplicate-nested-key", "duplicate-scalar", "nesting-1000-deep", "unclosed-list",
        "alias-bomb", "recursive-alias"])
def test_bad_params_files_name_file_and_line(workdir, capsys, monkeypatch, text, message):
    _params_text(workdir, text)
    start = time.monotonic()
    code, err = run_cli(capsys, monkeypatch, "check-params")
    assert time.monotonic() - start < 10  # an alias bomb must neither hang the loader nor the message
    assert code == 2 and message in err, err
    assert "Traceback" not in err and len(err) < 2000


@pytest.mark.parametrize(("raw", "message"), [
    (b"preset: cpu-tiny\n# caf\xe9\nseed: 1\n", "params.yaml:2: not valid UTF-8 (byte 0xe9 at offset 22"),
    (b"preset: cpu-tiny\nseed: 1\ndata:\n  source: \xff\xfe\n", "params.yaml:4: not valid UTF-8 (byte 0xff"),
    ("preset: cpu-tiny\n".encode("utf-16"), "params.yaml:1: not valid UTF-8"),
])
def test_params_file_not_utf8_names_line_and_byte(workdir, capsys, monkeypatch, raw, message):
    _params_text(workdir, raw)
    code, err = run_cli(capsys, monkeypatch, "check-params")
    assert code == 2 and message in err and "Traceback" not in err, err


def test_a_bad_preset_file_is_named_too(workdir, capsys, monkeypatch):
    (workdir / "configs" / "cpu-tiny.yaml").write_text("train:\n  epochs: 1\ntrain:\n  epochs: 2\n")
    code, err = run_cli(capsys, monkeypatch, "check-params")
    assert code == 2 and "cpu-tiny.yaml:3: not valid YAML (duplicate key 'train'" in err, err


@pytest.mark.parametrize(("override", "message"), [
    ("train.max_steps=[1", "--set 'train.max_steps=[1': the value is not valid YAML"),
    ("data.source=*x", "--set 'data.source=*x': the value is not valid YAML (found undefined alias 'x')"),
    ("train.max_steps={", "--set 'train.max_steps={': the value is not valid YAML"),
    ("train.max_steps=" + "[" * 200 + "]" * 200, "nested deeper than 32 levels"),
    ("=5", "expected KEY.PATH=VALUE"),
    ("train..max_steps=5", "'train..max_steps' is not a key path"),
    ("train.max_steps", "expected KEY.PATH=VALUE"),
    ("seed=4294967296", "seed: Input should be less than 4294967296"),
    ("seed=-1", "seed: Input should be greater than or equal to 0"),
    ("train.max_steps=99999999999999999999999", "train.max_steps: Value error, must fit a 64-bit integer"),
    ("train.epochs=.inf", "train.epochs: Input should be a finite number"),
    ("train.learning_rate=.nan", "train.learning_rate: Input should be a finite number"),
    ("register.tracking_uri=http://127.0.0.1:99999", "the port must be a number in 0..65535"),
    ("preset=../configs/cpu-tiny", "'../configs/cpu-tiny' is not a preset name"),
    ("preset=/etc/passwd", "'/etc/passwd' is not a preset name"),
    ("preset=..", "'..' is not a preset name"),
    ("register.model_name=it's-mine", "register.model_name: Value error, not a registered model name MLflow accepts"),
    ("register.model_name=team/model", "register.model_name: Value error, not a registered model name"),
    ("register.model_name=' padded '", "register.model_name: Value error, not a registered model name"),
    ("generate_queries.openai.prompts={question: 'Answer {\"queries\": []} for {text}'}",
     "a literal brace must be doubled"),
    ("generate_queries.openai.prompts={question: 'Write {count} queries for {text}'}",
     "the placeholders are {n}, {title} and {text}"),
    ("generate_queries.openai.prompts={question: 'Write {n} queries'}", "must contain the placeholder {text}"),
    ("train.extra_datasets=" + "x" * 5000, "train.extra_datasets: Input should be a valid list"),
])
def test_bad_overrides_name_the_override_or_key(workdir, capsys, monkeypatch, override, message):
    """`--set` text that is not YAML names the override; a value a library would reject later
    (numpy's seed range, int64, a port, a path as preset, a quote MLflow's search would choke on,
    a str.format template with a bare brace) is refused at load naming the key."""
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}), "--set", override)
    assert code == 2 and message in err, err
    assert "Traceback" not in err and len(err) < 3000  # long values are cut short in messages
    _nothing_written(workdir)


# --- ingest: ids, the source folder, what was dropped, and nothing lost ------------------------------

@pytest.mark.parametrize(("doc_id", "shown"), [
    ("a\tb", "'a\\tb'"), ("line\nbreak", "'line\\nbreak'"), ("cr\rid", "'cr\\rid'"),
    ("unit\x1fsep", "'unit\\x1fsep'"), ("next\x85line", "'next\\x85line'"), ("para\u2029sep", "'para\\u2029sep'"),
])
def test_document_ids_with_control_characters_are_refused(workdir, capsys, monkeypatch, doc_id, shown):
    """A TAB or newline in an id would be written raw into qrels/test.tsv by split: refused at ingest."""
    lines = [json.dumps({"_id": "ok", "text": GOOD}), json.dumps({"_id": doc_id, "text": GOOD + " more"})]
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"c.jsonl": ("\n".join(lines) + "\n").encode()}))
    assert code == 2 and "c.jsonl:2" in err and shown in err and "control character" in err, err
    _nothing_written(workdir)


def test_a_file_name_with_a_newline_is_an_id_too(workdir, capsys, monkeypatch):
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"two\nlines.txt": GOOD.encode()}))
    assert code == 2 and "'two\\nlines.txt'" in err and "control character" in err, err
    _nothing_written(workdir)


@pytest.mark.parametrize("source", ["out", ".", "out/documents.jsonl", "reports", "reports/sub"])
def test_a_source_holding_the_pipelines_outputs_is_refused(workdir, capsys, monkeypatch, source):
    """`data.source: data` (where ingest writes) would read its own output on the next run."""
    (workdir / "out").mkdir()
    (workdir / "out" / "notes.txt").write_text(GOOD)
    (workdir / "reports" / "sub").mkdir(parents=True)
    (workdir / "reports" / "report.md").write_text(GOOD)
    code, err = _ingest(capsys, monkeypatch, workdir / source)
    assert code == 2 and "holds the pipeline's own output" in err and "folder of their own" in err, err
    assert _files(workdir / "out") == ["notes.txt"] and _files(workdir / "manifests") == []


def test_too_long_documents_skipped_are_reported_as_too_long(workdir, capsys, monkeypatch):
    """Under on_error: skip, a corpus whose only document is over the limit is reported as such,
    not as too short."""
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"huge.txt": b"word " * 4_200_000}),
                        "--set", "data.on_error=skip")
    assert code == 2 and "1 too long (over data.max_document_chars=2,000,000)" in err, err
    assert "too short" not in err
    _nothing_written(workdir)


def test_documents_without_words_are_all_kept(workdir, capsys, monkeypatch):
    """Different documents made of emoji, symbols or unspaced CJK are not near-duplicates of each
    other: all of them are written (only exact repeats are dropped)."""
    texts = {"a.txt": "🙂🙂🙂 ★★★ ✓✓✓", "b.txt": "🎉🎉 ♥♥♥ ☂☂", "c.txt": "◆◆◆ ▲▲▲ ●●●", "d.txt": "🙂🙂🙂 ★★★ ✓✓✓",
             "e.txt": "日本語のテキストです", "f.txt": "これは別の文書です"}
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {k: v.encode() for k, v in texts.items()}),
                        "--set", "data.min_chars=5")
    assert code == 0, err
    documents = [json.loads(line) for line in (workdir / "out" / "documents.jsonl").read_text().splitlines()]
    assert sorted(d["id"] for d in documents) == ["a.txt", "b.txt", "c.txt", "e.txt", "f.txt"]
    meta = json.loads((workdir / "out" / "documents.meta.json").read_text())
    assert meta["dropped"] == {"duplicate_text": 1}


# --- generate-queries: scripts without spaces ----------------------------------------------------

UNSPACED = ["機械学習モデルは文書から検索語を学習します。" * 20, "ระบบค้นหาเรียนรู้คำจากเอกสารของเรา" * 20]


@pytest.mark.parametrize("text", UNSPACED, ids=["japanese", "thai"])
def test_unspaced_scripts_say_what_the_extractive_backend_needs(workdir, capsys, monkeypatch, text):
    chunks = workdir / "chunks.jsonl"
    chunks.write_text("".join(json.dumps({"id": f"d{i}#0", "doc_id": f"d{i}", "title": "t", "text": text})
                              + "\n" for i in range(3)))
    code, err = run_cli(capsys, monkeypatch, "generate-queries", "--chunks", str(chunks),
                        "--output", "out/queries.jsonl")
    assert code == 2 and "without spaces between words" in err and "seq2seq" in err and "openai" in err, err
    _nothing_written(workdir)


# --- models: offline hub ids, truncated weights ----------------------------------------------------

def _tuples(workdir: Path) -> Path:
    tuples = workdir / "tuples.jsonl"
    tuples.write_text("".join(json.dumps({"anchor": f"q{i}", "positive": f"p{i}", "negative_1": "n"}) + "\n"
                              for i in range(40)))
    return tuples


def test_an_offline_hub_id_names_the_key_and_how_to_download(workdir, capsys, monkeypatch, tiny_beir_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, err = run_cli(capsys, monkeypatch, "train", "--tuples", str(_tuples(workdir)), "--dev",
                        str(tiny_beir_dir), "--output", "out/model", "--reports", "out/reports",
                        "--set", "train.base_model=acme/splade-not-in-any-cache")
    assert code == 2 and "train.base_model" in err and "HF_HUB_OFFLINE=0" in err, err
    _nothing_written(workdir)


def test_an_offline_hub_id_elsewhere_names_its_key(workdir, capsys, monkeypatch, model_dir, tiny_beir_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, err = run_cli(capsys, monkeypatch, "evaluate", "--model", str(model_dir), "--task", str(tiny_beir_dir),
                        "--output", "out/eval", "--metrics", "out/metrics.json",
                        "--set", "evaluate.dense_model=acme/dense-not-in-any-cache")
    assert code == 2 and "evaluate.dense_model" in err and "HF_HUB_OFFLINE=0" in err, err
    _nothing_written(workdir)


def _truncate_weights(model_dir: Path) -> Path:
    weights = sorted(model_dir.rglob("*.safetensors"))[0]
    with open(weights, "r+b") as fh:
        fh.truncate(weights.stat().st_size // 3)
    return weights


@pytest.mark.parametrize("stage", ["train", "evaluate", "quantize", "register"])
def test_truncated_weights_name_the_file(workdir, capsys, monkeypatch, model_dir, tiny_beir_dir, stage):
    """A copy that stopped part-way: the file is named and called incomplete, before any work."""
    weights = _truncate_weights(model_dir)
    metrics = workdir / "metrics.json"
    metrics.write_text(json.dumps({"model_ndcg_at_10": 0.5, "base_ndcg_at_10": 0.4}))
    args = {
        "train": ["train", "--tuples", str(_tuples(workdir)), "--dev", str(tiny_beir_dir), "--output",
                  "out/model", "--reports", "out/reports", "--set", f"train.base_model={model_dir}"],
        "evaluate": ["evaluate", "--model", str(model_dir), "--task", str(tiny_beir_dir), "--output", "out/eval",
                     "--metrics", "out/metrics.json", "--set", "evaluate.dense_model=null"],
        "quantize": ["quantize", "--model", str(model_dir), "--task", str(tiny_beir_dir), "--output", "out/int8",
                     "--report", "out/quantize.json"],
        "register": ["register", "--model", str(model_dir), "--metrics", str(metrics), "--decision",
                     "out/register.json", "--quantize-report", "none.json", "--onnx", "none",
                     "--set", f"register.tracking_uri=sqlite:///{workdir / 'out' / 'mlflow.db'}"],
    }[stage]
    code, err = run_cli(capsys, monkeypatch, *args)
    assert code == 2 and str(weights) in err and "incomplete" in err, err
    assert "Traceback" not in err
    _nothing_written(workdir)


# --- partial outputs on a full disk, Ctrl-C, a silent MLflow ----------------------------------------

@pytest.mark.parametrize(("target", "code_"), [(".documents.meta.json.tmp-", errno.ENOSPC),
                                               (".documents.jsonl.tmp-", errno.EDQUOT)])
def test_a_full_disk_on_either_output_leaves_neither(workdir, capsys, monkeypatch, target, code_):
    """ingest writes documents.jsonl and documents.meta.json together: the disk filling up while
    writing the second leaves neither (not documents.jsonl without its meta), naming the file."""
    import spladeforge.io as sio

    real_open = open

    def full_disk_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if "w" in mode and target in str(file):
            def write(_data):
                raise OSError(code_, os.strerror(code_))  # as a real write: no file name attached
            handle.write = write
        return handle

    monkeypatch.setattr(sio, "open", full_disk_open, raising=False)
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}))
    assert code == 1 and os.strerror(code_) in err, err
    named, other = ("documents.meta.json", "documents.jsonl") if "meta" in target else (
        "documents.jsonl", "documents.meta.json")
    assert f"out/{named}" in err and f"out/{other}" not in err, err
    assert "Traceback" not in err
    _nothing_written(workdir)


_INTERRUPTED = """
import os, signal, sys
from spladeforge.data import sources

real = sources.SourceReader.documents

def documents(self, source):
    for i, doc in enumerate(real(self, source)):
        if i == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while reading
        yield doc

sources.SourceReader.documents = documents
from spladeforge.cli import main
sys.argv = ["spladeforge", *sys.argv[1:]]
main()
"""


def test_ctrl_c_prints_a_line_exits_130_and_writes_nothing(workdir):
    import subprocess

    source = _folder(workdir, {f"{i}.txt": (GOOD + str(i)).encode() for i in range(5)})
    proc = subprocess.run([sys.executable, "-c", _INTERRUPTED, "ingest", "--output", "out/documents.jsonl",
                           "--set", f"data.source={source}"], cwd=workdir, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "SPLADEFORGE_MANIFEST_DIR": str(workdir / "manifests")})
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "interrupted (Ctrl-C)" in proc.stderr and "Traceback" not in proc.stderr
    _nothing_written(workdir)


class _BlackHole:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for conn in self.held:
            conn.close()
        self.sock.close()


def test_a_silent_mlflow_server_fails_within_a_minute_by_default(workdir, capsys, monkeypatch, model_dir,
                                                                 tiny_beir_dir):
    """A tracking server that accepts connections and never answers: the default budget
    (register.connect_timeout_s) ends register in seconds, naming the server, writing nothing."""
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "MLFLOW_HTTP_REQUEST_TIMEOUT",
                 "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    metrics, eval_dir = write_gate_inputs(workdir, tiny_beir_dir, 0.5, 0.4, name="metrics")
    hole = _BlackHole()
    try:
        uri = f"http://127.0.0.1:{hole.port}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        start = time.monotonic()
        code, err = run_cli(capsys, monkeypatch, "register", "--model", str(model_dir), "--metrics", str(metrics),
                            "--decision", "out/register.json", "--quantize-report", "none.json", "--onnx", "none",
                            "--eval-dir", str(eval_dir), "--task", str(tiny_beir_dir))
        elapsed = time.monotonic() - start
    finally:
        hole.close()
    assert elapsed < 60, elapsed
    assert code == 2 and uri in err and "did not answer within 10 s" in err and "register.connect_timeout_s" in err
    assert "Traceback" not in err
    _nothing_written(workdir)


def test_an_empty_document_id_is_refused(workdir, capsys, monkeypatch):
    lines = [json.dumps({"_id": "ok", "text": GOOD}), json.dumps({"_id": "  ", "text": GOOD + " more"})]
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"c.jsonl": ("\n".join(lines) + "\n").encode()}))
    assert code == 2 and "c.jsonl:2: empty document id" in err, err
    _nothing_written(workdir)


def test_a_key_path_deeper_than_any_section_is_refused(workdir, capsys, monkeypatch):
    code, err = run_cli(capsys, monkeypatch, "check-params", "--set", ".".join(["train"] * 500) + "=1")
    assert code == 2 and "is not a key path" in err and "Traceback" not in err and len(err) < 2000, err


def _edit_params(path: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load(path.read_text())
    params.setdefault(section, {})[key] = value
    path.write_text(yaml.safe_dump(params))


@pytest.mark.parametrize("when", ["before-publish", "after-publish"])
def test_params_edited_while_a_stage_runs_fail_it_naming_the_key(workdir, capsys, monkeypatch, when):
    """The run record is what ran: params.yaml edited (from another thread) mid-stage fails the stage."""
    import threading

    from spladeforge.stages import ingest as stage

    real_run = stage.run

    def edit() -> None:
        thread = threading.Thread(target=_edit_params, args=(workdir / "params.yaml", "data", "min_chars", 7))
        thread.start()
        thread.join()

    def run_with_edit(cfg, output):
        if when == "before-publish":
            edit()
            return real_run(cfg, output)
        result = real_run(cfg, output)
        edit()
        return result

    monkeypatch.setattr(stage, "run", run_with_edit)
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}))
    assert code == 2 and "params.yaml changed while ingest ran (data.min_chars)" in err, err
    assert "Traceback" not in err
    _nothing_written(workdir)


def test_a_preset_edited_while_a_stage_runs_fails_it_too(workdir, capsys, monkeypatch):
    """dvc.lock records the preset's sections as well: an edit there is the same lie."""
    from spladeforge.stages import ingest as stage

    real_run = stage.run

    def run_with_edit(cfg, output):
        _edit_params(workdir / "configs" / "cpu-tiny.yaml", "data", "shingle_words", 3)
        return real_run(cfg, output)

    monkeypatch.setattr(stage, "run", run_with_edit)
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}))
    assert code == 2 and "changed while ingest ran (data.shingle_words)" in err, err
    _nothing_written(workdir)


def test_an_edit_to_a_section_the_stage_does_not_read_is_not_its_concern(workdir, capsys, monkeypatch):
    """Only the stage's own sections are compared: dvc.lock records nothing else for it."""
    from spladeforge.stages import ingest as stage

    real_run = stage.run

    def run_with_edit(cfg, output):
        _edit_params(workdir / "params.yaml", "train", "learning_rate", 3e-4)
        return real_run(cfg, output)

    monkeypatch.setattr(stage, "run", run_with_edit)
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}))
    assert code == 0, err
    assert (workdir / "out" / "documents.jsonl").is_file()


@pytest.mark.parametrize("override", ["train.learning_rate=on", "train.max_steps=yes", "seed=true",
                                      "data.near_duplicate_threshold=no", "generate_queries.mix.question=true",
                                      "mine.rank_window=[3, true]"])
def test_booleans_in_number_fields_are_refused(workdir, capsys, monkeypatch, override):
    """YAML's on/yes/true would otherwise be taken as 1 (learning_rate: on trains at 1.0)."""
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}), "--set", override)
    assert code == 2 and f"{override.split('=')[0].rsplit('.question', 1)[0]}: Value error, expected a number, " \
                          "got a boolean" in err, err
    _nothing_written(workdir)


def test_booleans_in_number_fields_of_the_params_file_are_refused(workdir, capsys, monkeypatch):
    text = (workdir / "params.yaml").read_text()
    (workdir / "params.yaml").write_text(text.replace("max_ndcg_drop: 0.02", "max_ndcg_drop: on", 1))
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.txt": GOOD.encode()}))
    assert code == 2 and "quantize.max_ndcg_drop: Value error, expected a number, got a boolean" in err, err
    _nothing_written(workdir)


def _jsonl_line(**fields) -> bytes:
    return (json.dumps(fields) + "\n").encode()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"_id": "1", "text": "' + GOOD.encode() + b' \\ud800"}\n', "a.jsonl:2: invalid Unicode: the escape \\ud800"),
        (b'{"_id": "\\udfff", "text": "' + GOOD.encode() + b'"}\n', "a.jsonl:2: invalid Unicode: the escape \\udfff"),
        (_jsonl_line(_id="1", text=None), "a.jsonl:2: field text is null, expected a string"),
        (_jsonl_line(_id="1", text=[GOOD, GOOD]), "a.jsonl:2: field text is a list"),
        (_jsonl_line(_id={"x": 1}, text=GOOD), 'a.jsonl:2: field _id is an object {"x": 1}, expected a string or an'),
        (_jsonl_line(_id=True, text=GOOD), "a.jsonl:2: field _id is a boolean true"),
        (_jsonl_line(_id=1.5, text=GOOD), "a.jsonl:2: field _id is a number 1.5"),
        (_jsonl_line(_id="1", text=GOOD, title=["a"]), 'a.jsonl:2: field title is a list ["a"], expected a string or null'),
    ],
    ids=["surrogate-text", "surrogate-id", "null-text", "list-text", "object-id", "bool-id", "float-id", "list-title"],
)
@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_jsonl_values_that_are_not_text_are_refused_with_file_and_line(workdir, capsys, monkeypatch, line, message,
                                                                         on_error):
    """Invalid Unicode and non-string fields: refused with file:line (skip: the file is skipped), never mangled."""
    files = {"a.jsonl": _jsonl_line(_id="0", text=GOOD) + line}
    if on_error == "skip":
        files["b.txt"] = (GOOD + " kept").encode()
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, files), "--set", f"data.on_error={on_error}")
    assert "Traceback" not in err
    if on_error == "fail":
        assert code == 2 and message in err, err
        _nothing_written(workdir)
        return
    assert code == 0, err
    docs = [json.loads(x) for x in (workdir / "out" / "documents.jsonl").read_text().splitlines()]
    assert [d["id"] for d in docs] == ["b.txt"]


def test_an_integer_id_is_an_id(workdir, capsys, monkeypatch):
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {"a.jsonl": _jsonl_line(_id=7, text=GOOD)}))
    assert code == 0, err
    assert json.loads((workdir / "out" / "documents.jsonl").read_text())["id"] == "7"


def test_a_file_name_that_is_not_utf8_is_refused_or_skipped(workdir, capsys, monkeypatch):
    """Python reads such a name's bytes as lone surrogates, which documents.jsonl cannot hold."""
    folder = _folder(workdir, {"ok.txt": GOOD.encode()})
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as fh:
        fh.write((GOOD + " other").encode())
    code, err = _ingest(capsys, monkeypatch, folder)
    assert code == 2 and "invalid Unicode in the document's id" in err and "Traceback" not in err, err
    _nothing_written(workdir)
    code, err = _ingest(capsys, monkeypatch, folder, "--set", "data.on_error=skip")
    assert code == 0, err
    assert [json.loads(x)["id"] for x in (workdir / "out" / "documents.jsonl").read_text().splitlines()] == ["ok.txt"]


@pytest.mark.parametrize("name", ["a.jsonl", "a.md", "a.txt", "a.html"])
def test_a_utf8_byte_order_mark_is_decoded_not_kept(workdir, capsys, monkeypatch, name):
    """A BOM (Windows editors) is no text: a BOM'd JSONL line 1 is read, a BOM'd CRLF .md keeps its title."""
    body = {"a.jsonl": json.dumps({"_id": "1", "title": "Title here", "text": GOOD}) + "\r\n",
            "a.md": f"# Title here\r\n\r\n{GOOD}\r\n", "a.txt": f"{GOOD}\r\n",
            "a.html": f"<html><head><title>Title here</title></head><body><p>{GOOD}</p></body></html>"}[name]
    code, err = _ingest(capsys, monkeypatch, _folder(workdir, {name: b"\xef\xbb\xbf" + body.encode()}))
    assert code == 0, err
    doc = json.loads((workdir / "out" / "documents.jsonl").read_text())
    assert "\ufeff" not in doc["text"] + doc["title"] + doc["id"]
    assert doc["title"] == ("a" if name == "a.txt" else "Title here")


def test_symlinked_folders_are_followed_and_loops_read_once(workdir, capsys, monkeypatch, caplog):
    """A symlinked folder inside data.source is read (it was silently ignored); a loop back is read once."""
    outside = workdir / "elsewhere"
    outside.mkdir()
    (outside / "linked.md").write_text(f"# Linked\n\n{GOOD} linked")
    folder = _folder(workdir, {"own.txt": GOOD.encode()})
    (folder / "more").symlink_to(outside, target_is_directory=True)
    (folder / "again").symlink_to(outside, target_is_directory=True)
    (outside / "loop").symlink_to(folder, target_is_directory=True)
    code, err = _ingest(capsys, monkeypatch, folder)
    assert code == 0, err
    ids = [json.loads(x)["id"] for x in (workdir / "out" / "documents.jsonl").read_text().splitlines()]
    assert ids == ["again/linked.md", "own.txt"]
    summary = json.loads((workdir / "manifests" / "ingest.json").read_text())["summary"]
    assert summary["repeated_folders"] == 2  # more/ (the folder again/ already read) and again/loop (the source)


@pytest.mark.parametrize(("repo", "message"), [
    ("no-such-repo", "no-such-repo: repository not found (no such folder"),
    ("file:///no/such/repo", "file:///no/such/repo: repository not found"),
    (".", ": not a git repository"),
])
def test_a_dvc_repo_that_does_not_exist_says_so(workdir, capsys, monkeypatch, repo, message):
    """Not "SCM error": the repository is named and what is wrong with it said."""
    code, err = run_cli(capsys, monkeypatch, "ingest", "--output", "out/documents.jsonl", "--set", "data.source=docs",
                        "--set", f"data.dvc_repo={repo}")
    assert code == 2 and f"data.dvc_repo: {repo if repo != '.' else ''}" in err and message in err, err
    assert "SCM error" not in err
    _nothing_written(workdir)


def test_a_dvc_error_names_the_cause_dvc_wrapped():
    """DVC wraps git's errors ("SCM error" around the clone failure around its cause): all are read."""
    from spladeforge.data.dvc_source import reason

    try:
        try:
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except OSError as root:
                raise RuntimeError("Failed to clone repo 'https://git.example/x.git'") from root
        except RuntimeError as clone:
            raise RuntimeError("SCM error") from clone
    except RuntimeError as exc:
        assert reason(exc) == "Failed to clone repo 'https://git.example/x.git': [Errno 111] Connection refused"
