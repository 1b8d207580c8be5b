"""The judge page's API on a real server: grades saved at once, bad requests refused with nothing written."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from spladeforge.evaluation.beir import _qrels_lines
from spladeforge.judging.storage import JudgmentStore, query_id
from tests.judging.serving import QUERIES, judge_server


def _log(tmp_path):
    return (tmp_path / "judgments" / "grades.jsonl").read_text()


def test_pool_grade_and_progress(tmp_path):
    with judge_server(tmp_path) as server:
        summary = requests.get(server.url + "api/session", timeout=10).json()
        assert [q["text"] for q in summary["queries"]] == list(QUERIES)
        qid = summary["queries"][0]["id"]
        view = requests.get(server.url + f"api/queries/{qid}", timeout=10).json()
        ids = [p["chunk_id"] for p in view["passages"]]
        assert {"csv-0", "csv-1", "gzip-0", "json-0"} <= set(ids)
        csv = next(p for p in view["passages"] if p["chunk_id"] == "csv-0")
        assert [csv["text"][s:e] for s, e in csv["highlights"]] == ["csv", "reads", "rows", "CSV", "file"]
        assert "systems" not in json.dumps(view)  # the page never learns which system found what
        answer = requests.post(server.url + "api/grades", json={"query_id": qid, "chunk_id": "csv-0", "grade": 2},
                               timeout=10)
        assert answer.status_code == 200 and answer.json()["saved"] is True
        summary = requests.get(server.url + "api/session", timeout=10).json()
        assert summary["passages_judged"] == 1 and summary["queries"][0]["judged"] == 1
    line = json.loads(_log(tmp_path))
    assert line["judge"] == "human:ann" and line["systems"] == ["bm25"] and line["grade"] == 2
    assert [(q, c, g) for _, q, c, g in _qrels_lines(tmp_path / "judgments" / "qrels" / "test.tsv")] == [
        (qid, "csv-0", 2)]


def test_typed_query_is_added_once_and_pooled(tmp_path):
    with judge_server(tmp_path, queries=()) as server:
        first = requests.post(server.url + "api/queries", json={"text": "open a gzip file"}, timeout=10).json()
        again = requests.post(server.url + "api/queries", json={"text": "Open a GZIP file "}, timeout=10).json()
        assert first == again == {"id": query_id("open a gzip file")}
        view = requests.get(server.url + f"api/queries/{first['id']}", timeout=10).json()
        assert "gzip-0" in [p["chunk_id"] for p in view["passages"]]
    record = json.loads((tmp_path / "judgments" / "queries.jsonl").read_text())
    assert record["source"] == "typed" and record["text"] == "open a gzip file"


@pytest.mark.parametrize("body, status, message", [
    ({"query_id": "QID", "chunk_id": "csv-0", "grade": 3}, 422, "grade 3 is not one of 0, 1, 2"),
    ({"query_id": "QID", "chunk_id": "csv-0", "grade": -1}, 422, "grade -1 is not one of 0, 1, 2"),
    ({"query_id": "QID", "chunk_id": "csv-0", "grade": "2"}, 422, "grade must be int or null"),
    ({"query_id": "QID", "chunk_id": "csv-0", "grade": True}, 422, "grade must be int or null"),
    ({"query_id": "QID", "chunk_id": "no-such-chunk", "grade": 1}, 404, "unknown chunk id 'no-such-chunk'"),
    ({"query_id": "q-000000000000", "chunk_id": "csv-0", "grade": 1}, 404, "unknown query id 'q-000000000000'"),
    ({"query_id": "QID", "grade": 1}, 422, "missing field(s) chunk_id"),
    ({"query_id": "QID", "chunk_id": "csv-0", "grade": 1, "judge": "x"}, 422, "unknown field(s) judge"),
    ([1, 2], 400, "expected a JSON object"),
    ("{not json", 400, "request body is not valid JSON"),
])
def test_bad_grade_request_is_refused_and_nothing_written(tmp_path, body, status, message):
    with judge_server(tmp_path) as server:
        qid = query_id(QUERIES[0])
        if isinstance(body, str):
            answer = requests.post(server.url + "api/grades", data=body, timeout=10)
        else:
            body = json.loads(json.dumps(body).replace("QID", qid))
            answer = requests.post(server.url + "api/grades", json=body, timeout=10)
        assert answer.status_code == status and message in answer.json()["error"]
    assert _log(tmp_path) == ""


def test_bad_typed_query_and_unknown_query_page(tmp_path):
    with judge_server(tmp_path) as server:
        assert requests.post(server.url + "api/queries", json={"text": "  "}, timeout=10).status_code == 422
        assert requests.post(server.url + "api/queries", json={"text": "x" * 1001}, timeout=10).status_code == 422
        missing = requests.get(server.url + "api/queries/q-000000000000", timeout=10)
        assert missing.status_code == 404 and "unknown query id" in missing.json()["error"]
    assert len(JudgmentStore(tmp_path / "judgments").queries()) == len(QUERIES)


def test_two_concurrent_writers_through_two_servers(tmp_path):
    """Two servers on one folder (two people, or two tabs), grading at the same time: every grade lands."""
    chunks = ["csv-0", "csv-1", "gzip-0", "json-0", "json-1", "sqlite-0", "socket-0", "random-0"]
    with judge_server(tmp_path, user="ann") as ann, judge_server(tmp_path, user="bob") as bob:
        qids = [query_id(q) for q in QUERIES]
        failures = []

        def grade_all(server, user_grade):
            with requests.Session() as http:
                for qid in qids:
                    for chunk in chunks:
                        answer = http.post(server.url + "api/grades", timeout=30,
                                           json={"query_id": qid, "chunk_id": chunk, "grade": user_grade})
                        if answer.status_code != 200:
                            failures.append(answer.text)

        threads = [threading.Thread(target=grade_all, args=(s, g)) for s, g in ((ann, 1), (bob, 2))] * 1
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not failures
    store = JudgmentStore(tmp_path / "judgments")
    assert len(store.entries()) == 2 * len(qids) * len(chunks)
    assert len(store.grades("human:ann")) == len(store.grades("human:bob")) == len(qids) * len(chunks)
    assert len(list(_qrels_lines(tmp_path / "judgments" / "qrels" / "test.tsv"))) == len(qids) * len(chunks)


def test_folder_edited_into_a_bad_state_while_serving_is_a_409(tmp_path):
    with judge_server(tmp_path) as server:
        with open(tmp_path / "judgments" / "grades.jsonl", "a") as fh:
            fh.write("oops\n")
        answer = requests.get(server.url + "api/session", timeout=10)
        assert answer.status_code == 409 and "grades.jsonl:1: malformed JSON" in answer.json()["error"]
