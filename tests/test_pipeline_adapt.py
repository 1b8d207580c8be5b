"""The cpu-adapt preset's data and training chain under `dvc repro train`, on a tiny corpus.

What the preset adds to cpu-tiny, checked where each lands: salient-keyword, sentence (inverse
cloze), title and expansion (the base SPLADE's terms) pseudo-queries; tuples labelled by the
ensemble teacher (the base SPLADE + dense, z-scored, scored on dev beside the base); MarginMSE with the
teacher's scale matched to the student; and the last step shipped (`train.keep: last`), not the
best step on the generated dev queries. Quality is benchmarks/adaptation.py's to measure, on
judged queries.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from spladeforge.io import iter_jsonl
from tests.pipeline_project import TINY, dvc, make_project, merge

pytestmark = pytest.mark.slow

# The preset's own recipe, on a few documents and a few steps.
SMALL = merge(json.loads(json.dumps(TINY)), {"data": {"max_documents": 10},
                                              "train": {"max_steps": 4, "eval_steps": 3, "batch_size": 8,
                                                        "logging_steps": 2}})


def test_cpu_adapt_chain_trains_on_teacher_labelled_pseudo_queries_and_ships_its_last_step(tmp_path):
    project = make_project(tmp_path, "cpu-adapt", SMALL)
    dvc(project, "repro", "train")

    queries = list(iter_jsonl(project / "data/queries.jsonl"))
    types = Counter(q["type"] for q in queries)
    assert types["keywords"] and types["sentence"] and types["expansion"], types
    assert set(types) <= {"keywords", "sentence", "title", "expansion"}, types
    chunks = {c["id"]: c["text"] for c in iter_jsonl(project / "data/chunks.jsonl")}
    ict = [q for q in queries if q["type"] == "sentence"]
    # Inverse cloze: most sentence queries train against their chunk without the sentence.
    removed = [q for q in ict if q["text"] not in q.get("positive", chunks[q["chunk_id"]])]
    assert len(removed) >= len(ict) // 2, (len(removed), len(ict))

    tuples = list(iter_jsonl(project / "data/train_tuples.jsonl"))
    assert tuples and all(len(t["scores"]) == 2 for t in tuples)  # the positive's and one negative's
    # Ensemble teacher scores (z-scored per query), not ranks: the margins MarginMSE learns from vary.
    assert len({round(t["scores"][0] - t["scores"][1], 6) for t in tuples}) > 1
    # Negatives the teacher rates as good as their positive stay: their margin says so to MarginMSE.
    mined = json.loads((project / "reports/manifests/mine.json").read_text())["summary"]
    assert mined["drop_false_negatives"] is False and mined["false_negatives_dropped"] == 0, mined
    # The teacher as a retriever on the generated dev split, beside the base it teaches.
    report = mined["teacher_report"]
    assert set(report["dev_ndcg_at_10"]) == {"base", "dense", "ensemble"}, report
    assert report["teacher_beats_base"] == (report["dev_ndcg_at_10"]["ensemble"] > report["dev_base_ndcg_at_10"])

    sidecar = json.loads((project / "models/splade/spladeforge.json").read_text())
    assert sidecar["kept"] == "last" and sidecar["decision"].startswith("shipped step 4 (train.keep: last)")
    assert sidecar["teacher_scale"] > 0
    # The summary says how much of the loss the FLOPS regularizers are (their weights are set for
    # MarginMSE's scale, not cross-entropy's).
    summary = json.loads((project / "reports/manifests/train.json").read_text())["summary"]
    assert 0 < summary["regularizer_share"] < 1, summary
    curve = (project / "reports/train/val_ndcg.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in curve[1:]] == ["0", "3", "4"]  # dev still scored, final step too
