"""Near-duplicate detection: MinHash LSH proposes candidates, the exact shingle Jaccard decides."""

from __future__ import annotations

from spladeforge.dedup import NearDuplicateIndex, jaccard, shingles


def test_dedup_index_is_exact_above_candidates():
    """LSH only proposes; the exact Jaccard decides, so a pair just below the threshold stays."""
    a = " ".join(f"w{i}" for i in range(100))
    b = " ".join("x" if i in (20, 50, 80) else f"w{i}" for i in range(100))  # Jaccard ~0.73
    sim = jaccard(shingles(a), shingles(b))
    index = NearDuplicateIndex(threshold=0.9)
    index.add("a", a)
    assert 0.6 < sim < 0.9 and index.match(b) is None
    assert NearDuplicateIndex(threshold=sim - 0.01).add_unless_duplicate("b", b) is None
    low = NearDuplicateIndex(threshold=sim - 0.01)
    low.add("a", a)
    hit = low.match(b)
    assert hit is not None and hit[0] == "a"
