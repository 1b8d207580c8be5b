"""The cross-encoder judge on a tiny random-init cross-encoder saved in a local folder: the mechanics
(loading, thresholds, grades recorded under its label, resumable), not the quality of its grades."""

from __future__ import annotations

import numpy as np
import pytest

from spladeforge.config.machine_judges import CrossEncoderJudgeConfig
from spladeforge.errors import ConfigError
from spladeforge.evaluation.beir import _qrels_lines
from spladeforge.judging.machine import pool_pairs, run_judge
from spladeforge.judging.machine_cross_encoder import CrossEncoderJudge, grades_from_scores
from spladeforge.judging.storage import JudgmentStore
from spladeforge.models.builtin import resolve_model

CHUNKS = {f"c{i}": {"id": f"c{i}", "title": t, "text": f"The {t} module of the standard library, part {i}."}
          for i, t in enumerate(["json", "gzip", "csv", "socket", "sqlite3", "random"])}


def _tiny_cross_encoder(folder, num_labels=1):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:splade-tiny"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=num_labels)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return _tiny_cross_encoder(tmp_path_factory.mktemp("ce") / "tiny-ce")


def test_thresholds_rule():
    """Grade 1 from t1, grade 2 from t2, both inclusive."""
    assert grades_from_scores(np.array([0.1, 0.5, 0.89, 0.9, 1.0]), (0.5, 0.9)) == [0, 1, 1, 2, 2]
    assert grades_from_scores(np.array([-3.0, 0.0, 2.9, 3.0]), (0.0, 3.0)) == [0, 1, 1, 2]


def test_cross_encoder_grades_land_in_machine_tsv_and_resume(tiny_folder, tmp_path):
    store = JudgmentStore(tmp_path / "judgments")
    qids = [store.add_query(q, "typed") for q in ("parse json", "open a socket")]
    pairs = pool_pairs({q: [(c, ("base",)) for c in CHUNKS] for q in qids}, store.queries(), CHUNKS)
    probe = CrossEncoderJudge(CrossEncoderJudgeConfig(model=str(tiny_folder), scale="logit", max_length=64))
    logits = probe.scores(pairs)
    assert probe.label == "cross-encoder:tiny-ce" and logits.shape == (12,) and np.unique(logits).size > 1
    # Thresholds at the scores' terciles: the grades must follow them, whatever the random weights say.
    low, high = np.quantile(logits, [1 / 3, 2 / 3])
    cfg = CrossEncoderJudgeConfig(model=str(tiny_folder), scale="logit", thresholds=(low, high), batch_size=5,
                                  max_length=64)
    summary = run_judge(store, CrossEncoderJudge(cfg), pairs[:7], batch=4, progress=False)
    assert summary.graded == 7
    summary = run_judge(store, CrossEncoderJudge(cfg), pairs, batch=4, progress=False)
    assert summary.already_graded == 7 and summary.graded == 5
    rows = {(q, c): g for _, q, c, g in _qrels_lines(tmp_path / "judgments" / "machine" / "cross-encoder-tiny-ce.tsv")}
    expected = grades_from_scores(logits, (low, high))
    assert rows == {(p.query_id, p.chunk_id): g for p, g in zip(pairs, expected, strict=True)}
    assert set(expected) == {0, 1, 2}
    # On the sigmoid scale the same pairs get the same grades at the sigmoid of the same thresholds.
    sig = CrossEncoderJudge(CrossEncoderJudgeConfig(model=str(tiny_folder), max_length=64,
                                                    thresholds=tuple(1 / (1 + np.exp(-t)) for t in (low, high))))
    assert sig.grade(pairs) == expected


def test_cross_encoder_bad_models(tmp_path):
    with pytest.raises(ConfigError, match="model"):
        CrossEncoderJudge(CrossEncoderJudgeConfig())
    with pytest.raises(ConfigError, match="does not exist"):
        CrossEncoderJudge(CrossEncoderJudgeConfig(model=str(tmp_path / "missing")))
    two = _tiny_cross_encoder(tmp_path / "two-labels", num_labels=2)
    with pytest.raises(ConfigError, match="2 outputs"):
        CrossEncoderJudge(CrossEncoderJudgeConfig(model=str(two)))
    for bad in ({"thresholds": (0.9, 0.5)}, {"thresholds": (0.5, 2.0)}):
        with pytest.raises(ValueError):
            CrossEncoderJudgeConfig(**bad)
    assert CrossEncoderJudgeConfig(scale="logit", thresholds=(0.0, 2.0)).thresholds == (0.0, 2.0)
