"""A tiny random-init BERT masked-LM whose tokenizer knows a corpus's script, for runs in other languages.

The built-in BERT-tiny's English vocabulary turns Hangul into [UNK]: this model's WordPiece vocabulary
is trained on the test corpus itself (`tokenizers`), lower-cased without stripping accents (so
"Größe" keeps its "ö"), and the model is 2 layers of width 32. Random weights: for the mechanics
of the pipeline, not for retrieval quality.
"""

from __future__ import annotations

import json
from pathlib import Path


def corpus_texts(corpus: Path) -> list[str]:
    return [f"{d['title']} {d['text']}" for d in map(json.loads, corpus.read_text(encoding="utf-8").splitlines())]


def save_tiny_mlm(folder: Path, texts: list[str], vocab_size: int = 2000) -> Path:
    """Train a WordPiece vocabulary on `texts` and save it with a random 2-layer BertForMaskedLM in `folder`."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    wordpiece = BertWordPieceTokenizer(lowercase=True, strip_accents=False, handle_chinese_chars=True)
    wordpiece.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=1)
    wordpiece.save_model(str(folder))
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True, strip_accents=False,
                                  model_max_length=512)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertForMaskedLM(config).save_pretrained(folder)
    return folder
