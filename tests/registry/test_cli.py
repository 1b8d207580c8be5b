"""`spladeforge registry` on a local sqlite store with hand-made versions (no model logged).

The full path (register through a real server, then move and serve) is in
tests/services/test_registry_server.py.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from spladeforge.cli import app
from spladeforge.errors import SpladeforgeError


def test_registry_commands_are_part_of_spladeforge():
    result = CliRunner().invoke(app, ["registry", "--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in ("list", "show", "promote", "rollback"))


@pytest.mark.slow
def test_list_promote_rollback_on_sqlite(tmp_path, monkeypatch):
    """Hand moves are recorded and undone in order; bad requests are named errors, not tracebacks."""
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SPLADEFORGE_USER", "tester")
    monkeypatch.setenv("COLUMNS", "160")  # rich wraps the table to the terminal width
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    common = ["--tracking-uri", uri, "--model-name", "m", "--params", str(tmp_path / "absent.yaml")]

    def cli(*args: str):
        return CliRunner().invoke(app, ["registry", *args, *common])

    result = cli("list")
    assert isinstance(result.exception, SpladeforgeError) and uri in str(result.exception)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    for figure in (0.4, 0.5, 0.45):
        client.create_model_version("m", source=str(tmp_path), tags={"gate.candidate_value": repr(figure)})

    assert cli("promote", "1", "--reason", "first").exit_code == 0
    assert cli("promote", "3", "--reason", "hotfix").exit_code == 0
    table = cli("list").output
    assert "champion" in table and "model_ndcg_at_10" in table and "0.4500" in table
    assert "v3 -> v1 (rollback) by tester" in cli("rollback", "--reason", "bad").output
    shown = json.loads(cli("show", "champion").output)
    assert shown["version"] == "1" and shown["tags"]["champion.action"] == "rollback"
    assert "nothing to roll back to" in str(cli("rollback", "--reason", "again").exception)
    assert "not found" in str(cli("promote", "9", "--reason", "typo").exception).lower()
