"""File I/O shared by every stage: atomic outputs, JSONL that reports bad lines by number, and
the figures of a flat JSON report.

Every stage writes into a temporary sibling of its output and renames it into place only when
the whole output is complete, so an interrupted stage never leaves a half-written file for DVC
or KFP to mistake for a result. A folder replacing an earlier one is swapped in with one atomic
exchange on Linux; elsewhere the old folder is moved aside first and, should the process die
before the new one is in place, restored by the next run. A stage with several outputs
publishes them together (`atomic_outputs`: a journal of the renames, rolled forward by the next
run if it was killed between them). A full disk is reported naming the output being written.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import logging
import math
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from spladeforge.errors import InputError

logger = logging.getLogger(__name__)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    False where the platform, C library or filesystem cannot: the caller falls back to two renames.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _temporary(dest: Path, *, directory: bool) -> Path:
    """A fresh temporary sibling of `dest`, after putting back or clearing what a killed run left."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _recover_folder(dest.parent)
    prefix = f".{dest.name}.tmp-"
    olds = sorted(dest.parent.glob(f".{dest.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not dest.exists() and not dest.is_symlink():
        # A run killed between moving the old output aside and renaming the new one in (only
        # where the atomic exchange is unavailable): the old output comes back, not lost.
        os.replace(olds.pop(), dest)
    # Leftovers of a run that was killed before it could clean up (SIGKILL, power loss).
    for stale in [*dest.parent.glob(f"{prefix}*"), *olds]:
        _remove(stale)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
        os.chmod(tmp, 0o755)
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=dest.parent)
        os.close(fd)
        tmp = Path(name)
    return tmp


def _publish(tmp: Path, dest: Path) -> None:
    """Put the complete `tmp` in place of `dest`: one rename, or one exchange for a folder."""
    if tmp.is_dir() and dest.exists() and _exchange(tmp, dest):
        _remove(tmp)  # it now holds the old output
    elif tmp.is_dir():
        # A directory cannot be renamed over a non-empty one: move the old one aside first,
        # so that at every moment either the old or the new output is complete.
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            _remove(old)
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            _remove(old)
    else:
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)


# An OS error inside a library's own message: Rust's io::Error (safetensors, tokenizers) and
# Python's "[Errno N]" text in the error list shutil.copytree raises.
_OS_CODE = re.compile(r"Os \{ code: (\d+)|\[Errno (\d+)\]")


def as_os_error(exc: BaseException, where: Path | None = None) -> OSError | None:
    """`exc` as one OSError naming a path, when an OS error is what it is or carries; else None.

    shutil.copytree reports a list of (source, destination, error) tuples and safetensors a
    Rust `IoError(Os { code: 28, ... })` without any path: both become the errno's own words
    and the destination (or `where`, what was being written).
    """
    if isinstance(exc, shutil.Error):
        entries = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
        first = next((e for e in entries if isinstance(e, tuple) and len(e) == 3), None)
        if first is None:
            return OSError(errno.EIO, str(exc)[:200], str(where) if where else None)
        found = _OS_CODE.search(str(first[2]))
        code = int(found.group(1) or found.group(2)) if found else errno.EIO
        more = f" (and {len(entries) - 1} more files)" if len(entries) > 1 else ""
        return OSError(code, os.strerror(code) + more, str(first[1]))
    if isinstance(exc, OSError):
        if exc.errno is None:
            return None
        if exc.filename is None and where is not None:
            return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(where))
        return exc
    found = _OS_CODE.search(str(exc))
    if found and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
        code = int(found.group(1) or found.group(2))
        return OSError(code, os.strerror(code), str(where) if where else None)
    return None


def _named(exc: BaseException, pairs: list[tuple[Path, Path]]) -> BaseException:
    """An OS error while writing outputs as an OSError naming the output, never a temporary.

    A full disk, a file-size limit (EFBIG) or a library's own wrapping of either (see
    `as_os_error`) is reported as one line: the errno's words and the output it hit.
    """
    error = as_os_error(exc)
    if error is None:
        return exc
    shown = None
    if error.filename:
        failed = Path(os.fsdecode(error.filename))
        for tmp, dest in pairs:
            if failed == tmp or tmp in failed.parents:
                shown = dest / failed.relative_to(tmp) if failed != tmp else dest
        if shown is None:
            return error  # a path outside the outputs (an input, say) names itself
    else:
        shown = ", ".join(str(dest) for _, dest in pairs)
    return OSError(error.errno, f"{os.strerror(error.errno)} while writing", str(shown))


# Checks run before any output is put in place (`publish_guard`), and what each guard saw published.
_GUARDS: list[tuple[Callable[[], None], list[Path]]] = []


@contextlib.contextmanager
def publish_guard(check: Callable[[], None]) -> Iterator[list[Path]]:
    """Call `check` before every output is put in place inside the block; yield the outputs published.

    `check` raises to stop a publish: the temporaries vanish and what the output held before stays.
    The list lets the caller remove what was published when a later check fails.
    """
    published: list[Path] = []
    _GUARDS.append((check, published))
    try:
        yield published
    finally:
        _GUARDS.remove((check, published))


def _guarded(dests: list[Path]) -> None:
    for check, published in list(_GUARDS):
        check()
        published.extend(dests)


def remove_outputs(paths: Iterable[Path]) -> None:
    """Delete outputs (files or folders) a failed stage had already put in place."""
    for path in paths:
        _remove(path)


# Temporaries of an `atomic_outputs` block still being written: `atomic_output` (and so
# write_json/write_jsonl) writes them in place, since the block publishes them with their siblings.
_PENDING: set[Path] = set()


@contextlib.contextmanager
def atomic_output(dest: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `dest`; on success it replaces `dest`, on error it vanishes."""
    dest = Path(dest)
    if dest in _PENDING:
        try:
            yield dest
        except OSError as exc:
            if not exc.filename and exc.errno is not None:
                raise OSError(exc.errno, exc.strerror, str(dest)) from None  # named by the enclosing block
            raise
        return
    tmp = _temporary(dest, directory=directory)
    try:
        yield tmp
        _guarded([dest])
        _publish(tmp, dest)
    except BaseException as exc:
        _remove(tmp)
        named = _named(exc, [(tmp, dest)])
        if named is exc:
            raise
        raise named from None


# --- several outputs together ----------------------------------------------------------------

JOURNAL = ".outputs-journal.json"


def _ident(path: Path) -> list[int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return [st.st_dev, st.st_ino]


@contextlib.contextmanager
def atomic_outputs(*dests: str | Path, folders: Iterable[str | Path] = ()) -> Iterator[tuple[Path, ...]]:
    """Yield a temporary sibling for each of `dests` (a folder for those in `folders`); on success
    all of them replace their outputs together, on error all vanish.

    A stage with several outputs (a file and its report, a model folder and its curves) must not
    leave a new one beside an old or missing other. Once every temporary is complete, a journal
    (`.<first output>.outputs-journal.json`: each temporary, its output and the temporary's inode)
    is written, then the temporaries are renamed in one by one, then the journal is removed. A
    run killed between those renames leaves the journal: the next start of any stage touching
    these folders rolls the renames forward (`recover_outputs`), so what readers get is all the
    new outputs or, killed before the journal existed, all the old ones.
    """
    paths = [Path(d) for d in dests]
    as_folder = {Path(f) for f in folders}
    journal = paths[0].parent / f".{paths[0].name}{JOURNAL}"
    pairs: list[tuple[Path, Path]] = []
    committing = False
    try:
        for dest in paths:
            pairs.append((_temporary(dest, directory=dest in as_folder), dest))
            _PENDING.add(pairs[-1][0])
        for stale in journal.parent.glob(f".{journal.name}.tmp-*"):
            _remove(stale)  # a journal a killed run was still writing: its publish never began
        yield tuple(tmp for tmp, _ in pairs)
        _guarded(paths)
        committing = True
        root = journal.parent
        write_json(journal, {"pid": os.getpid(), "host": socket.gethostname(), "outputs": [
            {"tmp": os.path.relpath(tmp, root), "dest": os.path.relpath(dest, root), "ident": _ident(tmp)}
            for tmp, dest in pairs]})
        for tmp, dest in pairs:
            _publish(tmp, dest)
        journal.unlink()
    except BaseException as exc:
        if not committing:  # once the journal exists the temporaries are complete: the next start publishes them
            for tmp, _ in pairs:
                _remove(tmp)
        named = _named(exc, pairs)
        if named is exc:
            raise
        raise named from None
    finally:
        _PENDING.difference_update(tmp for tmp, _ in pairs)


def recover_outputs(*paths: str | Path) -> int:
    """Finish the publishes a killed run left half done in the folders of `paths`; return how many.

    `paths` are outputs (or inputs: an earlier stage's outputs) of the stage about to run; each
    journal found beside them (see `atomic_outputs`) has its remaining renames done.
    """
    folders = dict.fromkeys(Path(p).parent for p in paths)
    return sum(_recover_folder(folder) for folder in folders)


def _alive(record: dict[str, Any]) -> bool:
    """Whether the process that wrote a journal still runs on this host (it is then mid-publish)."""
    pid = record.get("pid")
    if record.get("host") != socket.gethostname() or not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recover_folder(folder: Path) -> int:
    done = 0
    for journal in sorted(folder.glob(f".*{JOURNAL}")) if folder.is_dir() else []:
        try:
            record = json.loads(journal.read_text(encoding="utf-8"))
            entries = record["outputs"]
        except FileNotFoundError:
            continue  # its writer finished in the meantime
        except (OSError, ValueError, KeyError, TypeError):
            record, entries = {}, []  # written atomically, so only a hand-edited journal gets here
        if _alive(record):
            continue  # another process on this host is publishing these outputs right now
        for entry in entries:
            tmp, dest, ident = folder / entry["tmp"], folder / entry["dest"], entry["ident"]
            if _ident(dest) == ident:
                if tmp.exists() or tmp.is_symlink():
                    _remove(tmp)  # an exchange left the old output here
            elif _ident(tmp) == ident:
                _publish(tmp, dest)
            else:
                logger.warning("%s: %s is neither the new output nor its temporary any more; left as it is",
                               journal, dest)
        journal.unlink(missing_ok=True)
        logger.warning("finished publishing the outputs of an interrupted run (%s)", journal.name)
        done += 1
    return done


def write_jsonl(dest: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as JSON lines atomically; return how many were written."""
    count = 0
    with atomic_output(dest) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Read a JSONL file; a malformed line or a missing field names the file and line."""
    return list(iter_jsonl(path, required))


_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(value: Any) -> str | None:
    """The first lone UTF-16 surrogate in `value` (a string, or strings inside lists and dicts) as
    `\\udXXX`, or None. JSON's `\\ud800` escape decodes to one; no UTF-8 file can hold it, so
    writing it later fails with a UnicodeEncodeError far from the line it came from."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        return f"\\u{ord(found.group(0)):04x}" if found else None
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value if isinstance(value, list) else []
    for item in items:
        if (found := lone_surrogate(item)) is not None:
            return found
    return None


def iter_jsonl(
    path: str | Path, required: tuple[str, ...] = (), numbered: bool = False
) -> Iterator[Any]:
    """Yield each line's object (or `(line number, object)` pairs when `numbered`).

    A UTF-8 byte-order mark at the start is read as such (Windows editors write one); a line
    holding a lone surrogate escape (`"\\ud800"`, invalid Unicode) is an error naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found (expected a JSON-lines file)")
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise InputError(f"{path}:{lineno}: expected a JSON object per line")
                if "\\u" in line and (bad := lone_surrogate(record)) is not None:
                    raise InputError(f"{path}:{lineno}: invalid Unicode: the escape {bad} is a lone surrogate "
                                     "(half of a UTF-16 pair), which no UTF-8 text can hold; fix or remove it")
                missing = [key for key in required if key not in record]
                if missing:
                    raise InputError(
                        f"{path}:{lineno}: missing field(s) {', '.join(missing)} "
                        f"(each line needs {', '.join(required)})"
                    )
                yield (lineno, record) if numbered else record
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def write_json(dest: str | Path, obj: Any) -> None:
    with atomic_output(dest) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(path: str | Path) -> str:
    """Hash a file, or a folder's relative paths and contents in sorted order."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def read_figures(path: str | Path, *, required: tuple[str, ...] = ()) -> dict[str, float]:
    """The numeric entries of a flat JSON report; `required` keys must be finite numbers."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of metric name -> number")
    figures = {
        k: float(v) for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    for key in required:
        if key not in figures or not math.isfinite(figures[key]):
            raise InputError(f"{path}: {key} must be a finite number (got {data.get(key)!r})")
    return {k: v for k, v in figures.items() if math.isfinite(v)}
