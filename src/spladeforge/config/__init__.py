"""The run configuration, validated once at the edge.

- `params`: `Params`, one field per section of `params.yaml`, and `run_config`;
- `data`, `querygen`, `training`, `release`: the stage sections;
- `kubeflow`: where Kubeflow tasks run (compile time only);
- `loading`: `load_params` (params.yaml over a preset, `--set` overrides) and error formatting.
"""

from __future__ import annotations

from spladeforge.config.base import Section
from spladeforge.config.data import ChunkConfig, DataConfig, MineConfig, SplitConfig
from spladeforge.config.kubeflow import KubeflowConfig
from spladeforge.config.loading import deep_merge, format_errors, load_params, parse_override
from spladeforge.config.params import DEFAULT_PRESET, RUN_PARAMETERS, Params, run_config
from spladeforge.config.querygen import GenerateQueriesConfig, OpenAIConfig, QueryFilterConfig, Seq2SeqConfig
from spladeforge.config.release import (
    EvaluateConfig,
    HubConfig,
    PublishConfig,
    QuantizeConfig,
    RegisterConfig,
    S3Config,
)
from spladeforge.config.training import ScalePhase, TrainConfig

__all__ = [
    "DEFAULT_PRESET", "RUN_PARAMETERS", "ChunkConfig", "DataConfig", "EvaluateConfig", "GenerateQueriesConfig",
    "HubConfig", "KubeflowConfig", "MineConfig", "OpenAIConfig", "Params", "PublishConfig", "QuantizeConfig",
    "QueryFilterConfig", "RegisterConfig", "S3Config", "ScalePhase", "Section", "Seq2SeqConfig", "SplitConfig",
    "TrainConfig", "deep_merge", "format_errors", "load_params", "parse_override", "run_config",
]
