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
from urllib.parse import urlsplit

from spladeforge.errors import InputError
from spladeforge.redaction import redact_text as redact

# Remote types whose DVC config takes connect/read timeouts (dvc/config_schema.py).
_TIMED_SCHEMES = ("s3", "http", "https")


def _remote_url(fs: Any) -> str:
    """The URL of the repository's default DVC remote, or '' (also when the repository cannot say)."""
    try:
        config = fs.repo.config
        name = config.get("core", {}).get("remote")
        return str(config.get("remote", {}).get(name, {}).get("url", "")) if name else ""
    except Exception:  # noqa: BLE001 - only used to name the remote in a message
        return ""


def _bounded(fs: Any, remote_config: dict[str, str], timeout_s: float) -> dict[str, Any] | None:
    """`remote_config` plus connect/read timeouts when the repository's default remote takes them.

    DVC's S3 and HTTP remotes wait 60 s per read and retry (botocore's defaults); a remote that
    accepts the connection and never answers stays bounded by `data.dvc_timeout_s` instead.
    None when nothing needs to change.
    """
    if urlsplit(_remote_url(fs)).scheme not in _TIMED_SCHEMES:
        return None
    timeouts = {"connect_timeout": int(timeout_s), "read_timeout": int(timeout_s)}
    merged = {**timeouts, **remote_config}
    return None if merged == remote_config else merged


# `user@host:path`, git's scp-like form of an SSH URL.
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
# Wrappers that say nothing of their own: the cause below them says what went wrong.
_GENERIC = {"SCM error"}


def _local_repository(repo: str) -> Path | None:
    """`repo` as a local folder, or None when it is a URL."""
    if "://" in repo and not repo.startswith("file://"):
        return None
    if _SCP_LIKE.match(repo):
        return None
    return Path(repo.removeprefix("file://")).expanduser()


def reason(exc: BaseException) -> str:
    """What went wrong, from the first message of the chain that says something and its root cause.

    DVC wraps git's errors ("SCM error" around "Failed to clone repo ..." around
    "No git repository was found at ..."); the outermost alone names none of them.
    """
    messages: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).splitlines()[0].strip() if str(current).strip() else ""
        if text and text not in _GENERIC and text not in messages:
            messages.append(text)
        current = current.__cause__ or current.__context__
    if not messages:
        return type(exc).__name__
    return messages[0] if len(messages) == 1 else f"{messages[0]}: {messages[-1]}"


def fetch(repo: str, path: str, rev: str | None, remote_config: dict[str, str], dest: Path,
          timeout_s: float = 60.0) -> dict[str, Any]:
    """Copy `path` at `rev` of `repo` into `dest`; return the provenance to record."""
    from dvc.api import DVCFileSystem  # imported on use: about 0.3 s, paid only with data.dvc_repo

    where = f"{redact(repo)}@{rev or 'default branch'}"
    local = _local_repository(repo)
    if local is not None and not local.is_dir():
        raise InputError(f"data.dvc_repo: {redact(repo)}: repository not found (no such folder; accepted: a git URL "
                         "or the path of a local git repository holding DVC-tracked data)")
    if local is not None and not ((local / ".git").exists() or (local / "HEAD").is_file()):
        raise InputError(f"data.dvc_repo: {redact(repo)}: not a git repository (accepted: a git URL or the path of "
                         "a local git repository holding DVC-tracked data)")
    fs = None
    try:
        fs = DVCFileSystem(repo, rev=rev, remote_config=remote_config or None)
        bounded = _bounded(fs, remote_config, timeout_s)
        if bounded is not None:
            fs = DVCFileSystem(repo, rev=rev, remote_config=bounded)
        commit = fs.repo.get_rev()  # an unknown revision fails here, before any lookup
        if not fs.exists(path):
            raise InputError(f"data.source: {path!r} does not exist in {where}")
        info = fs.info(path)
        fs.get(path, str(dest), recursive=info["type"] == "directory")
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - git, DVC and remote errors alike: name the repo, not the secret
        message = redact(reason(exc))
        remote = _remote_url(fs) if fs is not None else ""
        remote = f" (DVC remote {redact(remote)})" if remote else ""
        raise InputError(f"data.dvc_repo: cannot read {path!r} from {where}{remote}: {message}") from None
    return {"repo": redact(repo), "rev": rev, "commit": commit, "path": path,
            "dvc_md5": info.get("md5") or info.get("dvc_info", {}).get("md5")}
