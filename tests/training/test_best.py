"""Which step a run keeps, read from the trainer's log as the trainer reads it, step 0 included."""

from __future__ import annotations

import pytest

from spladeforge.training.best import best_step, initial_wins, save_initial

METRIC = "eval_validation_dot_ndcg@10"


def _log(*figures: tuple[int, float]) -> list[dict]:
    history = [{"step": 1, "loss": 3.0}]
    history += [{"step": step, METRIC: value} for step, value in figures]
    return sorted(history, key=lambda e: e["step"])


def test_the_earliest_of_equal_best_figures_wins_as_in_the_trainer():
    assert best_step(_log((0, 0.5), (10, 0.7), (20, 0.7)), METRIC) == (10, 0.7)
    assert best_step(_log((0, 0.5), (10, 0.5)), METRIC) == (0, 0.5)
    assert best_step([{"step": 3, "loss": 1.0}], METRIC) == (None, None)


def test_step_zero_wins_only_when_no_later_step_beats_it(caplog):
    """The case the HF Trainer gets wrong (best_global_step 0 counts as unset) is named in the log."""
    assert initial_wins(_log((0, 0.8), (10, 0.6), (20, 0.79)), METRIC)
    assert "the base model scored best on dev (NDCG@10 0.8000 at step 0, at most 0.7900 later)" in caplog.text
    assert not initial_wins(_log((0, 0.8), (10, 0.81)), METRIC)


def test_the_initial_model_is_saved_once_per_run(tmp_path, base_model):
    """A resumed run finds its step-0 weights instead of saving the rebuilt model over them."""
    folder = save_initial(base_model, tmp_path)
    weights = folder / "model.safetensors"
    assert (folder / "modules.json").is_file() and weights.is_file()
    stamp = weights.stat().st_mtime_ns
    assert save_initial(base_model, tmp_path) == folder and weights.stat().st_mtime_ns == stamp
    assert not (tmp_path / "initial.partial").exists()


def test_keep_last_ships_the_final_step_unless_dev_fell_more_than_max_dev_drop(caplog):
    from spladeforge.training.best import last_or_initial, value_at

    history = _log((0, 0.8), (10, 0.82), (20, 0.7))
    assert value_at(history, METRIC, 20) == 0.7 and value_at(history, METRIC, 15) is None
    assert last_or_initial(history, METRIC, 20, None) == ("last", 0.7)  # no guard: the last step ships
    assert "shipping step 20 (dev NDCG@10 0.7000) although step 0 scored 0.8000" in caplog.text
    assert last_or_initial(history, METRIC, 20, 0.1) == ("last", 0.7)  # a fall of 0.1 is within 0.1
    caplog.clear()
    assert last_or_initial(history, METRIC, 20, 0.05) == ("initial", 0.8)
    assert "0.1000 below step 0's 0.8000, more than train.max_dev_drop 0.0500: shipping the initial" in caplog.text
    caplog.clear()
    assert last_or_initial(_log((0, 0.8), (20, 0.9)), METRIC, 20, 0.0) == ("last", 0.9)
    assert "although" not in caplog.text


def test_collapse_margin_is_hoeffdings_bound_for_the_dev_size():
    # Why: the guard must refuse only a fall no dev sample of that size shows by chance, a bound
    # that needs no judged queries and no per-query spread.
    from spladeforge.training.best import collapse_margin, last_or_initial

    assert collapse_margin(500) == pytest.approx(0.1095, abs=1e-4)
    assert collapse_margin(100) > collapse_margin(500)
    history = _log((0, 0.80), (20, 0.72))
    assert last_or_initial(history, METRIC, 20, "collapse", 500) == ("last", 0.72)  # 0.08 < 0.11: noise
    assert last_or_initial(history, METRIC, 20, "collapse", 5000) == ("initial", 0.80)  # 0.08 > 0.035


def test_the_decision_is_one_line_naming_the_evidence():
    # Why: a run that keeps the base must say why in one line (train summary, register's reason).
    from spladeforge.training.best import decision

    kept_base = decision("initial", _log((0, 0.8), (10, 0.7), (20, 0.75)), METRIC, 20, "best", None, 50)
    assert kept_base.startswith("kept the base model") and "0.8000" in kept_base and "0.7500" in kept_base
    assert "\n" not in kept_base
    shipped = decision("checkpoint", _log((0, 0.7), (10, 0.8)), METRIC, 10, "best", None, 50)
    assert shipped == "shipped step 10: dev NDCG@10 0.8000 above step 0's 0.7000"
    fell = decision("initial", _log((0, 0.8), (20, 0.5)), METRIC, 20, "last", "collapse", 500)
    assert "more than train.max_dev_drop (0.1095)" in fell
