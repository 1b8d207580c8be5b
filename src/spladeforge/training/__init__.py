"""Training pieces sentence-transformers lacks: IDF-aware FLOPS, scale phases, safe tracking, DDP launch."""

from __future__ import annotations
