"""Baseline comparison: flat or nested JSON in, quality deltas out; bad files named."""

from __future__ import annotations

import json

import pytest

from spladeforge.errors import InputError
from spladeforge.evaluation.report import baseline_deltas, read_baseline


def test_nested_report_is_flattened_and_deltas_cover_quality_metrics(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"model_ndcg_at_10": 0.5, "scifact": {"model_ndcg_at_10": 0.25},
                                "note": "text", "num_queries": 3}))
    baseline = read_baseline(path)
    assert baseline == {"model_ndcg_at_10": 0.5, "scifact_model_ndcg_at_10": 0.25, "num_queries": 3.0}
    now = {"model_ndcg_at_10": 0.75, "scifact_model_ndcg_at_10": 0.25, "num_queries": 4,
           "base_mrr_at_10": 0.1}
    assert baseline_deltas(now, baseline) == {"model_ndcg_at_10": (0.5, 0.75, 0.25),
                                              "scifact_model_ndcg_at_10": (0.25, 0.25, 0.0)}


def test_baseline_without_metrics_is_refused(tmp_path):
    path = tmp_path / "old.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="old.json: expected a JSON object"):
        read_baseline(path)
    path.write_text('{"a": "b"}')
    with pytest.raises(InputError, match="no numeric metric"):
        read_baseline(path)
