"""Mirror train's checkpoint folder to object storage, and read it back on a fresh node.

A spot GPU node can vanish mid-run; the retried task lands on another node, often in another
zone, with an empty disk. A zonal ReadWriteOnce volume cannot follow it there (nor be shared by
two runs), so the checkpoints live in S3 (or any S3-compatible store) instead:

- before training, `restore` downloads the complete checkpoints of an earlier attempt into the
  local folder, where `training.args.prepare_checkpoints` finds and resumes from them;
- during training, a thread watches the local folder and uploads each checkpoint once the Trainer
  has finished writing it, `trainer_state.json` last (the Trainer writes that file last too, so a
  checkpoint whose `trainer_state.json` is in the bucket is whole), and deletes from the bucket
  the checkpoints the Trainer rotated away;
- after a successful run the mirror is deleted: checkpoints are scratch, the model is the output.

The local folder must be the same path on every attempt: the Trainer records the best
checkpoint's absolute path in `trainer_state.json` (`local_folder` derives it from the URI).
boto3 reads credentials and an S3-compatible endpoint (AWS_ENDPOINT_URL_S3) from the environment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from spladeforge.errors import InputError

logger = logging.getLogger(__name__)

STATE = "trainer_state.json"  # written last by transformers' Trainer._save_checkpoint
MARKER = "spladeforge-run.json"  # training.args.FINGERPRINT: which params/inputs the checkpoints belong to
POLL_SECONDS = 2.0  # a local directory listing: cheap; S3 is only listed when something changed
RESYNC_SECONDS = 300.0  # retry a failed upload even if nothing changed locally
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")


def local_folder(uri: str) -> Path:
    """The scratch folder mirrored to `uri`: the same path for every attempt of the task."""
    return Path(tempfile.gettempdir()) / "spladeforge-checkpoints" / hashlib.sha256(uri.encode()).hexdigest()[:16]


def checkpoint_location(checkpoint_uri: str, run_id: str, model_uri: str) -> tuple[Path, str | None]:
    """(local folder, S3 URI to mirror it to or None) for a Kubeflow train task.

    `checkpoint_uri` s3://... -> `<uri>/<run id>/train`; empty -> `checkpoints/<run id>/train` in
    the bucket of the task's model artifact (the pipeline root's), a prefix a bucket lifecycle rule
    expires for runs that failed for good (infra/terraform); for another scheme, beside the model
    artifact. A local path (kfp.local) -> `<path>/<run id>/train`, used directly.
    """
    parsed = urlparse(model_uri)
    if checkpoint_uri:
        target = f"{checkpoint_uri.rstrip('/')}/{run_id}/train"
    elif parsed.scheme == "s3" and parsed.netloc:
        target = f"s3://{parsed.netloc}/checkpoints/{run_id}/train"
    else:
        target = f"{model_uri.rstrip('/').rsplit('/', 1)[0]}/checkpoints"
    scheme = urlparse(target).scheme
    if scheme == "s3":
        return local_folder(target), target
    if scheme and len(scheme) > 1:  # gs://, minio://: not reachable with boto3's S3 client here
        logger.warning("checkpoints are not mirrored: %s is not s3://; a retried attempt starts over "
                       "(set kubeflow.checkpoint_uri to an s3:// URI)", target)
        return local_folder(target), None
    return Path(target), None


def _step(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def _complete(folder: Path) -> bool:
    """A checkpoint the Trainer has finished: its trainer_state.json parses and names its step."""
    try:
        state = json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return False
    return f"checkpoint-{state.get('global_step')}" == folder.name


class CheckpointMirror:
    """One local checkpoint folder and its copy under s3://bucket/prefix/."""

    def __init__(self, local: Path, uri: str, client=None) -> None:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InputError(f"checkpoint URI {uri!r}: expected s3://bucket/prefix")
        self.local, self.uri = local, uri
        self.bucket, self.prefix = parsed.netloc, parsed.path.strip("/") + "/"
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._marker_sent: str | None = None  # the run marker's text as last uploaded or restored

    # -- the bucket side ---------------------------------------------------------------------
    def _remote(self) -> dict[str, int]:
        """Relative key -> size of every object under the prefix."""
        found, token = {}, None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": self.prefix, **({"ContinuationToken": token} if token else {})}
            page = self.client.list_objects_v2(**kwargs)
            found.update({obj["Key"][len(self.prefix):]: obj["Size"] for obj in page.get("Contents", [])})
            if not page.get("IsTruncated"):
                return found
            token = page["NextContinuationToken"]

    @staticmethod
    def _complete_remote(remote: dict[str, int]) -> set[str]:
        return {name for key in remote if _CHECKPOINT.match(name := key.split("/", 1)[0]) and key == f"{name}/{STATE}"}

    def restore(self) -> list[str]:
        """Download the complete checkpoints (and the run marker) not already here; return their names."""
        try:
            remote = self._remote()
        except Exception as exc:  # noqa: BLE001 - credentials, endpoint, bucket: name the URI
            raise InputError(f"cannot read the checkpoints at {self.uri}: {exc}") from None
        complete = sorted(self._complete_remote(remote), key=_step)
        # Oldest first, trainer_state.json of each last: local mtimes keep the Trainer's order,
        # which its checkpoint rotation sorts by.
        wanted = [MARKER] if MARKER in remote else []
        for name in complete:
            files = sorted(k for k in remote if k.startswith(name + "/"))
            wanted += [k for k in files if not k.endswith("/" + STATE)] + [f"{name}/{STATE}"]
        for key in wanted:
            path = self.local / key
            if key != MARKER and path.is_file() and path.stat().st_size == remote[key]:
                continue  # already here (same node); the tiny marker is always read, its length never differs
            path.parent.mkdir(parents=True, exist_ok=True)
            self.client.download_file(self.bucket, self.prefix + key, str(path))
        if MARKER in remote:
            self._marker_sent = (self.local / MARKER).read_text()
        if complete:
            logger.info("restored checkpoints %s from %s", ", ".join(complete), self.uri)
        return complete

    def sync(self, delete: bool = True) -> list[str]:
        """Upload the finished local checkpoints the bucket lacks; drop rotated ones; return the uploaded."""
        if not self.local.is_dir():
            return []
        remote = self._remote()
        uploaded = []
        marker = self.local / MARKER
        # By content, not size: a run with other params writes a fingerprint of the same length.
        if marker.is_file() and (text := marker.read_text()) != self._marker_sent:
            self.client.upload_file(str(marker), self.bucket, self.prefix + MARKER)
            self._marker_sent = text
        local = {p.name for p in self.local.iterdir() if p.is_dir() and _CHECKPOINT.match(p.name)}
        have = self._complete_remote(remote)
        for name in sorted(local - have, key=_step):
            folder = self.local / name
            if not _complete(folder):
                continue  # still being written: next pass
            try:
                files = sorted(p for p in folder.rglob("*") if p.is_file() and p != folder / STATE)
                for path in [*files, folder / STATE]:
                    self.client.upload_file(str(path), self.bucket, f"{self.prefix}{name}/{path.relative_to(folder)}")
            except FileNotFoundError:
                continue  # rotated away while uploading: the bucket drops its part below
            uploaded.append(name)
        if delete:
            stale = [key for key in remote if key != MARKER and key.split("/", 1)[0] not in local]
            # trainer_state.json first: a half-deleted checkpoint must not look whole.
            for key in sorted(stale, key=lambda k: not k.endswith("/" + STATE)):
                self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        return uploaded

    def clear(self) -> None:
        """Delete the whole mirror (after a successful run)."""
        for key in self._remote():
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    # -- the watcher thread ------------------------------------------------------------------
    def _snapshot(self) -> frozenset[str]:
        if not self.local.is_dir():
            return frozenset()
        return frozenset(p.parent.name for p in self.local.glob(f"checkpoint-*/{STATE}"))

    def _watch(self) -> None:
        seen, waited = None, 0.0
        while not self._stop.wait(POLL_SECONDS):
            waited += POLL_SECONDS
            now = self._snapshot()
            if now == seen and waited < RESYNC_SECONDS:
                continue
            try:
                for name in self.sync():
                    logger.info("checkpoint %s mirrored to %s", name, self.uri)
                seen, waited = now, 0.0
            except Exception as exc:  # noqa: BLE001 - a storage hiccup must not stop training
                logger.warning("mirroring checkpoints to %s failed (retrying): %s", self.uri, exc)
                waited = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="checkpoint-mirror", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@contextmanager
def mirrored(local: Path, uri: str | None, client=None) -> Iterator[CheckpointMirror | None]:
    """Restore, mirror while the body trains, and delete the mirror if the body succeeds.

    When the body fails (an error, not a kill), one last upload pass keeps its newest checkpoint
    for the retry; it deletes nothing, since a failure after the model was saved has already
    removed the local checkpoints.
    """
    if not uri:
        yield None
        return
    mirror = CheckpointMirror(local, uri, client)
    mirror.restore()
    mirror.start()
    try:
        yield mirror
    except BaseException:
        mirror.stop()
        try:
            mirror.sync(delete=False)
        except Exception as exc:  # noqa: BLE001 - keep the training error, not the storage one
            logger.warning("last checkpoint upload to %s failed: %s", uri, exc)
        raise
    mirror.stop()
    mirror.clear()
