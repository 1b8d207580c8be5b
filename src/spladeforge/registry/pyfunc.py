"""The registered model as an MLflow pyfunc: texts in, `{token: weight}` dicts out.

Logged as "models from code" (https://mlflow.org/docs/latest/ml/model/models-from-code/): MLflow
copies this file into the model and executes it on load, so the served model needs only mlflow
and sentence-transformers, not spladeforge, and nothing is unpickled. The file therefore imports
nothing from spladeforge.
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel

# The key under which `log_model(artifacts=...)` stores the SparseEncoder folder.
MODEL_ARTIFACT = "sparse_encoder"
INPUT_TYPES = ("document", "query")


def _texts(model_input: Any) -> list[str]:
    """Accept a list/tuple of strings, one string, a Series, an array or a one-column DataFrame."""
    import pandas as pd

    if isinstance(model_input, str):
        return [model_input]
    if isinstance(model_input, pd.DataFrame):
        column = "text" if "text" in model_input.columns else model_input.columns[0]
        model_input = model_input[column]
    if hasattr(model_input, "tolist"):
        model_input = model_input.tolist()
    texts = list(model_input)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise ValueError(f"expected texts (str), got {', '.join(sorted(set(bad)))}")
    return texts


def _latent_weights(embeddings, top_k: int | None) -> list[dict[str, float]]:
    """{dimension index: weight} per row: a CSR model's dimensions are autoencoder latents, which
    `SparseEncoder.decode` would misname as the vocabulary tokens with the same ids."""
    import torch

    rows = []
    for row in embeddings.to_dense() if embeddings.is_sparse else embeddings:
        ids = torch.nonzero(row).flatten()
        weights = row[ids]
        order = torch.argsort(weights, descending=True)[:top_k]
        rows.append({str(int(i)): float(w) for i, w in zip(ids[order], weights[order], strict=True)})
    return rows


class SparseEncoderModel(PythonModel):
    """Encode texts with the sparse model and return each one's non-zero weights.

    Params: `input_type` "document" (default) or "query" picks `encode_document` or
    `encode_query` (an inference-free model routes queries to its token-weight lookup, documents
    to its encoder); `top_k` > 0 keeps only the k heaviest entries (0 keeps all). Keys are
    vocabulary tokens, or for a CSR model the latent dimension's index as a string.
    """

    def load_context(self, context) -> None:
        from sentence_transformers.sparse_encoder import SparseEncoder

        folder = context.artifacts[MODEL_ARTIFACT]
        self.model = SparseEncoder(folder, local_files_only=True)
        self.latent = any(type(module).__name__ == "SparseAutoEncoder" for module in self.model)

    # `model_input` is left unannotated on purpose: MLflow 3 turns a type hint into the model
    # signature and then drops the params schema (input_type, top_k) given at logging time. The
    # price is its "Add type hints" UserWarning, which it re-enables inside its own calls.
    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> list[dict[str, float]]:
        params = params or {}
        input_type = params.get("input_type", "document")
        if input_type not in INPUT_TYPES:
            raise ValueError(f"params.input_type must be one of {', '.join(INPUT_TYPES)}, got {input_type!r}")
        top_k = int(params.get("top_k", 0) or 0)
        texts = _texts(model_input)
        if not texts:
            return []
        encode = self.model.encode_document if input_type == "document" else self.model.encode_query
        embeddings = encode(texts, convert_to_tensor=True, convert_to_sparse_tensor=False)
        if self.latent:
            return _latent_weights(embeddings, top_k if top_k > 0 else None)
        decoded = self.model.decode(embeddings, top_k=top_k if top_k > 0 else None)
        return [{token: float(weight) for token, weight in pairs} for pairs in decoded]


if __name__ != "spladeforge.registry.pyfunc":
    # Executed by MLflow as a code file (under a generated module name), not imported as part of
    # the package: register the model object, as models-from-code requires.
    mlflow.models.set_model(SparseEncoderModel())
