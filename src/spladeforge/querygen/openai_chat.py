"""Queries from any OpenAI-compatible chat-completions endpoint, cached on disk.

One request per (chunk, query type) asks for a JSON list of queries. Requests run in a bounded
thread pool; 429, 5xx, timeouts and dropped connections are retried with exponential backoff
(capped, `Retry-After` honoured); other 4xx, and a 200 that is no chat-completions response (a
login page), stop the run at once. Each answer that parsed as queries is cached under the SHA-256
of (model, messages, sampling settings) -- the chunk text is part of the messages -- so a rerun
sends no request it has already paid for, a run that stopped half-way resumes, and an answer that
did not parse is asked for again rather than replayed.
The API key is read from the environment variable named in params and never logged or cached:
a server or proxy may echo the request's headers, so every answer (fresh or from the cache) and
every error body is redacted (`OpenAIChatClient.redact`) before anything caches, parses, logs or
quotes it.

`openai_queries` plans the requests: per chunk, the query types drawn from `generate_queries.mix`
(seeded by the run seed and the chunk id) become one prompt per type; `sentence`, `title` and
`expansion` queries in the mix stay extractive, as they come from the chunk or the base model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from spladeforge.config import GenerateQueriesConfig, OpenAIConfig
from spladeforge.errors import ConfigError, SpladeforgeError
from spladeforge.querygen.extractive import ExtractiveGenerator
from spladeforge.querygen.filters import QueryFilter
from spladeforge.querygen.records import query_record
from spladeforge.redaction import redact_url
from spladeforge.text import stable_hash

logger = logging.getLogger(__name__)
LLM_TYPES = ("question", "keywords", "natural")
# Taken from the chunk even with an LLM: a sentence (inverse cloze) and the title are the chunk's own text,
# expansion terms the base model's reading of it.
EXTRACTIVE_TYPES = ("sentence", "title", "expansion")


class EndpointError(SpladeforgeError):
    """The endpoint refused, kept failing, or answered something that is not a query list."""


class BadResponse(ValueError):
    """An answer that is not the JSON list of queries the prompt asked for."""


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
# An HTTP bearer credential (RFC 6750 token characters), whatever key it carries.
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)


def parse_queries(content: str) -> list[str]:
    """`{"queries": [...]}` or a bare JSON list of strings (code fences tolerated)."""
    text = _FENCE.sub("", content.strip()).strip()
    if not text:
        raise BadResponse("empty answer")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise BadResponse(f"not JSON: {text[:80]!r}") from None
    if isinstance(data, dict):
        data = data.get("queries")
    if not isinstance(data, list) or not all(isinstance(q, str) for q in data):
        raise BadResponse(f"expected {{\"queries\": [strings]}}, got {text[:80]!r}")
    queries = [" ".join(q.split()) for q in data if q.strip()]
    if not queries:
        raise BadResponse("an empty list of queries")
    return queries


def message_text(payload: Any) -> str:
    """The assistant's text in a chat-completions body (already checked to hold `choices[0].message`).

    `content` is a string, null (an empty answer), or a list of content parts (`{"type": "text",
    "text": ...}` or plain strings) whose text parts are joined; anything else is a BadResponse.
    """
    message = payload["choices"][0]["message"]
    if not isinstance(message, dict):
        raise BadResponse(f"choices[0].message is {type(message).__name__} {str(message)[:60]!r}, not an object")
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part if isinstance(part, str) else part.get("text") for part in content
                 if isinstance(part, str) or (isinstance(part, dict) and part.get("type", "text") == "text")]
        if all(isinstance(text, str) for text in texts):
            return "".join(texts)
    raise BadResponse(f"message.content is {type(content).__name__} {str(content)[:60]!r}, not text or a "
                      "list of text parts")


@dataclass
class Stats:
    requests: int = 0          # HTTP requests sent (retries included)
    cache_hits: int = 0
    retries: int = 0
    bad_responses: int = 0
    bad_examples: list[str] = field(default_factory=list)


class OpenAIChatClient:
    def __init__(self, cfg: OpenAIConfig, sleep=time.sleep, key: str = "generate_queries.openai") -> None:
        # `cfg` is any section with OpenAIConfig's endpoint fields (the LLM judge has its own);
        # `key` is its params key, named in every error.
        self.key = key
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        self.headers = {"Content-Type": "application/json"}
        self._key = ""
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env)
            if not key:
                raise ConfigError(f"{self.key}.api_key_env: environment variable "
                                  f"{cfg.api_key_env} is not set (set it, or set api_key_env: '' for an "
                                  "endpoint without authentication)")
            self._key = key
            self.headers["Authorization"] = f"Bearer {key}"
        self.cache_dir = Path(cfg.cache_dir)
        self.stats = Stats()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._stopped = threading.Event()  # set by the first fatal error: queued work is dropped

    def redact(self, text: str) -> str:
        """`text` with the API key and any bearer token replaced by `***`: applied where server text
        enters (answers and error bodies), so nothing downstream can quote the Authorization header."""
        if self._key:
            text = text.replace(self._key, "***")
        return _BEARER.sub("Bearer ***", text)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def body(self, prompt: str) -> dict[str, Any]:
        return {"model": self.cfg.model, "temperature": self.cfg.temperature,
                "max_tokens": self.cfg.max_tokens,
                "messages": [{"role": "system", "content": self.cfg.system_prompt},
                             {"role": "user", "content": prompt}]}

    def _cache_file(self, body: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.json"

    def complete(self, prompt: str, check: Callable[[str], Any] | None = None) -> str:
        """The answer's text, from the cache or the endpoint (retried on 429/5xx/timeouts).

        `check` (a parser that raises BadResponse) runs on every answer: a fresh answer it refuses
        is not cached, so a rerun asks again instead of replaying it; a cached one it refuses is
        removed and asked for again.
        """
        body = self.body(prompt)
        entry = self._cache_file(body)
        cached = self._cached(entry, check)
        if cached is not None:
            return cached
        if self._stopped.is_set():
            raise EndpointError(f"{self.key}: cancelled after an earlier error")
        try:
            payload = self._post(body)
        except EndpointError:
            self._stopped.set()
            raise
        content = message_text(payload)
        if check is not None:
            check(content)
        self._store(entry, content)
        return content

    def _cached(self, entry: Path, check: Callable[[str], Any] | None) -> str | None:
        """The answer a cache entry holds, or None when there is none to use.

        Only answers that passed `check` are cached; an entry that does not read or pass it (written
        by an earlier version, which cached every answer, or damaged on disk) is removed so that the
        request is sent again instead of failing the same way on every rerun.
        """
        if not entry.is_file():
            return None
        try:
            # Redacted on the way out too: an entry cached before redaction existed may hold the key.
            content = self.redact(json.loads(entry.read_text(encoding="utf-8"))["content"])
            if check is not None:
                check(content)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("%s: removed cache entry %s (%s); asking the endpoint again", self.key, entry,
                           str(exc)[:120])
            entry.unlink(missing_ok=True)
            return None
        self._count("cache_hits")
        return content

    def _store(self, entry: Path, content: str) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"model": self.cfg.model, "content": content}, fh, ensure_ascii=False)
        os.replace(tmp, entry)  # atomic: concurrent workers never read a half-written entry

    def _post(self, body: dict[str, Any]) -> str:
        cfg = self.cfg
        last = ""
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                self._count("retries")
            self._count("requests")
            wait = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** attempt)
            try:
                # Connecting takes at most 10 s (a dead host fails fast); the answer gets timeout_s.
                resp = requests.post(self.url, json=body, headers=self.headers,
                                     timeout=(min(10.0, cfg.timeout_s), cfg.timeout_s))
            except requests.Timeout:
                last = f"no answer within timeout_s={cfg.timeout_s}"
            except requests.ConnectionError as exc:
                last = f"connection failed ({type(exc).__name__})"
            else:
                if resp.status_code == 200:
                    return self._payload(resp)
                # Redacted before truncating: a cut must not leave the start of the key behind.
                last = f"HTTP {resp.status_code}: {self.redact(resp.text)[:200]}"
                if resp.status_code != 429 and resp.status_code < 500:
                    raise EndpointError(f"{self.key}: {redact_url(self.url)} answered {last}")
                retry_after = resp.headers.get("Retry-After", "")
                if retry_after.replace(".", "", 1).isdigit():
                    wait = min(cfg.backoff_max_s, float(retry_after))
            if attempt < cfg.max_retries:
                logger.warning("%s: %s: %s; retry %d/%d in %g s", self.key, redact_url(self.url), last,
                               attempt + 1, cfg.max_retries, wait)
                self._sleep(wait)
        raise EndpointError(f"{self.key}: {redact_url(self.url)} failed after "
                            f"{cfg.max_retries + 1} attempts (last: {last}); the answers received so far are cached "
                            f"in {self.cache_dir}, so a rerun resumes (delete that folder to ask for all of them "
                            "again)")

    def _payload(self, resp: requests.Response) -> Any:
        """A 200's JSON body; a body that is not a chat-completions response is the endpoint's fault.

        A login page or a proxy's notice answered with HTTP 200 is no answer of the model's: it
        stops the run whatever on_bad_response says, and nothing of it is cached.
        """
        text = self.redact(resp.text)
        try:
            payload = json.loads(text)
            payload["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            kind = resp.headers.get("Content-Type", "no Content-Type").split(";")[0]
            raise EndpointError(f"{self.key}: {redact_url(self.url)} answered HTTP 200 with something "
                                f"that is not a chat-completions response ({kind}: {text[:80]!r}); check "
                                f"{self.key}.base_url (a login page or a proxy answers like this). "
                                "Nothing of it was cached") from None
        return payload

    def queries(self, prompt: str) -> list[str] | None:
        """Parsed queries (from the cache or the endpoint), or None for a bad answer under `skip`.

        An answer is cached only once it parsed: a bad one is asked again on the next run.
        """
        try:
            return parse_queries(self.complete(prompt, check=parse_queries))
        except BadResponse as exc:
            if self.cfg.on_bad_response == "fail":
                raise EndpointError(f"generate_queries.openai: {self.cfg.model} gave {exc}; it was not cached, so "
                                    "a rerun asks again (set on_bad_response: skip to skip and count such "
                                    "answers)") from None
            self._count("bad_responses")
            with self._lock:
                if len(self.stats.bad_examples) < 5:
                    self.stats.bad_examples.append(str(exc))
            return None

    def map(self, items: list[Any], answer: Callable[[Any], Any] | None = None) -> list[Any]:
        """`answer` (default `queries`) for every item, in order, at most max_concurrency at a time."""
        answer = answer or self.queries
        with ThreadPoolExecutor(max_workers=self.cfg.max_concurrency) as pool:
            futures = [pool.submit(answer, item) for item in items]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:  # one fatal error (401, retries exhausted): send nothing more
                    f.cancel()
                raise

    def report(self) -> dict[str, Any]:
        s = self.stats
        return {"endpoint": redact_url(self.url), "model": self.cfg.model, "requests": s.requests,
                "cache_hits": s.cache_hits, "retries": s.retries, "bad_responses": s.bad_responses,
                "bad_examples": s.bad_examples, "cache_dir": str(self.cache_dir)}


def openai_queries(cfg: GenerateQueriesConfig, chunks: list[dict[str, Any]], seed: int, qfilter: QueryFilter,
                   extractive: ExtractiveGenerator) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The queries that pass the filters, in chunk order, and the client's report (requests, cache hits)."""
    client = OpenAIChatClient(cfg.openai)
    types = [t for t, w in cfg.mix.items() if w > 0]
    weights = [cfg.mix[t] for t in types]
    plans, prompts = [], []
    for chunk in chunks:
        rng = random.Random(stable_hash(seed, chunk["id"]))
        wanted = Counter(rng.choices(types, weights, k=cfg.queries_per_chunk))
        for qtype in (t for t in LLM_TYPES if wanted[t]):
            # One more than needed: the filters may reject one.
            prompts.append(cfg.openai.prompts[qtype].format(n=wanted[qtype] + 1, title=chunk.get("title", ""),
                                                            text=chunk["text"]))
            plans.append((chunk, qtype, wanted[qtype]))
        for qtype in (t for t in EXTRACTIVE_TYPES if wanted[t]):
            plans.append((chunk, qtype, wanted[qtype]))
            prompts.append(None)
    llm_prompts = [p for p in prompts if p is not None]
    answers = iter(client.map(llm_prompts))
    queries, per_chunk = [], Counter()
    for (chunk, qtype, count), prompt in zip(plans, prompts, strict=True):
        if prompt is None:
            rng = random.Random(stable_hash(seed, qtype, chunk["id"]))
            texts = [getattr(extractive, qtype)(chunk, rng) for _ in range(count * 3)]
            backend = "extractive"
        else:
            texts = next(answers) or []
            backend = "openai"
        kept = 0
        for text in texts:
            if kept < count and qfilter.accept(text, qtype, chunk):
                positive = extractive.positive(chunk, text, qtype) if prompt is None else None
                queries.append(query_record(chunk, per_chunk[chunk["id"]], text, qtype, backend, positive))
                per_chunk[chunk["id"]] += 1
                kept += 1
    return queries, client.report()
