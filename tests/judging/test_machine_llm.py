"""The LLM judge against a real chat-completions server on 127.0.0.1: grades land in machine/<judge>.tsv,
a bad answer stops the run and is not cached, and a rerun sends no request."""

from __future__ import annotations

import json
import re
import threading

import pytest

from spladeforge.config.machine_judges import LLMJudgeConfig
from spladeforge.errors import ConfigError
from spladeforge.evaluation.beir import _qrels_lines
from spladeforge.judging.machine import pool_pairs, run_judge
from spladeforge.judging.machine_llm import LLMJudge, parse_score
from spladeforge.judging.storage import JudgmentStore
from spladeforge.querygen.openai_chat import BadResponse, EndpointError
from tests.local_http import JSONHandler, LocalServer

KEY = "sk-judge-secret"
CHUNKS = {
    "json#0": {"id": "json#0", "title": "json", "text": "Decode JSON text into a dictionary with json.loads."},
    "gzip#0": {"id": "gzip#0", "title": "gzip", "text": "Compress a file in the gzip format."},
    "csv#0": {"id": "csv#0", "title": "csv", "text": "Read rows of a CSV file with a reader object."},
}
QUERIES = ("decode json text", "compress a file")


class FakeJudge:
    """A chat-completions endpoint that scores a passage by how many query words it holds (0-3), in
    UMBRELA's answer format; `bad` names a query it answers in prose instead."""

    def __init__(self) -> None:
        self.calls, self.bad, self.errors = 0, "", []
        self.lock = threading.Lock()
        fake = self

        class Handler(JSONHandler):
            def do_POST(self):
                body = self.read_json()
                with fake.lock:
                    fake.calls += 1
                if self.headers.get("Authorization") != f"Bearer {KEY}" or body["temperature"] != 0.0:
                    fake.errors.append(f"bad request {self.headers.get('Authorization')} {body}")
                prompt = body["messages"][1]["content"]
                query = prompt.split("Query: ", 1)[1].split("\n", 1)[0]
                passage = set(re.findall(r"\w+", prompt.split("Passage: ", 1)[1].split("\n", 1)[0].lower()))
                score = min(3, sum(word in passage for word in query.lower().split()))
                content = "It is relevant, I think." if query == fake.bad else f"M: 2, T: 2\n##final score: {score}"
                self.send(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})

        self.local = LocalServer(Handler, "/v1")
        self.url = self.local.url


@pytest.fixture()
def fake():
    server = FakeJudge()
    yield server
    server.local.close()


def _setup(tmp_path, fake, monkeypatch, folder="judgments"):
    monkeypatch.setenv("SF_TEST_JUDGE_KEY", KEY)
    cfg = LLMJudgeConfig(base_url=fake.url, model="tiny-llm", api_key_env="SF_TEST_JUDGE_KEY",
                         cache_dir=str(tmp_path / "cache"), max_concurrency=2, backoff_initial_s=0.0)
    store = JudgmentStore(tmp_path / folder)
    ids = [store.add_query(q, "typed") for q in QUERIES]
    pools = {qid: [(cid, ("bm25",)) for cid in CHUNKS] for qid in ids}
    return cfg, store, pool_pairs(pools, store.queries(), CHUNKS), ids


def test_parse_score_accepts_the_two_formats_only():
    assert parse_score("##final score: 3", 3) == 3
    assert parse_score("M: 1\nT: 2\n##Final Score: **2**", 3) == 2
    assert parse_score("##final score: 1 ... ##final score: 1", 3) == 1
    assert parse_score('```json\n{"score": 0}\n```', 3) == 0
    for bad in ("", "relevant", "score: 2", "##final score: 4", '{"score": "2"}', '{"score": true}',
                "##final score: 1\n##final score: 2", '{"grade": 1}'):
        with pytest.raises(BadResponse):
            parse_score(bad, 3)


def test_llm_grades_land_in_machine_tsv_and_a_rerun_sends_nothing(tmp_path, fake, monkeypatch):
    cfg, store, pairs, (q_json, q_gzip) = _setup(tmp_path, fake, monkeypatch)
    summary = run_judge(store, LLMJudge(cfg), pairs, batch=2, progress=False)
    assert fake.errors == [] and fake.calls == 6 and summary.graded == 6
    # The fake's score is the number of query words in the passage; UMBRELA 0, 1 -> 0, 2 -> 1, 3 -> 2.
    rows = {(q, c): g for _, q, c, g in _qrels_lines(tmp_path / "judgments" / "machine" / "llm-tiny-llm.tsv")}
    assert rows == {(q_json, "json#0"): 2, (q_json, "gzip#0"): 0, (q_json, "csv#0"): 0,
                    (q_gzip, "json#0"): 0, (q_gzip, "gzip#0"): 2, (q_gzip, "csv#0"): 1}
    assert store.grades(human=True) == {}  # machine grades never reach the human qrels
    log = [json.loads(line) for line in (tmp_path / "judgments" / "grades.jsonl").read_text().splitlines()]
    assert {e["judge"] for e in log} == {"llm:tiny-llm"} and all(e["systems"] == ["bm25"] for e in log)

    again = run_judge(store, LLMJudge(cfg), pairs, progress=False)  # same folder: everything already graded
    assert fake.calls == 6 and again.graded == 0 and again.already_graded == 6
    _, other, other_pairs, _ = _setup(tmp_path, fake, monkeypatch, folder="elsewhere")
    judge = LLMJudge(cfg)
    run_judge(other, judge, other_pairs, progress=False)  # a new folder: answered from the cache
    assert fake.calls == 6 and judge.client.stats.cache_hits == 6
    assert KEY not in "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))


def test_bad_answer_fails_naming_endpoint_and_query_and_is_not_cached(tmp_path, fake, monkeypatch):
    cfg, store, pairs, (q_json, _) = _setup(tmp_path, fake, monkeypatch)
    fake.bad = "compress a file"
    with pytest.raises(EndpointError) as err:
        run_judge(store, LLMJudge(cfg), pairs, batch=3, progress=False)
    message = str(err.value)
    assert fake.url in message and "compress a file" in message and "not cached" in message
    graded = store.grades("llm:tiny-llm")
    assert set(graded) == {(q_json, cid) for cid in CHUNKS}  # the first batch was kept
    cached = len(list((tmp_path / "cache").rglob("*.json")))
    assert cached == 3  # the prose answers were not
    fake.bad, calls = "", fake.calls
    run_judge(store, LLMJudge(cfg), pairs, progress=False)
    assert fake.calls - calls == 3 and len(store.grades("llm:tiny-llm")) == 6


def test_llm_config_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="base_url and model"):
        LLMJudge(LLMJudgeConfig())
    monkeypatch.delenv("SF_UNSET_JUDGE_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"judge\.machine\.llm\.api_key_env"):
        LLMJudge(LLMJudgeConfig(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="SF_UNSET_JUDGE_KEY"))
    for bad in ({"prompt": "Query: {query}"}, {"prompt": "{query} {passage} {n}"}, {"prompt": '{"score": N} {query}'},
                {"grade_map": [0, 3]}, {"api_key_env": "sk-abc123-not-a-name"}):
        with pytest.raises(ValueError):
            LLMJudgeConfig(**bad)
    assert LLMJudgeConfig(prompt="Q {query} P {passage}: {{\"score\": N}}", grade_map=[0, 1, 2]).grade_map == [0, 1, 2]
