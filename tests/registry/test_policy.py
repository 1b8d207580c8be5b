"""The promotion gate on its own: every check, and the invariant that it never lowers the champion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spladeforge.registry.evidence import paired_bootstrap
from spladeforge.registry.policy import GuardFigures, base_key, decide, int8_verdict

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


def test_a_tie_keeps_the_champion():
    """min_delta 0 promotes a higher figure, never an equal one (within float noise) or a lower one."""
    assert not decide(0.5, min_delta=0.0, champion_value=0.5, champion_version="1").promoted
    assert not decide(0.5 + 1e-12, min_delta=0.0, champion_value=0.5, champion_version="1").promoted
    assert not decide(0.5 - 1e-12, min_delta=0.0, champion_value=0.5, champion_version="1").promoted
    assert decide(0.5001, min_delta=0.0, champion_value=0.5, champion_version="1").promoted


def test_other_metric_uses_its_base_twin_and_the_ndcg_floor_needs_ndcg():
    assert base_key("model_mrr_at_10") == "base_mrr_at_10"
    decision = decide(0.3, metric="model_mrr_at_10", min_delta=0.0, base_value=0.2, candidate_ndcg=0.4,
                      min_ndcg=0.35)
    assert decision.promoted and decision.metric == "model_mrr_at_10"
    with pytest.raises(ValueError, match="min_ndcg"):
        decide(0.3, metric="model_mrr_at_10", min_delta=0.0, base_value=0.2, min_ndcg=0.35)


def test_gate_settings_are_validated_at_the_edge():
    """register.metric must name a model_ figure or be auto (the default); the floor and ceiling must be in range."""
    from pydantic import ValidationError

    from spladeforge.config import RegisterConfig

    assert RegisterConfig().metric == "auto" and RegisterConfig().min_ndcg is None
    assert RegisterConfig(metric="judged_model_ndcg_at_10").metric == "judged_model_ndcg_at_10"
    for bad in ({"metric": "ndcg_at_10"}, {"min_ndcg": 1.5}, {"max_doc_active_dims": 0}):
        with pytest.raises(ValidationError):
            RegisterConfig(**bad)


def _per_query(values) -> dict[str, float]:
    return {f"q{i:03d}": float(v) for i, v in enumerate(values)}


def _gate(candidate: dict[str, float], reference: dict[str, float], *, champion: bool = True, min_delta=0.0,
          samples=2000, **kwargs):
    """decide() as register calls it: means over the shared queries and their paired bootstrap."""
    interval = paired_bootstrap(candidate, reference, samples=samples, confidence=0.9, seed=0)
    ref = sum(reference.values()) / len(reference)
    where = {"champion_value": ref, "champion_version": "1"} if champion else {"base_value": ref}
    return decide(sum(candidate.values()) / len(candidate), min_delta=min_delta, interval=interval, **where, **kwargs)


shared = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.lists(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=n, max_size=n),
                       min_size=2, max_size=6))


@settings(max_examples=60, deadline=None)
@given(versions=shared, min_delta=st.sampled_from([0.0, 0.01, 0.05]))
def test_the_gate_never_lowers_the_champions_figure_on_the_shared_set(versions, min_delta):
    """Challengers scored on the same queries as the champion, in any order: a promotion always raises
    the champion's mean on that set by more than min_delta, whatever the resampled interval says."""
    champion = _per_query(versions[0])
    for values in versions[1:]:
        challenger = _per_query(values)
        decision = _gate(challenger, champion, min_delta=min_delta, samples=200)
        gain = float(np.mean(values)) - float(np.mean(list(champion.values())))
        if decision.promoted:
            assert gain > min_delta
            assert decision.interval["low"] > min_delta
            champion = challenger
        else:
            assert decision.failed == ["min_delta"]


def test_the_interval_promotes_a_real_gain_and_keeps_the_champion_on_noise():
    """The same mean gain is enough over 200 consistent queries and not over 20 noisy ones."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.7, 200)
    steady = _gate(_per_query(base + 0.02), _per_query(base))
    assert steady.promoted and steady.interval["low"] > 0 and "its lower bound clears min_delta 0" in steady.reason
    noisy_base = rng.uniform(0.3, 0.7, 20)
    swings = rng.normal(0, 0.3, 20)
    noisy = _gate(_per_query(noisy_base + swings - swings.mean() + 0.02), _per_query(noisy_base))
    assert not noisy.promoted and noisy.interval["low"] < 0 < noisy.interval["high"]
    assert "falls short of min_delta" in noisy.reason and "90% interval" in noisy.reason
    assert noisy.tags()["gate.interval.low"] == repr(noisy.interval["low"])


def test_a_judged_guard_refuses_what_the_generated_set_would_promote():
    """Better on generated test queries, worse on judged ones: the guard on the judged folder refuses."""
    rng = np.random.default_rng(1)
    generated = rng.uniform(0.4, 0.9, 150)
    alone = _gate(_per_query(np.clip(generated + 0.05, 0, 1)), _per_query(generated), champion=False)
    assert alone.promoted, "without the guard the generated set promotes"
    judged = GuardFigures("cisi_model_ndcg_at_10", candidate=0.391, reference=0.413, max_drop=0.0)
    guarded = _gate(_per_query(np.clip(generated + 0.05, 0, 1)), _per_query(generated), champion=False,
                    guards=[judged])
    assert not guarded.promoted and guarded.failed == ["guard:cisi_model_ndcg_at_10"]
    assert "guard cisi_model_ndcg_at_10 0.3910 against base model 0.4130 (change -0.0220, no interval) exceeds max_drop 0" \
        in guarded.reason
    tolerant = _gate(_per_query(np.clip(generated + 0.05, 0, 1)), _per_query(generated), champion=False,
                     guards=[GuardFigures("cisi_model_ndcg_at_10", 0.391, 0.413, max_drop=0.03)])
    assert tolerant.promoted


def test_a_judged_folder_as_the_gate_metric_uses_its_base_twin():
    assert base_key("cisi_model_ndcg_at_10") == "cisi_base_ndcg_at_10"
    decision = decide(0.30, metric="cisi_model_ndcg_at_10", min_delta=0.0, base_value=0.32, candidate_ndcg=0.9)
    assert not decision.promoted and decision.metric == "cisi_model_ndcg_at_10"


def test_an_interval_from_other_queries_is_refused():
    """decide() checks that the interval's mean gain is the difference of the two figures it compares."""
    interval = paired_bootstrap({"a": 0.9, "b": 0.8}, {"a": 0.1, "b": 0.1}, samples=100)
    with pytest.raises(ValueError, match="different queries"):
        decide(0.5, min_delta=0.0, base_value=0.4, interval=interval)


def test_int8_is_withheld_beyond_the_drop_and_the_decision_says_so():
    """An INT8 model losing too much is named in the decision; the fp32 verdict does not depend on it."""
    withheld = int8_verdict(-0.05, 0.02)
    assert not withheld["included"] and "exceeds the allowed drop of 0.02" in withheld["reason"]
    assert int8_verdict(-0.02, 0.02)["included"] and not int8_verdict(None, 0.02)["included"]
    assert int8_verdict(0.0, 0.02, given=False)["reason"] == "no INT8 model was given"
    decision = decide(0.6, min_delta=0.0, base_value=0.4, int8=withheld)
    assert decision.promoted and decision.int8 == withheld
    assert "INT8 withheld: its NDCG@10 change -0.0500 exceeds" in decision.reason
    assert decision.tags()["gate.int8"] == "withheld"


def test_gate_metric_and_guards_must_name_evaluated_folders():
    """register.metric and guards accept NDCG@10 on the test split or on a folder evaluate scores."""
    from spladeforge.config import Params, RegisterConfig
    from spladeforge.errors import ConfigError
    from spladeforge.orchestration import validated

    for bad in ("model_mrr_at_10", "ndcg_at_10", "cisi_base_ndcg_at_10"):
        with pytest.raises(ValueError, match="accepted: model_ndcg_at_10"):
            RegisterConfig(metric=bad)
    with pytest.raises(ConfigError, match=r"register.guards\[0\].metric: cisi_model_ndcg_at_10 names no folder"):
        validated({"register": {"guards": [{"metric": "cisi_model_ndcg_at_10"}]}})
    ok = Params(evaluate={"beir_datasets": ["/data/CISI"]},
                register={"metric": "cisi_model_ndcg_at_10", "guards": [{"metric": "model_ndcg_at_10",
                                                                       "max_drop": 0.01}]})
    assert ok.register.gate_metrics() == ["cisi_model_ndcg_at_10", "model_ndcg_at_10"]


def _guard(candidate: dict[str, float], reference: dict[str, float], max_drop: float, seed: int) -> GuardFigures:
    interval = paired_bootstrap(candidate, reference, samples=500, confidence=0.9, seed=seed)
    return GuardFigures("judged_model_ndcg_at_10", float(np.mean(list(candidate.values()))),
                        float(np.mean(list(reference.values()))), max_drop, interval=interval)


def test_a_guard_refuses_only_on_evidence_of_a_drop_beyond_max_drop():
    """An equal model on 40 queries with max_drop 0: the point rule refuses about half the draws, the
    interval rule (upper bound below -max_drop) about (1 - confidence) / 2 of them; a clearly worse one
    is refused every time. Simulated over 200 seeded draws of per-query NDCG@10 (deterministic)."""
    point = interval = worse_refused = 0
    draws = 200
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        reference = rng.uniform(0.2, 0.9, 40)
        equal = np.clip(reference + rng.normal(0, 0.15, 40), 0, 1)  # same expected NDCG, per-query noise
        ref = _per_query(reference)
        guard = _guard(_per_query(equal), ref, 0.0, seed)
        decision = decide(0.6, min_delta=0.0, base_value=0.5, guards=[guard])
        interval += "guard:judged_model_ndcg_at_10" in decision.failed
        point += guard.candidate < guard.reference
        worse = _guard(_per_query(np.clip(reference - 0.15 + rng.normal(0, 0.05, 40), 0, 1)), ref, 0.0, seed)
        worse_refused += not decide(0.6, min_delta=0.0, base_value=0.5, guards=[worse]).promoted
    assert 0.35 < point / draws < 0.65, "the setup: a point estimate refuses an equal model about half the time"
    assert interval / draws < 0.12
    assert worse_refused == draws
    reason = decide(0.6, min_delta=0.0, base_value=0.5, guards=[worse]).reason
    assert "refused only when the upper bound is below -max_drop 0: evidence of a drop beyond it" in reason


def test_the_same_model_bytes_are_a_tie_never_a_gain():
    """The stale-reference case: a byte-identical challenger's 0.78255 against the champion's tag 0.7825."""
    decision = decide(0.78255, min_delta=0.0, champion_value=0.7825, champion_version="4", same_model="ab" * 32)
    assert not decision.promoted and decision.failed == ["min_delta"]
    assert "the same model bytes (sha256 abababababab), a tie, never a gain" in decision.reason


def test_auto_metric_picks_the_judged_set_once_it_is_enough(tmp_path):
    """register.metric auto: judged once evaluate says enough (with the collapse guard), else the test split;
    a metric named in params wins."""
    import json

    from spladeforge.config import EvaluateConfig, RegisterConfig
    from spladeforge.registry.choice import choose_metric

    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"model_ndcg_at_10": 0.8}))
    cfg, why = choose_metric(RegisterConfig(), path, EvaluateConfig())
    assert cfg.metric == "model_ndcg_at_10" and cfg.guards == [] and "no judged queries" in why
    path.write_text(json.dumps({"judged_enough": False, "judged_num_queries": 5, "judged_min_queries": 20}))
    cfg, why = choose_metric(RegisterConfig(), path, EvaluateConfig())
    assert cfg.metric == "model_ndcg_at_10" and "judged holds 5 queries < 20" in why
    path.write_text(json.dumps({"judged_enough": True, "judged_num_queries": 34, "judged_min_queries": 20}))
    cfg, why = choose_metric(RegisterConfig(), path, EvaluateConfig())
    assert cfg.metric == "judged_model_ndcg_at_10" and why.startswith("judged: 34 queries >= 20")
    assert [(g.metric, g.max_drop) for g in cfg.guards] == [("model_ndcg_at_10", 0.05)]
    cfg, why = choose_metric(RegisterConfig(metric="model_ndcg_at_10"), path, EvaluateConfig())
    assert cfg.metric == "model_ndcg_at_10" and why == "register.metric in params"
    cfg, _ = choose_metric(RegisterConfig(collapse_guard=None), path, EvaluateConfig())
    assert cfg.metric == "judged_model_ndcg_at_10" and cfg.guards == []
