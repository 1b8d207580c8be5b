"""The `judge` section: read by `spladeforge judge`, the relevance-judging page."""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from spladeforge.config.base import Section
from spladeforge.config.machine_judges import MachineJudgeConfig

SYSTEMS = ("bm25", "dense", "base", "model", "champion")


def _user() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "judge"


class JudgeConfig(Section):
    """Read by `spladeforge judge` (and `judge-machine`). The folder they write is their --judgments
    option, default `judgments/`, the folder the gate reads."""

    # Real queries to judge: a .txt file (one query per line) or a JSONL query log with a "query"
    # or "text" field. null: only the queries already in the folder and those typed into the page.
    queries: str | None = None
    # Pool depth: the union of each system's top k. 10 matches the gate's NDCG@10, so every chunk
    # the gate scores for a pooled system is judged.
    k: int = Field(10, ge=1, le=100)
    # The pooled systems (names of `spladeforge search`, or model folders). One that cannot be
    # opened (no champion yet) is skipped with a log line.
    systems: list[str] = Field(default_factory=lambda: list(SYSTEMS), min_length=1)
    # 127.0.0.1: the page writes the team's data and has no login, so it is local unless asked.
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    # Recorded with each grade as "human:<user>"; default the login name.
    user: str = Field(default_factory=_user, min_length=1)
    # `spladeforge judge-machine`: an LLM judge and a cross-encoder judge over the same pools.
    machine: MachineJudgeConfig = Field(default_factory=MachineJudgeConfig)

    @field_validator("systems")
    @classmethod
    def _distinct(cls, systems: list[str]) -> list[str]:
        if len(set(systems)) != len(systems):
            raise ValueError(f"systems {systems} names a system twice")
        return systems
