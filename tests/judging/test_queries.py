"""Reading real queries: text files and JSONL logs; bad files named with their line."""

from __future__ import annotations

import pytest

from spladeforge.errors import InputError
from spladeforge.judging.queries import read_queries


def test_text_file_skips_blanks_and_repeats(tmp_path):
    path = tmp_path / "queries.txt"
    path.write_text("read a csv file\n\n  Read a CSV   file \ndecode json\n", encoding="utf-8")
    found = read_queries(path)
    assert found.queries == ("read a csv file", "decode json") and found.source == "file:queries.txt"


def test_jsonl_log_takes_query_or_text(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"query": "read a csv file", "user": 3}\n{"text": "decode json"}\n{"query": ""}\n')
    found = read_queries(path)
    assert found.queries == ("read a csv file", "decode json") and found.source == "log:log.jsonl"


@pytest.mark.parametrize("name, content, message", [
    ("q.txt", b"ok query\n\xff\xfe bad\n", r"q.txt:2: not valid UTF-8"),
    ("q.txt", b"", r"q.txt: no queries \(the file is empty"),
    ("q.txt", b"\n  \n", r"q.txt: no queries"),
    ("q.jsonl", b'{"query": "a"}\nnot json\n', r"q.jsonl:2: not a JSON object .*'query' or 'text'"),
    ("q.jsonl", b'{"q": "a"}\n', r"q.jsonl:1: no query field \(accepted: 'query', 'text'; the line has 'q'\)"),
    ("q.jsonl", b'{"query": 5}\n', r"q.jsonl:1: 'query' must be a string"),
])
def test_bad_queries_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_queries(path)


def test_missing_file_says_what_is_accepted(tmp_path):
    with pytest.raises(InputError, match="queries file not found .*one query per line"):
        read_queries(tmp_path / "nope.txt")
