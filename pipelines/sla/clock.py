"""Local calendar instants in a contract's zone, as UTC datetimes.

Only window boundaries, exclusions and effective dates go through a zone (a few hundred instants
per zone), never evidence rows. Local times that do not exist (the hour skipped at a DST change)
or exist twice (the hour repeated) resolve with ``fold=0``: a skipped 02:30 becomes 02:30 at the
old offset (03:30 new time), a repeated 02:30 is its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_to_utc(moment: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in ``zone`` (naive, or already aware and kept as is) → UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which local ``day`` starts in ``zone``."""
    return local_time_on(day, time(), zone)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The local date in ``zone`` of a UTC instant."""
    return moment.astimezone(zone).date()


def local_time_on(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock time ``at`` on local ``day`` in ``zone``."""
    return local_to_utc(datetime.combine(day, at), zone)


def local_day_from(moment: datetime, at: time, zone: ZoneInfo) -> date:
    """The local date D in ``zone`` whose day, run from ``at`` on D to ``at`` on D+1, holds the
    UTC instant ``moment`` (``local_day`` when ``at`` is midnight)."""
    day = local_day(moment, zone)
    return day if moment >= local_time_on(day, at, zone) else day - timedelta(days=1)
