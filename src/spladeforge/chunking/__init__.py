"""Cutting documents into chunks: character windows at natural boundaries, or semantic chunks."""

from spladeforge.chunking.document import chunk_document
from spladeforge.chunking.semantic import load_model, semantic_spans, sentence_spans
from spladeforge.chunking.window import spans

__all__ = ["chunk_document", "load_model", "semantic_spans", "sentence_spans", "spans"]
