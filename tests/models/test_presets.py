"""Every preset in configs/ builds its model and loss, hub ids stood in for by tiny local models.

No download: a hub id in a preset is mapped to a tiny random model saved under the same relative
path in the working directory (`resolve_model` takes an existing folder before a hub id). The
stand-ins have the shape the real models publish: a BERT masked-LM for the SPLADE bases, and for
mixedbread-ai/mxbai-embed-large-v1 a sentence-transformers folder with CLS pooling and its query
prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spladeforge.config import load_params
from spladeforge.models.architectures import build_model, corpus_idf, initial_weights
from spladeforge.training.losses import build_loss
from tests.architecture_models import CORPUS

REPO = Path(__file__).resolve().parents[2]
PRESETS = sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
MXBAI_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "

pytestmark = pytest.mark.slow


def _tiny_bert(folder: Path, masked_lm: bool, hidden: int = 32) -> None:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertModel

    from spladeforge.models.builtin import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:splade-tiny"))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    (BertForMaskedLM if masked_lm else BertModel)(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _mxbai_stand_in(folder: Path) -> None:
    """A sentence-transformers folder laid out as mxbai-embed-large-v1's: Transformer + CLS Pooling, query
    prompt. Width 256 instead of 1024: h100-csr's top-k of 256 (auxiliary 512) must fit 4 x width."""
    _tiny_bert(folder, masked_lm=False, hidden=256)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 256, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False}))
    (folder / "config_sentence_transformers.json").write_text(json.dumps({
        "prompts": {"query": MXBAI_QUERY_PROMPT, "passage": ""}, "default_prompt_name": None,
        "similarity_fn_name": "cosine"}))


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> Path:
    """A working directory holding a stand-in for every hub id the presets name."""
    root = tmp_path_factory.mktemp("hub")
    for preset in PRESETS:
        train = load_params(REPO / "params.yaml", [f"preset={preset}"]).train
        ref = train.base_model
        if ref.startswith("builtin:") or (root / ref).exists():
            continue
        if ref == "mixedbread-ai/mxbai-embed-large-v1":
            _mxbai_stand_in(root / ref)
        else:
            _tiny_bert(root / ref, masked_lm=True)
    return root


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_builds_its_model_and_loss(preset, stand_ins, monkeypatch):
    monkeypatch.chdir(stand_ins)
    cfg = load_params(REPO / "params.yaml", [f"preset={preset}"]).train
    model = build_model(cfg, "cpu", CORPUS)
    # idf-flops weighs the FLOPS terms by corpus IDF, which training computes from the passages.
    idf = corpus_idf(model.tokenizer, CORPUS) if cfg.document_regularizer == "idf-flops" else None
    build_loss(cfg, model, None, idf)
    assert model.max_seq_length == cfg.max_seq_length
    names = [type(m).__name__ for m in model]
    if cfg.architecture == "splade":
        assert names == ["MLMTransformer", "SpladePooling"] or names == ["Transformer", "SpladePooling"]
    elif cfg.architecture == "inference-free":
        assert names == ["Router"] and initial_weights(model)
    else:
        assert names[-1] == "SparseAutoEncoder" and model[-1].k == cfg.csr_k
    embedding = model.encode_document(["The gzip module compresses files."])
    assert embedding.coalesce().values().numel() > 0


def test_csr_over_mxbai_keeps_its_cls_pooling_and_query_prompt(stand_ins, monkeypatch):
    """CSR is built from the base model's own configuration, not a fixed mean pooling."""
    monkeypatch.chdir(stand_ins)
    cfg = load_params(REPO / "params.yaml", ["preset=h100-csr"]).train
    model = build_model(cfg, "cpu", CORPUS)
    assert model[1].pooling_mode == "cls"
    assert model.prompts["query"] == MXBAI_QUERY_PROMPT
    assert model.max_active_dims == cfg.csr_k


def test_csr_over_a_plain_transformer_falls_back_to_mean_pooling_with_a_note(tmp_path, caplog):
    """A folder without a sentence-transformers configuration: mean pooling, and the log says so."""
    from spladeforge.config import TrainConfig

    _tiny_bert(tmp_path / "plain", masked_lm=False, hidden=64)
    cfg = TrainConfig(architecture="csr", base_model=str(tmp_path / "plain"), query_regularizer_weight=0.0,
                      csr_k=16, csr_k_aux=32, max_seq_length=32)
    with caplog.at_level("INFO", logger="spladeforge.models.architectures"):
        model = build_model(cfg, "cpu", CORPUS)
    assert [type(m).__name__ for m in model] == ["Transformer", "Pooling", "SparseAutoEncoder"]
    assert model[1].pooling_mode == "mean" and model.prompts in ({}, {"query": "", "document": ""})
    assert "no sentence-transformers configuration" in caplog.text
