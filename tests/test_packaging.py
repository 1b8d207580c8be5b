"""pyproject lists every package: a folder left out would be missing from the container image."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setup["packages"])
    found = {".".join(p.parent.relative_to(REPO / "src").parts)
             for p in (REPO / "src" / "spladeforge").rglob("__init__.py")}
    found |= {f"spladeforge.{name}" for name in ("components", "pipelines")}
    assert found == listed
    for package, folder in setup["package-dir"].items():
        assert (REPO / folder).is_dir(), package
