"""Working time in a contract calendar (``WorkingTime``): business seconds between instants, and
the instant at which a number of business seconds has elapsed.

A calendar's working time over a span is a sorted list of disjoint working intervals in UTC (one
per working day: the opening and closing hours as wall-clock times in the contract's zone, so a
DST change moves them in UTC; weekends, public holidays from the ``holidays`` package and the
calendar's explicit dates left out). The 24x7 calendar (``ALWAYS``, given here as ``None``) is one
interval: all time counts. The list is built once per span (days, not rows); every instant is then
placed with one binary search (``search_sorted``) against the interval starts and the cumulative
working time before each interval, so a frame of a million instants costs one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import polars as pl

from pipelines.contracts.fields import WEEKDAYS
from pipelines.contracts.schema import ALWAYS, Calendar, Contract, Objective
from pipelines.sla.clock import local_day, local_to_utc

UTC_TIME = pl.Datetime("us", "UTC")
_BEFORE_ALL = -(2**62)
"""A zero-length interval that starts the list, so every instant has an interval at or before it."""


def objective_calendar(contract: Contract, objective: Objective) -> Calendar | None:
    """The calendar an objective counts in: ``None`` for 24x7, else the contract's named one."""
    return None if objective.calendar == ALWAYS else contract.calendars[objective.calendar]


def _micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _working_days(calendar: Calendar, first: date, last: date) -> list[date]:
    """The working days from ``first`` to ``last`` inclusive."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    closed = set(calendar.dates)
    if calendar.holidays is not None:
        closed |= set(
            holidays.country_holidays(
                calendar.holidays.country,
                subdiv=calendar.holidays.subdivision,
                years=range(first.year, last.year + 1),
            )
        )
    weekdays = {WEEKDAYS.index(day) for day in calendar.days}
    return [day for day in days if day.weekday() in weekdays and day not in closed]


def _intervals(
    calendar: Calendar, zone: ZoneInfo, first: date, last: date
) -> list[tuple[int, int]]:
    """Working intervals (UTC microseconds, half-open) of the local days ``first``..``last``."""
    opening, closing = calendar.hours
    return [
        (
            _micros(local_to_utc(datetime.combine(day, opening), zone)),
            _micros(local_to_utc(datetime.combine(day, closing), zone)),
        )
        for day in _working_days(calendar, first, last)
    ]


@dataclass(frozen=True)
class WorkingTime:
    """The working intervals of a calendar over a span, as three aligned Int64 series (UTC
    microseconds): ``starts`` and ``ends`` of the intervals, and ``worked_before``: the working
    time of all earlier intervals. Build it with :meth:`covering`."""

    starts: pl.Series
    ends: pl.Series
    worked_before: pl.Series

    @classmethod
    def covering(
        cls,
        calendar: Calendar | None,
        zone: ZoneInfo,
        first: datetime,
        last: datetime,
        reserve: timedelta = timedelta(0),
    ) -> WorkingTime:
        """Working time from ``first`` to ``last`` (UTC instants), and further on until at least
        ``reserve`` more working time lies after ``last`` (room for deadlines beyond it)."""
        if calendar is None:
            bounds = [(_micros(first), _micros(last + reserve))]
        else:
            first_day, last_day = local_day(first, zone), local_day(last, zone)
            extra_days = 7
            while True:
                bounds = _intervals(
                    calendar, zone, first_day, last_day + timedelta(days=extra_days)
                )
                end = _micros(last)
                after = sum(stop - max(start, end) for start, stop in bounds if stop > end)
                if after >= reserve // timedelta(microseconds=1):
                    break
                extra_days *= 2
        starts = pl.Series("starts", [_BEFORE_ALL] + [start for start, _ in bounds], pl.Int64)
        ends = pl.Series("ends", [_BEFORE_ALL] + [stop for _, stop in bounds], pl.Int64)
        worked_before = (ends - starts).cum_sum().shift(1, fill_value=0).rename("worked_before")
        return cls(starts, ends, worked_before)

    def worked(self, instant: pl.Expr) -> pl.Expr:
        """Working time (Int64 microseconds) from the start of the span to each UTC instant of
        ``instant``; the difference of two is the working time between them."""
        at = instant.dt.epoch("us")
        index = pl.lit(self.starts).search_sorted(at.fill_null(_BEFORE_ALL), side="right") - 1
        start, end = pl.lit(self.starts).gather(index), pl.lit(self.ends).gather(index)
        worked = pl.lit(self.worked_before).gather(index) + pl.min_horizontal(at, end) - start
        return pl.when(at.is_not_null()).then(worked)

    def reached(self, worked: pl.Expr) -> pl.Expr:
        """The first UTC instant at which ``worked`` (Int64 microseconds, as from :meth:`worked`,
        above zero) has elapsed; null beyond the span."""
        worked_after = pl.lit(self.worked_before + (self.ends - self.starts))
        index = worked_after.search_sorted(worked, side="left")
        inside = index < len(self.starts)
        index = pl.when(inside).then(index).otherwise(0)
        instant = (
            pl.lit(self.starts).gather(index) + worked - pl.lit(self.worked_before).gather(index)
        )
        return pl.when(inside).then(instant).cast(UTC_TIME)
