"""Upload an export folder to S3 (or an S3-compatible store) under a versioned prefix.

`s3://<bucket>/<prefix>/<model_name>/v<version>/` is written once: a prefix that already holds
objects is never overwritten. A rerun for the same model (same `model_sha256` in the
`manifest.json` uploaded last) is recognised and left alone; anything else there is an error.

An upload starts by writing `upload-in-progress.json` (the model's `model_sha256`) and deletes it
after `manifest.json`. An upload that failed removes what it wrote; one that was killed (SIGKILL,
a lost node) cannot, so a prefix holding the marker and no manifest is recognised on the rerun:
the same model's interrupted upload is removed and uploaded again, another model's is refused.

Credentials come from the environment only (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional
AWS_SESSION_TOKEN): the session is built from those variables, so neither ~/.aws nor an instance
profile is consulted, and no key ever reaches a message, a log line or a written file.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladeforge.config import S3Config
from spladeforge.errors import ConfigError, SpladeforgeError
from spladeforge.redaction import redact_text, redact_url

logger = logging.getLogger(__name__)

KEY_ENV = "AWS_ACCESS_KEY_ID"
SECRET_ENV = "AWS_SECRET_ACCESS_KEY"
TOKEN_ENV = "AWS_SESSION_TOKEN"
MANIFEST = "manifest.json"
PENDING = "upload-in-progress.json"


@dataclass(frozen=True)
class S3Plan:
    bucket: str | None
    prefix: str
    endpoint_url: str | None
    region: str | None
    required: bool
    missing: str | None  # None when the bucket and the credentials are there
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_attempts: int = 2

    @property
    def ready(self) -> bool:
        return self.missing is None

    @property
    def where(self) -> str:
        return f"endpoint {redact_url(self.endpoint_url) if self.endpoint_url else 'AWS S3 (default endpoint)'}"

    def version_prefix(self, model_name: str, version: str) -> str:
        parts = [p for p in (self.prefix.strip("/"), model_name, f"v{version}") if p]
        return "/".join(parts) + "/"


def plan(cfg: S3Config) -> S3Plan:
    """Check the configuration; with `required: true` a missing bucket or credential is an error."""
    if not cfg.bucket:
        missing = "publish.s3.bucket is not set"
    elif not (os.environ.get(KEY_ENV) and os.environ.get(SECRET_ENV)):
        missing = f"the environment variables {KEY_ENV} and {SECRET_ENV} are not both set"
    else:
        missing = None
    if missing and cfg.required:
        raise ConfigError(f"publish.s3.required is true but {missing}; set it, or set "
                          "publish.s3.required: false to export locally only")
    return S3Plan(cfg.bucket, cfg.prefix, cfg.endpoint_url, cfg.region, cfg.required, missing,
                  cfg.connect_timeout_s, cfg.read_timeout_s, cfg.max_attempts)


def _client(s3_plan: S3Plan):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=os.environ.get(KEY_ENV), aws_secret_access_key=os.environ.get(SECRET_ENV),
        aws_session_token=os.environ.get(TOKEN_ENV) or None, region_name=s3_plan.region or "us-east-1",
    )
    # Few, short retries (publish.s3.max_attempts, *_timeout_s): a wrong endpoint fails in seconds.
    config = Config(retries={"max_attempts": s3_plan.max_attempts, "mode": "standard"},
                    connect_timeout=s3_plan.connect_timeout_s, read_timeout=s3_plan.read_timeout_s)
    return session.client("s3", endpoint_url=s3_plan.endpoint_url, config=config)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _describe(exc: Exception) -> str:
    """The error code and message of a botocore error, without request details or keys."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        text = f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".rstrip(": ")
    else:
        text = f"{type(exc).__name__}: {exc}"
    for secret in (os.environ.get(SECRET_ENV), os.environ.get(TOKEN_ENV)):
        if secret:
            text = text.replace(secret, "***")
    return redact_text(text)


def _read_json(client, bucket: str, key: str) -> dict[str, Any] | None:
    """The object at `key` as a JSON object; None when it is missing or not a JSON object."""
    try:
        data = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception:  # noqa: BLE001 - missing or unreadable
        return None
    return data if isinstance(data, dict) else None


def _existing(client, bucket: str, prefix: str) -> tuple[str, dict[str, Any]] | None:
    """None when nothing is under `prefix`; else what is there: `("complete", manifest)`,
    `("interrupted", marker)` for an upload killed before its manifest, or `("foreign", {})`."""
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    if not listed.get("KeyCount"):
        return None
    manifest = _read_json(client, bucket, prefix + MANIFEST)
    if manifest is not None:
        return "complete", manifest
    marker = _read_json(client, bucket, prefix + PENDING)
    if marker is not None:
        return "interrupted", marker
    return "foreign", {}


def _delete(client, bucket: str, keys: list[str]) -> None:
    """Delete `keys` (a missing key is no error in S3); raise naming the first key S3 refused."""
    for start in range(0, len(keys), 1000):  # the API's limit per call
        response = client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys[start:start + 1000]]})
        if response.get("Errors"):
            error = response["Errors"][0]
            raise RuntimeError(f"could not delete {error.get('Key')}: {error.get('Code')} {error.get('Message', '')}")


def _clear_interrupted(client, bucket: str, prefix: str) -> int:
    """Delete every object and abort every unfinished multipart upload under `prefix`."""
    for upload in client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    keys = [obj["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])]
    _delete(client, bucket, keys)
    return len(keys)


def _remove_partial(client, bucket: str | None, keys: list[str]) -> None:
    """Best effort: delete what an interrupted upload wrote, so a rerun finds the prefix empty
    (without a manifest it would otherwise be refused as someone else's upload)."""
    if client is None or not keys:
        return
    try:
        _delete(client, bucket, keys)
    except Exception as exc:  # noqa: BLE001 - the upload error is the one to report
        logger.warning("could not remove the partial upload (%d objects): %s", len(keys), _describe(exc))


def push(s3_plan: S3Plan, folder: Path, shown_folder: Path, *, model_name: str, version: str,
         model_sha256: str | None) -> dict[str, Any]:
    """Upload every file of `folder`, then `manifest.json`; or return what would be uploaded.

    A failure (bad credentials, missing bucket, unreachable endpoint, an existing version
    prefix holding another model) is an error when `required`, else a warning the result records.
    """
    files = _files(folder)
    prefix = s3_plan.version_prefix(model_name, version)
    target = f"s3://{s3_plan.bucket or '<bucket>'}/{prefix} ({s3_plan.where})"
    endpoint = redact_url(s3_plan.endpoint_url) if s3_plan.endpoint_url else None
    result: dict[str, Any] = {"bucket": s3_plan.bucket, "prefix": prefix,
                              "endpoint_url": endpoint, "uploaded": False, "files": files}
    if not s3_plan.ready:
        result["message"] = (f"S3 upload skipped: {s3_plan.missing}. It would upload {len(files)} files "
                             f"from {shown_folder} to {target}: {', '.join(files)}")
        (logger.warning if s3_plan.bucket else logger.info)(result["message"])
        return result

    def fail(message: str) -> dict[str, Any]:
        if s3_plan.required:
            raise SpladeforgeError(message) from None
        logger.warning(message)
        result["message"] = message
        return result

    uploaded: list[str] = []
    client = None
    try:
        client = _client(s3_plan)
        existing = _existing(client, s3_plan.bucket, prefix)
        if existing is not None:
            state, found = existing
            same = bool(model_sha256) and found.get("model_sha256") == model_sha256
            if state == "complete" and same:
                # A marker a kill left between the manifest and its cleanup; deleting none is no error.
                _remove_partial(client, s3_plan.bucket, [prefix + PENDING])
                result["message"] = f"Already published to {target} (same model_sha256); left as it is"
                result["already_published"] = True
                logger.info(result["message"])
                return result
            if state == "interrupted" and same:
                removed = _clear_interrupted(client, s3_plan.bucket, prefix)
                logger.warning("%s held an interrupted upload of this model (%d objects, no %s): removed, "
                               "uploading again", target, removed, MANIFEST)
            else:
                what = {"complete": "another model", "interrupted": "an interrupted upload of another model",
                        "foreign": f"objects without a {MANIFEST}"}[state]
                return fail(f"S3 upload refused: {target} already holds {what}; a published version is "
                            "never overwritten (register a new version instead)")
        manifest = {"model_name": model_name, "version": str(version), "model_sha256": model_sha256,
                    "files": files}
        # First the marker, last the manifest: a reader (and a rerun) can tell a complete upload.
        client.put_object(Bucket=s3_plan.bucket, Key=prefix + PENDING, ContentType="application/json",
                          Body=json.dumps({k: manifest[k] for k in ("model_name", "version", "model_sha256")}))
        uploaded.append(prefix + PENDING)
        for name in files:
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            client.upload_file(str(folder / name), s3_plan.bucket, prefix + name,
                               ExtraArgs={"ContentType": content_type})
            uploaded.append(prefix + name)
        client.put_object(Bucket=s3_plan.bucket, Key=prefix + MANIFEST, Body=json.dumps(manifest, indent=2),
                          ContentType="application/json")
    except SpladeforgeError:
        raise
    except Exception as exc:  # botocore: credentials, bucket, endpoint, throttling
        _remove_partial(client, s3_plan.bucket, uploaded)
        return fail(f"S3 upload of {shown_folder} to {target} failed: {_describe(exc)}")
    # The upload is complete with its manifest; a marker left behind is only untidy.
    _remove_partial(client, s3_plan.bucket, [prefix + PENDING])
    result.update(uploaded=True, files=files + [MANIFEST],
                  message=f"Uploaded {len(files) + 1} files from {shown_folder} to {target}")
    logger.info(result["message"])
    return result
