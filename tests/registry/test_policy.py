"""The promotion gate on its own: every check, and the invariant that it never lowers the champion."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spladeforge.registry.policy import base_key, decide

figures = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
candidates = st.lists(st.tuples(figures, st.floats(min_value=1.0, max_value=2000.0)), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(candidates=candidates, base=figures, min_delta=st.floats(min_value=0.0, max_value=0.1),
       min_ndcg=st.one_of(st.none(), figures), max_dims=st.one_of(st.none(), st.floats(1.0, 2000.0)))
def test_no_sequence_of_candidates_lowers_the_champion(candidates, base, min_delta, min_ndcg, max_dims):
    """Whatever versions arrive, in whatever order, the champion's metric never goes down."""
    champion: tuple[str, float, float] | None = None
    for number, (value, dims) in enumerate(candidates, start=1):
        decision = decide(
            value, min_delta=min_delta, base_value=base, min_ndcg=min_ndcg, doc_active_dims=dims,
            max_doc_active_dims=max_dims, champion_value=champion[1] if champion else None,
            champion_version=champion[0] if champion else None,
            champion_doc_active_dims=champion[2] if champion else None,
        )
        if decision.promoted:
            assert champion is None or value >= champion[1]
            assert max_dims is None or dims <= max_dims
            assert min_ndcg is None or value >= min_ndcg - 1e-9
            champion = (str(number), value, dims)


def test_each_check_is_named_with_both_figures():
    """A refusal lists every failed check, and the reason carries both versions' figures."""
    decision = decide(0.52, min_delta=0.05, champion_value=0.50, champion_version="3", min_ndcg=0.6,
                      doc_active_dims=900.0, max_doc_active_dims=500.0, champion_doc_active_dims=400.0)
    assert not decision.promoted
    assert decision.failed == ["min_delta", "min_ndcg", "max_doc_active_dims"]
    assert "0.5200 falls short of champion v3 0.5000" in decision.reason
    assert "below the floor min_ndcg 0.6" in decision.reason
    assert "900.0 exceed the ceiling max_doc_active_dims 500; champion v3 had 400.0" in decision.reason
    tags = decision.tags()
    assert tags["gate.failed"] == "min_delta,min_ndcg,max_doc_active_dims"
    assert tags["gate.candidate_doc_active_dims"] == "900.0" and tags["gate.reference_value"] == "0.5"


def test_equal_to_champion_within_tolerance_is_not_a_regression():
    """min_delta 0 promotes an equal figure but never one a hair below the champion."""
    assert decide(0.5, min_delta=0.0, champion_value=0.5, champion_version="1").promoted
    assert not decide(0.5 - 1e-12, min_delta=0.0, champion_value=0.5, champion_version="1").promoted


def test_other_metric_uses_its_base_twin_and_the_ndcg_floor_needs_ndcg():
    assert base_key("model_mrr_at_10") == "base_mrr_at_10"
    decision = decide(0.3, metric="model_mrr_at_10", min_delta=0.0, base_value=0.2, candidate_ndcg=0.4,
                      min_ndcg=0.35)
    assert decision.promoted and decision.metric == "model_mrr_at_10"
    with pytest.raises(ValueError, match="min_ndcg"):
        decide(0.3, metric="model_mrr_at_10", min_delta=0.0, base_value=0.2, min_ndcg=0.35)


def test_gate_settings_are_validated_at_the_edge():
    """register.metric must name a model_ figure; the floor and ceiling must be in range."""
    from pydantic import ValidationError

    from spladeforge.config import RegisterConfig

    assert RegisterConfig().metric == "model_ndcg_at_10" and RegisterConfig().min_ndcg is None
    for bad in ({"metric": "ndcg_at_10"}, {"min_ndcg": 1.5}, {"max_doc_active_dims": 0}):
        with pytest.raises(ValidationError):
            RegisterConfig(**bad)
