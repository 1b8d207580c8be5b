"""publish: the export folder, the model card, the INT8 guard and the Hub paths (never contacted)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from spladeforge.config import HubConfig, Params, PublishConfig
from spladeforge.errors import InputError, SpladeforgeError
from spladeforge.io import sha256_tree
from spladeforge.stages import publish

METRICS = {
    "model_ndcg_at_10": 0.5123, "base_ndcg_at_10": 0.4012, "bm25_ndcg_at_10": 0.3507,
    "model_mrr_at_10": 0.48, "base_mrr_at_10": 0.37, "model_recall_at_100": 0.91,
    "model_query_active_dims": 24.5, "model_doc_active_dims": 180.25, "num_queries": 40,
    "ndcg_at_10_delta_vs_base": 0.1111,
}


@pytest.fixture(autouse=True)
def no_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)


def write_inputs(tmp_path: Path, model_dir: Path, promoted: bool = True) -> tuple[Path, Path]:
    decision = {
        "model_name": "spladeforge-splade", "version": "4", "promoted": promoted,
        "reason": "NDCG@10 0.5123 reaches champion v3 0.5000 + min_delta 0" if promoted
        else "NDCG@10 0.5123 falls short of champion v3 0.6000 + min_delta 0",
        "candidate_ndcg_at_10": 0.5123, "reference_ndcg_at_10": 0.5 if promoted else 0.6,
        "reference": "champion v3", "champion_version": "4" if promoted else "3",
        "tracking_uri": "sqlite:///mlflow.db", "run_id": "abc123", "model_sha256": sha256_tree(model_dir),
    }
    (tmp_path / "decision.json").write_text(json.dumps(decision))
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    return tmp_path / "decision.json", tmp_path / "metrics.json"


def write_int8(tmp_path: Path, change: float) -> tuple[Path, Path]:
    onnx_dir = tmp_path / "int8"
    onnx_dir.mkdir()
    (onnx_dir / "model_int8.onnx").write_bytes(b"\x08\x07onnx")
    (onnx_dir / "tokenizer.json").write_text("{}")
    report = tmp_path / "quantize.json"
    report.write_text(json.dumps({
        "fp32_ndcg_at_10": 0.5123, "int8_ndcg_at_10": 0.5123 + change, "ndcg_at_10_change": change,
        "encode_speed_ratio": 2.4, "fp32_size_bytes": 17_500_000, "int8_size_bytes": 4_400_000,
    }))
    return report, onnx_dir


def stale_export(tmp_path: Path) -> Path:
    export = tmp_path / "export"
    (export / "model").mkdir(parents=True)
    (export / "old-run.txt").write_text("from an older run")
    return export


def test_promoted_model_is_exported_with_card(tmp_path, model_dir):
    """The export holds a loadable model, the INT8 folder and a card with the metrics table."""
    from sentence_transformers.sparse_encoder import SparseEncoder

    decision, metrics = write_inputs(tmp_path, model_dir)
    report, onnx_dir = write_int8(tmp_path, change=-0.004)
    export = stale_export(tmp_path)
    summary = publish.run(PublishConfig(), model_dir, decision, metrics, export, quantize_report=report,
                          onnx_dir=onnx_dir, run_params=Params().model_dump())

    assert sorted(p.name for p in export.iterdir()) == ["README.md", "model", "onnx-int8", "publish.json"]
    assert summary["exported"] == ["README.md", "model", "onnx-int8"] and summary["int8"]["included"]
    assert json.loads((export / "publish.json").read_text()) == summary
    assert (export / "onnx-int8" / "model_int8.onnx").read_bytes() == b"\x08\x07onnx"
    model = SparseEncoder(str(export / "model"), device="cpu", local_files_only=True)
    embedding = model.encode_document(["The json module decodes JSON text."])
    assert embedding.shape[-1] == 30522 and model.decode(embedding[0], top_k=3)

    card = (export / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: sentence-transformers\n")
    assert "- sparse-encoder\n" in card and "- splade\n" in card
    assert "| Metric | This model | Base model | BM25 |" in card
    assert "| NDCG@10 | 0.5123 | 0.4012 | 0.3507 |" in card
    assert "| MRR@10 | 0.4800 | 0.3700 | – |" in card
    assert "| `learning_rate` | 2e-05 |" in card  # training parameters from params
    assert "| `data.source` | python-stdlib-docs |" in card  # data provenance from params
    assert "NDCG@10 change -0.0040" in card and "Included in `onnx-int8/`" in card
    assert 'SparseEncoder("' in card and "encode_query" in card
    assert (export / "model" / "README.md").read_text() == card
    assert summary["hub"]["pushed"] is False and "publish.hub.repo_id is not set" in summary["hub"]["message"]


def test_not_promoted_leaves_only_a_note(tmp_path, model_dir):
    """A kept champion means no model in the export, and nothing from an older export survives."""
    decision, metrics = write_inputs(tmp_path, model_dir, promoted=False)
    export = stale_export(tmp_path)
    summary = publish.run(PublishConfig(), model_dir, decision, metrics, export)
    assert sorted(p.name for p in export.iterdir()) == ["README.md", "publish.json"]
    note = (export / "README.md").read_text()
    assert "not promoted" in note and "falls short of champion v3" in note and "still v3" in note
    assert summary["promoted"] is False and summary["exported"] == ["README.md"]


def test_int8_guard_excludes_a_lossy_quantized_model(tmp_path, model_dir):
    """An INT8 model losing more NDCG@10 than max_ndcg_drop stays out, and the card says why."""
    decision, metrics = write_inputs(tmp_path, model_dir)
    report, onnx_dir = write_int8(tmp_path, change=-0.05)
    export = tmp_path / "export"
    summary = publish.run(PublishConfig(), model_dir, decision, metrics, export, quantize_report=report,
                          onnx_dir=onnx_dir, max_ndcg_drop=0.02)
    assert not (export / "onnx-int8").exists() and (export / "model" / "modules.json").is_file()
    assert summary["int8"]["included"] is False
    assert "exceeds the allowed drop of 0.02" in summary["int8"]["reason"]
    assert "Not included: its NDCG@10 change -0.0500 exceeds" in (export / "README.md").read_text()


def test_decision_for_another_model_is_refused(tmp_path, model_dir):
    """publish exports only the folder register gated (same sha256), and writes nothing otherwise."""
    decision, metrics = write_inputs(tmp_path, model_dir)
    (model_dir / "spladeforge.json").write_text(json.dumps({"base_model": "other", "max_seq_length": 64}))
    with pytest.raises(InputError, match="differs from the model"):
        publish.run(PublishConfig(), model_dir, decision, metrics, tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_hub_without_token_lists_the_upload(tmp_path, model_dir, caplog):
    """No token: a warning names the repo and every file that would go; required=True fails first."""
    decision, metrics = write_inputs(tmp_path, model_dir)
    cfg = PublishConfig(hub=HubConfig(repo_id="acme/splade-docs"))
    with caplog.at_level(logging.WARNING):
        summary = publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")
    hub = summary["hub"]
    assert hub["pushed"] is False and "HF_TOKEN" in hub["message"] and "acme/splade-docs" in hub["message"]
    assert "README.md" in hub["files"] and "model.safetensors" in hub["files"]
    assert all(name in hub["message"] for name in hub["files"]) and "acme/splade-docs" in caplog.text

    cfg.hub.required = True
    with pytest.raises(SpladeforgeError, match="required is true but the environment variable HF_TOKEN"):
        publish.run(cfg, model_dir, decision, metrics, tmp_path / "export2")
    assert not (tmp_path / "export2").exists()


def test_hub_push_gets_the_token_and_writes_it_nowhere(tmp_path, model_dir, monkeypatch, caplog):
    """With a token the model folder is pushed privately; the token reaches only push_to_hub."""
    from sentence_transformers.sparse_encoder import SparseEncoder

    secret = "hf_s3cr3t_t0ken_value"
    monkeypatch.setenv("SPLADEFORGE_TEST_TOKEN", secret)
    calls = []

    def fake_push(self, repo_id, **kwargs):
        calls.append({"repo_id": repo_id, **kwargs})
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(SparseEncoder, "push_to_hub", fake_push)
    decision, metrics = write_inputs(tmp_path, model_dir)
    cfg = PublishConfig(hub=HubConfig(repo_id="acme/splade-docs", token_env="SPLADEFORGE_TEST_TOKEN"))
    export = tmp_path / "export"
    with caplog.at_level(logging.DEBUG):
        summary = publish.run(cfg, model_dir, decision, metrics, export)

    assert len(calls) == 1 and calls[0]["repo_id"] == "acme/splade-docs"
    assert calls[0]["private"] is True and calls[0]["token"] == secret
    assert summary["hub"]["pushed"] is True and summary["hub"]["url"].startswith("https://huggingface.co/")
    assert 'SparseEncoder("acme/splade-docs")' in (export / "README.md").read_text()
    for file in export.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file
    assert secret not in caplog.text and secret not in json.dumps(summary)


def test_failed_push_is_an_error_only_when_required(tmp_path, model_dir, monkeypatch):
    """An optional Hub failing leaves a warning in publish.json; a required one keeps the old export."""
    from sentence_transformers.sparse_encoder import SparseEncoder

    secret = "hf_another_s3cret"
    monkeypatch.setenv("HF_TOKEN", secret)

    def failing_push(self, repo_id, **kwargs):
        raise ConnectionError(f"401 for token {kwargs['token']}")

    monkeypatch.setattr(SparseEncoder, "push_to_hub", failing_push)
    decision, metrics = write_inputs(tmp_path, model_dir)
    cfg = PublishConfig(hub=HubConfig(repo_id="acme/splade-docs"))
    summary = publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")
    assert summary["hub"]["pushed"] is False
    assert "ConnectionError: 401 for token ***" in summary["hub"]["message"]
    assert secret not in (tmp_path / "export" / "publish.json").read_text()

    cfg.hub.required = True
    with pytest.raises(SpladeforgeError, match="upload .* failed") as info:
        publish.run(cfg, model_dir, decision, metrics, tmp_path / "export")
    assert secret not in str(info.value)
    assert json.loads((tmp_path / "export" / "publish.json").read_text()) == summary


def test_lossy_pruned_int8_model_is_left_out(tmp_path, model_dir):
    """The max_ndcg_drop guard applies to the vocabulary-pruned INT8 model on its own."""
    decision, metrics = write_inputs(tmp_path, model_dir)
    report, onnx_dir = write_int8(tmp_path, change=-0.004)
    (onnx_dir / "model_int8_pruned.onnx").write_bytes(b"pruned")
    figures = json.loads(report.read_text())
    report.write_text(json.dumps({**figures, "pruned_int8_ndcg_at_10": 0.45,
                                  "pruned_ndcg_at_10_change": -0.06, "pruned_encode_speed_ratio": 5.5,
                                  "pruned_vocab_size": 329}))
    export = tmp_path / "export"
    summary = publish.run(PublishConfig(), model_dir, decision, metrics, export, quantize_report=report,
                          onnx_dir=onnx_dir, max_ndcg_drop=0.02)
    assert summary["int8"]["included"] and not summary["int8_pruned"]["included"]
    assert (export / "onnx-int8" / "model_int8.onnx").is_file()
    assert not (export / "onnx-int8" / "model_int8_pruned.onnx").exists()
    assert "| Pruned INT8 NDCG@10 | – | 0.4500 |" in (export / "README.md").read_text()


def test_incomplete_model_folder_is_named(tmp_path, model_dir):
    """A model folder that lost a module folder is refused before anything is exported."""
    import shutil

    decision, metrics = write_inputs(tmp_path, model_dir)
    modules = json.loads((model_dir / "modules.json").read_text())
    shutil.rmtree(model_dir / next(m["path"] for m in modules if m["path"]))
    with pytest.raises(InputError, match="incomplete model folder, missing"):
        publish.run(PublishConfig(), model_dir, decision, metrics, tmp_path / "export")
    assert not (tmp_path / "export").exists()


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["inference-free", "csr"])
def test_every_architecture_publishes_its_model_and_int8_export(tmp_path, tiny_beir_dir, architecture):
    """The INT8 folder quantize wrote is exported; an inference-free model also gets the search-engine
    layout, whose idf.json is byte for byte the table the INT8 export serves queries from."""
    from spladeforge.config import QuantizeConfig
    from spladeforge.stages import quantize
    from tests.architecture_models import save_untrained

    model_dir = save_untrained(architecture, tmp_path / "model")
    report = quantize.run(QuantizeConfig(), model_dir, tiny_beir_dir, tmp_path / "int8", tmp_path / "quantize.json")
    decision, metrics = write_inputs(tmp_path, model_dir)
    summary = publish.run(PublishConfig(), model_dir, decision, metrics, tmp_path / "export",
                          quantize_report=tmp_path / "quantize.json", onnx_dir=tmp_path / "int8",
                          max_ndcg_drop=1.0)
    export = tmp_path / "export"
    assert summary["int8"]["included"] and report["architecture"] == architecture
    card = (export / "README.md").read_text()
    assert f"architecture `{architecture}`" in card
    if architecture == "inference-free":
        assert summary["exported"] == ["README.md", "model", "onnx-int8", "search-engine"]
        assert (export / "search-engine" / "idf.json").read_bytes() == (export / "onnx-int8" / "idf.json").read_bytes()
        assert "- splade\n" in card
    else:
        assert summary["exported"] == ["README.md", "model", "onnx-int8"]
        assert "- csr\n" in card and "not vocabulary terms" in card


def test_publish_follows_registers_int8_verdict_and_the_card_shows_the_interval(tmp_path, model_dir):
    """The decision withheld INT8 (its drop beyond the threshold register applied): publish leaves it out
    even where its own max_ndcg_drop would let it in, and the card gives the gate's interval."""
    decision, metrics = write_inputs(tmp_path, model_dir)
    report, onnx_dir = write_int8(tmp_path, change=-0.015)
    written = json.loads(decision.read_text())
    withheld = {"included": False, "max_ndcg_drop": 0.01, "ndcg_at_10_change": -0.015,
                "reason": "its NDCG@10 change -0.0150 exceeds the allowed drop of 0.01 (quantize.max_ndcg_drop)"}
    interval = {"mean_delta": 0.0123, "low": 0.0041, "high": 0.0207, "confidence": 0.9, "samples": 2000,
                "queries": 150, "seed": 42}
    decision.write_text(json.dumps({**written, "int8": withheld, "interval": interval,
                                    "candidate_set_sha256": "ab" * 32, "reference_set_sha256": "ab" * 32}))
    summary = publish.run(PublishConfig(), model_dir, decision, metrics, tmp_path / "export", quantize_report=report,
                          onnx_dir=onnx_dir, max_ndcg_drop=0.02)
    assert summary["int8"] == withheld and not (tmp_path / "export" / "onnx-int8").exists()
    card = (tmp_path / "export" / "README.md").read_text()
    assert "Not included: its NDCG@10 change -0.0150 exceeds the allowed drop of 0.01" in card
    assert ("mean NDCG@10 gain +0.0123, 90% interval [+0.0041, +0.0207] (paired bootstrap over queries, "
            "2000 resamples)") in card and "same 150 queries" in card

    included = {"included": True, "max_ndcg_drop": 0.02, "ndcg_at_10_change": -0.015, "reason": "within"}
    decision.write_text(json.dumps({**written, "int8": included}))
    summary = publish.run(PublishConfig(), model_dir, decision, metrics, tmp_path / "export2",
                          quantize_report=report, onnx_dir=onnx_dir, max_ndcg_drop=0.0)
    assert summary["int8"]["included"] and (tmp_path / "export2" / "onnx-int8" / "model_int8.onnx").is_file()
