"""Sections for the data stages: `data` (ingest), `chunk`, `split`, `mine`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from spladeforge.config.base import Section
from spladeforge.language import ACCEPTED as ACCEPTED_LANGUAGES


class DataConfig(Section):
    """Read by `ingest`."""

    # `python-stdlib-docs`, a folder of .txt/.md/.jsonl files, or a BEIR corpus.jsonl.
    source: str = "python-stdlib-docs"
    max_documents: int | None = Field(None, ge=1)
    # Texts shorter than this carry too little to make a query from (a heading, a stub). 50, not
    # 200: short abstracts and entity descriptions are real documents (200 dropped 970 of 5,000
    # entity abstracts of a judged collection); ingest's summary counts every drop by reason.
    min_chars: int = Field(50, ge=1)
    # A single document longer than this is almost always a dump, not a document.
    max_document_chars: int = Field(2_000_000, ge=1000)
    on_error: Literal["fail", "skip"] = "fail"
    lowercase: bool = False
    id_field: str = "_id"
    title_field: str = "title"
    text_field: str = "text"
    # Documents whose word-shingle Jaccard similarity (MinHash estimate) with an earlier one is
    # at least this are dropped as near-duplicates (mirrors, versions, boilerplate pages);
    # null turns the check off. 0.9 keeps revisions that change a paragraph or more.
    near_duplicate_threshold: float | None = Field(0.9, gt=0.0, le=1.0)
    shingle_words: int = Field(5, ge=1, le=20)
    # Read `source` from a DVC-versioned data repository (git URL or path) at `dvc_rev`
    # (null: its default branch). Credentials come from the environment, never from here.
    dvc_repo: str | None = None
    dvc_rev: str | None = None
    dvc_remote_config: dict[str, str] = Field(default_factory=dict)  # e.g. {endpointurl: ...}
    # Connect and read timeouts of an S3 or HTTP DVC remote (unless dvc_remote_config sets
    # connect_timeout/read_timeout): a silent remote fails within this instead of botocore's 60 s
    # per read with retries.
    dvc_timeout_s: int = Field(60, ge=1, le=3600)
    # The corpus language, an ISO 639-1 code, or `auto`: detected from a sample of the documents
    # (Unicode script proportions, and stopword hit rates for Latin script) and recorded in
    # documents.meta.json. Word tokenization, sentences, stopwords, the stemmer and BM25 of every
    # later stage follow it (`spladeforge.language`).
    language: str = "auto"

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ACCEPTED_LANGUAGES:
            raise ValueError(f"unknown language {value!r}; accepted: {', '.join(ACCEPTED_LANGUAGES)}")
        return value


class ChunkConfig(Section):
    """Read by `chunk`. 500-2000 characters with 10-20% overlap: smaller chunks lose context, larger
    ones dilute the relevance signal, and the overlap keeps text cut at a boundary whole on one side."""

    size: int = Field(1000, ge=500, le=2000)
    overlap: int = Field(150, ge=0)
    # A tail shorter than this is merged into the previous chunk instead of standing alone.
    min_chars: int = Field(100, ge=1)
    # `window`: character windows with overlap. `semantic`: cut where the dense model's cosine
    # similarity between adjacent sentences drops (topic segmentation), never
    # above `size` characters and, except a document's last chunk, never below `min_chars`.
    mode: Literal["window", "semantic"] = "window"
    semantic_model: str = "builtin:minilm-l6"
    # Cut at similarities below this percentile of the document's adjacent-sentence
    # similarities, or below `semantic_threshold` when that is set.
    semantic_percentile: float = Field(10.0, gt=0.0, lt=100.0)
    semantic_threshold: float | None = Field(None, ge=-1.0, le=1.0)
    # Sentences averaged on each side of a gap: single sentences are noisy neighbours.
    semantic_window: int = Field(2, ge=1, le=10)
    semantic_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _overlap_in_range(self) -> ChunkConfig:
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        low, high = round(0.1 * self.size), round(0.2 * self.size)
        if not low <= self.overlap <= high:
            raise ValueError(
                f"overlap {self.overlap} is outside 10-20% of size {self.size}: "
                f"accepted {low}..{high}"
            )
        return self



class SplitConfig(Section):
    """Read by `split`: train / dev / test by source document, so that no content is on two sides.

    Dev picks the checkpoint and stops training early; test decides the promotion gate and is
    never seen by training. Picking a checkpoint on a set is a maximum over checkpoints on that
    set: the set that then compares the model with its reference must be another one.
    """

    # Shares of source documents on the dev and test sides. 0.1 each leaves 80% of the documents
    # to train on and, on the default run's 300 documents, about 30 per held-out side.
    dev_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    # Dev is searched at every train.eval_steps and test by every system evaluate compares: each
    # costs a pass over the queries (the corpus is encoded once per evaluation either way).
    max_dev_queries: int | None = Field(None, ge=1)
    max_test_queries: int | None = Field(None, ge=1)
    # A held-out (dev or test) chunk whose word-shingle Jaccard with a training chunk is at least
    # this leaks its content into training; null turns the check off.
    near_duplicate_threshold: float | None = Field(0.8, gt=0.0, le=1.0)
    # `move_document`: its whole document goes to train; `drop_query`: its queries are dropped.
    near_duplicate_action: Literal["move_document", "drop_query"] = "move_document"
    shingle_words: int = Field(5, ge=1, le=20)
    # Queries flagged by generate-queries' round-trip filter never train. `keep` also holds them out
    # on dev and test: dropping them there leaves only queries the round-trip retriever answers,
    # which inflates that retriever's column of the report (BM25 0.934 vs 0.783 on the default run).
    held_out_round_trip: Literal["keep", "drop"] = "keep"

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            old = [key for key in RENAMED_SPLIT_KEYS if key in data]
            if old:
                raise ValueError("; ".join(f"{key} was replaced by {RENAMED_SPLIT_KEYS[key]}" for key in old)
                                 + " (the held-out side is now two: dev picks the checkpoint, test decides "
                                   "the gate)")
        return data

    @model_validator(mode="after")
    def _room_to_train(self) -> SplitConfig:
        if self.dev_fraction + self.test_fraction > 0.5:
            raise ValueError(f"dev_fraction + test_fraction is {self.dev_fraction + self.test_fraction:g}: "
                             "at most 0.5, so that most documents are left to train on")
        return self


# Keys of the two-way split and what replaced them.
RENAMED_SPLIT_KEYS = {
    "validation_fraction": "split.dev_fraction and split.test_fraction",
    "max_validation_queries": "split.max_dev_queries and split.max_test_queries",
    "validation_round_trip": "split.held_out_round_trip",
}


class MineConfig(Section):
    """Read by `mine`."""

    method: Literal["bm25", "dense"] = "bm25"
    num_negatives: int = Field(1, ge=1, le=64)
    # Ranks [start, end) to draw negatives from: the very top is often a false negative.
    rank_window: tuple[int, int] = (3, 30)
    # `dense`: the bi-encoder for mining (any sentence-transformers model) and its batch size.
    dense_model: str = "builtin:minilm-l6"
    batch_size: int = Field(32, ge=1)
    # Dense only: drop candidates scoring above (1 - relative_margin) * the positive's score,
    # likely unlabelled positives (NV-Retriever, Moreira et al., 2024: 0.05). null: no guard.
    relative_margin: float | None = Field(0.05, ge=0.0, lt=1.0)
    # Teacher scores per (query, doc) stored as `scores: [pos, neg_1, ...]` for distillation:
    # `none`, `dense` (dense_model's cosine), `ensemble` (below) or `cross-encoder <model ref>`.
    teacher: str = "none"
    # `teacher: ensemble` (GPL-style pseudo-labels offline, `mining.ensemble`): the mean of the
    # members' scores, each normalized over the query's candidate list (the positive plus the
    # union of the rankers' top rank_window end). `base` is the sparse model training starts
    # from: a member by default, so that the teacher is not a weaker ranker than the student it
    # pulls (BM25 and MiniLM both rank MS MARCO passages below the base). BM25 is optional.
    # `mine --dev` scores each member and the ensemble on the dev split beside the base.
    ensemble: list[Literal["bm25", "dense", "base"]] = Field(default_factory=lambda: ["base", "dense"],
                                                             min_length=1)
    # z-score keeps each member's spread (a clear winner stays one); min-max squeezes it into [0, 1].
    ensemble_norm: Literal["zscore", "minmax"] = "zscore"
    # Set to train.base_model when the ensemble holds `base` (mine reads only its own section).
    base_model: str = "builtin:splade-tiny"
    # Ensemble only: candidates the teacher scores at or above the positive are likely unlabelled
    # positives of a small domain corpus; they are dropped before negatives are drawn (counted).
    drop_false_negatives: bool = True

    @model_validator(mode="after")
    def _window(self) -> MineConfig:
        start, end = self.rank_window
        if not 0 <= start < end:
            raise ValueError(f"rank_window must be [start, end) with 0 <= start < end, got {list(self.rank_window)}")
        if end - start < self.num_negatives:
            raise ValueError("rank_window must hold at least num_negatives ranks")
        kind, _, ref = self.teacher.partition(" ")
        if not (self.teacher in ("none", "dense", "ensemble") or (kind == "cross-encoder" and ref.strip())):
            raise ValueError(f"teacher {self.teacher!r}: accepted none, dense, or "
                             "'cross-encoder <model ref>', and ensemble (mine.ensemble's members)")
        if len(set(self.ensemble)) != len(self.ensemble):
            raise ValueError(f"ensemble {self.ensemble}: each member once (accepted: bm25, dense, base)")
        return self


