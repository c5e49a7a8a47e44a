"""Cron schedules: a 5-field cron expression (`croniter`'s: also `@daily`, `L`, `W`, `#`, and
a 6th field of seconds) in an IANA time zone (UTC by default); when it next comes due.

Due times are computed in the schedule's zone and kept in UTC, so a daily `30 2 * * *` in
`Europe/Berlin` fires at 02:30 Berlin time on both sides of a daylight-saving change (on the
day the clocks skip 02:30, at the first time after it: 03:00; on the day they go back over
02:30, once, at the first 02:30). As cron does it: a schedule of given hours never fires
twice at one wall-clock time; one of every hour (`*` hours) fires in both of the repeated
hours, as they are two hours.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from interlock.checkpoint._time import as_utc
from interlock.server._errors import ApiError

__all__ = ["next_due"]


def _zone(timezone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo("UTC" if timezone is None else timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ApiError(
            422,
            "invalid_timezone",
            f"timezone {timezone!r} is not an IANA time zone (e.g. 'Europe/Berlin', 'UTC')",
        ) from None


def next_due(schedule: str, timezone: str | None, after: datetime) -> datetime:
    """The first time strictly after `after` that `schedule` names in `timezone`, in UTC.
    `ApiError` 422 for a schedule or zone that is not one, or a schedule that never comes
    due (`0 0 31 2 *`)."""
    from croniter import CroniterBadDateError, croniter  # the server extra

    zone = _zone(timezone)
    if not croniter.is_valid(schedule):
        raise ApiError(
            422,
            "invalid_schedule",
            f"schedule {schedule!r} is not a cron expression (minute hour day month weekday, "
            "e.g. '*/5 * * * *')",
        )
    try:
        times = croniter(schedule, as_utc(after).astimezone(zone))
        found = times.get_next(datetime)
        every_hour = times.expressions[1] == "*"
        while not every_hour and _repeated(found.astimezone(zone)):
            found = times.get_next(datetime)  # its first occurrence was the due time
    except CroniterBadDateError:
        raise ApiError(422, "invalid_schedule", f"schedule {schedule!r} never comes due") from None
    assert isinstance(found, datetime)
    return found.astimezone(UTC)


def _repeated(local: datetime) -> bool:
    """Whether `local` is the second occurrence of its wall-clock time (the hour the clocks
    went back over)."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
