"""Upload an exported model folder to the Hugging Face Hub, or say exactly what would be uploaded.

The token is read from the environment variable that `publish.hub.token_env` names and goes only
to `SparseEncoder.push_to_hub`: never into a message, a log line or a written file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladeforge.config import HubConfig
from spladeforge.errors import ConfigError, SpladeforgeError
from spladeforge.redaction import redact_text, redact_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubPlan:
    """Whether an upload can happen, and if not, the reason a user can act on."""

    repo_id: str | None
    private: bool
    token: str | None
    required: bool
    missing: str | None  # None when both the repo id and the token are there
    timeout_s: float = 60.0

    @property
    def ready(self) -> bool:
        return self.missing is None


def plan(hub: HubConfig) -> HubPlan:
    """Check the configuration; with `required: true` a missing repo id or token is an error."""
    token = (os.environ.get(hub.token_env) or "").strip() or None
    if not hub.repo_id:
        missing = "publish.hub.repo_id is not set"
    elif token is None:
        missing = f"the environment variable {hub.token_env} (publish.hub.token_env) is not set"
    else:
        missing = None
    if missing and hub.required:
        raise ConfigError(
            f"publish.hub.required is true but {missing}; set it, or set publish.hub.required: false "
            "to export locally only"
        )
    return HubPlan(hub.repo_id, hub.private, token, hub.required, missing, hub.timeout_s)


def endpoint() -> str:
    """The Hub the upload goes to (HF_ENDPOINT, else huggingface.co), as it may be shown."""
    return redact_url(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")


@contextlib.contextmanager
def bounded_requests(timeout_s: float) -> Iterator[None]:
    """huggingface_hub's HTTP client with a timeout on every request for the block.

    Its default client has none (`timeout=None`): a Hub endpoint that accepts the connection and
    never answers would hang the push. The library's retries (429, 5xx, timeouts) stay as they are.
    """
    import httpx2
    from huggingface_hub.utils import _http

    def factory() -> httpx2.Client:
        client = _http.default_client_factory()
        client.timeout = httpx2.Timeout(timeout_s)
        return client

    _http.set_client_factory(factory)
    try:
        yield
    finally:
        _http.set_client_factory(_http.default_client_factory)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def push(hub_plan: HubPlan, folder: Path, shown_folder: Path, commit_message: str) -> dict[str, Any]:
    """Push `folder` when the plan is ready; otherwise return (and log) what would be pushed.

    `shown_folder` is where the files will be once the export is in place (`folder` may be its
    temporary twin). A failed upload is an error when the Hub is `required`, else a warning that
    the result records.
    """
    files = _files(folder)
    visibility = "private" if hub_plan.private else "public"
    target = f"{hub_plan.repo_id} ({visibility})" if hub_plan.repo_id else "a Hub repo"
    result: dict[str, Any] = {
        "repo_id": hub_plan.repo_id, "private": hub_plan.private, "pushed": False, "files": files,
    }
    if not hub_plan.ready:
        result["message"] = (
            f"Hub upload skipped: {hub_plan.missing}. It would upload {len(files)} files from "
            f"{shown_folder} to {target}: {', '.join(files)}"
        )
        log = logger.warning if hub_plan.repo_id else logger.info
        log(result["message"])
        return result

    from sentence_transformers.sparse_encoder import SparseEncoder

    model = SparseEncoder(str(folder), device="cpu", local_files_only=True)
    try:
        with bounded_requests(hub_plan.timeout_s):
            url = model.push_to_hub(
                hub_plan.repo_id, private=hub_plan.private, token=hub_plan.token,
                local_model_path=str(folder), exist_ok=True, commit_message=commit_message,
            )
    except Exception as exc:  # network, auth, quota: all end the same way for the user
        reason = str(exc).replace(hub_plan.token, "***") if hub_plan.token else str(exc)
        reason = redact_text(reason.splitlines()[0] if reason else "")[:300]
        message = (f"Hub upload of {shown_folder} to {target} at {endpoint()} failed: "
                   f"{type(exc).__name__}: {reason}")
        if hub_plan.required:
            # `from None`: the chained exception may carry request headers.
            raise SpladeforgeError(message) from None
        logger.warning(message)
        result["message"] = message
        return result
    result.update(pushed=True, url=str(url),
                  message=f"Uploaded {len(files)} files from {shown_folder} to {target}")
    logger.info(result["message"])
    return result
