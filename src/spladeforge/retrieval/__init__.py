"""Retrieval: BM25 (`bm25`), the sparse inverted index (`sparse_index`), and searching the chunk corpus
with a named system (`searchers`, behind `spladeforge search`) or exporting it (`engine_export`)."""
