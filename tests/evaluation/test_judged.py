"""The judgments folder as evaluate reads it: validation with file:line, counts, machine fill, agreement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spladeforge.config import EvaluateConfig
from spladeforge.errors import InputError
from spladeforge.evaluation.agreement import agreement, judged_fraction, top_k
from spladeforge.evaluation.judged import chunk_sha256, load_judgments
from tests.conftest import TINY_CORPUS

CORPUS = dict(TINY_CORPUS)


def write_judgments(folder: Path, grades: dict[str, dict[str, int]], *, machine: dict | None = None,
                    log: list[dict] | None = None, extra_queries: tuple[str, ...] = ()) -> Path:
    """A judgments folder as `spladeforge judge` writes it (queries.jsonl, qrels/test.tsv, machine/, grades.jsonl)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    ids = list(dict.fromkeys([*grades, *extra_queries, *(q for g in (machine or {}).values() for q in g)]))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": f"query {q}", "source": "typed"})
                                                  + "\n" for q in ids))

    def tsv(path: Path, qrels: dict) -> None:
        path.write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{q}\t{d}\t{g}\n" for q, rels in qrels.items() for d, g in rels.items()))

    tsv(folder / "qrels" / "test.tsv", grades)
    for judge, qrels in (machine or {}).items():
        (folder / "machine").mkdir(exist_ok=True)
        tsv(folder / "machine" / f"{judge}.tsv", qrels)
    if log is not None:
        (folder / "grades.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    return folder


def test_no_folder_or_a_readme_only_folder_is_no_judgments(tmp_path):
    """The shipped folder holds only its README: evaluate runs as before."""
    assert load_judgments(EvaluateConfig(), tmp_path / "absent", CORPUS) is None
    (tmp_path / "judgments").mkdir()
    (tmp_path / "judgments" / "README.md").write_text("judgments\n")
    assert load_judgments(EvaluateConfig(), tmp_path / "judgments", CORPUS) is None


def test_counts_all_zero_queries_and_flags_too_few(tmp_path):
    """A query graded only 0 is judged but not scored; 2 scored queries are fewer than 20: not enough."""
    folder = write_judgments(tmp_path / "j", {"q-a": {"d1": 2, "d2": 0}, "q-b": {"d3": 1}, "q-c": {"d4": 0}})
    found = load_judgments(EvaluateConfig(), folder, CORPUS)
    assert found.judged_queries == 3 and found.scored_queries == 2 and not found.enough
    assert found.data.unjudged_query_ids == ("q-c",) and found.data.qrels["q-a"] == {"d1": 2, "d2": 0}
    assert set(found.data.corpus) == set(CORPUS)
    assert found.metrics()["judged_enough"] is False
    assert load_judgments(EvaluateConfig(judgments_min_queries=2), folder, CORPUS).enough


@pytest.mark.parametrize(("line", "message"), [
    ("q-a\td1\t3", r"test\.tsv:3: grade 3 .* is not one of 0, 1, 2"),
    ("q-x\td1\t1", r"test\.tsv:3: query-id 'q-x' is not in"),
    ("q-a\tgone\t1", r"test\.tsv:3: corpus-id 'gone' is not a chunk of the corpus.*judgments_unknown_chunks: drop"),
    ("q-a\td1", r"test\.tsv:3: expected 3 tab-separated columns"),
])
def test_a_bad_qrels_line_is_named_by_file_and_line(tmp_path, line, message):
    folder = write_judgments(tmp_path / "j", {"q-a": {"d2": 1}})
    with open(folder / "qrels" / "test.tsv", "a") as fh:
        fh.write(line + "\n")
    with pytest.raises(InputError, match=message):
        load_judgments(EvaluateConfig(), folder, CORPUS)


def test_unknown_chunks_can_be_dropped_and_are_counted(tmp_path):
    folder = write_judgments(tmp_path / "j", {"q-a": {"d1": 2, "gone": 1}})
    found = load_judgments(EvaluateConfig(judgments_unknown_chunks="drop"), folder, CORPUS)
    assert found.unknown_dropped == 1 and found.data.qrels == {"q-a": {"d1": 2}}


def test_a_chunk_whose_text_changed_since_grading_is_counted(tmp_path):
    """grades.jsonl's chunk_sha256 differs from the chunk's text now for d2, not for d1; a withdrawn grade is not counted."""
    log = [{"time": "t", "judge": "human:ann", "query_id": "q-a", "chunk_id": "d1", "grade": 2,
            "chunk_sha256": chunk_sha256(CORPUS["d1"][1])},
           {"time": "t", "judge": "human:ann", "query_id": "q-a", "chunk_id": "d2", "grade": 1,
            "chunk_sha256": chunk_sha256("an older text")},
           {"time": "t", "judge": "llm:x", "query_id": "q-a", "chunk_id": "d3", "grade": 1, "chunk_sha256": "0"}]
    folder = write_judgments(tmp_path / "j", {"q-a": {"d1": 2, "d2": 1}}, log=log)
    assert load_judgments(EvaluateConfig(), folder, CORPUS).changed_chunks == 1
    (folder / "grades.jsonl").write_text("{not json\n")
    with pytest.raises(InputError, match=r"grades\.jsonl:1: malformed JSON"):
        load_judgments(EvaluateConfig(), folder, CORPUS)


def test_machine_grades_fill_only_pairs_no_human_graded_and_only_when_asked(tmp_path):
    machine = {"llm-a": {"q-a": {"d1": 0, "d2": 2}}, "llm-b": {"q-a": {"d2": 1, "d3": 1}}}
    folder = write_judgments(tmp_path / "j", {"q-a": {"d1": 2}}, machine=machine)
    off = load_judgments(EvaluateConfig(), folder, CORPUS)
    assert off.data.qrels == {"q-a": {"d1": 2}} and off.filled_pairs == 0 and set(off.machine) == {"llm-a", "llm-b"}
    filled = load_judgments(EvaluateConfig(judgments_machine="fill"), folder, CORPUS)
    # d1 keeps the human 2; d2: median of (2, 1) rounded down = 1; d3 from the one judge.
    assert filled.data.qrels == {"q-a": {"d1": 2, "d2": 1, "d3": 1}} and filled.filled_pairs == 2
    assert filled.human == {"q-a": {"d1": 2}}


def test_judged_fraction_counts_any_grade_in_the_top_10():
    run = {"q": {f"d{i}": 1.0 - i / 100 for i in range(20)}}
    assert top_k(run["q"], 3) == ["d0", "d1", "d2"]
    assert judged_fraction(run, {"q": {"d0": 2, "d5": 0, "d15": 1}}) == pytest.approx(0.2)
    assert judged_fraction({}, {"q": {"d0": 1}}) is None


def test_agreement_kappa_and_tau():
    """A machine judge that agrees on every pair has kappa 1 and ranks the systems alike (tau 1);
    one that inverts the grades disagrees (tau -1)."""
    human = {"q1": {"a": 2, "b": 0, "c": 1}, "q2": {"a": 0, "b": 2, "c": 1}}
    runs = {"s1": {"q1": {"a": 3, "c": 2, "b": 1}, "q2": {"b": 3, "c": 2, "a": 1}},   # perfect
            "s2": {"q1": {"c": 3, "a": 2, "b": 1}, "q2": {"c": 3, "b": 2, "a": 1}},
            "s3": {"q1": {"b": 3, "c": 2, "a": 1}, "q2": {"a": 3, "c": 2, "b": 1}}}   # worst
    same = agreement(human, human, runs)
    assert same["pairs"] == 6 and same["kappa"] == pytest.approx(1.0) and same["tau"] == pytest.approx(1.0)
    assert same["kappa_per_grade"][2] == pytest.approx(1.0)
    inverted = {q: {d: 2 - g for d, g in rels.items()} for q, rels in human.items()}
    other = agreement(human, inverted, runs)
    # Only the 1s agree: unweighted kappa is chance (0); quadratic weights punish each 0-against-2.
    assert other["kappa"] == pytest.approx(0.0) and other["kappa_quadratic"] < 0 and other["tau"] == pytest.approx(-1.0)
    assert agreement(human, {"q9": {"a": 1}}, runs) == {"pairs": 0}
