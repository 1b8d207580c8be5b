"""The `generate_queries` section and its backends' and filters' subsections."""

from __future__ import annotations

import string
from typing import Literal

from pydantic import Field, model_validator

from spladeforge.config.base import Section
from spladeforge.config.prompts import DEFAULT_PROMPTS


class Seq2SeqConfig(Section):
    """`generate_queries.backend: seq2seq`: any transformers text-to-text model (doc2query)."""

    # A hub id such as doc2query/msmarco-t5-base-v1 (needs HF_HUB_OFFLINE=0) or a local folder.
    model: str | None = None
    prefix: str = ""               # e.g. "text2query: " for the doc2query-all models
    batch_size: int = Field(8, ge=1)
    max_input_tokens: int = Field(384, ge=16)
    max_new_tokens: int = Field(32, ge=1, le=512)
    num_return_sequences: int = Field(3, ge=1, le=50)
    do_sample: bool = True
    # doc2query (Nogueira & Lin, 2019) samples with top-k 10; top-p 0.95 as in docT5query.
    top_k: int = Field(10, ge=0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    temperature: float = Field(1.0, gt=0.0)
    device: Literal["auto", "cpu", "cuda", "mps"] = "cpu"


class ChatEndpointConfig(Section):
    """What `querygen.openai_chat.OpenAIChatClient` needs of an OpenAI-compatible endpoint, shared by
    the query generator and the LLM judge: where it is, the key's variable, the request budget and
    the answer cache (entries are keyed by the hash of the whole request, so both can share it)."""

    base_url: str | None = None    # e.g. https://api.openai.com/v1 or http://localhost:8000/v1
    model: str | None = None
    # NAME of the environment variable holding the key; the key itself never goes in params.
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = Field(4, ge=1, le=64)
    timeout_s: float = Field(60.0, gt=0.0)
    max_retries: int = Field(5, ge=0, le=20)
    backoff_initial_s: float = Field(1.0, ge=0.0)
    backoff_max_s: float = Field(30.0, ge=0.0)
    # Answers cached by hash of (model, prompt, text): a rerun neither repeats nor re-bills.
    cache_dir: str = "data/.llm-cache"


class OpenAIConfig(ChatEndpointConfig):
    """`generate_queries.backend: openai`: any OpenAI-compatible chat-completions endpoint."""

    system_prompt: str = "You write search queries for passages of documentation."
    # Per query type; placeholders {n}, {title}, {text}. Types: question, keywords, natural.
    prompts: dict[Literal["question", "keywords", "natural"], str] = Field(
        default_factory=lambda: dict(DEFAULT_PROMPTS))
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=1)
    # `skip`: a non-JSON or empty answer is counted in the report and skipped; `fail` stops.
    on_bad_response: Literal["fail", "skip"] = "skip"

    @model_validator(mode="after")
    def _prompts_have_text(self) -> OpenAIConfig:
        for qtype, template in self.prompts.items():
            check_prompt(f"prompts.{qtype}", template)
        return self


PROMPT_FIELDS = ("n", "title", "text")


def check_prompt(key: str, template: str) -> None:
    """A prompt must format with exactly {n}, {title}, {text} (str.format), and name {text}.

    Checked here rather than when the first request is built, where a literal brace raised
    KeyError deep inside the run.
    """
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
        template.format(n=1, title="", text="")
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        fields = None
        problem = str(exc)
    if fields is not None and all(f in PROMPT_FIELDS for f in fields) and "text" in fields:
        return
    if fields is not None and "text" not in fields and all(f in PROMPT_FIELDS for f in fields):
        raise ValueError(f"{key} must contain the placeholder {{text}} (the chunk)")
    unknown = [f for f in fields or [] if f not in PROMPT_FIELDS]
    found = f"{{{unknown[0][:40]}}}" if unknown else problem[:80]
    raise ValueError(f"{key}: not a valid template ({found}): the placeholders are {{n}}, {{title}} and "
                     "{text}, and a literal brace must be doubled, as str.format requires: write "
                     '{{"queries": [...]}} for {"queries": [...]}')


class QueryFilterConfig(Section):
    """Filters applied to the queries of every backend; counts go to queries.report.json."""

    min_chars: int = Field(5, ge=1)
    max_chars: int = Field(300, ge=1)
    min_words: int = Field(2, ge=1)
    max_words: int = Field(40, ge=1)
    # `global`: a query text kept once for the whole corpus (the same query with two positives
    # contradicts itself); `chunk`: once per chunk.
    dedupe: Literal["none", "chunk", "global"] = "global"
    # Reject queries copied verbatim from their chunk (at least this many words), except the
    # ICT `sentence` type, which is a chunk sentence by design (Lee et al., 2019).
    reject_copied: bool = True
    copied_min_words: int = Field(4, ge=1)
    # Round-trip consistency (Alberti et al., 2019; Promptagator): keep a query only if its own
    # chunk ranks in the top-k for it. `splade` uses round_trip_model.
    round_trip: Literal["none", "bm25", "splade"] = "bm25"
    round_trip_k: int = Field(10, ge=1)
    round_trip_model: str = "builtin:splade-tiny"

    @model_validator(mode="after")
    def _bounds(self) -> QueryFilterConfig:
        if self.min_chars > self.max_chars or self.min_words > self.max_words:
            raise ValueError("min_chars/min_words must be <= max_chars/max_words")
        return self


class GenerateQueriesConfig(Section):
    """Read by `generate-queries`."""

    backend: Literal["extractive", "seq2seq", "openai"] = "extractive"
    queries_per_chunk: int = Field(1, ge=1, le=10)
    # Relative weights of the query types; they need not sum to one. `natural` needs the
    # openai backend; `sentence` (an ICT sentence of the chunk), `title` (the document's title,
    # when it has 3+ words, against the body without it) and `expansion` (terms expansion_model
    # adds to the chunk that its text lacks) are always extractive.
    mix: dict[Literal["keywords", "question", "sentence", "title", "expansion", "natural"], float] = Field(
        default_factory=lambda: {"keywords": 0.4, "question": 0.3, "sentence": 0.3}
    )
    # Share of `sentence` queries whose sentence is removed from the positive passage: Lee et al.
    # (2019) remove it 90% of the time, so the model learns the context around a sentence and
    # still sees some exact matches (0 keeps every sentence, a pure string-match task).
    ict_remove_sentence: float = Field(0.9, ge=0.0, le=1.0)
    # The SPLADE model whose document expansion makes `expansion` queries (encodes every chunk
    # once; loaded only when mix.expansion > 0).
    expansion_model: str = "builtin:splade-tiny"
    min_keywords: int = Field(2, ge=1)
    max_keywords: int = Field(4, ge=1)
    seq2seq: Seq2SeqConfig = Field(default_factory=Seq2SeqConfig)
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)
    filters: QueryFilterConfig = Field(default_factory=QueryFilterConfig)

    @model_validator(mode="after")
    def _mix_positive(self) -> GenerateQueriesConfig:
        if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("mix weights must be >= 0 with at least one > 0")
        if self.min_keywords > self.max_keywords:
            raise ValueError("min_keywords must be <= max_keywords")
        if self.backend == "extractive" and self.mix.get("natural", 0) > 0:
            raise ValueError("mix.natural needs backend: openai (accepted for extractive: "
                             "keywords, question, sentence, title, expansion)")
        if self.backend == "seq2seq" and not self.seq2seq.model:
            raise ValueError("backend seq2seq needs seq2seq.model (a hub id or a local folder)")
        if self.backend == "openai" and not (self.openai.base_url and self.openai.model):
            raise ValueError("backend openai needs openai.base_url and openai.model")
        return self


