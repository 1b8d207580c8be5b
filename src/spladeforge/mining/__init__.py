"""Hard-negative mining for the `mine` stage.

- `negatives`: training tuples from a rank window, with seeded random fill-in (`mine_tuples`).
- `bm25`, `dense`: the rankers (BM25; a bi-encoder with a relative-margin guard).
- `teacher`: teacher scores for distillation; `shards`: shard folders and their merge.
"""
