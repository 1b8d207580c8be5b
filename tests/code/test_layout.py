"""The layout rules the project's design states, checked on the source.

- No import cycles among the project's modules, counting imports inside functions.
- No stage imports another stage, and only the orchestrators (`spladeforge.cli`, the Kubeflow
  components) import stages.
- A stage module stays thin: read inputs, call its package, write outputs.
"""

from __future__ import annotations

import pytest

from tests.code.import_graph import ImportGraph

STAGE_PACKAGE = "spladeforge.stages"
ORCHESTRATORS = ("spladeforge.cli", "spladeforge.components")
MAX_STAGE_LINES = 120


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph.of_project()


def _is_stage(module: str) -> bool:
    return module.startswith(STAGE_PACKAGE + ".")


def test_no_import_cycles(graph):
    assert graph.cycles() == []


def test_cycle_finder_finds_a_planted_cycle(tmp_path):
    """Why the test above can fail: two modules importing each other inside functions are found."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg import b\n")
    (package / "b.py").write_text("def g():\n    import pkg.a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    assert ImportGraph.of_project({"pkg": package}).cycles() == [["pkg.a", "pkg.b"]]


def test_no_stage_imports_another_stage_and_only_orchestrators_import_stages(graph):
    offenders = []
    for module, targets in graph.edges.items():
        stages = {t for t in targets if _is_stage(t)}
        if not stages:
            continue
        if _is_stage(module) or not module.startswith(ORCHESTRATORS):
            offenders.append(f"{module} imports {sorted(stages)}")
    assert offenders == []


def test_stage_modules_are_thin(graph):
    long = {module: len(graph.path_of(module).read_text().splitlines())
            for module in graph.modules if _is_stage(module)}
    assert {module: lines for module, lines in long.items() if lines > MAX_STAGE_LINES} == {}
