"""A candidate that is the base model again says so, in one line, in register's decision reason."""

from __future__ import annotations

from spladeforge.models.saved import training_reason as _training_reason


def test_the_reason_opens_with_train_s_line_when_train_kept_the_base():
    # Why: a run that ships its base must say in one line why, not only that the gate found no gain.
    line = "kept the base model: no trained step beat its dev NDCG@10 0.8000 (best later 0.7500)"
    out = _training_reason({"kept": "initial", "decision": line}, "gain +0.0000: not above 0")
    assert out == {"train_decision": line, "reason": f"train {line}; gain +0.0000: not above 0"}
    shipped = _training_reason({"kept": "checkpoint", "decision": "shipped step 30: ..."}, "gain +0.01")
    assert shipped == {"train_decision": "shipped step 30: ..."}  # the gate's reason stays its own
    assert _training_reason({}, "gain") == {}  # a model trained before the line existed
