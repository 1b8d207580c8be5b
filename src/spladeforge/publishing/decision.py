"""The gate decision `register` wrote, as `publish` reads it, and the check that it is this model's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spladeforge.errors import InputError
from spladeforge.io import read_json, sha256_tree

DECISION_KEYS = ("model_name", "version", "promoted", "reason")


def read_decision(path: Path) -> dict[str, Any]:
    decision = read_json(path)
    if not isinstance(decision, dict):
        raise InputError(f"{path}: expected the JSON object written by `register`")
    missing = [k for k in DECISION_KEYS if k not in decision]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)} (written by `register`)")
    if not isinstance(decision["promoted"], bool):
        raise InputError(f"{path}: promoted must be true or false, got {decision['promoted']!r}")
    return decision


def check_same_model(decision: dict[str, Any], decision_path: Path, model_dir: Path) -> None:
    """Refuse to publish a folder other than the one `register` gated."""
    expected = decision.get("model_sha256")
    if expected and sha256_tree(model_dir) != expected:
        raise InputError(
            f"{model_dir}: differs from the model {decision_path} was decided on "
            f"(sha256 {expected[:12]}...); run `register` on this model first"
        )
