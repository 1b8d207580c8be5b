"""`dvc repro` saying "up to date" must be true: every file a stage runs is among its deps.

Each dvc.yaml stage runs `spladeforge <stage>`, i.e. `spladeforge.stages.<stage>` through
`spladeforge.orchestration` (which records its manifest). Every project module those import,
transitively and counting imports inside functions, must be covered by one of the stage's
`deps` (the file itself or a folder holding it); otherwise editing that file would leave the
stage's outputs stale while DVC calls them up to date. The stage's `params:` must be the
sections it reads (`orchestration.STAGE_SECTIONS`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spladeforge.orchestration import STAGE_SECTIONS
from tests.code.import_graph import REPO, ImportGraph

AROUND_EVERY_STAGE = ("spladeforge.orchestration",)


def _stages(dvc: dict) -> dict[str, dict]:
    return dvc["stages"]


def stage_module(name: str, stage: dict) -> str:
    command = stage["cmd"].split()
    assert command[:2] == ["spladeforge", name], f"{name}: cmd should start with `spladeforge {name}`"
    return f"spladeforge.stages.{name.replace('-', '_')}"


def missing_deps(graph: ImportGraph, name: str, stage: dict) -> list[str]:
    """Files the stage runs that none of its deps covers, as paths relative to the repository."""
    deps = [Path(d) for d in stage.get("deps", [])]
    needed = sorted(graph.path_of(m).relative_to(REPO)
                    for m in graph.closure([stage_module(name, stage), *AROUND_EVERY_STAGE]))
    return [str(path) for path in needed if not any(path == dep or dep in path.parents for dep in deps)]


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph.of_project()


@pytest.fixture(scope="module")
def dvc() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def test_every_stage_depends_on_every_file_it_runs(graph, dvc):
    missing = {name: files for name, stage in _stages(dvc).items() if (files := missing_deps(graph, name, stage))}
    assert missing == {}, "add these to the stages' deps in dvc.yaml"


def test_a_removed_dep_is_noticed(graph, dvc):
    """Why the test above can fail: drop the dep covering each stage's own module, and it is named."""
    for name, stage in _stages(dvc).items():
        own = f"src/spladeforge/stages/{name.replace('-', '_')}.py"
        trimmed = {**stage, "deps": [d for d in stage["deps"] if d != own]}
        assert own in missing_deps(graph, name, trimmed), name


def test_every_stage_depends_on_the_params_sections_it_reads(dvc):
    """In params.yaml and in the preset: a preset's value for an unlisted key would not rerun the stage."""
    for name, stage in _stages(dvc).items():
        listed, preset = set(), set()
        for entry in stage.get("params", []):
            if isinstance(entry, str):
                listed.add(entry.split(".")[0])
            else:
                for keys in entry.values():
                    preset |= {key.split(".")[0] for key in keys}
        assert listed == set(STAGE_SECTIONS[name]), name
        assert preset == set(STAGE_SECTIONS[name]) - {"seed"}, name


def test_every_stage_is_in_dvc_yaml(dvc):
    assert list(_stages(dvc)) == list(STAGE_SECTIONS)
