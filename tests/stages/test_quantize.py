"""The quantize stage end to end: INT8 folder, a complete report, quality close to fp32."""

from __future__ import annotations

import json

import pytest

from spladeforge.config import QuantizeConfig
from spladeforge.errors import InputError
from spladeforge.models.onnx_encoder import OnnxSparseEncoder
from spladeforge.stages import quantize
from spladeforge.text import passage
from tests.conftest import TINY_CORPUS

FIELDS = ("fp32_ndcg_at_10", "int8_ndcg_at_10", "ndcg_at_10_change", "encode_speed_ratio",
          "fp32_size_bytes", "int8_size_bytes", "int8_doc_active_dims")


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, _saved_model_dir, tiny_beir_dir):
    root = tmp_path_factory.mktemp("quantize")
    out_dir, report_path = root / "int8", root / "quantize.json"
    returned = quantize.run(QuantizeConfig(), _saved_model_dir, tiny_beir_dir, out_dir, report_path)
    return returned, json.loads(report_path.read_text()), out_dir


@pytest.mark.slow
def test_int8_folder_holds_model_tokenizer_and_sidecar(quantized):
    _, _, out_dir = quantized
    names = {p.name for p in out_dir.iterdir()}
    assert {"model_int8.onnx", "spladeforge.json", "tokenizer_config.json"} <= names
    assert "model.onnx" not in names  # the fp32 graph is only a step on the way
    meta = json.loads((out_dir / "spladeforge.json").read_text())
    assert meta["base_model"] == "builtin:splade-tiny" and meta["max_seq_length"] == 128
    assert OnnxSparseEncoder(out_dir).encode_document(["gzip compresses files"]).shape == (1, 30522)


@pytest.mark.slow
def test_report_has_every_field_with_sane_values(quantized):
    returned, report, _ = quantized
    assert returned == report
    assert all(isinstance(report[f], int | float) for f in FIELDS)
    assert 0 < report["int8_size_bytes"] < report["fp32_size_bytes"] / 2
    assert 0 < report["fp32_ndcg_at_10"] <= 1 and 0 < report["int8_ndcg_at_10"] <= 1
    assert report["ndcg_at_10_change"] == pytest.approx(report["int8_ndcg_at_10"] - report["fp32_ndcg_at_10"],
                                                        abs=1e-4)
    assert report["encode_speed_ratio"] > 0
    assert 10 < report["int8_doc_active_dims"] < 1000
    assert report["onnx_fp32_max_abs_diff"] < 1e-4


@pytest.mark.slow
def test_int8_quality_stays_close_to_fp32(quantized):
    _, report, _ = quantized
    assert report["ndcg_at_10_change"] >= -0.1
    fp32_dims, int8_dims = report["fp32_doc_active_dims"], report["int8_doc_active_dims"]
    assert abs(int8_dims - fp32_dims) < 0.2 * fp32_dims


def test_missing_task_folder_fails_before_export(tmp_path, model_dir):
    with pytest.raises(InputError, match="BEIR folder not found"):
        quantize.run(QuantizeConfig(), model_dir, tmp_path / "nowhere", tmp_path / "out", tmp_path / "r.json")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, _saved_model_dir, tiny_beir_dir):
    root = tmp_path_factory.mktemp("quantize-pruned")
    report = quantize.run(QuantizeConfig(prune_vocabulary=True), _saved_model_dir, tiny_beir_dir,
                          root / "int8", root / "quantize.json")
    return report, root / "int8"


@pytest.mark.slow
def test_pruned_model_is_reported_and_decodes_to_vocabulary_tokens(pruned, base_model):
    """Pruning keeps a few hundred head rows, reports size/quality/speed, and the pruned encoder
    returns the same vocabulary ids (and tokens) as the full one on the corpus it was pruned on."""
    from spladeforge.models.vocab_pruning import PRUNED_INT8_FILE

    report, out_dir = pruned
    assert 0 < report["pruned_vocab_size"] < 30522 // 10
    assert report["pruned_int8_size_bytes"] < report["int8_size_bytes"]
    assert report["pruned_ndcg_at_10_change"] >= -0.1 and report["pruned_encode_speed_ratio"] > 0
    assert report["pruned_onnx_fp32_max_abs_diff"] < 1e-4
    assert not (out_dir / "model_pruned.onnx").exists()
    text = passage({"title": "json", "text": TINY_CORPUS["d1"][1]})  # a corpus passage
    full = OnnxSparseEncoder(out_dir).encode_document([text])[0].coalesce()
    small_encoder = OnnxSparseEncoder(out_dir, PRUNED_INT8_FILE)
    small = small_encoder.encode_document([text])[0].coalesce()
    kept = set(small_encoder.token_ids.tolist())
    assert small.shape == (30522,) and len(kept) == report["pruned_vocab_size"]
    assert set(small.indices()[0].tolist()) == set(full.indices()[0].tolist()) & kept
    tokens = dict(small_encoder.decode(small, top_k=5))
    assert len(tokens) == 5 and "module" in tokens and all(w > 0 for w in tokens.values())


@pytest.mark.slow
def test_evaluate_ranks_the_int8_model_beside_fp32(quantized, _saved_model_dir, tmp_path, tiny_beir_dir):
    """`spladeforge evaluate --int8`: the INT8 model is one more system on the same task."""
    import json

    from spladeforge.config import EvaluateConfig
    from spladeforge.stages import evaluate

    _, _, out_dir = quantized
    model_dir = _saved_model_dir
    cfg = EvaluateConfig(compare_base=False, compare_bm25=False, dense_model=None, latency_queries=0,
                         error_analysis_queries=0)
    evaluate.run(cfg, model_dir, tiny_beir_dir, tmp_path / "eval", tmp_path / "metrics.json", int8_dir=out_dir)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["int8_ndcg_at_10"] <= 1.0
    assert abs(metrics["int8_ndcg_at_10"] - metrics["model_ndcg_at_10"]) <= 0.2
    assert metrics["int8_doc_active_dims"] > 0


@pytest.fixture(scope="module")
def quantized_architectures(tmp_path_factory, tiny_beir_dir):
    """architecture -> (report, INT8 folder) for untrained inference-free and CSR models."""
    from tests.architecture_models import save_untrained

    out = {}
    for architecture, cfg in (("inference-free", QuantizeConfig(prune_vocabulary=True)),
                              ("csr", QuantizeConfig(prune_vocabulary=True))):
        root = tmp_path_factory.mktemp(f"quantize-{architecture}")
        model_dir = save_untrained(architecture, root / "model")
        report = quantize.run(cfg, model_dir, tiny_beir_dir, root / "int8", root / "quantize.json")
        out[architecture] = report, root / "int8"
    return out


@pytest.mark.slow
def test_inference_free_quantizes_its_documents_and_ships_its_query_table(quantized_architectures):
    """The INT8 pair is scored through MTEB: INT8 document graph, queries looked up in idf.json."""
    report, out_dir = quantized_architectures["inference-free"]
    assert (out_dir / "idf.json").is_file() and (out_dir / "model_int8.onnx").is_file()
    assert report["architecture"] == "inference-free" and report["query_encoder"] == "token-weight table"
    assert report["fp32_query_active_dims"] == report["int8_query_active_dims"], "queries are not quantized"
    assert report["ndcg_at_10_change"] >= -0.1 and report["onnx_fp32_max_abs_diff"] < 1e-4
    assert 0 < report["int8_query_latency_p50_ms"] < 1.0, "a query is a tokenizer call and a lookup"
    assert 0 < report["pruned_vocab_size"] < 30522 and report["pruned_ndcg_at_10_change"] >= -0.1


@pytest.mark.slow
def test_csr_quantizes_encoder_and_autoencoder_and_has_no_vocabulary_to_prune(quantized_architectures):
    report, out_dir = quantized_architectures["csr"]
    assert report["architecture"] == "csr" and report["query_encoder"] == "onnx graph"
    assert report["int8_doc_active_dims"] == report["fp32_doc_active_dims"] == 16, "top-k survives INT8"
    assert report["ndcg_at_10_change"] >= -0.2 and report["onnx_fp32_max_abs_diff"] < 1e-3
    assert 0 < report["int8_size_bytes"] < report["fp32_size_bytes"] / 2
    assert report["prune_vocabulary"].startswith("not applicable") and "pruned_vocab_size" not in report
    assert not (out_dir / "model_int8_pruned.onnx").exists()
