"""Term contributions add up to the score, and expansion terms are exactly the tokens missing from the text.

An encoder double returns vectors chosen here over BERT's real vocabulary, so which token is an
expansion is known in advance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spladeforge.config import Params
from spladeforge.retrieval.chunks import load_chunks
from spladeforge.retrieval.explain import Explainer
from spladeforge.retrieval.results import EXPANSION_MARK, system_results, term_text
from spladeforge.retrieval.searchers import SparseModel, SparseSearcher, open_searcher
from tests.retrieval.conftest import write_chunks

CORPUS = {"gz": ("gzip", "The gzip module compresses files."), "db": ("sqlite3", "A database in one file.")}


class ChosenVectors:
    """Documents and queries get the token weights given here (by token string)."""

    def __init__(self, tokenizer, docs: list[dict[str, float]], query: dict[str, float]) -> None:
        self.tokenizer, self.docs, self.query = tokenizer, docs, query
        self.vocab = tokenizer.vocab_size

    def _tensor(self, rows: list[dict[str, float]]) -> torch.Tensor:
        dense = torch.zeros(len(rows), self.vocab)
        for i, row in enumerate(rows):
            for token, weight in row.items():
                dense[i, self.tokenizer.convert_tokens_to_ids(token)] = weight
        return dense.to_sparse()

    def encode_document(self, texts, **kwargs):
        assert len(texts) == len(self.docs)
        return self._tensor(self.docs)

    def encode_query(self, texts, **kwargs):
        return self._tensor([self.query] * len(texts))


@pytest.fixture()
def searcher(base_model, tmp_path):
    chunks = load_chunks(write_chunks(tmp_path / "chunks.jsonl", corpus=CORPUS))
    encoder = ChosenVectors(base_model.tokenizer,
                            docs=[{"module": 2.0, "archive": 1.0, "file": 0.5, "files": 0.8}, {"file": 1.0}],
                            query={"module": 1.0, "archive": 0.5, "file": 0.25})
    model = SparseModel(encoder, "chosen", "test double", base_model.tokenizer)
    return SparseSearcher("chosen", model, chunks, tmp_path / "cache")


def test_contributions_add_up_to_the_score_and_expansions_are_marked(searcher):
    hits = searcher.search("anything", k=2)
    assert [h.chunk_id for h in hits] == ["gz#0", "db#0"]
    terms = Explainer(searcher).terms("anything", hits)
    gz = terms["gz#0"]
    assert [(t.token, t.contribution, t.expansion) for t in gz] == [
        ("module", 2.0, False), ("archive", 0.5, True), ("file", 0.125, True)]  # "files" is one token
    assert sum(t.contribution for t in gz) == pytest.approx(hits[0].score)
    assert gz[1].query_weight == 0.5 and gz[1].doc_weight == 1.0
    assert [(t.token, t.expansion) for t in terms["db#0"]] == [("file", False)]
    assert Explainer(searcher).expansion_terms("gz#0") == [("archive", 1.0), ("file", 0.5)]
    assert term_text(gz[1].as_dict()) == f"archive{EXPANSION_MARK} 0.50x1.00=0.50"


def test_latent_dimensions_are_named_by_index_and_never_expansions(searcher):
    model = searcher.model
    latent = SparseSearcher("csr", SparseModel(model.encoder, "latent", "test double", model.tokenizer, latent=True),
                            searcher.chunks, searcher.chunks.path.parent / "cache2")
    result = system_results(latent, "anything", k=1)
    assert result["dimensions"] == "latent"
    module_id = str(model.tokenizer.convert_tokens_to_ids("module"))
    assert result["hits"][0]["terms"][0]["token"] == module_id
    assert not any(t["expansion"] for t in result["hits"][0]["terms"])


@pytest.mark.slow
def test_a_real_model_expands_documents_and_its_terms_explain_its_score(model_dir, chunks_path, tmp_path):
    searcher = open_searcher("model", chunks_path, model_dir=model_dir, cache_dir=tmp_path / "cache",
                             params=Params())
    result = system_results(searcher, "compress a file with gzip", k=1, top_terms=10_000)
    hit = result["hits"][0]
    assert hit["chunk_id"] == "d2#0" and result["query_side"] == "encoder"
    assert sum(t["contribution"] for t in hit["terms"]) == pytest.approx(hit["score"], rel=1e-5)
    text_ids = set(searcher.model.tokenizer("gzip " + "The gzip module compresses and decompresses files in the "
                                            "gzip format, like the GNU gzip and gunzip programs.",
                                            add_special_tokens=False)["input_ids"])
    for term in hit["terms"]:
        token_id = searcher.model.tokenizer.convert_tokens_to_ids(term["token"])
        assert term["expansion"] == (token_id not in text_ids), term
    assert any(t["expansion"] for t in hit["terms"])
    assert np.all(np.diff([t["contribution"] for t in hit["terms"]]) <= 0)
