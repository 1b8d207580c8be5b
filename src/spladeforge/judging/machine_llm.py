"""An LLM relevance judge over any OpenAI-compatible chat-completions endpoint.

The prompt is UMBRELA's (Upadhyay et al., 2024; see `config.machine_judges`): a 0-3 scale and the
steps intent / match (M) / trustworthiness (T) / final score (O), answered as `##final score: N`.
The answer's score becomes our grade through `grade_map` (UMBRELA 0,1 -> 0, 2 -> 1, 3 -> 2).

Requests go through the generation backend's client (`querygen.openai_chat.OpenAIChatClient`): the
same bounded thread pool, timeouts, retries with backoff, redaction of the key, and the cache keyed
by the SHA-256 of the whole request (model, prompt with query and passage, sampling settings), so a
rerun sends nothing it already has. The parse is strict: `##final score: N` (one value, however
often repeated) or a JSON object `{"score": N}`; anything else stops the run with an error naming the
endpoint and the query, and that answer is not cached.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence

from spladeforge.config.machine_judges import LLMJudgeConfig
from spladeforge.errors import ConfigError
from spladeforge.judging.machine import Pair
from spladeforge.querygen.openai_chat import BadResponse, EndpointError, OpenAIChatClient
from spladeforge.redaction import redact_url

KEY = "judge.machine.llm"
_FINAL = re.compile(r"##\s*final\s+score\s*:\s*\**\s*(-?\d+)", re.IGNORECASE)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_score(content: str, top: int) -> int:
    """The score 0..top in `##final score: N` or `{"score": N}`; BadResponse for anything else."""
    text = _FENCE.sub("", content.strip()).strip()
    if not text:
        raise BadResponse("an empty answer")
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise BadResponse(f"not JSON: {text[:80]!r}") from None
        score = data.get("score") if isinstance(data, dict) else None
        if not isinstance(score, int) or isinstance(score, bool):
            raise BadResponse(f'expected {{"score": N}} with an integer N, got {text[:80]!r}')
        scores = {score}
    else:
        scores = {int(n) for n in _FINAL.findall(text)}
        if not scores:
            raise BadResponse(f"no '##final score: N' in {text[:80]!r}")
        if len(scores) > 1:
            raise BadResponse(f"two different final scores {sorted(scores)} in {text[:80]!r}")
    (score,) = scores
    if not 0 <= score <= top:
        raise BadResponse(f"score {score} outside 0-{top} in {text[:80]!r}")
    return score


def llm_label(cfg: LLMJudgeConfig) -> str:
    return f"llm:{cfg.label or cfg.model}"


class LLMJudge:
    """Grades pairs through the endpoint of `judge.machine.llm`, `max_concurrency` requests at a time."""

    def __init__(self, cfg: LLMJudgeConfig, sleep=time.sleep) -> None:
        if not cfg.base_url or not cfg.model:
            raise ConfigError(f"{KEY}: set base_url and model (an OpenAI-compatible endpoint such as "
                              "http://localhost:8000/v1 and the model it serves)")
        self.cfg = cfg
        self.label = llm_label(cfg)
        self.client = OpenAIChatClient(cfg, sleep=sleep, key=KEY)
        self._top = len(cfg.grade_map) - 1

    def prompt(self, pair: Pair) -> str:
        return self.cfg.prompt.format(query=pair.query, passage=pair.shown)

    def _check(self, content: str) -> int:
        return parse_score(content, self._top)

    def _grade_one(self, pair: Pair) -> int:
        try:
            return self.cfg.grade_map[self._check(self.client.complete(self.prompt(pair), check=self._check))]
        except BadResponse as exc:
            raise EndpointError(
                f"{KEY}: {redact_url(self.client.url)} ({self.cfg.model}) gave {exc} for query {pair.query_id} "
                f"{pair.query[:80]!r} and chunk {pair.chunk_id!r}: the prompt asks for '##final score: N' or "
                f'{{"score": N}} with N in 0-{self._top}; the answer was not cached, so a rerun asks again') from None

    def grade(self, pairs: Sequence[Pair]) -> list[int]:
        return self.client.map(list(pairs), self._grade_one)
