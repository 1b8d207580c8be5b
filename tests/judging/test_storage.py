"""The judgments folder: the contract's layout, durable appends, hand edits refused with file:line."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from spladeforge.errors import InputError
from spladeforge.evaluation.beir import _qrels_lines
from spladeforge.judging.storage import JudgmentStore, judge_label, query_id


def test_query_id_is_the_normalized_text_hash():
    """Case, surrounding and repeated whitespace do not make a second query."""
    assert query_id("Decode  JSON\ttext ") == query_id("decode json text")
    assert query_id("decode json text").startswith("q-") and len(query_id("x")) == 14
    assert query_id("decode json") != query_id("encode json")


def test_layout_and_grades(tmp_path):
    """A new folder gets the contract's files; grades land in the log and the TSVs, latest wins."""
    store = JudgmentStore(tmp_path / "j")
    qid = store.add_query("decode json", "typed")
    assert store.add_query("Decode JSON ", "typed") == qid
    store.record(qid, "c1", 2, "human:ann", chunk_text="json text", systems=["bm25", "model"])
    store.record(qid, "c2", 0, "human:ann", chunk_text="other")
    store.record(qid, "c1", 1, "human:bob", chunk_text="json text")
    store.record(qid, "c1", 2, "llm:Qwen2.5-7B-Instruct", chunk_text="json text")
    folder = tmp_path / "j"
    assert store.queries() == {qid: "decode json"}
    assert store.grades(human=True) == {(qid, "c1"): 1, (qid, "c2"): 0}
    assert store.grades("human:ann") == {(qid, "c1"): 2, (qid, "c2"): 0}
    rows = [(q, c, g) for _, q, c, g in _qrels_lines(folder / "qrels" / "test.tsv")]
    assert rows == [(qid, "c1", 1), (qid, "c2", 0)]
    assert (folder / "qrels" / "test.tsv").read_text().startswith("query-id\tcorpus-id\tscore\n")
    assert (folder / "machine" / "llm-qwen2-5-7b-instruct.tsv").read_text().endswith(f"{qid}\tc1\t2\n")
    first = json.loads((folder / "grades.jsonl").read_text().splitlines()[0])
    assert first["systems"] == ["bm25", "model"] and len(first["chunk_sha256"]) == 64
    assert json.loads((folder / "queries.jsonl").read_text())["source"] == "typed"


def test_withdraw_restores_the_other_judges_grade(tmp_path):
    """Undo removes only the undoing judge's grade."""
    store = JudgmentStore(tmp_path)
    qid = store.add_query("q", "typed")
    store.record(qid, "c1", 2, "human:ann", chunk_text="t")
    store.record(qid, "c1", 0, "human:bob", chunk_text="t")
    store.record(qid, "c1", None, "human:bob", chunk_text="t")
    assert store.grades(human=True) == {(qid, "c1"): 2}
    store.record(qid, "c1", None, "human:ann", chunk_text="t")
    assert store.grades(human=True) == {}
    assert (tmp_path / "qrels" / "test.tsv").read_text() == "query-id\tcorpus-id\tscore\n"


@pytest.mark.parametrize("grade, judge, qid", [(3, "human:a", None), (True, "human:a", None),
                                                (1, "someone", None), (1, "human:a", "q-000000000000")])
def test_bad_record_is_refused_and_nothing_written(tmp_path, grade, judge, qid):
    store = JudgmentStore(tmp_path)
    known = store.add_query("q", "typed")
    with pytest.raises(InputError):
        store.record(qid or known, "c1", grade, judge, chunk_text="t")
    assert (tmp_path / "grades.jsonl").read_text() == ""


def test_torn_last_line_is_cut_with_a_warning(tmp_path, caplog):
    """A kill mid-write leaves a last line without its newline: the next open drops only that line."""
    store = JudgmentStore(tmp_path)
    qid = store.add_query("q", "typed")
    store.record(qid, "c1", 2, "human:a", chunk_text="t")
    with open(tmp_path / "grades.jsonl", "ab") as fh:
        fh.write(b'{"time": "2026-01-01T00:00:00Z", "judge": "hum')
    store = JudgmentStore(tmp_path)
    assert "partial last line" in caplog.text
    store.record(qid, "c2", 1, "human:a", chunk_text="t")
    assert store.grades() == {(qid, "c1"): 2, (qid, "c2"): 1}


@pytest.mark.parametrize("line, message", [
    ("not json\n", "grades.jsonl:2: malformed JSON"),
    ('{"time": "t", "judge": "human:a", "query_id": "QID", "chunk_id": "c", "grade": 5}\n',
     "grades.jsonl:2: grade 5 is not one of 0, 1, 2"),
    ('{"time": "t", "judge": "human:a", "query_id": "q-ffffffffffff", "chunk_id": "c", "grade": 1}\n',
     "grades.jsonl:2: query_id 'q-ffffffffffff' is not in queries.jsonl"),
    ('{"time": "t", "judge": "human:a", "query_id": "QID", "grade": 1}\n', "grades.jsonl:2: missing field(s) chunk_id"),
])
def test_hand_edited_log_is_refused_naming_the_line(tmp_path, line, message):
    """A bad line that a kill cannot produce (it ends in a newline) is an error; the log stays as it was."""
    store = JudgmentStore(tmp_path)
    qid = store.add_query("q", "typed")
    store.record(qid, "c1", 2, "human:a", chunk_text="t")
    with open(tmp_path / "grades.jsonl", "a") as fh:
        fh.write(line.replace("QID", qid))
    before = (tmp_path / "grades.jsonl").read_bytes()
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        JudgmentStore(tmp_path)
    assert (tmp_path / "grades.jsonl").read_bytes() == before


def test_hand_edited_qrels_is_refused_not_overwritten(tmp_path):
    """qrels/test.tsv is derived from the log: an edit there would be silently lost, so it is refused."""
    store = JudgmentStore(tmp_path)
    qid = store.add_query("q", "typed")
    store.record(qid, "c1", 2, "human:a", chunk_text="t")
    qrels = tmp_path / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + f"{qid}\tc9\t2\n")
    with pytest.raises(InputError, match=r"test.tsv:3: differs from .*grades.jsonl"):
        JudgmentStore(tmp_path)
    assert qrels.read_text().endswith("c9\t2\n")
    qrels.unlink()  # moved away: rebuilt from the log
    JudgmentStore(tmp_path)
    assert qrels.read_text().endswith(f"{qid}\tc1\t2\n")


def test_qrels_one_grade_behind_is_rebuilt(tmp_path):
    """A kill between the fsynced append and the TSV rewrite leaves the TSV one grade behind: rebuilt."""
    store = JudgmentStore(tmp_path)
    qid = store.add_query("q", "typed")
    store.record(qid, "c1", 2, "human:a", chunk_text="t")
    qrels = tmp_path / "qrels" / "test.tsv"
    behind = qrels.read_text()
    store.record(qid, "c2", 1, "human:a", chunk_text="t")
    qrels.write_text(behind)
    JudgmentStore(tmp_path)
    assert qrels.read_text().endswith(f"{qid}\tc2\t1\n")


def test_bad_queries_file_names_the_line(tmp_path):
    JudgmentStore(tmp_path)
    (tmp_path / "queries.jsonl").write_text('{"_id": "q-1", "text": "x"}\n')
    with pytest.raises(InputError, match=r"queries.jsonl:1: _id 'q-1' is not of the form"):
        JudgmentStore(tmp_path)


def test_judge_label_is_filename_safe():
    assert judge_label("cross-encoder:ms-marco-MiniLM-L-6-v2") == "cross-encoder-ms-marco-minilm-l-6-v2"


def _writer(folder: str, judge: str, n: int) -> None:
    store = JudgmentStore(folder)
    qid = store.add_query("shared query", "typed")
    for i in range(n):
        store.record(qid, f"{judge}-{i}", i % 3, f"human:{judge}", chunk_text=str(i))


def test_two_processes_writing_at_once_both_land(tmp_path):
    """Two servers (or two tabs) saving at the same time: every grade of both is kept, files stay valid."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), name, 40)) for name in ("ann", "bob")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    store = JudgmentStore(tmp_path)
    assert len(store.grades()) == 80 and len(store.entries()) == 80
    assert len(list(_qrels_lines(tmp_path / "qrels" / "test.tsv"))) == 80
    assert len(store.queries()) == 1


_LOOP = textwrap.dedent("""
    import sys
    from spladeforge.judging.storage import JudgmentStore
    store = JudgmentStore(sys.argv[1])
    qid = store.add_query("q", "typed")
    i = 0
    while True:
        store.record(qid, f"c{i}", i % 3, "human:a", chunk_text="x" * 2000, systems=["bm25"])
        print(i, flush=True)
        i += 1
""")


@pytest.mark.parametrize("after", [5, 23, 61])
def test_sigkill_during_saves_loses_at_most_one_grade(tmp_path, after):
    """SIGKILL at an arbitrary point of a save loop: every grade acknowledged is there, the files are valid."""
    proc = subprocess.Popen([sys.executable, "-c", _LOOP, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    acknowledged = -1
    deadline = time.monotonic() + 60
    while acknowledged < after and time.monotonic() < deadline:
        acknowledged = int(proc.stdout.readline())
    time.sleep(0.003 * after % 0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = JudgmentStore(tmp_path)
    grades = store.grades()
    qid = store.add_query("q", "typed")
    # What the writer saved is a gapless run c0..cN reaching at least the last grade it acknowledged:
    # only the save in flight at the kill can be missing.
    assert set(grades) == {(qid, f"c{i}") for i in range(len(grades))}
    assert len(grades) >= acknowledged + 1
    assert len(list(_qrels_lines(tmp_path / "qrels" / "test.tsv"))) == len(grades)
    assert (tmp_path / "grades.jsonl").read_bytes().endswith(b"\n")
