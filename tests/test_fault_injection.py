"""Fault injection: a stage killed with SIGKILL at the moment it would publish its output leaves no
partial output, and the rerun produces the same results as an uninterrupted run (byte-identical
where the output holds no timing).

The kill is injected in a child process by replacing `os.replace` in `spladeforge.io` (the
rename that makes an output visible) with a SIGKILL to itself, after all bytes were written to the
temporary sibling: the latest point at which an interrupted stage could corrupt its output.
`SF_KILL_AT` picks the rename by the name of its target (by default the first rename of the run);
`SF_KILL_AFTER_UPLOADS` instead kills `publish` after that many files reached S3.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spladeforge.io import sha256_tree

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

KILLER = """
import os, signal, sys
import spladeforge.io as sio
from spladeforge.publishing import s3

def die():
    os.kill(os.getpid(), signal.SIGKILL)

real_replace = os.replace
kill_at = os.environ.get("SF_KILL_AT", "")
uploads = os.environ.get("SF_KILL_AFTER_UPLOADS")

class _Os:
    def __getattr__(self, name):
        return getattr(os, name)
    @staticmethod
    def replace(src, dst):
        if uploads is None and (not kill_at or os.path.basename(os.fspath(dst)) == kill_at):
            die()
        return real_replace(src, dst)
sio.os = _Os()

if uploads is not None:
    real_client = s3._client
    def killing_client(plan):
        client = real_client(plan)
        upload, done = client.upload_file, []
        def upload_file(*args, **kwargs):
            if len(done) == int(uploads):
                die()
            upload(*args, **kwargs)
            done.append(args[2])
        client.upload_file = upload_file
        return client
    s3._client = killing_client

from spladeforge.cli import main
sys.argv = ["spladeforge"] + sys.argv[1:]
main()
"""

# stage, its arguments, the outputs it publishes
STAGES = [
    ("ingest", ["--output", "data/documents.jsonl"], ["data/documents.jsonl"]),
    ("chunk", ["--documents", "data/documents.jsonl", "--output", "data/chunks.jsonl"], ["data/chunks.jsonl"]),
    ("generate-queries", ["--chunks", "data/chunks.jsonl", "--output", "data/queries.jsonl"],
     ["data/queries.jsonl"]),
    ("split", ["--queries", "data/queries.jsonl", "--chunks", "data/chunks.jsonl", "--train-output",
               "data/split/train.jsonl", "--dev-output", "data/split/dev", "--test-output", "data/split/test"],
     ["data/split/train.jsonl", "data/split/dev", "data/split/test"]),
    ("mine", ["--train", "data/split/train.jsonl", "--chunks", "data/chunks.jsonl", "--output",
              "data/train_tuples.jsonl"], ["data/train_tuples.jsonl"]),
]
_PROXIES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def _run(cwd: Path, args: list[str], kill: bool = False, *, kill_at: str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in `cwd`; with `kill` (or `kill_at`, or SF_KILL_AFTER_UPLOADS in `env`) under KILLER."""
    environ = dict(os.environ, HF_HUB_OFFLINE="1", SPLADEFORGE_MANIFEST_DIR=str(cwd / "manifests"))
    # Nothing here goes through a proxy or an AWS profile: every endpoint is on 127.0.0.1.
    for name in ("MLFLOW_TRACKING_URI", "SF_KILL_AT", "SF_KILL_AFTER_UPLOADS", "AWS_PROFILE", "AWS_SESSION_TOKEN",
                 *_PROXIES):
        environ.pop(name, None)
    environ.update(env or {})
    if kill_at:
        environ["SF_KILL_AT"] = kill_at
    kill = kill or bool(kill_at) or "SF_KILL_AFTER_UPLOADS" in environ
    cmd = [sys.executable, "-c", KILLER, *args] if kill else [sys.executable, "-m", "spladeforge.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, timeout=600)


def _project(root: Path) -> Path:
    """A project folder with the repository's params.yaml and presets."""
    (root / "configs").mkdir(parents=True)
    for preset in (REPO / "configs").glob("*.yaml"):
        (root / "configs" / preset.name).write_text(preset.read_text())
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    return root


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _killed(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode == -9, (what, proc.returncode, proc.stderr[-2000:])


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    return [_project(tmp_path_factory.mktemp(name)) for name in ("reference", "killed")]


def test_data_stages_killed_before_publishing_leave_nothing_and_rerun_identically(workdirs):
    reference, killed = workdirs
    small = ["--set", "data.max_documents=12"]
    for stage, args, outputs in STAGES:
        extra = small if stage == "ingest" else []
        done = _run(reference, [stage, *args, *extra], kill=False)
        assert done.returncode == 0, done.stderr[-2000:]

        crashed = _run(killed, [stage, *args, *extra], kill=True)
        assert crashed.returncode == -9, (stage, crashed.returncode, crashed.stderr[-2000:])
        for out in outputs:
            assert not (killed / out).exists(), f"{stage}: a killed run left {out}"
        assert not (killed / "manifests" / f"{stage}.json").exists()

        rerun = _run(killed, [stage, *args, *extra], kill=False)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        for out in outputs:
            assert sha256_tree(killed / out) == sha256_tree(reference / out), f"{stage}: {out} differs"
        leftovers = [p.name for p in (killed / outputs[0]).parent.glob(".*tmp-*")]
        assert leftovers == [], f"{stage}: temporary files left after the rerun: {leftovers}"


def test_ingest_killed_between_its_two_renames_is_completed_by_the_next_start(tmp_path):
    """ingest publishes documents.jsonl and documents.meta.json together. Killed after renaming the
    first and before the second, over an earlier run's outputs, it leaves a mix (new documents, old
    meta) and the journal of the renames; the next stage to start beside them (chunk, reading
    documents.jsonl) finishes the publish before it reads, so it never sees the mix, and both
    files equal an uninterrupted run's."""
    reference, killed = _project(tmp_path / "reference"), _project(tmp_path / "killed")
    ingest = ["ingest", "--output", "data/documents.jsonl"]
    chunk = ["chunk", "--documents", "data/documents.jsonl", "--output", "data/chunks.jsonl"]
    _ok(_run(reference, [*ingest, "--set", "data.max_documents=8"]))
    _ok(_run(killed, [*ingest, "--set", "data.max_documents=12"]))  # the earlier outputs
    old_meta = (killed / "data" / "documents.meta.json").read_bytes()

    _killed(_run(killed, [*ingest, "--set", "data.max_documents=8"], kill_at="documents.meta.json"), "ingest")
    data = killed / "data"
    assert (data / "documents.jsonl").read_bytes() == (reference / "data" / "documents.jsonl").read_bytes()
    assert (data / "documents.meta.json").read_bytes() == old_meta  # the mix a killed run leaves
    assert (data / ".documents.jsonl.outputs-journal.json").is_file()

    started = _run(killed, chunk)
    _ok(started)
    assert "finished publishing the outputs of an interrupted run" in started.stderr
    for name in ("documents.jsonl", "documents.meta.json"):
        assert (data / name).read_bytes() == (reference / "data" / name).read_bytes(), name
    assert json.loads((data / "documents.meta.json").read_text())["documents"] == 8
    assert sorted(p.name for p in data.iterdir()) == ["chunks.jsonl", "documents.jsonl", "documents.meta.json"]


def test_train_killed_while_publishing_its_model_leaves_none_and_the_rerun_matches(workdirs):
    """The last moment of a long run: checkpoints exist, the model folder is being renamed in."""
    from safetensors.torch import load_file

    reference, killed = workdirs
    args = ["train", "--tuples", "data/train_tuples.jsonl", "--dev", "data/split/dev",
            "--output", "models/splade", "--reports", "reports/train",
            "--set", "train.max_steps=2", "--set", "train.eval_steps=2", "--set", "train.max_seq_length=64",
            "--set", "train.batch_size=8"]
    for root in (reference, killed):
        if not (root / "data" / "train_tuples.jsonl").exists():
            pytest.skip("needs the data stages of the test above")
    done = _run(reference, args, kill=False)
    assert done.returncode == 0, done.stderr[-2000:]
    crashed = _run(killed, args, kill=True)
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    assert not (killed / "models" / "splade").exists()
    rerun = _run(killed, args, kill=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    a = load_file(reference / "models" / "splade" / "model.safetensors")
    b = load_file(killed / "models" / "splade" / "model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5


# --- evaluate and quantize: outputs with timings in them -------------------------------------------

# Figures that measure speed on a shared machine, not the model: they differ between any two runs.
_TIMED = re.compile(r"(^|_)(seconds|docs_per_second|latency_p\d+_ms|encode_speed_ratio)$")
_TIMED_COLUMNS = {"seconds", "docs/s", "p50 ms", "p95 ms", "p99 ms"}
_MTEB_TIMED = ("evaluation_time", "date", "evaluation_phases")


def _untimed(node):
    """`node` without the timing keys, at any depth."""
    if isinstance(node, dict):
        return {k: _untimed(v) for k, v in node.items() if not _TIMED.search(k)}
    if isinstance(node, list):
        return [_untimed(v) for v in node]
    return node


def _mask_timed_columns(markdown: str) -> str:
    """report.md with the cells of its timing columns (seconds, docs/s, latency) replaced by `*`."""
    lines, timed = [], None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            timed = None
            lines.append(line)
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if timed is None:  # a table's header row
            timed = {i for i, cell in enumerate(cells) if cell in _TIMED_COLUMNS}
        elif not set(line) <= set("|-: "):
            cells = ["*" if i in timed else cell for i, cell in enumerate(cells)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _assert_same_evaluation(reference: Path, rerun: Path) -> None:
    """Every file of two `evaluate` folders equal, timing fields aside (see the test's docstring)."""
    names = _files(reference)
    assert names == _files(rerun)
    assert {"report.md", "report.json", "errors.json", "plots/ndcg.png"} <= set(names)
    for name in names:
        a, b = reference / name, rerun / name
        if name == "plots/latency.png":
            continue  # a plot of the measured latencies
        if name == "report.md":
            masked = _mask_timed_columns(a.read_text())
            assert "| model | 1.0000 |" in masked and "| * |" in masked  # the masking left the figures
            assert masked == _mask_timed_columns(b.read_text()), name
        elif name.startswith("mteb/") and name.endswith("Retrieval.json"):
            ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
            assert ja["scores"] and {k: v for k, v in ja.items() if k not in _MTEB_TIMED} == {
                k: v for k, v in jb.items() if k not in _MTEB_TIMED}, name
        elif name.endswith(".json"):
            # Parsed: the hybrid's predictions file lists the same rankings in query order of completion.
            assert _untimed(json.loads(a.read_text())) == _untimed(json.loads(b.read_text())), name
        else:
            assert a.read_bytes() == b.read_bytes(), name


def test_evaluate_killed_mid_write_and_between_its_outputs_reruns_to_the_same_figures(
        tmp_path, model_dir, tiny_beir_dir):
    """evaluate writes a report folder and metrics.json, published together (`io.atomic_outputs`).
    Killed (1) while the folder is half written in its temporary sibling, neither output exists;
    killed (2) between the two renames, the folder is complete, metrics.json's complete temporary
    waits beside it and a journal records the rename still to do, which the next start rolls
    forward. The rerun then matches an uninterrupted run.

    Timing-dependent, hence excluded from the comparison: `*_docs_per_second` and
    `*_latency_p50/p95/p99_ms` in metrics.json and report.json, report.json's per-system `seconds`,
    the same columns of report.md, plots/latency.png, and `evaluation_time`, `date` and
    `evaluation_phases` in MTEB's result files. Everything else must be equal: every other metric
    (NDCG@10, MRR@10, recall, MAP, active dims, sparsity, FLOPS, index size), each system's
    rankings and scores, the error analysis, the other plots, and the set of files.
    """
    reference, killed = _project(tmp_path / "reference"), _project(tmp_path / "killed")
    args = ["evaluate", "--model", str(model_dir), "--task", str(tiny_beir_dir), "--output", "reports/eval",
            "--metrics", "reports/metrics.json", "--set", "evaluate.dense_model=null"]
    model_hash = sha256_tree(model_dir)
    _ok(_run(reference, args))

    _killed(_run(killed, args, kill_at="report.json"), "evaluate, folder half written")
    assert _files(killed / "reports") != []  # the kill came mid-write: the temporary folder holds results
    assert not (killed / "reports" / "eval").exists() and not (killed / "reports" / "metrics.json").exists()
    assert not (killed / "manifests" / "evaluate.json").exists()

    _killed(_run(killed, args, kill_at="metrics.json"), "evaluate, between its outputs")
    assert not (killed / "reports" / "metrics.json").exists()
    assert not (killed / "manifests" / "evaluate.json").exists()
    _assert_same_evaluation(reference / "reports" / "eval", killed / "reports" / "eval")
    # The half-written folder of the first kill was cleared by the second run; metrics.json's
    # complete temporary sibling and the journal of the renames are what the second kill left
    # (the journal is new with atomic_outputs: the next start publishes metrics.json from it).
    left = sorted(p.name for p in (killed / "reports").iterdir())
    assert left[-1] == "eval" and [name[:len(".metrics.json.tmp-")] for name in left[1:-1]] == [".metrics.json.tmp-"]
    assert left[0] == ".eval.outputs-journal.json" and len(left) == 3

    _ok(_run(killed, args))
    expected = json.loads((reference / "reports" / "metrics.json").read_text())
    got = json.loads((killed / "reports" / "metrics.json").read_text())
    assert "model_docs_per_second" in got and "model_latency_p50_ms" in got  # reported, just not compared
    assert _untimed(got) == _untimed(expected)
    assert {"model_ndcg_at_10", "model_mrr_at_10", "base_ndcg_at_10", "bm25_ndcg_at_10",
            "model_doc_active_dims", "model_flops"} <= set(_untimed(got))
    _assert_same_evaluation(reference / "reports" / "eval", killed / "reports" / "eval")
    assert sorted(p.name for p in (killed / "reports").iterdir()) == ["eval", "metrics.json"]
    assert (killed / "manifests" / "evaluate.json").is_file()
    assert sha256_tree(model_dir) == model_hash


def test_quantize_killed_before_publishing_its_int8_folder_leaves_none_and_reruns_identically(
        tmp_path, model_dir, tiny_beir_dir):
    """Killed at the rename of its INT8 folder (after export, quantization and both evaluations),
    quantize leaves neither the folder nor its report; the rerun's folder is byte-identical to an
    uninterrupted run's (model_int8.onnx included).

    Timing-dependent, hence excluded from the report comparison: `fp32_docs_per_second`,
    `int8_docs_per_second` and `encode_speed_ratio`. Equal: both NDCG@10, their change, the file
    sizes, active dims, the fp32 export's max difference, the query and document counts.
    """
    reference, killed = _project(tmp_path / "reference"), _project(tmp_path / "killed")
    args = ["quantize", "--model", str(model_dir), "--task", str(tiny_beir_dir), "--output", "models/int8",
            "--report", "reports/quantize.json"]
    _ok(_run(reference, args))

    _killed(_run(killed, args, kill_at="int8"), "quantize")
    # The report's complete temporary waits in reports/ (the two are published together), not the report.
    assert not (killed / "models" / "int8").exists() and not (killed / "reports" / "quantize.json").exists()
    assert not (killed / "manifests" / "quantize.json").exists()
    (left,) = (killed / "models").glob(".int8.tmp-*")  # everything was written, only the rename missed
    assert (left / "model_int8.onnx").is_file()

    _ok(_run(killed, args))
    assert [p.name for p in (killed / "models").iterdir()] == ["int8"]
    assert _files(killed / "models" / "int8") == _files(reference / "models" / "int8")
    assert "model_int8.onnx" in _files(killed / "models" / "int8")
    assert sha256_tree(killed / "models" / "int8") == sha256_tree(reference / "models" / "int8")
    expected = json.loads((reference / "reports" / "quantize.json").read_text())
    got = json.loads((killed / "reports" / "quantize.json").read_text())
    assert {"int8_docs_per_second", "encode_speed_ratio"} <= set(got)
    assert _untimed(got) == _untimed(expected)
    assert {"fp32_ndcg_at_10", "int8_ndcg_at_10", "ndcg_at_10_change", "int8_size_bytes"} <= set(_untimed(got))


# --- register: MLflow first, then the decision file ---------------------------------------------------

def _mlflow(root: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _aliases(client, name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def test_register_killed_before_writing_its_decision_and_what_the_rerun_does_with_mlflow(tmp_path, model_dir,
                                                                                      tiny_beir_dir):
    """register reaches its final MLflow state (run logged, version registered, aliases moved)
    before it writes the decision file. Killed at that file's rename, it leaves no decision file
    and no manifest, but MLflow holds a complete v1, champion and challenger, whose decision no
    file records.

    The rerun recognises v1 (same model sha256, same gate figure) as its own earlier attempt: it
    registers nothing, finds v1 already champion, and writes the decision an uninterrupted run
    writes (same version, verdict and figures; only the wording of the reason differs). The
    registry ends exactly as an uninterrupted run's: one version, champion and challenger.
    """
    from spladeforge.registry.champion import stack
    from tests.conftest import write_gate_inputs

    figures = {"model_mrr_at_10": 0.55, "model_doc_active_dims": 120.0}
    roots = _project(tmp_path / "reference"), _project(tmp_path / "killed")
    args = {}
    for root in roots:
        metrics, _ = write_gate_inputs(root / "reports", tiny_beir_dir, 0.5, 0.4, figures=figures, name="eval")
        metrics.rename(root / "reports" / "metrics.json")
        args[root] = ["register", "--model", str(model_dir), "--metrics", "reports/metrics.json",
                      "--decision", "reports/register.json", "--quantize-report", "none.json", "--onnx", "none",
                      "--eval-dir", "reports/eval", "--task", str(tiny_beir_dir),
                      "--set", f"register.tracking_uri=sqlite:///{root / 'mlflow' / 'mlflow.db'}"]
    reference, killed = roots
    name, model_sha = "spladeforge-splade", sha256_tree(model_dir)

    _ok(_run(reference, args[reference]))
    expected = json.loads((reference / "reports" / "register.json").read_text())
    assert (expected["version"], expected["reference"], expected["promoted"]) == ("1", "base model", True)

    _killed(_run(killed, args[killed], kill_at="register.json"), "register")
    assert sorted(p.name for p in (killed / "reports").iterdir() if not p.name.startswith(".")) == [
        "eval", "metrics.json"], "no decision file"
    assert not (killed / "manifests" / "register.json").exists()
    client = _mlflow(killed)
    (v1,) = client.search_model_versions(f"name='{name}'")
    assert str(v1.version) == "1" and v1.tags["model_sha256"] == model_sha and v1.tags["gate.promoted"] == "true"
    assert _aliases(client, name) == {"champion": "1", "challenger": "1"}
    assert client.get_run(v1.run_id).info.status == "FINISHED"

    _ok(_run(killed, args[killed]))
    decision = json.loads((killed / "reports" / "register.json").read_text())
    assert (decision["version"], decision["champion_version"], decision["run_id"]) == ("1", "1", v1.run_id)
    assert "already champion" in decision["reason"]
    same = ("model_name", "version", "promoted", "candidate_value", "metric", "model_sha256", "failed",
            "candidate_doc_active_dims", "champion_version")
    assert {k: decision[k] for k in same} == {k: expected[k] for k in same}
    versions = client.search_model_versions(f"name='{name}'")
    assert [str(mv.version) for mv in versions] == ["1"], "the rerun registered the same model twice"
    assert _aliases(client, name) == {"champion": "1", "challenger": "1"}
    assert sorted(p.name for p in (killed / "reports").iterdir()) == ["eval", "metrics.json", "register.json"]
    assert stack(client, name) == ["1"]
    assert (killed / "manifests" / "register.json").is_file()
    # A second rerun (min_delta > 0 would fail a model gated against itself) changes nothing either.
    _ok(_run(killed, [*args[killed], "--set", "register.min_delta=0.05"]))
    again = json.loads((killed / "reports" / "register.json").read_text())
    assert (again["version"], again["promoted"], again["champion_version"]) == ("1", True, "1")
    assert [str(mv.version) for mv in client.search_model_versions(f"name='{name}'")] == ["1"]
    # The uninterrupted run's registry, for comparison: the same model as its single champion.
    reference_client = _mlflow(reference)
    assert [str(mv.version) for mv in reference_client.search_model_versions(f"name='{name}'")] == ["1"]
    assert _aliases(reference_client, name) == {"champion": "1", "challenger": "1"}


# --- publish: the export folder and its S3 upload ----------------------------------------------------

@pytest.fixture()
def s3_endpoint():
    """A moto S3 server on 127.0.0.1 for this test."""
    import logging
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _s3_objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="AKIAFAULTINJECTION", aws_secret_access_key="fault-injection-secret")
    keys = [obj["Key"] for obj in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_publish_killed_mid_upload_and_before_its_rename_leaves_no_export_and_reruns_correctly(
        tmp_path, model_dir, s3_endpoint):
    """publish builds its export in a temporary folder, uploads it to S3 from there (required),
    then renames it into place.

    Killed after 2 of its S3 files, it leaves no export folder and, in S3, the upload-in-progress
    marker beside 2 files and no manifest.json (without that marker the rerun would refuse the
    prefix as someone else's upload). Killed again at the rename, the second run removed that
    interrupted upload and uploaded everything again: S3 now holds the complete version, the
    export folder is still absent. The rerun writes the export, recognises the upload by its
    model_sha256 and leaves S3 as it is.

    Compared with an uninterrupted run: the export folder is byte-identical except the `s3`
    record of publish.json (`uploaded: false, already_published: true` instead of
    `uploaded: true`), and the S3 objects are byte-identical.
    """
    import boto3

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "decision.json").write_text(json.dumps({
        "model_name": "spladeforge-splade", "version": "3", "promoted": True,
        "reason": "model_ndcg_at_10 0.5000 reaches champion v2 0.4800 + min_delta 0",
        "reference": "champion v2", "candidate_value": 0.5, "reference_value": 0.48, "champion_version": "3",
        "run_id": "0123abcd", "model_sha256": sha256_tree(model_dir)}))
    (inputs / "metrics.json").write_text(json.dumps({"model_ndcg_at_10": 0.5, "base_ndcg_at_10": 0.4,
                                                     "bm25_ndcg_at_10": 0.35, "num_queries": 4}))
    (inputs / "quantize.json").write_text(json.dumps({"fp32_ndcg_at_10": 0.5, "int8_ndcg_at_10": 0.495,
                                                      "ndcg_at_10_change": -0.005}))
    (inputs / "int8").mkdir()
    (inputs / "int8" / "model_int8.onnx").write_bytes(b"\x08\x07 not a real graph")
    (inputs / "int8" / "tokenizer.json").write_text("{}")

    env = {"AWS_ACCESS_KEY_ID": "AKIAFAULTINJECTION", "AWS_SECRET_ACCESS_KEY": "fault-injection-secret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_CONFIG_FILE": os.devnull, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    roots = _project(tmp_path / "reference"), _project(tmp_path / "killed")
    args = {}
    for root in roots:
        boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id=env[
            "AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=root.name)
        args[root] = ["publish", "--model", str(model_dir), "--decision", str(inputs / "decision.json"),
                      "--metrics", str(inputs / "metrics.json"), "--quantize-report", str(inputs / "quantize.json"),
                      "--onnx", str(inputs / "int8"), "--output", "export",
                      "--set", f"publish.s3.bucket={root.name}", "--set", f"publish.s3.endpoint_url={s3_endpoint}",
                      "--set", "publish.s3.required=true"]
    reference, killed = roots
    model_hash = sha256_tree(model_dir)

    _ok(_run(reference, args[reference], env=env))
    expected = _s3_objects(s3_endpoint, "reference")
    prefix = "models/spladeforge-splade/v3/"
    assert prefix + "manifest.json" in expected and prefix + "model/model.safetensors" in expected
    assert prefix + "upload-in-progress.json" not in expected

    _killed(_run(killed, args[killed], env={**env, "SF_KILL_AFTER_UPLOADS": "2"}), "publish, mid-upload")
    assert not (killed / "export").exists() and not (killed / "manifests" / "publish.json").exists()
    partial = _s3_objects(s3_endpoint, "killed")
    assert prefix + "upload-in-progress.json" in partial and prefix + "manifest.json" not in partial
    assert len(partial) == 3

    crashed = _run(killed, args[killed], kill_at="export", env=env)
    _killed(crashed, "publish, at the rename")
    assert "held an interrupted upload of this model (3 objects" in crashed.stderr
    assert not (killed / "export").exists() and not (killed / "manifests" / "publish.json").exists()
    assert _s3_objects(s3_endpoint, "killed") == expected  # complete, marker gone

    rerun = _run(killed, args[killed], env=env)
    _ok(rerun)
    assert "Already published" in rerun.stderr
    assert _s3_objects(s3_endpoint, "killed") == expected
    names = _files(reference / "export")
    assert names == _files(killed / "export") and "onnx-int8/model_int8.onnx" in names
    for name in names:
        if name != "publish.json":
            assert (reference / "export" / name).read_bytes() == (killed / "export" / name).read_bytes(), name
    want = json.loads((reference / "export" / "publish.json").read_text())
    got = json.loads((killed / "export" / "publish.json").read_text())
    assert {k: v for k, v in got.items() if k != "s3"} == {k: v for k, v in want.items() if k != "s3"}
    assert want["s3"]["uploaded"] is True and "already_published" not in want["s3"]
    assert got["s3"]["uploaded"] is False and got["s3"]["already_published"] is True
    assert got["s3"]["message"].startswith(f"Already published to s3://killed/{prefix}")
    assert sorted(p.name for p in killed.iterdir()) == ["configs", "export", "manifests", "params.yaml"]
    assert sha256_tree(model_dir) == model_hash


def test_s3_leftovers_of_a_killed_upload_are_told_apart(tmp_path, monkeypatch):
    """What a killed upload leaves under a version prefix, as the next upload reads it: another
    model's interrupted upload is refused like any occupied prefix; a marker left beside a complete
    manifest (killed between the two) is removed and the version counts as published."""
    from moto import mock_aws

    from spladeforge.config import S3Config
    from spladeforge.errors import SpladeforgeError
    from spladeforge.publishing import s3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", *_PROXIES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAULTINJECTION")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fault-injection-secret")
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "README.md").write_text("card")
    prefix = "models/m/v1/"
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bucket")
        plan = s3.plan(S3Config(bucket="bucket", required=True))
        client.put_object(Bucket="bucket", Key=prefix + s3.PENDING, Body=json.dumps({"model_sha256": "other"}))
        client.put_object(Bucket="bucket", Key=prefix + "README.md", Body=b"another card")
        with pytest.raises(SpladeforgeError, match="already holds an interrupted upload of another model"):
            s3.push(plan, folder, folder, model_name="m", version="1", model_sha256="mine")
        assert client.get_object(Bucket="bucket", Key=prefix + "README.md")["Body"].read() == b"another card"

        client.delete_object(Bucket="bucket", Key=prefix + "README.md")
        client.put_object(Bucket="bucket", Key=prefix + s3.PENDING, Body=json.dumps({"model_sha256": "mine"}))
        client.put_object(Bucket="bucket", Key=prefix + "README.md", Body=b"card")
        client.put_object(Bucket="bucket", Key=prefix + s3.MANIFEST, Body=json.dumps({"model_sha256": "mine"}))
        result = s3.push(plan, folder, folder, model_name="m", version="1", model_sha256="mine")
        assert result["already_published"] is True and result["uploaded"] is False
        keys = {obj["Key"] for obj in client.list_objects_v2(Bucket="bucket")["Contents"]}
        assert keys == {prefix + "README.md", prefix + s3.MANIFEST}
