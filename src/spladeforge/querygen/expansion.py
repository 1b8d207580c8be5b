"""The base model's own expansion terms of each chunk, the candidates of `expansion` queries.

A SPLADE document vector weighs the chunk's words and also words it does not contain: the
model's expansion ("libraries" -> "librarian", "building" -> "architecture"). Those terms are what
a searcher may type without the document's own wording, which no extractive query (a copy of the
chunk's words) ever teaches. `expansion_terms` encodes every chunk once with
`generate_queries.expansion_model` and keeps, per chunk, the whole-word vocabulary entries absent
from its passage that other chunks of the corpus use, by the model's weight. The corpus rule
matters with a small base model: BERT-tiny's expansions of a library-science abstract hold
"librarian" and "index" but also names and words from other domains ("johnson", "electricity"),
and weighing by IDF, as keyword queries do, put those first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spladeforge.errors import InputError
from spladeforge.language import Language, dense_length, language
from spladeforge.text import passage

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# A vocabulary entry that is a whole lower-case word of three letters or more: WordPiece
# continuations ("##ing"), punctuation, numbers and [unused] slots are no query words.
_WHOLE_WORD = re.compile(r"[a-z]{3,}")
# In another language: letters only, at least three letters' worth (a Hangul syllable counts 3).
_WHOLE_LETTERS = re.compile(r"[^\W\d_]+")


def _whole_word(entry: str, lang: Language) -> bool:
    if lang.english:
        return _WHOLE_WORD.fullmatch(entry) is not None
    return _WHOLE_LETTERS.fullmatch(entry) is not None and entry == entry.lower() and dense_length(entry) >= 3


def expansion_terms(chunks: list[dict[str, Any]], model_ref: str, chunk_frequency: Mapping[str, int],
                    min_chunks: int, excluded: frozenset[str], pool: int,
                    batch_size: int = 32, lang: Language | None = None) -> tuple[dict[str, list[str]], torch.Tensor]:
    """Chunk id -> up to `pool` terms its document vector holds and its passage lacks, best first;
    and the chunks' document vectors (a sparse tensor, one row per chunk, for the round trip).

    A term must occur in at least `min_chunks` chunks (`chunk_frequency`: chunks per term);
    `excluded` words never become candidates (stopwords, low-information words); `lang` (default
    English) tokenizes the passages and decides which vocabulary entries are whole words.
    """
    lang = lang or language("en")
    from spladeforge.models.build import load_sparse_encoder

    key = "generate_queries.expansion_model"
    model = load_sparse_encoder(model_ref, device="cpu", key=key)
    texts = [passage(c) for c in chunks]
    logger.info("expansion queries: encoding %d chunks with %s", len(texts), model_ref)
    embeddings = model.encode_document(texts, batch_size=batch_size, convert_to_sparse_tensor=True,
                                       show_progress_bar=len(texts) > batch_size)
    vocab = len(model.tokenizer.get_vocab())
    if embeddings.shape[-1] != vocab:
        raise InputError(f"{key}: {model_ref} encodes into {embeddings.shape[-1]} dimensions, not its "
                         f"{vocab}-entry vocabulary, so its dimensions are no words (a CSR model?); accepted: "
                         "a SPLADE or inference-free SPLADE model (the default builtin:splade-tiny)")
    out: dict[str, list[str]] = {}
    for chunk, text, decoded in zip(chunks, texts, model.decode(embeddings), strict=True):
        present = set(lang.words(text))
        weight = {t: w for t, w in decoded if _whole_word(t, lang) and t not in present
                  and t not in excluded and chunk_frequency.get(t, 0) >= min_chunks}
        out[chunk["id"]] = sorted(weight, key=lambda t: (-weight[t], t))[:pool]
    return out, embeddings
