"""`pipeline compile` pins the images to the git commit `make images` tags them with, refuses a tree
whose image sources differ from that commit, and takes a digest as given."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from spladeforge.cli.pipeline import pipeline_app
from spladeforge.pipelines.images import is_pinned, pin

from .conftest import REPO
from .test_compile import DIGEST

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


def git(*args: str, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def checkout(tmp_path):
    """A committed project: params, presets and an image source."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "params.yaml", root)
    shutil.copytree(REPO / "configs", root / "configs")
    (root / "src").mkdir()
    (root / "src" / "module.py").write_text("X = 1\n")
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "start", cwd=root)
    return root


def compile_in(root, *args):
    out = root / "pipeline.yaml"
    result = CliRunner().invoke(pipeline_app, ["compile", "--output", str(out), "--params",
                                               str(root / "params.yaml"), *args])
    images = None
    if result.exit_code == 0:
        ir = next(yaml.safe_load_all(out.read_text()))
        images = {ex["container"]["image"] for ex in ir["deploymentSpec"]["executors"].values()}
    return result, images


def test_compile_pins_the_head_commit(checkout):
    commit = git("rev-parse", "HEAD", cwd=checkout)
    result, images = compile_in(checkout, "--set", "preset=h100-splade")  # train in the CUDA image
    assert result.exit_code == 0, result.output
    assert images == {f"ghcr.io/spladeforge/spladeforge:{commit}", f"ghcr.io/spladeforge/spladeforge-cuda:{commit}"}


def test_uncommitted_image_sources_are_refused_unless_allowed(checkout):
    (checkout / "src" / "module.py").write_text("X = 2\n")
    result, _ = compile_in(checkout)
    assert result.exit_code != 0
    assert "src/module.py" in str(result.exception) and "--allow-dirty" in str(result.exception)
    result, images = compile_in(checkout, "--allow-dirty")
    assert result.exit_code == 0 and all(image.endswith(git("rev-parse", "HEAD", cwd=checkout)) for image in images)
    # A file the images are not built from does not matter.
    (checkout / "src" / "module.py").write_text("X = 1\n")
    (checkout / "notes.txt").write_text("scratch")
    assert compile_in(checkout)[0].exit_code == 0


def test_a_digest_needs_no_git(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path)
    shutil.copytree(REPO / "configs", tmp_path / "configs")  # not a git checkout
    cpu, cuda = f"registry.local/sf@{DIGEST}", f"registry.local/sf-cuda@{DIGEST}"
    result, images = compile_in(tmp_path, "--image", cpu, "--train-image", cuda, "--set", "preset=h100-splade")
    assert result.exit_code == 0, result.output
    assert images == {cpu, cuda}
    result, _ = compile_in(tmp_path)
    assert result.exit_code != 0 and "not a git checkout" in str(result.exception)


def test_image_references():
    assert not is_pinned("ghcr.io/org/name") and not is_pinned("localhost:5000/name")
    assert is_pinned("ghcr.io/org/name:abc") and is_pinned("localhost:5000/name:1")
    assert is_pinned(f"ghcr.io/org/name@{DIGEST}")
    assert pin("localhost:5000/name", "c0ffee") == "localhost:5000/name:c0ffee"
    assert pin("ghcr.io/org/name:1", "c0ffee") == "ghcr.io/org/name:1"
