"""Configuration is validated once, before any work, with errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spladeforge.config import Params, load_params, parse_override
from spladeforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
STAGE_SECTIONS = ("data", "chunk", "generate_queries", "split", "mine", "train", "evaluate",
                  "quantize", "register", "publish")


def _write(tmp_path: Path, params: dict, preset: dict | None = None) -> Path:
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "cpu-tiny.yaml").write_text(yaml.safe_dump(preset or {}))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_repository_params_validate():
    params = load_params(REPO / "params.yaml")
    assert params.preset == "cpu-tiny"
    assert params.train.base_model == "builtin:splade-tiny"


@pytest.mark.parametrize("preset", sorted(p.stem for p in (REPO / "configs").glob("*.yaml")))
def test_every_preset_validates_and_names_every_stage_section(preset):
    # dvc.yaml tracks configs/${preset}.yaml:<section> for each stage: a missing section breaks it.
    data = yaml.safe_load((REPO / "configs" / f"{preset}.yaml").read_text())
    assert set(STAGE_SECTIONS) <= set(data), f"{preset} lacks {set(STAGE_SECTIONS) - set(data)}"
    load_params(REPO / "params.yaml", [f"preset={preset}"])


def test_params_override_preset_and_set_overrides_params(tmp_path):
    path = _write(tmp_path, {"train": {"learning_rate": 1e-4}},
                  preset={"train": {"learning_rate": 3e-5, "batch_size": 8}})
    params = load_params(path)
    assert params.train.learning_rate == 1e-4 and params.train.batch_size == 8
    assert load_params(path, ["train.learning_rate=2e-4"]).train.learning_rate == 2e-4


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"train": {"lerning_rate": 1e-4}}, "train.lerning_rate: unknown key (accepted: base_model"),
        ({"train": {"batch_size": "big"}}, "train.batch_size"),
        ({"train": {"learning_rate": -1}}, "train.learning_rate: Input should be greater than 0"),
        ({"train": {"document_regularizer_weight": -0.1}}, "train.document_regularizer_weight"),
        ({"chunk": {"size": 1000, "overlap": 1000}}, "overlap (1000) must be smaller than size"),
        ({"chunk": {"size": 1000, "overlap": 50}}, "accepted 100..200"),
        ({"chunk": {"size": 100, "overlap": 15}}, "chunk.size: Input should be greater than or equal to 500"),
        ({"train": {"architecture": "colbert"}}, "train.architecture: Input should be 'splade'"),
        ({"mine": {"rank_window": [30, 3]}}, "rank_window"),
        ({"nonsense": 1}, "nonsense: unknown key"),
    ],
)
def test_bad_values_fail_naming_the_key(tmp_path, params, expected):
    path = _write(tmp_path, params)
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_unknown_preset_lists_available(tmp_path):
    path = _write(tmp_path, {"preset": "h200-mega"})
    with pytest.raises(ConfigError, match=r"unknown preset 'h200-mega' \(accepted: cpu-tiny\)"):
        load_params(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, {})
    path.write_text("train:\n  learning_rate: [1e-4\n")
    with pytest.raises(ConfigError, match=r"params.yaml:\d+: not valid YAML"):
        load_params(path)


def test_missing_params_file(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_override_syntax():
    assert parse_override("train.max_steps=5") == {"train": {"max_steps": 5}}
    with pytest.raises(ConfigError, match="KEY.PATH=VALUE"):
        parse_override("train.max_steps")


def test_defaults_follow_the_seeds():
    params = Params()
    assert 500 <= params.chunk.size <= 2000
    assert 0.1 * params.chunk.size <= params.chunk.overlap <= 0.2 * params.chunk.size
    assert params.train.query_regularizer_weight > 0  # regular SPLADE needs a query regularizer
    assert params.split.dev_fraction == params.split.test_fraction == 0.1


@pytest.mark.parametrize("preset", sorted(p.stem for p in (REPO / "configs").glob("*.yaml")))
def test_every_preset_reads_its_chunks_whole(preset):
    # Why: a 1,000-character chunk read at 128 tokens hides half of every positive from training.
    from spladeforge.config.params import chunk_overflow

    assert chunk_overflow(load_params(REPO / "params.yaml", [f"preset={preset}"])) is None


def test_a_chunk_longer_than_the_sequence_is_reported_with_both_fixes(caplog):
    # Why: the warning must name both keys and say how the estimate is made.
    from spladeforge.config.params import chunk_overflow

    params = load_params(REPO / "params.yaml", ["chunk.size=1000", "chunk.overlap=150", "train.max_seq_length=128"])
    problem = chunk_overflow(params)
    assert problem is not None and "~250 tokens" in problem and "~4 characters a token" in problem
    assert "chunk.size <= 512" in problem and "train.max_seq_length >= 250" in problem
    assert problem in caplog.text  # loading logs it
    assert chunk_overflow(load_params(REPO / "params.yaml", ["chunk.size=1000", "chunk.overlap=150",
                                                             "train.max_seq_length=256"])) is None
