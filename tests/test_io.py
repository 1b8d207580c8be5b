"""atomic_output: an output is replaced whole or not at all, and an earlier output is never lost."""

from __future__ import annotations

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
