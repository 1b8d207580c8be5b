"""Agreement of a machine judge with the human grades: kappa figures worked out by hand, tau of system rankings."""

from __future__ import annotations

import pytest

from spladeforge.judging.machine_agreement import folder_agreement, grade_agreement, ranking_agreement
from spladeforge.judging.storage import JudgmentStore

HUMAN = [0, 0, 1, 2, 2, 1]
MACHINE = [0, 1, 1, 2, 2, 0]


def test_grade_agreement_by_hand():
    """Observed 4/6, chance 1/3: kappa 0.5; grade 2 agrees exactly; grade 0 one-vs-rest 0.25."""
    human = {("q", f"c{i}"): g for i, g in enumerate(HUMAN)} | {("q", "only-human"): 2}
    machine = {("q", f"c{i}"): g for i, g in enumerate(MACHINE)} | {("q2", "only-machine"): 0}
    result = grade_agreement(human, machine)
    assert result["pairs"] == 6 and result["queries"] == 1 and result["exact"] == pytest.approx(4 / 6)
    assert result["kappa"] == pytest.approx(0.5)
    assert result["kappa_per_grade"]["2"] == pytest.approx(1.0)
    assert result["kappa_per_grade"]["0"] == pytest.approx(0.25)
    assert result["confusion"]["counts"] == [[1, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert 0.5 < result["kappa_linear"] < 1.0  # the misses are all one grade apart
    assert grade_agreement(human, {})["kappa"] is None


def test_ranking_agreement():
    assert ranking_agreement({"a": 0.5, "b": 0.4, "c": 0.3}, {"a": 0.6, "b": 0.2, "c": 0.3}) == pytest.approx(1 / 3)
    assert ranking_agreement({"a": 0.5, "b": 0.4}, {"a": 0.1, "b": 0.2}) == pytest.approx(-1.0)
    assert ranking_agreement({"a": 0.5}, {"a": 0.1}) is None


def test_folder_agreement_pairs_each_machine_judge_with_the_humans(tmp_path):
    store = JudgmentStore(tmp_path / "j")
    qid = store.add_query("decode json", "typed")
    for i, (h, m) in enumerate(zip(HUMAN, MACHINE, strict=True)):
        store.record(qid, f"c{i}", h, "human:ann", chunk_text=f"text {i}")
        store.record(qid, f"c{i}", m, "llm:tiny", chunk_text=f"text {i}")
        store.record(qid, f"c{i}", h, "cross-encoder:ce", chunk_text=f"text {i}")
    result = folder_agreement(tmp_path / "j")
    assert set(result) == {"llm:tiny", "cross-encoder:ce"}
    assert result["llm:tiny"]["kappa"] == pytest.approx(0.5) and result["cross-encoder:ce"]["kappa"] == pytest.approx(1)
