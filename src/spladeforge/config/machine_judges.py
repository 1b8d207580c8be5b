"""The `judge.machine` section: an LLM judge and a cross-encoder judge (`spladeforge judge-machine`).

Both grade the pooled chunks of the judged queries 0 / 1 / 2 and write them to the judgments
folder under their own judge label, beside (never into) the human grades.
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import Field, model_validator

from spladeforge.config.base import Section
from spladeforge.config.querygen import ChatEndpointConfig

# UMBRELA's zero-shot relevance prompt (Upadhyay et al., 2024, "UMBRELA: UMbrela is the (Open-Source
# Reproduction of the) Bing RELevance Assessor"), itself the TREC RAG reproduction of the Bing prompt of
# Thomas et al. (2024, "Large language models can accurately predict searcher preferences"): a 0-3 scale,
# then the steps "intent, how well the content matches it (M), how trustworthy the passage is (T),
# final score (O)", answered as "##final score: N".
UMBRELA_SYSTEM = "You are a search quality rater evaluating the relevance of passages."
UMBRELA_PROMPT = (
    "Given a query and a passage, you must provide a score on an integer scale of 0 to 3 with the following "
    "meanings:\n"
    "0 = represent that the passage has nothing to do with the query,\n"
    "1 = represents that the passage seems related to the query but does not answer it,\n"
    "2 = represents that the passage has some answer for the query, but the answer may be a bit unclear, or "
    "hidden amongst extraneous information and\n"
    "3 = represents that the passage is dedicated to the query and contains the exact answer.\n\n"
    "Important Instruction: Assign category 1 if the passage is somewhat related to the topic but not "
    "completely, category 2 if passage presents something very important related to the entire topic but "
    "also has some extra information and category 3 if the passage only and entirely refers to the topic. "
    "If none of the above satisfies give it category 0.\n\n"
    "Query: {query}\n"
    "Passage: {passage}\n\n"
    "Split this problem into steps:\n"
    "Consider the underlying intent of the search.\n"
    "Measure how well the content matches a likely intent of the query (M).\n"
    "Measure how trustworthy the passage is (T).\n"
    "Consider the aspects above and the relative importance of each, and decide on a final score (O). "
    "Final score must be an integer value only.\n"
    "Do not provide any code in result. Provide each score in the format of: ##final score: score without "
    "providing any reasoning."
)
# UMBRELA's 0-3 answer -> our grade (0 not, 1 partly, 2 relevant). UMBRELA 1 ("related but does not
# answer it") becomes 0: TREC DL and TREC RAG count grade 1 as not relevant for binary measures, and a
# passage that does not answer the query is not what a person grading "partly relevant" here means.
# 2 ("has some answer ... unclear or hidden") is our partly relevant, 3 our relevant.
UMBRELA_GRADES = [0, 0, 1, 2]
PROMPT_FIELDS = ("query", "passage")


class LLMJudgeConfig(ChatEndpointConfig):
    """`judge.machine.llm`: any OpenAI-compatible chat-completions endpoint, the same client (retries,
    timeouts, bounded concurrency, answers cached by content hash) as `generate_queries.openai`."""

    system_prompt: str = UMBRELA_SYSTEM
    # Placeholders {query} and {passage} (the chunk's title, then its text).
    prompt: str = UMBRELA_PROMPT
    # The answer's score s (0 .. len-1) becomes grade grade_map[s]; [0, 1, 2] for a prompt on our scale.
    grade_map: list[int] = Field(default_factory=lambda: list(UMBRELA_GRADES), min_length=2, max_length=11)
    # Greedy: a judge should give the same grade to the same pair (UMBRELA samples at temperature 0).
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    # The prompt asks for the score without reasoning; room for the M/T/O lines some models add.
    max_tokens: int = Field(128, ge=1)
    # The judge label is "llm:<label>"; default the model name.
    label: str | None = None

    @model_validator(mode="after")
    def _prompt_and_grades(self) -> LLMJudgeConfig:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.prompt) if f is not None}
            self.prompt.format(query="", passage="")
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"prompt: not a valid template ({str(exc)[:80]}): the placeholders are {{query}} "
                             "and {passage}; a literal brace must be doubled, as in "
                             '{{"score": N}}') from None
        if not {"query", "passage"} <= fields or not fields <= set(PROMPT_FIELDS):
            raise ValueError("prompt must contain {query} and {passage} and no other placeholder, got "
                             + (", ".join(f"{{{f}}}" for f in sorted(fields)) or "no placeholder"))
        if any(g not in (0, 1, 2) for g in self.grade_map):
            raise ValueError(f"grade_map: every entry is a grade 0, 1 or 2, got {self.grade_map}")
        return self


class CrossEncoderJudgeConfig(Section):
    """`judge.machine.cross_encoder`: a sentence-transformers CrossEncoder with one output (a relevance
    logit), e.g. cross-encoder/ms-marco-MiniLM-L-6-v2 (needs HF_HUB_OFFLINE=0 once) or a local folder."""

    model: str | None = None
    # Grade = 0 below thresholds[0], 1 from thresholds[0], 2 from thresholds[1], on `scale`.
    # sigmoid: MS MARCO cross-encoders are trained with binary cross-entropy, so sigmoid(logit) reads as
    # P(relevant): 0.5 is the point where the model calls relevant as likely as not (partly relevant
    # from there), and 0.9 asks for odds of 9 to 1 before "relevant". Not calibrated to any team's
    # grades: compare with a few human grades (evaluate reports the agreement) and move them.
    scale: Literal["sigmoid", "logit"] = "sigmoid"
    thresholds: tuple[float, float] = (0.5, 0.9)
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(512, ge=16)
    device: Literal["auto", "cpu", "cuda", "mps"] = "cpu"
    # The judge label is "cross-encoder:<label>"; default the hub id, or a local folder's name.
    label: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CrossEncoderJudgeConfig:
        low, high = self.thresholds
        if low > high:
            raise ValueError(f"thresholds: [t1, t2] with t1 <= t2 (grade 1 from t1, grade 2 from t2), "
                             f"got {[low, high]}")
        if self.scale == "sigmoid" and not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
            raise ValueError(f"thresholds on the sigmoid scale lie in [0, 1], got {[low, high]} "
                             "(set scale: logit for thresholds on the raw score)")
        return self


class MachineJudgeConfig(Section):
    """Read by `spladeforge judge-machine`."""

    llm: LLMJudgeConfig = Field(default_factory=LLMJudgeConfig)
    cross_encoder: CrossEncoderJudgeConfig = Field(default_factory=CrossEncoderJudgeConfig)
