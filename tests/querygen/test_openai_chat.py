"""The chat answer parser accepts the JSON shapes the prompts ask for and refuses anything else."""

from __future__ import annotations

import pytest

from spladeforge.querygen.openai_chat import parse_queries


def test_parse_queries_shapes():
    assert parse_queries('{"queries": ["a b", " c  d "]}') == ["a b", "c d"]
    assert parse_queries('```json\n["x y"]\n```') == ["x y"]
    for bad in ("", "Sure! Here are queries", '{"queries": []}', '{"queries": [1, 2]}', '{"other": 1}'):
        with pytest.raises(ValueError):
            parse_queries(bad)
