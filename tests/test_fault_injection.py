"""Fault injection: a stage killed with SIGKILL at the moment it would publish its output leaves no
partial output, and the rerun produces byte-identical results to an uninterrupted run.

The kill is injected in a child process by replacing `os.replace` in `spladeforge.io` (the
rename that makes an output visible) with a SIGKILL to itself, after all bytes were written to the
temporary sibling: the latest point at which an interrupted stage could corrupt its output.
"""

from __future__ import annotations

import os
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
real_replace = os.replace
class _Os:
    def __getattr__(self, name):
        return getattr(os, name)
    @staticmethod
    def replace(src, dst):
        os.kill(os.getpid(), signal.SIGKILL)
sio.os = _Os()
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
               "data/split/train.jsonl", "--validation-output", "data/split/validation"],
     ["data/split/train.jsonl", "data/split/validation"]),
    ("mine", ["--train", "data/split/train.jsonl", "--chunks", "data/chunks.jsonl", "--output",
              "data/train_tuples.jsonl"], ["data/train_tuples.jsonl"]),
]


def _run(cwd: Path, args: list[str], kill: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", SPLADEFORGE_MANIFEST_DIR=str(cwd / "manifests"))
    cmd = [sys.executable, "-c", KILLER, *args] if kill else [sys.executable, "-m", "spladeforge.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    dirs = []
    for name in ("reference", "killed"):
        root = tmp_path_factory.mktemp(name)
        (root / "configs").mkdir()
        for preset in (REPO / "configs").glob("*.yaml"):
            (root / "configs" / preset.name).write_text(preset.read_text())
        params = (REPO / "params.yaml").read_text()
        (root / "params.yaml").write_text(params)
        dirs.append(root)
    return dirs


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


def test_train_killed_while_publishing_its_model_leaves_none_and_the_rerun_matches(workdirs):
    """The last moment of a long run: checkpoints exist, the model folder is being renamed in."""
    from safetensors.torch import load_file

    reference, killed = workdirs
    args = ["train", "--tuples", "data/train_tuples.jsonl", "--validation", "data/split/validation",
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
