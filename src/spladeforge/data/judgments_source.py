"""Fetch a judgments folder for a Kubeflow run: `judgments_uri` names where it lives.

- `s3://bucket/prefix`: every object under the prefix, through boto3 (credentials and an S3-compatible
  endpoint from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL);
- `dvc://<repo>@<rev>:<path>`: `path` at revision `rev` of a DVC repository (a git URL or a local
  path; an empty `rev` is the default branch), read by `data.dvc_source.fetch`;
- `""`: no judgments (an empty folder, which evaluate reads as none).
"""

from __future__ import annotations

from pathlib import Path

from spladeforge.errors import InputError
from spladeforge.redaction import redact_text

ACCEPTED = "s3://<bucket>/<prefix>, dvc://<repo>@<rev>:<path>, or empty for none"


def parse_dvc_uri(uri: str) -> tuple[str, str | None, str]:
    """`dvc://<repo>@<rev>:<path>` -> (repo, rev or None, path); the repository may hold ':' and '@'."""
    body = uri.removeprefix("dvc://")
    repo, sep, rest = body.rpartition("@")
    rev, colon, path = rest.partition(":")
    if not sep or not colon or not repo or not path.strip("/"):
        raise InputError(f"judgments_uri: {redact_text(uri)!r} is not dvc://<repo>@<rev>:<path> "
                         "(e.g. dvc://https://github.com/org/data@main:judgments)")
    return repo, rev or None, path.strip("/")


def _fetch_s3(uri: str, dest: Path) -> None:
    import boto3

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise InputError(f"judgments_uri: {uri!r} names no bucket (accepted: {ACCEPTED})")
    prefix = prefix.strip("/")
    client = boto3.client("s3")
    found = 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix):].lstrip("/") if prefix else item["Key"]
                if not relative or relative.endswith("/") or ".." in Path(relative).parts:
                    continue
                target = dest / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, item["Key"], str(target))
                found += 1
    except Exception as exc:  # noqa: BLE001 - botocore: credentials, bucket, endpoint alike
        raise InputError(f"judgments_uri: cannot read {uri}: {type(exc).__name__}: "
                         f"{redact_text(str(exc)).splitlines()[0] if str(exc) else ''}") from None
    if not found:
        raise InputError(f"judgments_uri: {uri} holds no object (expected queries.jsonl and qrels/test.tsv under it)")


def fetch_judgments(uri: str, dest: Path) -> Path:
    """Copy the judgments folder `uri` names into `dest` (created); return `dest`."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    uri = uri.strip()
    if not uri:
        return dest
    if uri.startswith("s3://"):
        _fetch_s3(uri, dest)
    elif uri.startswith("dvc://"):
        from spladeforge.data.dvc_source import fetch

        repo, rev, path = parse_dvc_uri(uri)
        fetch(repo, path, rev, {}, dest / "fetched")
        inner = dest / "fetched"
        for item in inner.iterdir():
            item.replace(dest / item.name)
        inner.rmdir()
    else:
        raise InputError(f"judgments_uri: {redact_text(uri)!r} is not accepted ({ACCEPTED})")
    return dest
