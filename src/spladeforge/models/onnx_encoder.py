"""Encode with an exported SPLADE ONNX graph through onnxruntime, like a SparseEncoder would.

`OnnxSparseEncoder` offers the part of SparseEncoder's interface that retrieval needs
(`encode_query`, `encode_document`, `encode`, `similarity`) and returns the same thing: a sparse
COO torch tensor [n, vocab]. So the INT8 model is evaluated by exactly the MTEB path that
evaluates the torch model.

A vocabulary-pruned graph (`models.vocab_pruning`) outputs only the kept tokens; its columns are
mapped back to vocabulary ids here, so callers see the same [n, vocab] tensors either way.

An inference-free export encodes queries without the graph: tokenize, look the tokens up in the
`idf.json` table (`models.static_query`), exactly as the trained model's static query route does.
A CSR export's columns are latent dimensions, not tokens: `decode` names them by index.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from spladeforge.errors import InputError
from spladeforge.models.onnx_export import SIDECAR
from spladeforge.models.static_query import StaticQueryEncoder


class OnnxSparseEncoder:
    """SPLADE inference on a folder written by `export_onnx` / `quantize_int8`."""

    def __init__(
        self, folder: str | Path, model_file: str | None = None, *, threads: int | None = None
    ) -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        folder = Path(folder)
        sidecar = folder / SIDECAR
        if not sidecar.is_file():
            raise InputError(f"{sidecar}: file not found "
                             "(expected the output folder of `spladeforge quantize`)")
        self.meta = json.loads(sidecar.read_text())
        self.path = folder / (model_file or self.meta["model_file"])
        pruned = self.meta.get("pruned") or {}
        # Output column -> vocabulary id, for a pruned graph; None when the graph is full width.
        self.token_ids: np.ndarray | None = None
        if self.path.name in pruned.get("model_files", []):
            ids_file = folder / pruned["token_ids_file"]
            if not ids_file.is_file():
                raise InputError(f"{ids_file}: file not found (the token ids of the pruned model "
                                 f"{self.path.name})")
            self.token_ids = np.asarray(json.loads(ids_file.read_text()), dtype=np.int64)
        self.max_seq_length: int = self.meta["max_seq_length"]
        self.similarity_fn_name: str = self.meta.get("similarity_fn_name", "dot")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        # Inference-free: queries are a lookup in the token-weight table, never a graph run.
        self.static_queries: StaticQueryEncoder | None = None
        if self.meta.get("query_weights"):
            self.static_queries = StaticQueryEncoder.from_table(
                folder / self.meta["query_weights"], self.tokenizer, self.meta.get("prompts", {}).get("query") or "")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def encode(
        self,
        inputs: str | list[str],
        batch_size: int = 32,
        show_progress_bar: bool = False,
        convert_to_sparse_tensor: bool = True,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Return [n, vocab] SPLADE weights (a 1-D tensor for a single string)."""
        single = isinstance(inputs, str)
        texts = [inputs] if single else list(inputs)
        # Longest first, as sentence-transformers does, so a batch carries little padding.
        order = np.argsort([-len(text) for text in texts], kind="stable")
        rows, cols, values = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, np.float32)]
        for start in tqdm(range(0, len(texts), batch_size), desc="Encoding (onnxruntime)",
                          disable=not show_progress_bar):
            index = order[start:start + batch_size]
            weights = self._run([texts[i] for i in index])
            batch_rows, batch_cols = np.nonzero(weights)
            rows.append(index[batch_rows])
            cols.append(batch_cols if self.token_ids is None else self.token_ids[batch_cols])
            values.append(weights[batch_rows, batch_cols])
        indices = np.stack([np.concatenate(rows), np.concatenate(cols)]).astype(np.int64)
        embeddings = torch.sparse_coo_tensor(
            torch.from_numpy(indices), torch.from_numpy(np.concatenate(values)),
            size=(len(texts), self.meta["vocab_size"]), check_invariants=True,
        ).coalesce()
        if not convert_to_sparse_tensor:
            embeddings = embeddings.to_dense()
        return embeddings[0] if single else embeddings

    def encode_query(self, inputs: str | list[str], **kwargs: Any) -> torch.Tensor:
        if self.static_queries is not None:
            return self._lookup_queries(inputs, kwargs.get("convert_to_sparse_tensor", True))
        return self.encode(self._with_prompt("query", inputs), **kwargs)

    def _lookup_queries(self, inputs: str | list[str], convert_to_sparse_tensor: bool) -> torch.Tensor:
        """[n, vocab] query weights from the token-weight table (the table adds the query prompt)."""
        single = isinstance(inputs, str)
        rows, cols, values = [], [], []
        for row, text in enumerate([inputs] if single else inputs):
            ids, weights = self.static_queries.encode(text)
            rows.append(np.full(len(ids), row, dtype=np.int64))
            cols.append(ids)
            values.append(weights)
        n = len(rows)
        indices = np.stack([np.concatenate(rows or [np.empty(0, np.int64)]),
                            np.concatenate(cols or [np.empty(0, np.int64)])])
        embeddings = torch.sparse_coo_tensor(
            torch.from_numpy(indices), torch.from_numpy(np.concatenate(values or [np.empty(0, np.float32)])),
            size=(n, self.meta["vocab_size"]), is_coalesced=True, check_invariants=False)
        if not convert_to_sparse_tensor:
            embeddings = embeddings.to_dense()
        return embeddings[0] if single else embeddings

    def encode_document(self, inputs: str | list[str], **kwargs: Any) -> torch.Tensor:
        return self.encode(self._with_prompt("document", inputs), **kwargs)

    def _with_prompt(self, kind: str, inputs: str | list[str]) -> str | list[str]:
        prompt = self.meta.get("prompts", {}).get(kind) or ""
        if not prompt:
            return inputs
        return prompt + inputs if isinstance(inputs, str) else [prompt + text for text in inputs]

    def decode(self, embedding: torch.Tensor, top_k: int | None = None) -> list[tuple[str, float]]:
        """(token, weight) pairs of one [vocab] embedding, heaviest first, as SparseEncoder.decode."""
        dense = embedding.to_dense() if embedding.is_sparse else embedding
        weights, ids = torch.sort(dense, descending=True)
        keep = weights > 0
        weights, ids = weights[keep][:top_k], ids[keep][:top_k]
        if self.meta.get("output") == "latent":  # CSR: dimensions of the autoencoder, not tokens
            return [(str(i), w) for i, w in zip(ids.tolist(), weights.tolist(), strict=True)]
        tokens = self.tokenizer.convert_ids_to_tokens(ids.tolist())
        return list(zip(tokens, weights.tolist(), strict=True))

    def similarity(self, embeddings1: torch.Tensor, embeddings2: torch.Tensor) -> torch.Tensor:
        from sentence_transformers import SimilarityFunction

        return SimilarityFunction.to_similarity_fn(self.similarity_fn_name)(embeddings1, embeddings2)

    def _run(self, texts: list[str]) -> np.ndarray:
        features = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length,
                                  return_tensors="np")
        feeds = {name: features[name].astype(np.int64) for name in self.input_names}
        return self.session.run(None, feeds)[0]
