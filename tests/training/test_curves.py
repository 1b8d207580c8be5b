"""The training curves' summary figures."""

from __future__ import annotations

import logging

import pytest

from spladeforge.training.curves import regularizer_share, write_curves


def test_regularizer_share_is_the_regularizers_part_of_the_last_logged_loss():
    history = [
        {"step": 10, "loss": 4.0, "base_loss": 3.0, "document_regularizer_loss": 0.5, "query_regularizer_loss": 0.5},
        {"step": 20, "loss": 200.0, "base_loss": 199.5, "document_regularizer_loss": 0.4,
         "query_regularizer_loss": 0.1},
        {"step": 20, "eval_validation_dot_ndcg@10": 0.8},  # evaluation entries have no loss
        {"step": 20, "train_loss": 100.0},  # the trainer's closing summary neither
    ]
    assert regularizer_share(history) == pytest.approx(0.5 / 200.0)


def test_regularizer_share_is_none_without_logged_regularizers():
    assert regularizer_share([]) is None
    assert regularizer_share([{"step": 5, "loss": 1.0}]) is None  # a loss without components
    assert regularizer_share([{"step": 5, "loss": 1.0, "base_loss": 1.0}]) is None  # no regularizer (e.g. CSR)


def test_write_curves_reports_the_share(tmp_path):
    history = [{"step": 1, "loss": 10.0, "base_loss": 9.0, "document_regularizer_loss": 1.0},
               {"step": 1, "eval_validation_dot_ndcg@10": 0.5}]
    figures = write_curves(history, tmp_path, "eval_validation_dot_ndcg@10")
    assert figures == {"final_loss": 10.0, "best_val_ndcg_at_10": 0.5, "regularizer_share": 0.1}
    assert (tmp_path / "curves.png").is_file()


def test_write_curves_warns_when_the_regularizers_barely_count(tmp_path, caplog):
    history = [{"step": 300, "loss": 190.0, "base_loss": 189.95, "document_regularizer_loss": 0.05}]
    with caplog.at_level(logging.WARNING, logger="spladeforge.training.curves"):
        write_curves(history, tmp_path, "eval_validation_dot_ndcg@10")
    assert "0.026% of the training loss" in caplog.text
    assert "train.document_regularizer_weight" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="spladeforge.training.curves"):
        write_curves([{"step": 300, "loss": 190.0, "base_loss": 177.0, "document_regularizer_loss": 13.0}],
                     tmp_path, "eval_validation_dot_ndcg@10")
    assert caplog.text == ""
