"""A schedule's cron written in a local timezone, as the UTC cron KFP's scheduler runs.

KFP's ScheduledWorkflow controller evaluates every recurring run's cron in one zone for the whole
cluster (its CRON_SCHEDULE_TIMEZONE, UTC in KFP's manifests, which infra/kfp leaves alone). A
team that means "Mondays 03:00 in Berlin" gets a cron shifted by the zone's current UTC offset:
minute and hour move, and the weekdays with them when the time crosses midnight. A zone with
daylight saving time changes its offset twice a year; the shifted cron keeps the offset of the
day it was made (`schedule --replace` after the change moves it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spladeforge.errors import ConfigError

_WEEKDAYS = 7


@dataclass(frozen=True)
class UtcCron:
    expression: str  # 6 fields, seconds first, in UTC
    offset: timedelta  # the zone's UTC offset used
    changes_offset: bool  # the zone has daylight saving time: the offset will change


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--timezone {name!r}: not an IANA time zone like UTC, Europe/Berlin or "
                          "America/New_York") from None


def _weekdays(field: str, shift: int, expression: str) -> str:
    if field in ("*", "?") or shift == 0:
        return field
    days: list[int] = []
    for part in field.split(","):
        low, _, high = part.partition("-")
        if not (low.isdigit() and (not high or high.isdigit())):
            raise ConfigError(f"--cron {expression!r}: with a --timezone whose day differs from UTC's at that "
                              f"time, the day-of-week field must be *, numbers, lists or ranges (got {field!r})")
        days += range(int(low), int(high or low) + 1)
    return ",".join(str(d) for d in sorted({(d + shift) % _WEEKDAYS for d in days}))


def to_utc(expression: str, timezone_name: str, now: datetime | None = None) -> UtcCron:
    """`expression` (6 fields) in `timezone_name`, shifted to UTC by the zone's offset at `now`."""
    tz = zone(timezone_name)
    second, minute, hour, dom, month, dow = expression.split()
    now = (now or datetime.now(UTC)).astimezone(tz)
    offsets = {now.replace(month=m, day=1).utcoffset() for m in range(1, 13)}
    if len(offsets) == 1 and next(iter(offsets)) == timedelta(0):
        return UtcCron(expression, timedelta(0), False)
    if not (minute.isdigit() and hour.isdigit()):
        raise ConfigError(f"--cron {expression!r} with --timezone {timezone_name}: minute and hour must be single "
                          "numbers to shift them to UTC; write the cron in UTC instead (--timezone UTC)")
    if dom not in ("*", "?") or month not in ("*", "?"):
        raise ConfigError(f"--cron {expression!r} with --timezone {timezone_name}: day-of-month and month must be * "
                          "(a shift across midnight would move them); write the cron in UTC instead")
    local = now.replace(hour=int(hour), minute=int(minute), second=0, microsecond=0)
    utc = local.astimezone(UTC)
    shift = (utc.date() - local.date()).days
    shifted = " ".join([second, str(utc.minute), str(utc.hour), dom, month, _weekdays(dow, shift, expression)])
    return UtcCron(shifted, local.utcoffset() or timedelta(0), len(offsets) > 1)
