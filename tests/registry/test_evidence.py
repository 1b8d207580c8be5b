"""The paired bootstrap the gate reads: it separates a real gain from noise, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from spladeforge.registry import evidence
from spladeforge.registry.evidence import paired_bootstrap


def scores(values) -> dict[str, float]:
    return {f"q{i:03d}": float(v) for i, v in enumerate(values)}


def test_a_clearly_better_challenger_has_its_whole_interval_above_zero():
    """+0.1 on most of 100 queries: the lower bound is well above 0 and the mean is exact."""
    rng = np.random.default_rng(1)
    reference = rng.uniform(0.2, 0.8, 100)
    candidate = np.clip(reference + 0.1 + rng.normal(0, 0.05, 100), 0, 1)
    interval = paired_bootstrap(scores(candidate), scores(reference), samples=2000, confidence=0.9, seed=0)
    assert interval.mean_delta == pytest.approx((candidate - reference).mean())
    assert 0.05 < interval.low < interval.mean_delta < interval.high
    assert interval.queries == 100 and interval.samples == 2000 and interval.confidence == 0.9


def test_noise_does_not_clear_zero():
    """Per-query changes of +-0.3 around no gain at all: the interval straddles 0."""
    rng = np.random.default_rng(2)
    reference = rng.uniform(0.2, 0.8, 120)
    noise = rng.normal(0, 0.3, 120)
    candidate = reference + noise - noise.mean()  # mean gain exactly 0, large per-query swings
    interval = paired_bootstrap(scores(candidate), scores(reference), samples=2000, seed=0)
    assert interval.low < 0 < interval.high
    assert abs(interval.mean_delta) < 1e-12


def test_the_interval_is_seeded_and_reproducible():
    """Same seed, same interval; another seed moves it only within resampling noise."""
    rng = np.random.default_rng(3)
    reference, candidate = rng.uniform(0, 1, 80), rng.uniform(0, 1, 80)
    a = paired_bootstrap(scores(candidate), scores(reference), seed=7)
    b = paired_bootstrap(scores(candidate), scores(reference), seed=7)
    c = paired_bootstrap(scores(candidate), scores(reference), seed=8)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high) and abs(a.low - c.low) < 0.02


def test_higher_confidence_gives_a_wider_interval():
    rng = np.random.default_rng(4)
    reference, candidate = rng.uniform(0, 1, 60), rng.uniform(0, 1, 60)
    narrow = paired_bootstrap(scores(candidate), scores(reference), confidence=0.8, seed=0)
    wide = paired_bootstrap(scores(candidate), scores(reference), confidence=0.99, seed=0)
    assert wide.low < narrow.low and wide.high > narrow.high


def test_blocks_of_resamples_give_the_same_interval_as_one_block(monkeypatch):
    """The block size bounds memory only: the resampled means do not depend on it."""
    rng = np.random.default_rng(5)
    reference, candidate = rng.uniform(0, 1, 50), rng.uniform(0, 1, 50)
    whole = paired_bootstrap(scores(candidate), scores(reference), samples=500, seed=3)
    monkeypatch.setattr(evidence, "_BLOCK_CELLS", 50 * 7)  # 7 resamples per block
    assert paired_bootstrap(scores(candidate), scores(reference), samples=500, seed=3) == whole


def test_pairing_needs_the_same_queries():
    """Scores of different query sets cannot be paired: the error says so."""
    with pytest.raises(ValueError, match="different queries"):
        paired_bootstrap({"q1": 0.5, "q2": 0.4}, {"q1": 0.5, "q3": 0.4})
    with pytest.raises(ValueError, match="no query"):
        paired_bootstrap({}, {})
