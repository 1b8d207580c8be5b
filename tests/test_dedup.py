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


def test_texts_without_words_are_never_near_duplicates():
    """Two empty shingle sets have nothing in common: emoji- or symbol-only texts are all kept
    (Jaccard 0, not 1), and a real text is never matched against one."""
    empty = shingles("🙂🙂 ★★")
    assert len(empty) == 0 and jaccard(empty, shingles("🎉 ♥♥")) == 0.0 and jaccard(empty, empty) == 0.0
    index = NearDuplicateIndex(threshold=0.5)
    assert index.add_unless_duplicate("a", "🙂🙂 ★★") is None
    assert index.add_unless_duplicate("b", "🎉 ♥♥ ✓") is None
    assert index.add_unless_duplicate("c", "🙂🙂 ★★") is None  # exact repeats are the callers' exact-text check
    assert index.match("plain words in a sentence") is None


def test_split_keeps_held_out_chunks_without_words():
    """split's leak check uses the same index: a wordless held-out chunk leaks nothing."""
    from spladeforge.config import SplitConfig
    from spladeforge.splitting import leaking_chunks

    chunks = {f"c{i}": {"id": f"c{i}", "doc_id": f"d{i}", "text": text}
              for i, text in enumerate(["🙂🙂 ★★", "🎉 ♥♥ ✓", "◆◆◆ ▲▲", "✈✈ ☂"])}
    sides = {"d0": "test", "d1": "train", "d2": "train", "d3": "train"}
    assert leaking_chunks(SplitConfig(), chunks, sides) == set()
