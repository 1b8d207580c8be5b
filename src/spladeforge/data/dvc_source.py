"""Read the corpus at a DVC-versioned revision of a data repository (`data.dvc_repo`).

`dvc.api.DVCFileSystem` opens the repository (a git URL or a local path) at `data.dvc_rev`
(default: its default branch, i.e. the latest pushed data version) and fetches `data.source`
from the repository's DVC remote (S3 or any other; `data.dvc_remote_config` carries non-secret
settings such as `endpointurl`, credentials come from the environment). The resolved commit and
DVC hash are recorded so a model traces back to the exact data it was trained on, and a rerun
at that commit reads the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from spladeforge.errors import InputError

_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


def redact(url: str) -> str:
    """Drop `user:token@` from a URL before it is printed or recorded."""
    return _CREDENTIALS.sub(r"\1", url)


def fetch(repo: str, path: str, rev: str | None, remote_config: dict[str, str], dest: Path) -> dict[str, Any]:
    """Copy `path` at `rev` of `repo` into `dest`; return the provenance to record."""
    from dvc.api import DVCFileSystem  # imported on use: about 0.3 s, paid only with data.dvc_repo

    where = f"{redact(repo)}@{rev or 'default branch'}"
    try:
        fs = DVCFileSystem(repo, rev=rev, remote_config=remote_config or None)
        commit = fs.repo.get_rev()  # an unknown revision fails here, before any lookup
        if not fs.exists(path):
            raise InputError(f"data.source: {path!r} does not exist in {where}")
        info = fs.info(path)
        fs.get(path, str(dest), recursive=info["type"] == "directory")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - git, DVC and remote errors alike: name the repo, not the secret
        message = redact(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"data.dvc_repo: cannot read {path!r} from {where}: {message}") from None
    return {"repo": redact(repo), "rev": rev, "commit": commit, "path": path,
            "dvc_md5": info.get("md5") or info.get("dvc_info", {}).get("md5")}
