"""Which image a compiled pipeline runs: pinned to the git commit it was compiled from, or a digest.

A compiled pipeline carries the component wrappers' source, and the image carries the package they
import; both must come from the same commit. `make images` tags both images with `git rev-parse
HEAD`; `pipeline compile` pins a tag-less repository in `kubeflow.image`/`train_image` to the same
commit, refusing a working tree whose image sources differ from it (they would not be in the image).
A reference with a digest (`registry/name@sha256:...`) is immutable and used as given.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from spladeforge.errors import ConfigError

# What the images are built from (docker/*.dockerignore keeps exactly these in the build context).
IMAGE_SOURCES = ("constraints.txt", "pyproject.toml", "README.md", "src", "components", "pipelines", "docker")


def is_pinned(ref: str) -> bool:
    """True when `ref` names a tag or a digest (not just a repository, which means `:latest`)."""
    return "@" in ref or ":" in ref.rsplit("/", 1)[-1]


def pin(ref: str, tag: str | None) -> str:
    """`ref` with `tag` appended when it names only a repository."""
    return ref if is_pinned(ref) or tag is None else f"{ref}:{tag}"


def _git(repo: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ConfigError("git is not installed: cannot pin the images to a commit; pass --image and "
                          "--train-image with digests or tags") from None
    if proc.returncode != 0:
        raise ConfigError(f"{repo} is not a git checkout ({proc.stderr.strip()}): cannot pin the images to a "
                          "commit; pass --image and --train-image with digests or tags")
    return proc.stdout.rstrip("\n")


def commit_tag(repo: Path, allow_dirty: bool = False) -> str:
    """The commit `make images` tags the images with; refuse uncommitted changes to their sources."""
    commit = _git(repo, "rev-parse", "HEAD").strip()
    # ":/" anchors each path at the top of the work tree, wherever in it `repo` is.
    changed = _git(repo, "status", "--porcelain", "--", *(f":/{path}" for path in IMAGE_SOURCES))
    if changed and not allow_dirty:
        files = ", ".join(line[3:] for line in changed.splitlines()[:5])
        raise ConfigError(f"uncommitted changes to what the images are built from ({files}): an image tagged "
                          f"{commit[:12]} would not contain them. Commit and run `make images`, or pass "
                          "--allow-dirty to compile against the committed image anyway")
    return commit
