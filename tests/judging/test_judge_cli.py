"""`spladeforge judge` as a user runs it: a real server on 127.0.0.1, a system that cannot open skipped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import requests

from spladeforge.judging.storage import JudgmentStore
from tests.judging.corpus import write_chunks


def _judge(tmp_path, *args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "USER": "ann"}
    return subprocess.Popen([sys.executable, "-m", "spladeforge.cli", "judge", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serves_the_queries_file_and_skips_what_cannot_open(tmp_path):
    write_chunks(tmp_path / "chunks.jsonl")
    (tmp_path / "queries.txt").write_text("read rows from a csv file\ndecode a json string\n")
    proc = _judge(tmp_path, "--queries", "queries.txt", "--chunks", "chunks.jsonl", "--systems", "bm25,champion",
                  "--port", "0")
    try:
        line = proc.stdout.readline()
        match = re.search(r"Judge at (http://127\.0\.0\.1:\d+/)", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        summary = requests.get(match.group(1) + "api/session", timeout=10).json()
        assert [q["text"] for q in summary["queries"]] == ["read rows from a csv file", "decode a json string"]
        assert summary["user"] == "ann" and summary["passages_pooled"] > 0
        assert requests.get(match.group(1), timeout=10).text.startswith("<!doctype html>")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "system champion skipped" in err and "no registry" in err
    assert JudgmentStore(tmp_path / "judgments").queries()  # the folder was created where the user stood


def test_bad_queries_file_exits_2_naming_the_line(tmp_path):
    write_chunks(tmp_path / "chunks.jsonl")
    (tmp_path / "queries.txt").write_bytes(b"fine\n\xff\n")
    proc = _judge(tmp_path, "--queries", "queries.txt", "--chunks", "chunks.jsonl", "--systems", "bm25")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "queries.txt:2: not valid UTF-8" in err


def test_no_system_opens_is_an_error(tmp_path):
    write_chunks(tmp_path / "chunks.jsonl")
    proc = _judge(tmp_path, "--chunks", "chunks.jsonl", "--systems", "champion")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "judge.systems: none of champion could be opened" in err
