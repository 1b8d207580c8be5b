"""Extra training datasets (JSONL or save_to_disk) are mixed with the generated tuples."""

from __future__ import annotations

import json

import pytest

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError, InputError
from spladeforge.stages import train
from spladeforge.training.data import load_extra_dataset
from tests.training.test_architectures import write_tuples


def test_jsonl_columns_by_position_and_by_name(tmp_path):
    by_position = tmp_path / "pairs.jsonl"
    by_position.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"a{i}", "wrong": "w"}) + "\n"
                                   for i in range(3)))
    data = load_extra_dataset(str(by_position))
    assert data.column_names == ["anchor", "positive", "negative_1"]
    assert data[0] == {"anchor": "q0", "positive": "a0", "negative_1": "w"}
    by_name = tmp_path / "named.jsonl"
    by_name.write_text(json.dumps({"positive": "p", "negative_2": "n2", "anchor": "q", "negative_1": "n1"}) + "\n")
    assert load_extra_dataset(str(by_name)).column_names == ["anchor", "positive", "negative_1", "negative_2"]


def test_save_to_disk_folder(tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"query": ["q"], "doc": ["d"]}).save_to_disk(str(tmp_path / "ds"))
    assert load_extra_dataset(str(tmp_path / "ds")).column_names == ["anchor", "positive"]


def test_bad_extra_datasets(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_extra_dataset(str(tmp_path / "nope.jsonl"))
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(InputError, match="at least two text columns"):
        load_extra_dataset(str(one))
    ragged = tmp_path / "ragged.jsonl"
    ragged.write_text(json.dumps({"a": "x", "b": "y"}) + "\n" + json.dumps({"a": "x"}) + "\n")
    with pytest.raises(InputError, match="ragged.jsonl:2: fields"):
        load_extra_dataset(str(ragged))


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["round_robin", "proportional"])
def test_training_mixes_the_extra_dataset(tmp_path, tiny_beir_dir, sampler):
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"anchor": f"library question {i}", "positive": f"library answer {i}"})
                             + "\n" for i in range(12)))
    cfg = TrainConfig(max_steps=4, batch_size=4, eval_steps=4, logging_steps=1, max_seq_length=48,
                      device="cpu", tracking=[], extra_datasets=[str(extra)], multi_dataset_sampler=sampler)
    summary = train.run(cfg, write_tuples(tmp_path / "tuples.jsonl"), tiny_beir_dir, tmp_path / "model",
                        tmp_path / "reports", seed=0)
    assert summary["extra_datasets"] == {"extra_0_extra": 12} and summary["steps"] == 4
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_extra_datasets_with_distillation_are_refused(tmp_path, tiny_beir_dir):
    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"anchor": "q", "positive": "p"}) + "\n")
    cfg = TrainConfig(max_steps=2, batch_size=4, device="cpu", tracking=[], extra_datasets=[str(extra)])
    with pytest.raises(ConfigError, match="distillation"):
        train.run(cfg, write_tuples(tmp_path / "t.jsonl", scores=True), tiny_beir_dir, tmp_path / "m",
                  tmp_path / "r", seed=0)
