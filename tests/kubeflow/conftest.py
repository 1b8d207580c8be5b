"""Shared by the Kubeflow tests: the repository root and offline defaults."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
