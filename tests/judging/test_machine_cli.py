"""`spladeforge judge-machine llm` end to end: queries from judge.queries, pooled by BM25, graded by a local
chat-completions server into machine/<judge>.tsv; a rerun grades nothing; a bad judge name exits 2."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from spladeforge.evaluation.beir import _qrels_lines
from spladeforge.io import write_jsonl
from tests.judging.test_machine_llm import CHUNKS, KEY, FakeJudge


def _cli(argv, monkeypatch) -> int:
    from spladeforge import cli

    monkeypatch.setattr(sys, "argv", ["spladeforge", *argv])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    return exited.value.code


def test_judge_machine_llm_command(tmp_path, monkeypatch, capsys):
    fake = FakeJudge()
    try:
        monkeypatch.setenv("SF_TEST_JUDGE_KEY", KEY)
        write_jsonl(tmp_path / "chunks.jsonl", list(CHUNKS.values()))
        (tmp_path / "queries.txt").write_text("decode json text\ncompress a file\n\n", encoding="utf-8")
        params = {"preset": "bare", "judge": {"queries": str(tmp_path / "queries.txt"), "systems": ["bm25"], "k": 2,
                            "machine": {"llm": {"base_url": fake.url, "model": "tiny-llm",
                                                "api_key_env": "SF_TEST_JUDGE_KEY",
                                                "cache_dir": str(tmp_path / "cache")}}}}
        (tmp_path / "configs").mkdir()
        (tmp_path / "configs" / "bare.yaml").write_text("{}\n", encoding="utf-8")
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
        argv = ["judge-machine", "llm", "--judgments", str(tmp_path / "judgments"), "--chunks",
                str(tmp_path / "chunks.jsonl"), "--params", str(tmp_path / "params.yaml"), "--no-progress",
                "--cache-dir", str(tmp_path / "index")]
        assert _cli(argv, monkeypatch) == 0
        first = json.loads(capsys.readouterr().out)
        rows = list(_qrels_lines(tmp_path / "judgments" / "machine" / "llm-tiny-llm.tsv"))
        # BM25's top 2 per query: each query's own chunk is found and graded 2 by the fake.
        assert first["graded"] == len(rows) == fake.calls and 2 <= len(rows) <= 4
        assert first["systems"] == ["bm25"] and first["endpoint"]["requests"] == fake.calls
        assert sorted(g for *_, g in rows).count(2) == 2
        assert _cli(argv, monkeypatch) == 0
        second = json.loads(capsys.readouterr().out)
        assert second["graded"] == 0 and second["already_graded"] == first["graded"]
        assert fake.calls == first["graded"]
        assert _cli(["judge-machine", "human", "--params", str(tmp_path / "params.yaml")], monkeypatch) == 2
        assert "accepted: llm, cross-encoder" in capsys.readouterr().err
    finally:
        fake.local.close()
