"""Hybrid fusion checked by hand: min-max per query, weighted sum, missing documents count as 0."""

from __future__ import annotations

import pytest

from spladeforge.evaluation.fusion import fuse, min_max


def test_min_max_per_query():
    assert min_max({"a": 10.0, "b": 15.0, "c": 20.0}) == {"a": 0.0, "b": 0.5, "c": 1.0}
    assert min_max({"a": 3.0, "b": 3.0}) == {"a": 1.0, "b": 1.0}
    assert min_max({}) == {}


def test_fusion_by_hand():
    """Sparse (10, 15, 20) -> (0, .5, 1); dense (.2, .6) on (b, d) -> (0, 1).
    With weight .25 on sparse: a = .25*0 + .75*0 (missing from dense) = 0; b = .25*.5 + .75*0 = .125;
    c = .25*1 + 0 (missing from dense) = .25; d = 0 (missing from sparse) + .75*1 = .75."""
    sparse = {"q": {"a": 10.0, "b": 15.0, "c": 20.0}}
    dense = {"q": {"b": 0.2, "d": 0.6}}
    fused = fuse(sparse, dense, weight=0.25)
    assert fused["q"] == pytest.approx({"a": 0.0, "b": 0.125, "c": 0.25, "d": 0.75})
    top = fuse(sparse, dense, weight=0.25, k=2)["q"]
    assert list(top) == ["d", "c"]


def test_weight_one_keeps_the_sparse_order_and_bad_weight_is_refused():
    sparse, dense = {"q": {"a": 1.0, "b": 2.0}}, {"q": {"a": 9.0, "b": 1.0}}
    fused = fuse(sparse, dense, weight=1.0)["q"]
    assert max(fused, key=fused.get) == "b"
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fuse(sparse, dense, weight=1.5)
