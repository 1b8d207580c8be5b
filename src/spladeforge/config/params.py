"""`Params`: the whole run configuration, one field per section of `params.yaml`."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from spladeforge.config.base import Section
from spladeforge.config.data import ChunkConfig, DataConfig, MineConfig, SplitConfig
from spladeforge.config.judging import JudgeConfig
from spladeforge.config.kubeflow import KubeflowConfig
from spladeforge.config.querygen import GenerateQueriesConfig
from spladeforge.config.release import (
    AUTO_METRIC,
    JUDGED_LABEL,
    EvaluateConfig,
    PublishConfig,
    QuantizeConfig,
    RegisterConfig,
    folder_label,
    metric_prefix,
)
from spladeforge.config.training import TrainConfig

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "cpu-tiny"
# English text runs about 4 characters per WordPiece/BPE token (BERT's and most SPLADE bases'
# tokenizers); other languages and code run fewer, so the estimate is a floor on the tokens.
CHARS_PER_TOKEN = 4
# "Clearly exceeds": a chunk estimated more than 10% over train.max_seq_length, so a title or
# an estimate slightly off does not trip it.
SEQUENCE_SLACK = 1.1
# Not run parameters: `preset` is already merged into the sections when Params exists,
# `kubeflow` says where tasks run and `judge` configures the judging page, neither changes a result.
NOT_RUN_PARAMETERS = frozenset({"preset", "kubeflow", "judge"})

with warnings.catch_warnings():
    # `register` is a stage name; pydantic warns that it shadows ABCMeta.register on the class.
    warnings.simplefilter("ignore", UserWarning)

    class Params(Section):
        preset: str = DEFAULT_PRESET
        # numpy's legacy seeding (and so every library seeded through it) takes 0..2**32 - 1.
        seed: int = Field(42, ge=0, lt=2**32)
        data: DataConfig = Field(default_factory=DataConfig)
        chunk: ChunkConfig = Field(default_factory=ChunkConfig)
        generate_queries: GenerateQueriesConfig = Field(default_factory=GenerateQueriesConfig)
        split: SplitConfig = Field(default_factory=SplitConfig)
        mine: MineConfig = Field(default_factory=MineConfig)
        train: TrainConfig = Field(default_factory=TrainConfig)
        evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
        quantize: QuantizeConfig = Field(default_factory=QuantizeConfig)
        register: RegisterConfig = Field(default_factory=RegisterConfig)
        publish: PublishConfig = Field(default_factory=PublishConfig)
        kubeflow: KubeflowConfig = Field(default_factory=KubeflowConfig)
        judge: JudgeConfig = Field(default_factory=JudgeConfig)
        # The files these values were read from (config.loading.ParamsSource), None when given as values.
        _source: Any = PrivateAttr(default=None)

        @model_validator(mode="after")
        def _gate_sets_are_evaluated(self) -> Params:
            """register compares figures evaluate wrote: a folder it names must be one evaluate scores
            (`judged` is evaluate.judgments, which no folder of evaluate.beir_datasets may shadow)."""
            labels = {folder_label(folder) for folder in self.evaluate.beir_datasets}
            if JUDGED_LABEL in labels:
                raise ValueError(f"evaluate.beir_datasets: a folder named {JUDGED_LABEL!r} would share the metric "
                                 "prefix of evaluate.judgments; rename the folder")
            collapse = self.register.collapse_guard
            for where, metric in [("register.metric", self.register.metric),
                                  *((f"register.guards[{i}].metric", g.metric)
                                    for i, g in enumerate(self.register.guards)),
                                  *((("register.collapse_guard.metric", collapse.metric),) if collapse else ())]:
                if metric == AUTO_METRIC:
                    continue
                prefix = metric_prefix(metric).removesuffix("_")
                if prefix and prefix not in labels | {JUDGED_LABEL}:
                    accepted = ", ".join(f"{label}_model_ndcg_at_10" for label in sorted(labels))
                    raise ValueError(f"{where}: {metric} names no folder of evaluate.beir_datasets (accepted: "
                                     f"auto, model_ndcg_at_10, judged_model_ndcg_at_10"
                                     f"{', ' + accepted if accepted else ''})")
            return self

        @model_validator(mode="after")
        def _chunk_fits_the_sequence(self) -> Params:
            problem = chunk_overflow(self)
            if problem:
                logger.warning("%s", problem)
            return self


def chunk_overflow(params: Params) -> str | None:
    """Why a chunk is clearly longer than the model reads (`train.max_seq_length`), or None.

    A warning, not an error: a short sequence is a legitimate speed trade on a smoke run, but the
    truncated half of a positive is invisible while its query may come from it (measured: a
    1,000-character chunk, ~250 tokens, read at 128). Every preset keeps chunks within its length.
    """
    tokens = params.chunk.size / CHARS_PER_TOKEN
    if tokens <= params.train.max_seq_length * SEQUENCE_SLACK:
        return None
    fits = int(params.train.max_seq_length * CHARS_PER_TOKEN)
    return (f"chunk.size {params.chunk.size} characters is ~{tokens:.0f} tokens (~{CHARS_PER_TOKEN} characters a "
            f"token in English) but train.max_seq_length is {params.train.max_seq_length}: training and "
            f"evaluation see only the start of each chunk. Set chunk.size <= {fits} (min 500) or "
            f"train.max_seq_length >= {-(-params.chunk.size // CHARS_PER_TOKEN)}")


# `seed` and the stage sections, in params.yaml order: what a run is parameterised by.
RUN_PARAMETERS: tuple[str, ...] = tuple(name for name in Params.model_fields if name not in NOT_RUN_PARAMETERS)


def run_config(params: Params, *, drop_nulls: bool = False) -> dict[str, Any]:
    """The run parameters as plain JSON values (what MLflow logs, the model card and Kubeflow take).

    `drop_nulls`: KFP parameters cannot carry None; an omitted key validates to the same default.
    """
    return params.model_dump(mode="json", exclude=set(NOT_RUN_PARAMETERS), exclude_none=drop_nulls)
