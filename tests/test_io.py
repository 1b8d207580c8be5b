"""atomic_output: an output is replaced whole or not at all, and an earlier output is never lost."""

from __future__ import annotations

import errno
import os
import sys

import pytest

from spladeforge import io as sio
from spladeforge.io import atomic_output


def _tree(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def _fill(folder, **files: str) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.fixture()
def old_output(tmp_path):
    dest = tmp_path / "reports"
    dest.mkdir()
    _fill(dest, **{"metrics.json": "old", "stale.txt": "only in the old output"})
    return dest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux-only")
def test_folder_is_swapped_in_with_one_atomic_exchange(old_output, monkeypatch):
    def no_two_step_rename(*_):
        raise AssertionError("the old output was moved aside: there was a moment with no output")

    with atomic_output(old_output, directory=True) as tmp:
        _fill(tmp, **{"metrics.json": "new"})
        monkeypatch.setattr(sio.os, "replace", no_two_step_rename)
    monkeypatch.undo()
    assert _tree(old_output) == {"metrics.json": "new"}
    assert sorted(p.name for p in old_output.parent.iterdir()) == ["reports"]


def test_two_step_fallback_replaces_the_folder_too(old_output, monkeypatch):
    monkeypatch.setattr(sio, "_exchange", lambda a, b: False)
    with atomic_output(old_output, directory=True) as tmp:
        _fill(tmp, **{"metrics.json": "new"})
    assert _tree(old_output) == {"metrics.json": "new"}
    assert sorted(p.name for p in old_output.parent.iterdir()) == ["reports"]


def test_old_folder_moved_aside_by_a_killed_run_is_restored(old_output):
    """Killed between the fallback's two renames: the next run puts the old output back."""
    expected = _tree(old_output)
    os.replace(old_output, old_output.with_name(f".{old_output.name}.old-4242"))
    assert not old_output.exists()
    with pytest.raises(RuntimeError), atomic_output(old_output, directory=True):
        raise RuntimeError("this run fails too")
    assert _tree(old_output) == expected
    assert sorted(p.name for p in old_output.parent.iterdir()) == ["reports"]


def test_a_failing_stage_leaves_the_old_output_and_no_temporary(old_output, tmp_path):
    expected = _tree(old_output)
    with pytest.raises(ValueError), atomic_output(old_output, directory=True) as tmp:
        _fill(tmp, **{"metrics.json": "half"})
        raise ValueError("stage failed")
    file_dest = tmp_path / "tuples.jsonl"
    file_dest.write_text("old rows\n")
    with pytest.raises(ValueError), atomic_output(file_dest) as tmp:
        tmp.write_text("half")
        raise ValueError("stage failed")
    assert _tree(old_output) == expected and file_dest.read_text() == "old rows\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports", "tuples.jsonl"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux-only")
def test_exchange_swaps_and_names_a_real_error(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "y").write_text("b")
    assert sio._exchange(a, b)
    assert _tree(b) == {"x": "a"} and _tree(a) == {"y": "b"}
    with pytest.raises(FileNotFoundError, match="b"):
        sio._exchange(tmp_path / "missing", b)


# --- several outputs together -------------------------------------------------------------------

_KILL_AT_RENAME = """
import os, signal, sys
from pathlib import Path
import spladeforge.io as sio

real_replace, kill_at = os.replace, sys.argv[2]

class _Os:
    def __getattr__(self, name):
        return getattr(os, name)
    @staticmethod
    def replace(src, dst):
        if os.path.basename(os.fspath(dst)) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)

sio.os = _Os()
root = Path(sys.argv[1])
with sio.atomic_outputs(root / "reports", root / "metrics.json", folders=[root / "reports"]) as (folder, metrics):
    (folder / "metrics.json").write_text("new")
    metrics.write_text("new metrics")
"""


def _outputs(root) -> dict[str, str]:
    return {**_tree(root / "reports"), "metrics.json": (root / "metrics.json").read_text()}


def test_outputs_appear_together_and_a_failure_leaves_all_old_ones(old_output):
    root = old_output.parent
    (root / "metrics.json").write_text("old metrics")
    with pytest.raises(ValueError), sio.atomic_outputs(old_output, root / "metrics.json", folders=[old_output]) as (
            folder, metrics):
        _fill(folder, **{"metrics.json": "new"})
        metrics.write_text("new metrics")
        raise ValueError("the stage failed after writing both")
    assert _outputs(root)["metrics.json"] == "old metrics" and _tree(old_output)["metrics.json"] == "old"
    assert sorted(p.name for p in root.iterdir()) == ["metrics.json", "reports"]
    with sio.atomic_outputs(old_output, root / "metrics.json", folders=[old_output]) as (folder, metrics):
        _fill(folder, **{"metrics.json": "new"})
        metrics.write_text("new metrics")
    assert _tree(old_output) == {"metrics.json": "new"} and (root / "metrics.json").read_text() == "new metrics"
    assert sorted(p.name for p in root.iterdir()) == ["metrics.json", "reports"]


@pytest.mark.parametrize("kill_at", ["metrics.json", ".reports.outputs-journal.json"])
def test_killed_between_the_renames_the_next_start_rolls_forward(old_output, kill_at):
    """SIGKILL between the two renames (or at the journal's): the next start finishes the publish,
    so readers see all the new outputs, never the new folder beside the old metrics."""
    import subprocess

    root = old_output.parent
    (root / "metrics.json").write_text("old metrics")
    proc = subprocess.run([sys.executable, "-c", _KILL_AT_RENAME, str(root), kill_at], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    if kill_at == "metrics.json":
        assert _tree(old_output) == {"metrics.json": "new"}  # the mix a killed run leaves...
        assert (root / "metrics.json").read_text() == "old metrics"
        assert (root / ".reports.outputs-journal.json").is_file()
    assert sio.recover_outputs(root / "metrics.json") == (1 if kill_at == "metrics.json" else 0)
    expected = ({"metrics.json": "new"}, "new metrics") if kill_at == "metrics.json" else (
        {"metrics.json": "old", "stale.txt": "only in the old output"}, "old metrics")  # killed before the journal
    assert (_tree(old_output), (root / "metrics.json").read_text()) == expected
    # The next run of the same stage clears what is left (temporaries, journal), even when it fails.
    with pytest.raises(RuntimeError), sio.atomic_outputs(old_output, root / "metrics.json", folders=[old_output]):
        raise RuntimeError("this run fails too")
    assert (_tree(old_output), (root / "metrics.json").read_text()) == expected
    assert sorted(p.name for p in root.iterdir()) == ["metrics.json", "reports"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_names_the_output_being_written(tmp_path, code):
    """ENOSPC/EDQUOT from a write (no file name) or inside a temporary folder name the output."""
    def full(_):
        raise OSError(code, os.strerror(code))

    with pytest.raises(OSError) as info, sio.atomic_outputs(tmp_path / "a.jsonl", tmp_path / "b.json") as (a, _):
        full(a)
    assert info.value.errno == code and str(tmp_path / "a.jsonl") in info.value.filename
    with pytest.raises(OSError) as info, atomic_output(tmp_path / "model", directory=True) as folder:
        raise OSError(code, os.strerror(code), str(folder / "model.safetensors"))
    assert info.value.filename == str(tmp_path / "model" / "model.safetensors")
    assert "while writing" in info.value.strerror
    assert list(tmp_path.iterdir()) == []
