"""train fine-tunes the built-in SPLADE, keeps curves, and saves a loadable model: the best step on
dev, step 0 (the base model) included."""

from __future__ import annotations

import csv
import json
import logging

import pytest

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError
from spladeforge.io import write_jsonl
from spladeforge.stages import train
from tests.conftest import TINY_CORPUS

pytestmark = pytest.mark.slow


@pytest.fixture()
def tuples(tmp_path):
    docs = [f"{title} {text}" for title, text in TINY_CORPUS.values()]
    queries = ["json decoding", "gzip compression", "sqlite file database", "tcp socket",
               "random numbers", "dates and times"]
    rows = [{"anchor": q, "positive": docs[i], "negative_1": docs[(i + 1) % 6]} for i, q in enumerate(queries)]
    path = tmp_path / "tuples.jsonl"
    write_jsonl(path, rows * 4)
    return path


def _cfg(**kw) -> TrainConfig:
    base = dict(max_steps=4, batch_size=4, eval_steps=2, logging_steps=1, max_seq_length=64,
                learning_rate=1e-4, device="cpu")
    return TrainConfig(**{**base, **kw})


def _ships_the_base(model_dir, tmp_path) -> bool:
    """Whether the saved model's weights are exactly the base model's (same tensors, same values)."""
    from safetensors.torch import load_file

    from spladeforge.models.build import load_sparse_encoder

    base = tmp_path / "base"
    load_sparse_encoder("builtin:splade-tiny", max_seq_length=64).save(str(base))
    shipped, original = load_file(model_dir / "model.safetensors"), load_file(base / "model.safetensors")
    assert shipped.keys() == original.keys()
    return all((shipped[k] == original[k]).all() for k in shipped)


def test_trains_saves_and_reloads(tmp_path, tuples, tiny_beir_dir):
    from sentence_transformers.sparse_encoder import SparseEncoder

    out, reports = tmp_path / "model", tmp_path / "reports"
    summary = train.run(_cfg(), tuples, tiny_beir_dir, out, reports, seed=0,
                        provenance={"tuples_sha256": "abc"})
    assert summary["steps"] == 4 and summary["device"] == "cpu"
    meta = json.loads((out / "spladeforge.json").read_text())
    assert meta["base_model"] == "builtin:splade-tiny" and meta["provenance"] == {"tuples_sha256": "abc"}
    assert 0.0 <= meta["validation_ndcg_at_10"] <= 1.0

    model = SparseEncoder(str(out), device="cpu")
    q = model.encode_query(["decode json text"])
    d = model.encode_document([" ".join(TINY_CORPUS["d1"]), " ".join(TINY_CORPUS["d5"])])
    scores = model.similarity(q, d)[0]
    assert scores[0] > scores[1], "a training positive must outrank an unrelated document"

    with open(reports / "val_ndcg.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [0, 2, 4]  # base model first, then every eval_steps
    assert (reports / "loss.csv").read_text().startswith("step,loss\n")
    assert (reports / "curves.png").stat().st_size > 1000
    assert not (tmp_path / ".model-checkpoints").exists(), "scratch checkpoints left behind"
    best = max(rows, key=lambda r: float(r["ndcg_at_10"]))  # the earliest of equal figures, as the trainer
    assert summary["best_step"] == meta["best_step"] == int(best["step"])
    assert summary["kept"] == meta["kept"] == ("initial" if summary["best_step"] == 0 else "checkpoint")


def test_when_the_base_model_scores_best_on_dev_its_weights_ship(tmp_path, tuples, tiny_beir_dir, caplog):
    """A learning rate large enough to wreck the model: every later step scores below step 0 on dev, and
    the model saved is the one training started from, not the last checkpoint."""
    out, reports = tmp_path / "model", tmp_path / "reports"
    with caplog.at_level(logging.WARNING, logger="spladeforge.training.best"):
        summary = train.run(_cfg(learning_rate=0.5, warmup_ratio=0.0), tuples, tiny_beir_dir, out, reports, seed=0)
    with open(reports / "val_ndcg.csv") as fh:
        curve = {int(r["step"]): float(r["ndcg_at_10"]) for r in csv.DictReader(fh)}
    assert list(curve) == [0, 2, 4] and max(curve[2], curve[4]) < curve[0], curve  # later checkpoints are worse
    assert (summary["best_step"], summary["kept"]) == (0, "initial")
    meta = json.loads((out / "spladeforge.json").read_text())
    assert (meta["best_step"], meta["kept"]) == (0, "initial")
    assert summary["val_ndcg_at_10"] == pytest.approx(curve[0]) == meta["validation_ndcg_at_10"]
    assert "the base model scored best on dev" in caplog.text
    assert _ships_the_base(out, tmp_path), "the shipped weights are not the base model's"


def test_batch_larger_than_data_fails_before_training(tmp_path, tuples, tiny_beir_dir):
    with pytest.raises(ConfigError, match=r"train.batch_size: 64 is larger than the 24 training tuples"):
        train.run(_cfg(batch_size=64), tuples, tiny_beir_dir, tmp_path / "m", tmp_path / "r", seed=0)
    assert not (tmp_path / "m").exists()


def test_missing_or_non_mlm_base_model_fails_clearly(tmp_path, tuples, tiny_beir_dir):
    with pytest.raises(ConfigError, match="does not exist"):
        train.run(_cfg(base_model=str(tmp_path / "nope")), tuples, tiny_beir_dir, tmp_path / "m",
                  tmp_path / "r", seed=0)
    from spladeforge.models.builtin import resolve_model

    with pytest.raises(ConfigError, match="is not a masked-LM"):
        train.run(_cfg(base_model=resolve_model("builtin:minilm-l6")), tuples, tiny_beir_dir,
                  tmp_path / "m", tmp_path / "r", seed=0)
    assert not (tmp_path / "m").exists()


def test_keep_last_ships_the_final_step_even_when_dev_prefers_the_base(tmp_path, tuples, tiny_beir_dir, caplog):
    """`train.keep: last`, for generated dev sets that cannot see adaptation gains: the final step ships,
    its dev figure is measured even when it is not an eval step, and the fall on dev is logged."""
    out, reports = tmp_path / "model", tmp_path / "reports"
    with caplog.at_level(logging.WARNING, logger="spladeforge.training.best"):
        summary = train.run(_cfg(learning_rate=0.5, warmup_ratio=0.0, eval_steps=3, keep="last"), tuples,
                            tiny_beir_dir, out, reports, seed=0)
    with open(reports / "val_ndcg.csv") as fh:
        curve = {int(r["step"]): float(r["ndcg_at_10"]) for r in csv.DictReader(fh)}
    assert list(curve) == [0, 3, 4] and curve[4] < curve[0], curve  # step 4 scored although not an eval step
    meta = json.loads((out / "spladeforge.json").read_text())
    assert summary["kept"] == meta["kept"] == "last"
    assert summary["val_ndcg_at_10"] == pytest.approx(curve[4]) == meta["validation_ndcg_at_10"]
    assert summary["best_step"] == 0  # what dev preferred, on record
    assert "train.keep: last: shipping step 4" in caplog.text and "although step 0 scored" in caplog.text
    assert not _ships_the_base(out, tmp_path), "the base model shipped, not step 4"


def test_keep_last_ships_the_base_when_dev_fell_more_than_max_dev_drop(tmp_path, tuples, tiny_beir_dir, caplog):
    """The guard against damage that generated queries do show: the wrecked final step does not ship."""
    out, reports = tmp_path / "model", tmp_path / "reports"
    with caplog.at_level(logging.WARNING, logger="spladeforge.training.best"):
        summary = train.run(_cfg(learning_rate=0.5, warmup_ratio=0.0, keep="last", max_dev_drop=0.0), tuples,
                            tiny_beir_dir, out, reports, seed=0)
    with open(reports / "val_ndcg.csv") as fh:
        curve = {int(r["step"]): float(r["ndcg_at_10"]) for r in csv.DictReader(fh)}
    assert curve[4] < curve[0], curve
    assert summary["kept"] == "initial" and summary["val_ndcg_at_10"] == pytest.approx(curve[0])
    assert "more than train.max_dev_drop 0.0000: shipping the initial weights" in caplog.text
    assert _ships_the_base(out, tmp_path), "the wrecked last step shipped"


def test_keep_last_options_are_checked():
    with pytest.raises(ValueError, match="early_stopping_patience stops on dev NDCG@10, which train.keep: last"):
        TrainConfig(keep="last", early_stopping_patience=2)
    with pytest.raises(ValueError, match="max_dev_drop guards train.keep: last"):
        TrainConfig(max_dev_drop=0.02)


_FAILURE: dict[str, str | None] = {"kind": None}  # what the save of checkpoint-2 fails with, while set


def _failing_save(tensors, filename, *args, **kwargs):
    """safetensors.torch.save_file, failing at checkpoint-2 while `_FAILURE` says how.

    Module-level, so that a library that imports it by name while patched keeps a harmless copy."""
    import errno

    import safetensors.torch
    from safetensors import SafetensorError

    if _FAILURE["kind"] is None or "checkpoint-2" not in str(filename):
        return _REAL_SAVE[0](tensors, filename, *args, **kwargs)
    _FAILURE["hit"] = str(filename)
    with open(filename, "wb") as fh:
        fh.write(b"partial")
    if _FAILURE["kind"] == "efbig":
        raise OSError(errno.EFBIG, "File too large")
    raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                          '"No space left on device" })')


_REAL_SAVE: list = []  # the real save_file, found once (a list, so that the patching loop skips it)


@pytest.mark.parametrize("failure", ["safetensors", "efbig"])
def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_leaves_no_partial_checkpoint(
        tmp_path, tuples, tiny_beir_dir, monkeypatch, failure):
    """Disk full (safetensors' Rust IoError, no path) or a file-size limit mid-checkpoint: an OSError
    naming the checkpoint, the half-written folder removed, no model written."""
    import errno
    import sys

    import safetensors.torch

    _REAL_SAVE[:] = _REAL_SAVE or [safetensors.torch.save_file]
    for module in [m for m in list(sys.modules.values()) if m is not None]:
        for name, value in list(vars(module).items()):
            if value is _REAL_SAVE[0]:  # also modules that imported it by name, as transformers does
                monkeypatch.setattr(module, name, _failing_save)
    monkeypatch.setitem(_FAILURE, "kind", failure)
    out = tmp_path / "model"
    with pytest.raises(OSError) as err:
        train.run(_cfg(), tuples, tiny_beir_dir, out, tmp_path / "reports", seed=0, provenance={},
                  checkpoints=tmp_path / "ckpt")
    expected = "File too large" if failure == "efbig" else "No space left on device"
    assert str(err.value).startswith(f"[Errno {errno.EFBIG if failure == 'efbig' else errno.ENOSPC}] {expected}")
    assert err.value.filename == str(tmp_path / "ckpt" / "checkpoint-2")
    assert "checkpoint-2" in _FAILURE.pop("hit", ""), "the failure was never injected"
    assert not (tmp_path / "ckpt" / "checkpoint-2").exists() and not out.exists()
