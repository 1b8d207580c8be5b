"""Query backends (seq2seq, openai) run for real through the stage, which reports what the filters rejected.

The filters and the answer parser are tested on their own in tests/querygen/.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from spladeforge.config import GenerateQueriesConfig
from spladeforge.errors import ConfigError, InputError
from spladeforge.io import read_json, read_jsonl, write_jsonl
from spladeforge.querygen.openai_chat import EndpointError, OpenAIChatClient
from spladeforge.stages import generate_queries
from tests.local_http import JSONHandler, LocalServer

REPO = Path(__file__).resolve().parents[2]

TOPICS = {
    "gzip": "The gzip module compresses and decompresses files in the gzip format used by GNU zip. "
            "Compression levels range from one to nine and trade speed for smaller archives.",
    "sqlite3": "The sqlite3 module provides a SQL interface to SQLite databases stored in a single "
               "file on disk. Cursors execute statements and fetch rows from query results.",
    "socket": "The socket module gives access to the BSD socket interface for network connections "
              "over TCP and UDP. Timeouts protect callers from hosts that never answer.",
    "json": "The json module encodes Python objects as JSON strings and decodes JSON text back into "
            "dictionaries and lists. Custom encoders serialize other types.",
}


@pytest.fixture()
def chunks_file(tmp_path):
    chunks = [{"id": f"{t}#0", "doc_id": t, "title": t, "section": t, "text": text} for t, text in TOPICS.items()]
    write_jsonl(tmp_path / "chunks.jsonl", chunks)
    return tmp_path / "chunks.jsonl"


def test_report_written_next_to_queries(chunks_file, tmp_path):
    summary = generate_queries.run(GenerateQueriesConfig(queries_per_chunk=2), chunks_file,
                                   tmp_path / "queries.jsonl", seed=0)
    report = read_json(tmp_path / "queries.report.json")
    assert summary["report"].endswith("queries.report.json")
    assert report["queries"] == len(read_jsonl(tmp_path / "queries.jsonl"))
    assert sum(report["kept"].values()) == report["queries"]
    assert report["filters"]["round_trip"] == "bm25"


# --- openai ----------------------------------------------------------------------------------

class FakeEndpoint:
    """A chat-completions server on 127.0.0.1 that checks requests and scripts its answers."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.calls = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(JSONHandler):
            def do_POST(self):
                with endpoint.lock:  # handler threads run concurrently
                    endpoint.calls += 1
                    first = endpoint.calls == 1
                body = self.read_json()
                if self.path != "/v1/chat/completions":
                    endpoint.errors.append(f"path {self.path}")
                if self.headers.get("Authorization") != "Bearer sk-test-secret":
                    endpoint.errors.append("bad Authorization header")
                if body.get("model") != "tiny-llm" or [m["role"] for m in body["messages"]] != ["system", "user"]:
                    endpoint.errors.append(f"bad body {body}")
                prompt = body["messages"][1]["content"]
                if endpoint.mode.startswith("echo"):
                    return self._echo()
                title = prompt.split("Title: ", 1)[1].split("\n", 1)[0]
                if endpoint.mode == "slow":
                    time.sleep(0.5)
                if endpoint.mode == "unauthorized":
                    return self.send(401, {"error": "invalid key"})
                if endpoint.mode == "login":  # a proxy's sign-in page, answered with 200
                    page = b"<html><body><form action='/login'>Sign in</form></body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    return self.wfile.write(page)
                if endpoint.mode == "number":
                    return self.send(200, {"choices": [{"message": {"role": "assistant", "content": 42}}]})
                if first and endpoint.mode == "ok":
                    return self.send(429, {"error": "rate limited"}, {"Retry-After": "0"})
                if endpoint.mode == "garbage" and title == "json":
                    content = "I cannot help with that."
                elif "keyword" in prompt:
                    content = json.dumps({"queries": [f"{title} module usage", f"{title} python examples"]})
                else:
                    content = json.dumps({"queries": [f"how does the {title} module work?",
                                                      f"what is {title} used for?"]})
                if endpoint.mode == "parts":  # the content-parts form some servers answer with
                    half = len(content) // 2
                    content = [{"type": "text", "text": content[:half]}, {"type": "text", "text": content[half:]}]
                self.send(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})

            def _echo(self):
                """A server (or proxy) that quotes the request's credentials back in its answer."""
                auth = self.headers.get("Authorization", "")
                key = auth.removeprefix("Bearer ")
                status = {"echo401": 401, "echo500": 500, "echo200": 200}[endpoint.mode]
                if status == 401:  # JSON error body, as the OpenAI API words a bad key
                    return self.send(401, {"error": {"message": f"Incorrect API key provided: {key}",
                                                      "received_headers": {"Authorization": auth}}})
                # Plain text, with a copy of the key straddling the place where the message cuts
                # the body (200 characters for an HTTP error, 80 for a bad answer).
                if status == 500:
                    head, cut = f"upstream failed; you sent {auth} (proxy sent Bearer proxy-token-ZZZ9) key=", 200
                else:
                    head, cut = f"Authorization: {auth}; key=", 80
                text = head + "." * (cut - 6 - len(head)) + key + " end"
                assert text.index(key, len(head)) == cut - 6
                self.send(status, text)

        self.local = LocalServer(Handler, "/v1")
        self.url = self.local.url

    def close(self):
        self.local.close()


@pytest.fixture()
def endpoint(request):
    server = FakeEndpoint(getattr(request, "param", "ok"))
    yield server
    server.close()


def _openai_cfg(endpoint, tmp_path, **openai) -> GenerateQueriesConfig:
    return GenerateQueriesConfig(
        backend="openai", queries_per_chunk=2, mix={"question": 1, "keywords": 1, "natural": 0},
        openai={"base_url": endpoint.url, "model": "tiny-llm", "api_key_env": "SF_TEST_LLM_KEY",
                "cache_dir": str(tmp_path / "llm-cache"), "backoff_initial_s": 0.01, "max_concurrency": 2,
                **openai})


def test_openai_retries_429_then_caches(endpoint, chunks_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SF_TEST_LLM_KEY", "sk-test-secret")
    cfg = _openai_cfg(endpoint, tmp_path)
    summary = generate_queries.run(cfg, chunks_file, tmp_path / "queries.jsonl", seed=0)
    first_calls = endpoint.calls
    assert not endpoint.errors, endpoint.errors
    queries = read_jsonl(tmp_path / "queries.jsonl")
    assert summary["queries"] == len(queries) == 8
    assert {q["backend"] for q in queries} == {"openai"} and {q["type"] for q in queries} <= {"question", "keywords"}
    report = read_json(tmp_path / "queries.report.json")
    requests_made = report["openai"]["requests"]
    assert report["openai"]["retries"] == 1 and requests_made == first_calls
    assert "sk-test-secret" not in json.dumps(report)
    # Rerun: every answer comes from the cache; the endpoint sees no new call.
    generate_queries.run(cfg, chunks_file, tmp_path / "again.jsonl", seed=0)
    assert endpoint.calls == first_calls
    assert read_json(tmp_path / "again.report.json")["openai"]["cache_hits"] == requests_made - 1
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "queries.jsonl").read_bytes()
    assert not any("sk-test-secret" in p.read_text() for p in (tmp_path / "llm-cache").rglob("*.json"))


@pytest.mark.slow
def test_openai_mix_keeps_expansion_queries_extractive(endpoint, tmp_path, monkeypatch):
    # Why: expansion terms come from the base model's reading of the chunk, not from the LLM; the
    # stage must still make them (and round-trip them with SPLADE) beside the LLM's queries.
    from tests.querygen.test_extractive import LIBRARY

    monkeypatch.setenv("SF_TEST_LLM_KEY", "sk-test-secret")
    chunks = [{"id": f"d{i}#0", "doc_id": f"d{i}", "title": title, "text": text}
              for i, (title, text) in enumerate(LIBRARY)]
    write_jsonl(tmp_path / "chunks.jsonl", chunks)
    cfg = _openai_cfg(endpoint, tmp_path, max_retries=1).model_copy(
        update={"mix": {"question": 1.0, "expansion": 1.0}, "min_keywords": 1})
    generate_queries.run(cfg, tmp_path / "chunks.jsonl", tmp_path / "queries.jsonl", seed=0)
    queries = read_jsonl(tmp_path / "queries.jsonl")
    by_type = {t: [q for q in queries if q["type"] == t] for t in ("question", "expansion")}
    assert by_type["question"] and {q["backend"] for q in by_type["question"]} == {"openai"}
    assert by_type["expansion"] and {q["backend"] for q in by_type["expansion"]} == {"extractive"}
    assert read_json(tmp_path / "queries.report.json")["round_trip_splade_types"] == ["expansion"]


@pytest.mark.parametrize("endpoint", ["garbage"], indirect=True)
def test_openai_garbage_skipped_and_counted_or_fails(endpoint, chunks_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SF_TEST_LLM_KEY", "sk-test-secret")
    generate_queries.run(_openai_cfg(endpoint, tmp_path), chunks_file, tmp_path / "q.jsonl", seed=0)
    report = read_json(tmp_path / "q.report.json")
    assert report["openai"]["bad_responses"] >= 1 and "not JSON" in report["openai"]["bad_examples"][0]
    assert "json#0" not in {q["chunk_id"] for q in read_jsonl(tmp_path / "q.jsonl")}
    with pytest.raises(EndpointError, match="not JSON"):
        generate_queries.run(_openai_cfg(endpoint, tmp_path / "fresh", on_bad_response="fail"), chunks_file,
                             tmp_path / "q2.jsonl", seed=0)
    assert not (tmp_path / "q2.jsonl").exists()


@pytest.mark.parametrize("endpoint", ["slow"], indirect=True)
def test_openai_timeout_retried_then_clear_error(endpoint, chunks_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SF_TEST_LLM_KEY", "sk-test-secret")
    cfg = _openai_cfg(endpoint, tmp_path, timeout_s=0.1, max_retries=2, max_concurrency=1)
    with pytest.raises(EndpointError, match=r"failed after 3 attempts \(last: no answer within timeout_s=0.1\)"):
        generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=0)
    assert not (tmp_path / "q.jsonl").exists()


@pytest.mark.parametrize("endpoint", ["unauthorized"], indirect=True)
def test_openai_auth_errors(endpoint, chunks_file, tmp_path, monkeypatch):
    monkeypatch.delenv("SF_TEST_LLM_KEY", raising=False)
    with pytest.raises(ConfigError, match="SF_TEST_LLM_KEY is not set"):
        generate_queries.run(_openai_cfg(endpoint, tmp_path), chunks_file, tmp_path / "q.jsonl", seed=0)
    monkeypatch.setenv("SF_TEST_LLM_KEY", "sk-test-secret")
    with pytest.raises(EndpointError, match="HTTP 401") as err:
        generate_queries.run(_openai_cfg(endpoint, tmp_path, max_concurrency=1), chunks_file,
                             tmp_path / "q.jsonl", seed=0)
    assert "sk-test-secret" not in str(err.value)
    assert endpoint.calls == 1, "a 401 is not retried"


KEY = "sk-test-secret"
LOGGER = "spladeforge.querygen.openai_chat"


def _no_key(text: str) -> None:
    assert KEY not in text and KEY[:6] not in text, text  # nor the start of a key cut by truncation
    assert "proxy-token-ZZZ9" not in text, text  # any bearer token, not only the key


def _cli(argv, monkeypatch) -> int:
    from spladeforge import cli

    monkeypatch.setattr(sys, "argv", ["spladeforge", *argv])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    return exited.value.code


@pytest.mark.parametrize(("endpoint", "status"), [("echo401", 401), ("echo500", 500)], indirect=["endpoint"])
def test_openai_error_bodies_echoing_the_key_are_redacted(endpoint, status, chunks_file, tmp_path, monkeypatch,
                                                         caplog, capsys):
    """A body quoting the Authorization header or the key: errors, logs and stderr name the status, not the key."""
    monkeypatch.setenv("SF_TEST_LLM_KEY", KEY)
    caplog.set_level(logging.INFO, logger="spladeforge")  # restored after the test; the CLI sets INFO too
    cfg = _openai_cfg(endpoint, tmp_path, max_retries=2, max_concurrency=1)
    with pytest.raises(EndpointError, match=f"HTTP {status}: ") as err:
        generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=0)
    message = str(err.value)
    _no_key(message)
    assert "Bearer ***" in message  # redacted, not dropped: the echo is still readable
    assert endpoint.calls == (1 if status == 401 else 3)
    retries = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(retries) == (0 if status == 401 else 2)
    assert all(f"HTTP {status}: " in m for m in retries)
    # The same failure through the command line: `error: ...` on stderr, exit code 2.
    code = _cli(["generate-queries", "--chunks", str(chunks_file), "--output", str(tmp_path / "cli.jsonl"),
                 "--params", str(REPO / "params.yaml"), "--set", "generate_queries.backend=openai",
                 "--set", f"generate_queries.openai.base_url={endpoint.url}",
                 "--set", "generate_queries.openai.model=tiny-llm",
                 "--set", "generate_queries.openai.api_key_env=SF_TEST_LLM_KEY",
                 "--set", f"generate_queries.openai.cache_dir={tmp_path / 'cli-cache'}",
                 "--set", "generate_queries.openai.max_retries=1",
                 "--set", "generate_queries.openai.backoff_initial_s=0.01",
                 "--set", "generate_queries.openai.max_concurrency=1"], monkeypatch)
    out, err_text = capsys.readouterr()
    assert code == 2 and f"HTTP {status}: " in err_text, err_text
    logs = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for text in (out, err_text, logs):
        _no_key(text)
    assert not (tmp_path / "q.jsonl").exists() and not (tmp_path / "cli.jsonl").exists()


@pytest.mark.parametrize("endpoint", ["echo200"], indirect=True)
@pytest.mark.parametrize("on_bad_response", ["fail", "skip"])
def test_a_200_that_is_no_answer_stops_the_run_redacted_and_uncached(endpoint, chunks_file, tmp_path, monkeypatch,
                                                                       caplog, on_bad_response):
    """A 200 whose body is not a chat-completions answer but an echo of the request (a proxy, a login
    page): the endpoint's fault whatever on_bad_response says, quoted redacted, nothing cached."""
    monkeypatch.setenv("SF_TEST_LLM_KEY", KEY)
    caplog.set_level(logging.INFO, logger="spladeforge")
    with pytest.raises(EndpointError, match="not a chat-completions response") as err:
        generate_queries.run(_openai_cfg(endpoint, tmp_path, on_bad_response=on_bad_response, max_concurrency=1),
                             chunks_file, tmp_path / "q.jsonl", seed=0)
    _no_key(str(err.value))
    assert "Bearer ***" in str(err.value) and "base_url" in str(err.value)
    _no_key(caplog.text)
    assert not [f for f in (tmp_path / "llm-cache").rglob("*") if f.is_file()]


@pytest.mark.parametrize("endpoint", ["login"], indirect=True)
def test_a_login_page_is_not_cached_so_the_fixed_endpoint_is_asked_again(endpoint, chunks_file, tmp_path,
                                                                          monkeypatch):
    """Caches keep only good answers: after the endpoint is fixed, the rerun sends its requests."""
    monkeypatch.setenv("SF_TEST_LLM_KEY", "sk-test-secret")
    with pytest.raises(EndpointError, match=r"not a chat-completions response \(text/html"):
        generate_queries.run(_openai_cfg(endpoint, tmp_path, max_concurrency=1), chunks_file, tmp_path / "q.jsonl",
                             seed=0)
    assert not (tmp_path / "q.jsonl").exists()
    endpoint.mode, calls = "fixed", endpoint.calls
    generate_queries.run(_openai_cfg(endpoint, tmp_path), chunks_file, tmp_path / "q.jsonl", seed=0)
    report = read_json(tmp_path / "q.report.json")["openai"]
    assert report["cache_hits"] == 0 and endpoint.calls > calls and report["bad_responses"] == 0
    assert {q["backend"] for q in read_jsonl(tmp_path / "q.jsonl")} == {"openai"}


@pytest.mark.parametrize("endpoint", ["garbage"], indirect=True)
def test_a_skipped_bad_answer_is_asked_again_and_an_old_bad_entry_is_removed(endpoint, chunks_file, tmp_path,
                                                                             monkeypatch, caplog):
    """Under on_bad_response: skip a bad answer is not cached; an entry an older version cached is dropped."""
    monkeypatch.setenv("SF_TEST_LLM_KEY", "sk-test-secret")
    cfg = _openai_cfg(endpoint, tmp_path)
    generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=0)
    assert "json#0" not in {q["chunk_id"] for q in read_jsonl(tmp_path / "q.jsonl")}
    entries = sorted((tmp_path / "llm-cache").rglob("*.json"))
    contents = [json.loads(e.read_text())["content"] for e in entries]
    assert entries and all("cannot help" not in c for c in contents)
    entries[0].write_text(json.dumps({"model": "tiny-llm", "content": "I cannot help with that."}))
    endpoint.mode = "fixed"
    caplog.set_level(logging.WARNING, logger="spladeforge")
    generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=0)
    assert "json#0" in {q["chunk_id"] for q in read_jsonl(tmp_path / "q.jsonl")}
    assert f"removed cache entry {entries[0]}" in caplog.text
    assert read_json(tmp_path / "q.report.json")["openai"]["bad_responses"] == 0


@pytest.mark.parametrize("endpoint", ["parts", "number"], indirect=True)
def test_message_content_as_parts_is_read_and_as_a_number_is_a_bad_answer(endpoint, chunks_file, tmp_path,
                                                                          monkeypatch):
    """message.content as a list of text parts is joined; a number is a bad answer (skip/fail), not a TypeError."""
    monkeypatch.setenv("SF_TEST_LLM_KEY", "sk-test-secret")
    if endpoint.mode == "parts":
        generate_queries.run(_openai_cfg(endpoint, tmp_path), chunks_file, tmp_path / "q.jsonl", seed=0)
        assert {q["backend"] for q in read_jsonl(tmp_path / "q.jsonl")} == {"openai"}
        return
    with pytest.raises(EndpointError, match="message.content is int '42', not text"):
        generate_queries.run(_openai_cfg(endpoint, tmp_path, on_bad_response="fail"), chunks_file,
                             tmp_path / "q.jsonl", seed=0)
    client = OpenAIChatClient(_openai_cfg(endpoint, tmp_path / "skip").openai)
    assert client.map(["Title: gzip\nText: one"]) == [None]
    assert client.report()["bad_responses"] == 1


def test_backend_config_errors():
    with pytest.raises(ValueError, match="needs openai.base_url"):
        GenerateQueriesConfig(backend="openai")
    with pytest.raises(ValueError, match="needs seq2seq.model"):
        GenerateQueriesConfig(backend="seq2seq")
    with pytest.raises(ValueError, match="mix.natural needs backend: openai"):
        GenerateQueriesConfig(mix={"natural": 1})


# --- seq2seq -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    """A randomly initialised 1-layer T5 with the BERT-tiny tokenizer, saved like any hub model."""
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    from spladeforge.models.builtin import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:splade-tiny"))
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=16, num_heads=2, num_layers=1,
                      num_decoder_layers=1, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.sep_token_id, decoder_start_token_id=tokenizer.cls_token_id)
    folder = tmp_path_factory.mktemp("t5") / "tiny-doc2query"
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_seq2seq_backend_generates_with_a_saved_model(tiny_t5, chunks_file, tmp_path):
    cfg = GenerateQueriesConfig(
        backend="seq2seq", queries_per_chunk=2,
        seq2seq={"model": str(tiny_t5), "batch_size": 3, "num_return_sequences": 3, "max_new_tokens": 8},
        # A random model writes random words: only the generation path is under test here.
        filters={"round_trip": "none", "min_words": 1})
    summary = generate_queries.run(cfg, chunks_file, tmp_path / "a.jsonl", seed=5)
    queries = read_jsonl(tmp_path / "a.jsonl")
    assert summary["queries"] == len(queries) == 8
    assert all(q["backend"] == "seq2seq" and q["type"] == "natural" and q["text"] for q in queries)
    report = read_json(tmp_path / "a.report.json")
    assert report["generated"]["natural"] == 12  # 4 chunks x 3 sampled sequences
    generate_queries.run(cfg, chunks_file, tmp_path / "b.jsonl", seed=5)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_seq2seq_bad_model_folder(tmp_path, chunks_file):
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "notamodel" / "config.json").write_text('{"model_type": "bert"}')
    cfg = GenerateQueriesConfig(backend="seq2seq", seq2seq={"model": str(tmp_path / "notamodel")})
    with pytest.raises(ConfigError, match="cannot load"):
        generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=0)


def test_filters_reject_everything_is_a_clear_error(chunks_file, tmp_path):
    cfg = GenerateQueriesConfig(filters={"min_words": 30, "max_words": 40})
    with pytest.raises(InputError, match="none passed the filters"):
        generate_queries.run(cfg, chunks_file, tmp_path / "q.jsonl", seed=0)
