"""The scripted events of the demo: where they fall, and what they do to the quiet-day evidence.

Events are placed relative to the end of the generated range, at local times in their contract's
zone, and kept only when they fit inside the range and stay clear of the clean month (the first
calendar month complete in every contract zone, which must show every objective met).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pipelines.contracts.schema import Contract

EventKind = Literal[
    "dependency_failure", "hard_outage", "latency_regression", "maintenance", "slow_degradation"
]

OUTAGE_ERROR_RATE = 0.99
"""Share of compute-api requests failing during the hard outage."""
REGRESSION_SLOWDOWN = 4.0
"""Factor on payments-api's median latency during the regression (p99 well above 800 ms)."""
DEPENDENCY = ("payments-db", "payments-api")
"""The database and the service whose requests fail while the database is slow."""
DEPENDENCY_SLOWDOWN = 25.0
"""Factor on payments-db's median latency during the dependency failure."""
DEPENDENCY_ERROR_RATE = 0.02
"""Extra share of payments-api requests failing while payments-db is slow (a burn rate of 40
against 99.95%: a page, yet a small part of the month's budget)."""
DEPENDENCY_LAG = timedelta(minutes=3)
"""payments-api starts (and stops) failing this long after payments-db slows down (recovers)."""
DEGRADATION_RAMP = timedelta(days=10)
"""The refunds-api error rate ramps up over the last days of its month."""
DEGRADATION_BREACH_LEAD = timedelta(days=2)
"""The degrading month's attainment crosses its target this long before the month ends."""


@dataclass(frozen=True)
class DemoRange:
    """The generated period: whole UTC days, ``[start, end)``."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: date, days: int) -> DemoRange:
        """The ``days`` UTC days before ``end`` (``end`` itself is not generated)."""
        stop = datetime.combine(end, time(), tzinfo=UTC)
        return cls(stop - timedelta(days=days), stop)

    def holds(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end


@dataclass(frozen=True)
class CalendarWindow:
    """A calendar month in a contract's zone: its label (``2026-11``) and UTC bounds."""

    label: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ScriptedEvent:
    """Something that happens to one service in ``[start, end)`` (UTC) and shows in one
    objective's ``window``."""

    kind: EventKind
    contract_id: str
    objective_id: str
    service: str
    start: datetime
    end: datetime
    window: CalendarWindow
    target: float
    dependent: str | None = None
    """The service whose requests fail because of this one (dependency failures)."""


def month_window(year: int, month: int, zone: str) -> CalendarWindow:
    """The calendar month ``year-month`` in ``zone``, bounds in UTC."""
    tz = ZoneInfo(zone)
    first = datetime(year, month, 1, tzinfo=tz)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return CalendarWindow(f"{year}-{month:02d}", first.astimezone(UTC), following.astimezone(UTC))


def calendar_month(moment: datetime, zone: str) -> CalendarWindow:
    """The calendar month of ``zone`` that holds ``moment``."""
    local = moment.astimezone(ZoneInfo(zone))
    return month_window(local.year, local.month, zone)


def local_period(day: date, at: time, duration: timedelta, zone: str) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of a period starting on ``day`` at local time ``at`` in ``zone``."""
    start = datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return start, start + duration


def clean_month(span: DemoRange, zones: Iterable[str]) -> CalendarWindow | None:
    """The first calendar month lying wholly inside ``span`` in every zone; its bounds are the
    earliest start and latest end over the zones. None when the range holds no such month."""
    zones = list(zones)
    year, month = span.start.year, span.start.month
    while True:
        windows = [month_window(year, month, zone) for zone in zones]
        start, end = min(w.start for w in windows), max(w.end for w in windows)
        if end > span.end:
            return None
        if start >= span.start:
            return CalendarWindow(windows[0].label, start, end)
        year, month = year + month // 12, month % 12 + 1


def _event(
    kind: EventKind, contract: Contract, objective_id: str, start: datetime, end: datetime
) -> ScriptedEvent:
    objective = contract.objective(objective_id)
    return ScriptedEvent(
        kind=kind,
        contract_id=contract.id,
        objective_id=objective_id,
        service=objective.service,
        start=start,
        end=end,
        window=calendar_month(start, contract.time_zone),
        target=objective.target,
    )


def hard_outage(span: DemoRange, acme: Contract) -> ScriptedEvent:
    """compute-api fails for 45 minutes from 13:30 local (near the peak), 4 days before the end."""
    day = span.end.date() - timedelta(days=4)
    start, end = local_period(day, time(13, 30), timedelta(minutes=45), acme.time_zone)
    return _event("hard_outage", acme, "compute-availability", start, end)


def latency_regression(span: DemoRange, paylane: Contract) -> ScriptedEvent:
    """payments-api slows down from 08:00 to 18:00 local, 10 days before the end."""
    day = span.end.date() - timedelta(days=10)
    start, end = local_period(day, time(8), timedelta(hours=10), paylane.time_zone)
    return _event("latency_regression", paylane, "payments-p99", start, end)


def dependency_failure(span: DemoRange, paylane: Contract) -> ScriptedEvent | None:
    """payments-db slows down from 11:00 to 12:00 local, 7 days before the end, and payments-api
    requests fail DEPENDENCY_LAG later (its availability objective burns); None when the
    contract declares no payments-db."""
    database, dependent = DEPENDENCY
    if database not in {service.id for service in paylane.services}:
        return None
    day = span.end.date() - timedelta(days=7)
    start, end = local_period(day, time(11), timedelta(hours=1), paylane.time_zone)
    event = _event("dependency_failure", paylane, "payments-availability", start, end)
    return replace(event, service=database, dependent=dependent)


def maintenance(span: DemoRange, acme: Contract) -> ScriptedEvent:
    """object-storage is down for planned work from 01:00 to 04:00 local on the last Tuesday
    at least 6 days before the end (a weekday night, clear of daylight-saving changes)."""
    latest = span.end.date() - timedelta(days=6)
    day = latest - timedelta(days=(latest.weekday() - 1) % 7)
    start, end = local_period(day, time(1), timedelta(hours=3), acme.time_zone)
    return _event("maintenance", acme, "storage-uptime", start, end)


def slow_degradation(
    span: DemoRange, paylane: Contract, clean: CalendarWindow | None
) -> ScriptedEvent | None:
    """refunds-api's error rate ramps up over the last DEGRADATION_RAMP of the latest month
    (in the contract's zone) that ends inside the range, is not the clean month and whose ramp
    fits in the range; None when there is no such month."""
    window = calendar_month(span.end, paylane.time_zone)
    while window.end - DEGRADATION_RAMP >= span.start:
        if window.end <= span.end and (clean is None or window.label != clean.label):
            return _event(
                "slow_degradation",
                paylane,
                "refunds-availability",
                window.end - DEGRADATION_RAMP,
                window.end,
            )
        window = calendar_month(window.start - timedelta(microseconds=1), paylane.time_zone)
    return None


def scripted_events(
    span: DemoRange, contracts: dict[str, Contract], clean: CalendarWindow | None
) -> list[ScriptedEvent]:
    """The events that fit inside ``span`` and stay clear of the ``clean`` month (in their
    contract's zone), in time order.
    ``contracts`` maps contract id to contract and must hold acme-cloud and paylane-payments."""
    acme, paylane = contracts["acme-cloud"], contracts["paylane-payments"]
    candidates = [
        hard_outage(span, acme),
        latency_regression(span, paylane),
        dependency_failure(span, paylane),
        maintenance(span, acme),
        slow_degradation(span, paylane, clean),
    ]

    def clear_of_clean_month(event: ScriptedEvent) -> bool:
        if clean is None:
            return True
        year, month = map(int, clean.label.split("-"))
        window = month_window(year, month, contracts[event.contract_id].time_zone)
        return event.end <= window.start or event.start >= window.end

    return sorted(
        (
            event
            for event in candidates
            if event is not None
            and span.holds(event.start, event.end)
            and clear_of_clean_month(event)
        ),
        key=lambda event: event.start,
    )


def _during(minutes: pl.Series, start: datetime, end: datetime) -> np.ndarray:
    return minutes.is_between(start, end, closed="left").to_numpy()


def degradation_ramp(
    minutes: pl.Series, volumes: np.ndarray, base_rates: np.ndarray, event: ScriptedEvent
) -> np.ndarray:
    """Extra error rate of the degrading service per minute (float array of ``len(minutes)``):
    zero before ``event.start``, then rising linearly until ``event.end``, steep enough that the
    window's expected attainment (from ``volumes`` and ``base_rates`` of that service) falls to
    ``event.target`` exactly DEGRADATION_BREACH_LEAD before the window ends."""
    ramp = (minutes - event.start).dt.total_microseconds().to_numpy() / (
        (event.end - event.start) / timedelta(microseconds=1)
    )
    weight = np.where(_during(minutes, event.start, event.end), np.clip(ramp, 0, 1), 0.0)
    before_breach = _during(minutes, event.window.start, event.end - DEGRADATION_BREACH_LEAD)
    total = volumes[before_breach].sum()
    baseline_failures = (volumes * base_rates)[before_breach].sum()
    ramp_failures_per_peak = (volumes * weight)[before_breach].sum()
    peak = max(((1 - event.target) * total - baseline_failures) / ramp_failures_per_peak, 0.0)
    return peak * weight


def error_rates_with_events(
    minutes: pl.Series,
    services: Sequence[str],
    volumes: np.ndarray,
    base_rates: np.ndarray,
    events: Sequence[ScriptedEvent],
) -> np.ndarray:
    """``base_rates`` (minutes, services) with the outages set to OUTAGE_ERROR_RATE, the
    degradation ramps added, and DEPENDENCY_ERROR_RATE added to the dependent service of a
    dependency failure, DEPENDENCY_LAG late; ``volumes`` is the matching requests matrix."""
    rates = base_rates.copy()
    for event in events:
        if event.kind == "dependency_failure" and event.dependent in services:
            lagged = _during(minutes, event.start + DEPENDENCY_LAG, event.end + DEPENDENCY_LAG)
            rates[lagged, services.index(event.dependent)] += DEPENDENCY_ERROR_RATE
        if event.service not in services:
            continue
        column = services.index(event.service)
        if event.kind == "hard_outage":
            rates[_during(minutes, event.start, event.end), column] = OUTAGE_ERROR_RATE
        elif event.kind == "slow_degradation":
            rates[:, column] += degradation_ramp(
                minutes, volumes[:, column], base_rates[:, column], event
            )
    return rates


def medians_with_events(
    minutes: pl.Series,
    services: Sequence[str],
    medians: np.ndarray,
    events: Sequence[ScriptedEvent],
) -> np.ndarray:
    """Median latencies (minutes, services) slowed by REGRESSION_SLOWDOWN during regressions
    and by DEPENDENCY_SLOWDOWN during dependency failures (of the failing dependency)."""
    factors = {"latency_regression": REGRESSION_SLOWDOWN, "dependency_failure": DEPENDENCY_SLOWDOWN}
    slowed = medians.copy()
    for event in events:
        if event.kind in factors and event.service in services:
            slowed[_during(minutes, event.start, event.end), services.index(event.service)] *= (
                factors[event.kind]
            )
    return slowed


def probe_failure_rates(
    minutes: pl.Series,
    services: Sequence[str],
    location_count: int,
    base_rate: float,
    events: Sequence[ScriptedEvent],
) -> np.ndarray:
    """Chance that a check fails, float array (minutes, services, locations): ``base_rate``,
    and 1 everywhere during a maintenance of the service."""
    rates = np.full((len(minutes), len(services), location_count), base_rate)
    for event in events:
        if event.kind == "maintenance" and event.service in services:
            rates[_during(minutes, event.start, event.end), services.index(event.service)] = 1.0
    return rates
