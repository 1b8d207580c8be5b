"""Training a sparse encoder: `fit` runs it, `outputs` saves the model folder and curves,
`launch`/`worker` run it data-parallel under torchrun; plus the pieces sentence-transformers
lacks: IDF-aware FLOPS, scale phases, safe tracking."""

from __future__ import annotations
