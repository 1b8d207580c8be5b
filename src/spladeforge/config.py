"""The run configuration: `params.yaml` merged over a preset from `configs/`, validated once.

Precedence, lowest first: the defaults below, `configs/<preset>.yaml`, `params.yaml`,
`--set key.path=value` overrides on the command line. Unknown keys, wrong types and
out-of-range values fail before any work, naming the key path and what is accepted.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spladeforge.errors import ConfigError

DEFAULT_PRESET = "cpu-tiny"
QUERY_TYPES = ("keywords", "question", "sentence")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    """Read by `ingest`."""

    # `python-stdlib-docs`, a folder of .txt/.md/.jsonl files, or a BEIR corpus.jsonl.
    source: str = "python-stdlib-docs"
    max_documents: int | None = Field(None, ge=1)
    # Docstring-only modules of a line or two carry too little text to make a query from.
    min_chars: int = Field(200, ge=1)
    # A single document longer than this is almost always a dump, not a document.
    max_document_chars: int = Field(2_000_000, ge=1000)
    on_error: Literal["fail", "skip"] = "fail"
    lowercase: bool = False
    id_field: str = "_id"
    title_field: str = "title"
    text_field: str = "text"


class ChunkConfig(Section):
    """Read by `chunk`. Seed 000: chunks of 500-2000 characters with 10-20% overlap."""

    size: int = Field(1000, ge=500, le=2000)
    overlap: int = Field(150, ge=0)
    # A tail shorter than this is merged into the previous chunk instead of standing alone.
    min_chars: int = Field(100, ge=1)

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


class GenerateQueriesConfig(Section):
    """Read by `generate-queries`."""

    backend: Literal["extractive"] = "extractive"
    queries_per_chunk: int = Field(1, ge=1, le=10)
    # Relative weights of the query types; they need not sum to one.
    mix: dict[Literal["keywords", "question", "sentence"], float] = Field(
        default_factory=lambda: {"keywords": 0.4, "question": 0.3, "sentence": 0.3}
    )
    min_keywords: int = Field(2, ge=1)
    max_keywords: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _mix_positive(self) -> GenerateQueriesConfig:
        if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("mix weights must be >= 0 with at least one > 0")
        if self.min_keywords > self.max_keywords:
            raise ValueError("min_keywords must be <= max_keywords")
        return self


class SplitConfig(Section):
    """Read by `split`. Seed 000: a 90/10 split with minimal content overlap."""

    validation_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    max_validation_queries: int | None = Field(None, ge=1)


class MineConfig(Section):
    """Read by `mine`."""

    method: Literal["bm25"] = "bm25"
    num_negatives: int = Field(1, ge=1, le=64)
    # BM25 ranks [start, end) to draw negatives from: the very top is often a false negative.
    rank_window: tuple[int, int] = (3, 30)

    @model_validator(mode="after")
    def _window(self) -> MineConfig:
        start, end = self.rank_window
        if not 0 <= start < end:
            raise ValueError(f"rank_window must be [start, end) with 0 <= start < end, got {list(self.rank_window)}")
        if end - start < self.num_negatives:
            raise ValueError("rank_window must hold at least num_negatives ranks")
        return self


class TrainConfig(Section):
    """Read by `train`. Defaults follow seeds 001/003 for regular SPLADE."""

    base_model: str = "builtin:splade-tiny"
    architecture: Literal["splade"] = "splade"
    learning_rate: float = Field(2e-5, gt=0.0, le=1.0)
    batch_size: int = Field(16, ge=2)
    epochs: float = Field(1.0, gt=0.0)
    max_steps: int | None = Field(None, ge=1)
    max_seq_length: int = Field(256, ge=16, le=8192)
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    # Seed 001: 3e-4..5e-4 on queries for regular SPLADE (must be > 0), 3e-3 on documents.
    query_regularizer_weight: float = Field(5e-4, ge=0.0)
    document_regularizer_weight: float = Field(3e-3, ge=0.0)
    eval_steps: int = Field(50, ge=1)
    logging_steps: int = Field(10, ge=1)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    tf32: bool = False
    torch_compile: bool = False
    gradient_accumulation_steps: int = Field(1, ge=1)
    gradient_checkpointing: bool = False
    dataloader_num_workers: int = Field(0, ge=0)
    dataloader_pin_memory: bool = False
    dataloader_prefetch_factor: int | None = Field(None, ge=1)
    # NO_DUPLICATES keeps a text from appearing twice in a batch, where it would be a false
    # in-batch negative for itself.
    batch_sampler: Literal["no_duplicates", "batch_sampler"] = "no_duplicates"


class EvaluateConfig(Section):
    """Read by `evaluate`."""

    batch_size: int = Field(32, ge=1)
    compare_base: bool = True
    compare_bm25: bool = True
    max_queries: int | None = Field(None, ge=1)


class QuantizeConfig(Section):
    """Read by `quantize` (and `publish`, for the quality guard)."""

    per_channel: bool = True
    opset: int = Field(17, ge=14, le=21)
    # Publishing refuses an INT8 model that loses more NDCG@10 than this against fp32.
    max_ndcg_drop: float = Field(0.02, ge=0.0, le=1.0)


class RegisterConfig(Section):
    """Read by `register`."""

    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "spladeforge"
    model_name: str = "spladeforge-splade"
    # The challenger becomes champion only with NDCG@10 >= champion's + min_delta.
    min_delta: float = Field(0.0, ge=0.0, le=1.0)


class HubConfig(Section):
    repo_id: str | None = None
    private: bool = True
    # Name of the environment variable holding the token; the token itself never goes here.
    token_env: str = "HF_TOKEN"
    required: bool = False


class PublishConfig(Section):
    """Read by `publish`."""

    hub: HubConfig = Field(default_factory=HubConfig)


with warnings.catch_warnings():
    # `register` is a stage name; pydantic warns that it shadows ABCMeta.register on the class.
    warnings.simplefilter("ignore", UserWarning)

    class Params(Section):
        preset: str = DEFAULT_PRESET
        seed: int = Field(42, ge=0)
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


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def available_presets(configs_dir: Path) -> list[str]:
    return sorted(p.stem for p in configs_dir.glob("*.yaml"))


def parse_override(text: str) -> dict[str, Any]:
    """Turn `train.learning_rate=1e-4` into `{"train": {"learning_rate": 1e-4}}`."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. train.learning_rate=1e-4")
    value = yaml.safe_load(raw) if raw.strip() else None
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        if err["type"] == "extra_forbidden":
            section = _section_model(err["loc"][:-1])
            accepted = ", ".join(section.model_fields) if section else ""
            lines.append(f"  {path}: unknown key (accepted: {accepted})")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"  {path or '<top>'}: {err['msg']}{shown}")
    return "\n".join(lines)


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model


def load_params(
    path: str | Path = "params.yaml",
    overrides: list[str] | None = None,
    configs_dir: str | Path | None = None,
) -> Params:
    """Load and validate the run configuration; raise ConfigError naming the bad key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    user = _read_yaml(path)
    for text in overrides or []:
        user = deep_merge(user, parse_override(text))
    configs = Path(configs_dir) if configs_dir else path.resolve().parent / "configs"
    preset = user.get("preset", DEFAULT_PRESET)
    preset_file = configs / f"{preset}.yaml"
    if not isinstance(preset, str) or not preset_file.is_file():
        names = ", ".join(available_presets(configs)) or f"none found in {configs}"
        raise ConfigError(f"{path}: preset: unknown preset {preset!r} (accepted: {names})")
    base = _read_yaml(preset_file)
    if "preset" in base:
        raise ConfigError(f"{preset_file}: a preset cannot name another preset")
    try:
        return Params.model_validate(deep_merge(base, user))
    except ValidationError as exc:
        raise ConfigError(_format_errors(f"{path} (preset {preset})", exc)) from None
