"""Retrieval indexes: BM25 (`bm25`) and the sparse inverted index (`sparse_index`)."""
