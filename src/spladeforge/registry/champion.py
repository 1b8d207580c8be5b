"""Moving the `champion` alias, with a record of every move that `rollback` can walk back.

MLflow keeps only where an alias points now. Each move therefore also writes, as tags:

- on the registered model, `champion.stack`: the versions that have been champion, oldest
  first, the current one last; a promotion pushes, a rollback pops;
- on the registered model, `champion.history`: the last moves (version, action, by, at, why);
- on the version moved to, `champion.action|by|at|reason|previous`; on the version a rollback
  leaves, `rollback.by|at|reason`.

`action` is `gate` (register's automatic promotion), `promote` or `rollback` (by hand).
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from typing import Any

from spladeforge.errors import SpladeforgeError
from spladeforge.registry.policy import CHAMPION

STACK_TAG = "champion.stack"
HISTORY_TAG = "champion.history"
# Registered-model tag values are capped (5,000 characters in some MLflow stores).
_KEEP_EVENTS = 20
_KEEP_VERSIONS = 200
_REASON_CHARS = 300
USER_ENV = "SPLADEFORGE_USER"


def current_user() -> str:
    """Who moved the alias: $SPLADEFORGE_USER (CI sets it), else the login name."""
    try:
        return os.environ.get(USER_ENV) or getpass.getuser()
    except OSError:  # no login name in some containers
        return "unknown"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_tag(tags: dict[str, str], key: str) -> list:
    try:
        value = json.loads(tags.get(key, "[]"))
    except json.JSONDecodeError:
        return []
    return value if isinstance(value, list) else []


def champion_of(client, name: str) -> str | None:
    return client.get_registered_model(name).aliases.get(CHAMPION)


def stack(client, name: str) -> list[str]:
    return [str(v) for v in _json_tag(client.get_registered_model(name).tags, STACK_TAG)]


def history(client, name: str) -> list[dict[str, Any]]:
    return _json_tag(client.get_registered_model(name).tags, HISTORY_TAG)


def _record(client, name: str, versions: list[str], event: dict[str, Any]) -> None:
    events = history(client, name) + [event]
    client.set_registered_model_tag(name, STACK_TAG, json.dumps(versions[-_KEEP_VERSIONS:]))
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(events[-_KEEP_EVENTS:]))


def move_champion(client, name: str, version: str, *, action: str, reason: str,
                  by: str | None = None) -> dict[str, Any]:
    """Point `champion` at `version` (which must exist) and record who, when and why."""
    version = str(version)
    client.get_model_version(name, version)  # raises RESOURCE_DOES_NOT_EXIST for a wrong number
    previous = champion_of(client, name)
    event = {"version": version, "previous": previous, "action": action, "by": by or current_user(),
             "at": _now(), "reason": reason[:_REASON_CHARS]}
    versions = stack(client, name)
    if previous is not None and (not versions or versions[-1] != str(previous)):
        versions.append(str(previous))  # an alias moved outside spladeforge: remember it anyway
    client.set_registered_model_alias(name, CHAMPION, version)
    for key in ("action", "by", "at", "reason", "previous"):
        client.set_model_version_tag(name, version, f"champion.{key}", str(event[key] or ""))
    _record(client, name, versions + [version], event)
    return event


def rollback(client, name: str, *, reason: str, by: str | None = None) -> dict[str, Any]:
    """Move `champion` back to the version that held it before the current one."""
    current = champion_of(client, name)
    if current is None:
        raise SpladeforgeError(f"registered model {name!r} has no {CHAMPION!r} version to roll back")
    versions = stack(client, name)
    while versions and versions[-1] == str(current):
        versions.pop()
    if not versions:
        raise SpladeforgeError(
            f"registered model {name!r}: v{current} is the only champion on record "
            f"(tag {STACK_TAG}); nothing to roll back to. Use `spladeforge registry promote` "
            "to choose a version")
    target = versions[-1]
    event = {"version": target, "previous": str(current), "action": "rollback",
             "by": by or current_user(), "at": _now(), "reason": reason[:_REASON_CHARS]}
    client.set_registered_model_alias(name, CHAMPION, target)
    for key in ("by", "at", "reason"):
        client.set_model_version_tag(name, str(current), f"rollback.{key}", str(event[key]))
    for key in ("action", "by", "at", "reason", "previous"):
        client.set_model_version_tag(name, target, f"champion.{key}", str(event[key]))
    _record(client, name, versions, event)
    return event
