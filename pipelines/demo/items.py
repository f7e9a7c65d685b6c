"""Item evidence of the demo: service desk tickets, security incidents, backup runs, restore
tests and survey responses, with their scripted events.

Quiet-day items sit inside their objectives' targets by construction (a ticket's business time
never exceeds its wall-clock time, which is drawn below its priority's target; detection and
containment delays, backup gaps and restore durations are drawn below theirs), so only the
scripted events move a window. Every draw comes from the ``rng`` passed in; events are placed
relative to the end of the range, at local times in the contract's zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import polars as pl

from pipelines.contracts.schema import Calendar
from pipelines.demo.events import CalendarWindow, DemoRange, calendar_month
from pipelines.demo.ticket_texts import SCRIPTED_DESCRIPTIONS, SHORT_DESCRIPTIONS

UTC_TIME = pl.Datetime("us", "UTC")
DESK_SERVICE, SOC_SERVICE, DATABASE = "service-desk", "soc", "orders-db"

PRIORITIES = ("1 - Critical", "2 - High", "3 - Moderate", "4 - Low")
PRIORITY_SHARES = (0.03, 0.12, 0.55, 0.30)
RESOLUTION_HOURS = ((0.5, 3.0), (1.0, 6.0), (2.0, 20.0), (4.0, 40.0))
"""Wall-clock resolution time of a quiet ticket per priority, uniform (low, high) hours: P1 and P2
stay under their 4h and 8h business-hour targets whatever the calendar."""
TICKETS_PER_WORKING_DAY, TICKETS_PER_DAY_OFF = 55, 6
RESPONSE_MINUTES = (2.0, 25.0)
"""New → Active, wall-clock minutes (the first-response target is 30 business minutes)."""
WAITING_SHARE, REASSIGNED_SHARE, REOPENED_SHARE = 0.2, 0.15, 0.05
"""Moderate and low tickets waiting on the user; tickets reassigned once; moderate and low
tickets reopened once."""
CLOSED_AFTER = timedelta(days=3)
GROUPS = ("Service Desk L1", "Service Desk L2", "Network", "Workplace")
CATEGORIES = ("Software", "Hardware", "Network", "Access", "Inquiry / Help")

INCIDENTS_PER_DAY = 0.25
SEVERITIES = ("low", "medium", "high", "critical")
DETECT_MINUTES, CONTAIN_HOURS = (5.0, 50.0), (0.5, 3.0)
SLOW_CONTAINMENT_HOURS = 36.0
"""At least this long; longer when the month's incidents would otherwise dilute the mean."""

BACKUP_AT, RESTORE_TEST_AT = time(1), time(10)
"""Nightly backups start at 01:00 local (plus up to 5 minutes), restore tests on Wednesdays."""

CSAT_PER_DAY, NPS_PER_DAY, DIP_NPS_PER_DAY = (12, 2), (8, 1.5), 20
"""Survey responses per day, (working day, day off); more answers during the NPS dip."""
CSAT_SCORES = (0.01, 0.02, 0.04, 0.33, 0.60)
"""Chance of each score 1..5 (93% satisfied against the 85% target)."""
NPS_SCORES = (0.01,) * 4 + (0.02, 0.03, 0.03, 0.12, 0.18, 0.28, 0.30)
"""Chance of each score 0..10: 12% detractors, 58% promoters (NPS 46 against 20)."""
DIP_NPS_SCORES = (0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05)
"""During the dip: 70% detractors, 10% promoters (NPS −60)."""
NPS_DIP = timedelta(days=7)


@dataclass(frozen=True)
class ItemEvent:
    """A scripted item event: ``kind``, the objective it shows in, its UTC ``[start, end)``, its
    window, and the identifying facts (ticket or incident id, holiday...) for the ground truth."""

    kind: str
    contract_id: str
    objective_id: str
    service: str
    start: datetime
    end: datetime
    window: CalendarWindow
    facts: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemEvidence:
    """The generated item frames (landing file columns) and the scripted events in them."""

    tickets: pl.DataFrame
    incidents: pl.DataFrame
    backups: pl.DataFrame
    restores: pl.DataFrame
    surveys: pl.DataFrame
    events: list[ItemEvent]


def with_facts(event: ItemEvent, **facts: object) -> ItemEvent:
    """``event`` with ``facts`` added in front of its own."""
    return replace(event, facts={**facts, **event.facts})


def local_days(span: DemoRange, zone: str) -> list[date]:
    """The local dates of ``zone`` touched by ``span``."""
    tz = ZoneInfo(zone)
    first, last = span.start.astimezone(tz).date(), (span.end - timedelta(microseconds=1))
    last_day = last.astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last_day - first).days + 1)]


def working_days(calendar: Calendar, days: list[date]) -> np.ndarray:
    """Bool array: which of ``days`` the calendar works (weekday, not a holiday or extra date)."""
    closed = set(calendar.dates) | set(public_holidays(calendar, days))
    weekdays = {
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday").index(d)
        for d in calendar.days
    }
    return np.array([d.weekday() in weekdays and d not in closed for d in days], dtype=bool)


def public_holidays(calendar: Calendar, days: list[date]) -> dict[date, str]:
    """The calendar's public holidays among ``days``, with their names."""
    if calendar.holidays is None or not days:
        return {}
    found = holidays.country_holidays(
        calendar.holidays.country,
        subdiv=calendar.holidays.subdivision,
        years=range(days[0].year, days[-1].year + 1),
    )
    return {day: found[day] for day in days if day in found}


def _local(days: list[date], seconds: np.ndarray, day_index: np.ndarray, zone: str) -> pl.Series:
    """UTC instants of local ``days[day_index]`` + ``seconds`` after midnight in ``zone``."""
    midnight = pl.Series([datetime.combine(days[i], time()) for i in day_index], dtype=pl.Datetime)
    offsets = pl.Series(_micros(seconds)).cast(pl.Duration("us"))
    return (
        (midnight + offsets)
        .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def _micros(seconds: np.ndarray) -> np.ndarray:
    """Whole seconds, in microseconds (the landing files keep timestamps to the second)."""
    return np.round(seconds).astype(np.int64) * 1_000_000


def _at(day: date, at: time, zone: str) -> datetime:
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _hours(low_high: np.ndarray, rng: np.random.Generator) -> pl.Series:
    hours = rng.uniform(low_high[:, 0], low_high[:, 1])
    return pl.Series(_micros(hours * 3600)).cast(pl.Duration("us"))


def quiet_tickets(
    span: DemoRange, zone: str, calendar: Calendar, rng: np.random.Generator
) -> pl.DataFrame:
    """One row per ticket: opened_at, priority, responded_at, waiting_from, waiting_until (null
    when it never waited), resolved_at, reopened_at/re_resolved_at (null unless reopened),
    reassigned_at (null unless reassigned), group, category, short_description."""
    days = local_days(span, zone)
    working = working_days(calendar, days)
    counts = rng.poisson(np.where(working, TICKETS_PER_WORKING_DAY, TICKETS_PER_DAY_OFF))
    day_index = np.repeat(np.arange(len(days)), counts)
    n = len(day_index)
    opening = np.where(working[day_index], 8 * 3600, 9 * 3600)
    seconds = opening + rng.uniform(0, 9 * 3600, n)
    priority = rng.choice(len(PRIORITIES), n, p=PRIORITY_SHARES)
    resolve = _hours(np.array(RESOLUTION_HOURS)[priority], rng)
    low = priority >= 2
    waits = low & (rng.random(n) < WAITING_SHARE)
    reopens = low & (rng.random(n) < REOPENED_SHARE)
    reassigned = rng.random(n) < REASSIGNED_SHARE
    wait_hours = _hours(np.tile([1.0, 8.0], (n, 1)), rng)
    reopen_after = _hours(np.tile([1.0, 4.0], (n, 1)), rng)
    reopen_for = _hours(np.tile([0.5, 2.0], (n, 1)), rng)
    frame = pl.DataFrame(
        {
            "opened_at": _local(days, seconds, day_index, zone),
            "priority": np.array(PRIORITIES)[priority],
            "respond": pl.Series(_micros(rng.uniform(*RESPONSE_MINUTES, n) * 60)),
            "resolve": resolve,
            "wait_at": rng.uniform(0.2, 0.5, n),
            "wait": wait_hours,
            "waits": waits,
            "reopens": reopens,
            "reopen_after": reopen_after,
            "reopen_for": reopen_for,
            "reassigned": reassigned,
            "group": np.array(GROUPS)[rng.integers(0, 2, n)],
            "category": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n)],
        }
    )
    responded = pl.col("opened_at") + pl.duration(microseconds=pl.col("respond"))
    waiting_from = responded + (pl.col("resolve") * pl.col("wait_at"))
    resolved = (
        responded + pl.col("resolve") + pl.when("waits").then("wait").otherwise(pl.duration())
    )
    texts = pl.col("category").replace_strict(
        {category: list(texts) for category, texts in SHORT_DESCRIPTIONS.items()},
        return_dtype=pl.List(pl.String),
    )
    return frame.select(
        "opened_at",
        "priority",
        responded_at=responded,
        waiting_from=pl.when("waits").then(waiting_from),
        waiting_until=pl.when("waits").then(waiting_from + pl.col("wait")),
        resolved_at=resolved,
        reopened_at=pl.when("reopens").then(resolved + pl.col("reopen_after")),
        re_resolved_at=pl.when("reopens").then(
            resolved + pl.col("reopen_after") + pl.col("reopen_for")
        ),
        reassigned_at=pl.when("reassigned").then(responded + pl.col("resolve") * 0.1),
        group="group",
        category="category",
        short_description=texts.list.get(pl.int_range(pl.len()) % texts.list.len()),
    )


def _scripted_ticket(
    opened_at: datetime, resolved_at: datetime, priority: str, script: str
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "opened_at": [opened_at],
            "priority": [priority],
            "responded_at": [opened_at + timedelta(minutes=10)],
            "resolved_at": [resolved_at],
            "group": ["Service Desk L2"],
            "category": ["Network"],
            "short_description": [SCRIPTED_DESCRIPTIONS[script]],
            "script": [script],
        },
        schema_overrides={"opened_at": UTC_TIME, "responded_at": UTC_TIME, "resolved_at": UTC_TIME},
    )


def ticket_log(tickets: pl.DataFrame, span: DemoRange) -> pl.DataFrame:
    """A ServiceNow incident event log of ``tickets`` (``quiet_tickets`` rows, with an id in
    ``number``): one row per update (number, incident_state, sys_updated_at, priority, opened_at,
    resolved_at, closed_at, reassignment_count, reopen_count, assignment_group, category,
    short_description), updates after the range's end left out, in update order."""
    closed_at = pl.coalesce("re_resolved_at", "resolved_at") + CLOSED_AFTER
    later_group = pl.lit(GROUPS[2])

    def step(state: str, at: pl.Expr, order: int, **values: pl.Expr) -> pl.DataFrame:
        defaults = {
            "resolved_at": pl.lit(None, UTC_TIME),
            "closed_at": pl.lit(None, UTC_TIME),
            "reassignment_count": (pl.col("reassigned_at") <= at).fill_null(False).cast(pl.Int64),
            "reopen_count": (pl.col("reopened_at") <= at).fill_null(False).cast(pl.Int64),
            "assignment_group": pl.when(pl.col("reassigned_at") <= at)
            .then(later_group)
            .otherwise(pl.col("group")),
        }
        return tickets.filter(at.is_not_null()).select(
            "number",
            incident_state=pl.lit(state),
            sys_updated_at=at,
            priority="priority",
            opened_at="opened_at",
            **{name: values.get(name, default) for name, default in defaults.items()},
            category="category",
            short_description="short_description",
            order=pl.lit(order),
        )

    log = pl.concat(
        [
            step("New", pl.col("opened_at"), 0),
            step("Active", pl.col("responded_at"), 1),
            step("Active", pl.col("reassigned_at"), 2),
            step("Awaiting User Info", pl.col("waiting_from"), 3),
            step("Active", pl.col("waiting_until"), 4),
            step("Resolved", pl.col("resolved_at"), 5, resolved_at=pl.col("resolved_at")),
            step("Active", pl.col("reopened_at"), 6),
            step("Resolved", pl.col("re_resolved_at"), 7, resolved_at=pl.col("re_resolved_at")),
            step(
                "Closed",
                closed_at,
                8,
                resolved_at=pl.coalesce("re_resolved_at", "resolved_at"),
                closed_at=closed_at,
            ),
        ]
    )
    return (
        log.filter(pl.col("sys_updated_at") < span.end)
        .sort("sys_updated_at", "number", "order")
        .drop("order")
    )


def latest_working_day(working: np.ndarray, days: list[date], before: date) -> int | None:
    """Index of the latest working day before ``before`` that has a working day after it
    (inside ``days``), or None."""
    candidates = [
        i
        for i in range(len(days) - 1)
        if working[i] and days[i] < before and working[i + 1 :].any()
    ]
    return candidates[-1] if candidates else None


def desk_events(
    span: DemoRange, zone: str, calendar: Calendar, contract_id: str
) -> tuple[pl.DataFrame, list[ItemEvent]]:
    """The scripted tickets (``_scripted_ticket`` rows) and their events: a P1 ticket opened at
    14:00 local on the latest working day at least 6 days before the end and resolved at 13:00
    the next working day (8 business hours against 4h), and, when the range holds a public
    holiday of the calendar (preferably a weekday one, the latest), a P2 ticket opened at 15:00
    the working day before it and resolved at 11:00 the working day after (5 business hours with
    the holiday off)."""
    days = local_days(span, zone)
    working = working_days(calendar, days)
    frames, events = [], []
    p1_day = latest_working_day(working, days, (span.end - timedelta(days=6)).date())
    if p1_day is not None:
        following = p1_day + 1 + int(np.argmax(working[p1_day + 1 :]))
        opened = _at(days[p1_day], time(14), zone)
        resolved = _at(days[following], time(13), zone)
        frames.append(_scripted_ticket(opened, resolved, PRIORITIES[0], "p1_breach"))
        events.append(
            ItemEvent(
                "p1_breach",
                contract_id,
                "p1-p2-resolution",
                DESK_SERVICE,
                opened,
                resolved,
                calendar_month(resolved, zone),
                {"priority": PRIORITIES[0], "target_hours": 4.0, "business_hours": 8.0},
            )
        )
    found = public_holidays(calendar, days)
    weekday_holidays = [day for day in found if day.weekday() < 5]
    for holiday in sorted(weekday_holidays or found, reverse=True):
        i = days.index(holiday)
        before = [j for j in range(i) if working[j]]
        after = [j for j in range(i + 1, len(days)) if working[j]]
        if not before or not after:
            continue
        opened = _at(days[before[-1]], time(15), zone)
        resolved = _at(days[after[0]], time(11), zone)
        frames.append(_scripted_ticket(opened, resolved, PRIORITIES[1], "public_holiday"))
        events.append(
            ItemEvent(
                "public_holiday",
                contract_id,
                "p1-p2-resolution",
                DESK_SERVICE,
                opened,
                resolved,
                calendar_month(resolved, zone),
                {
                    "holiday": holiday.isoformat(),
                    "holiday_name": found[holiday],
                    "priority": PRIORITIES[1],
                    "target_hours": 8.0,
                    "business_hours": 5.0,
                },
            )
        )
        break
    return pl.concat(frames, how="diagonal") if frames else pl.DataFrame(), events


def desk_tickets(
    span: DemoRange, zone: str, calendar: Calendar, contract_id: str, rng: np.random.Generator
) -> tuple[pl.DataFrame, list[ItemEvent]]:
    """The service desk's ticket event log (``ticket_log``) with the scripted tickets among the
    quiet ones, and the scripted events, each naming its ticket (``ticket_id``)."""
    scripted, events = desk_events(span, zone, calendar, contract_id)
    tickets = (
        pl.concat([quiet_tickets(span, zone, calendar, rng), scripted], how="diagonal")
        .filter(pl.col("opened_at") >= span.start, pl.col("opened_at") < span.end)
        .sort("opened_at", "priority", "responded_at", "resolved_at")
        .with_columns(number=pl.format("INC{}", (pl.int_range(pl.len()) + 10001).cast(pl.String)))
    )
    if "script" in tickets.columns:
        scripted_rows = tickets.filter(pl.col("script").is_not_null())
        numbers = dict(scripted_rows.select("script", "number").rows())
        events = [with_facts(event, ticket_id=numbers[event.kind]) for event in events]
    return ticket_log(tickets, span), events


def _day_instants(
    span: DemoRange, zone: str, per_day: np.ndarray, hours: tuple[float, float], rng
) -> tuple[pl.Series, np.ndarray]:
    """``per_day[i]`` random instants on each local day of the range, between local ``hours``;
    returns them (UTC, sorted within a day) and their day index."""
    days = local_days(span, zone)
    day_index = np.repeat(np.arange(len(days)), rng.poisson(per_day))
    seconds = np.sort(rng.uniform(hours[0] * 3600, hours[1] * 3600, len(day_index)))
    order = np.lexsort((seconds, day_index))
    return _local(days, seconds[order], day_index[order], zone), day_index[order]


def security_incidents(
    span: DemoRange, zone: str, contract_id: str, rng: np.random.Generator
) -> tuple[pl.DataFrame, list[ItemEvent]]:
    """Security incidents of the SOC (incident_id, service, severity, occurred_at, detected_at,
    contained_at; contained_at null while still open at the end), and the slow containment: an
    incident detected at 10:00 local 8 days before the end, contained after
    SLOW_CONTAINMENT_HOURS or long enough to lift its month's mean containment above 4h."""
    days = local_days(span, zone)
    occurred, _ = _day_instants(span, zone, np.full(len(days), INCIDENTS_PER_DAY), (0, 24), rng)
    n = len(occurred)
    incidents = pl.DataFrame(
        {
            "severity": np.array(SEVERITIES)[rng.choice(4, n, p=(0.5, 0.3, 0.15, 0.05))],
            "occurred_at": occurred,
            "detect": _micros(rng.uniform(*DETECT_MINUTES, n) * 60),
            "contain": _micros(rng.uniform(*CONTAIN_HOURS, n) * 3600),
        }
    ).select(
        "severity",
        "occurred_at",
        detected_at=pl.col("occurred_at") + pl.duration(microseconds="detect"),
        contained_at=pl.col("occurred_at")
        + pl.duration(microseconds=pl.col("detect") + pl.col("contain")),
    )
    events = []
    detected = _at((span.end - timedelta(days=8)).date(), time(10), zone)
    if detected - timedelta(minutes=30) >= span.start:
        month = calendar_month(detected, zone)
        others = incidents.filter(pl.col("contained_at").is_between(month.start, month.end, "left"))
        # mean > 4h needs the slow one above 4h × (others + 1) minus the others' total.
        needed = (4 * (others.height + 1) + 1) * 3600 - others.select(
            (pl.col("contained_at") - pl.col("detected_at")).dt.total_seconds().sum()
        ).item()
        contained = detected + timedelta(seconds=round(max(SLOW_CONTAINMENT_HOURS * 3600, needed)))
        slow = pl.DataFrame(
            {
                "severity": ["high"],
                "occurred_at": [detected - timedelta(minutes=30)],
                "detected_at": [detected],
                "contained_at": [contained],
            },
            schema=incidents.schema,
        )
        incidents = pl.concat([incidents, slow])
        events.append(
            ItemEvent(
                "slow_containment",
                contract_id,
                "time-to-contain",
                SOC_SERVICE,
                detected,
                contained,
                calendar_month(contained, zone),
            )
        )
    incidents = (
        incidents.filter(pl.col("detected_at") < span.end)
        .sort("occurred_at")
        .select(
            incident_id=pl.format("SIR{}", (pl.int_range(pl.len()) + 1001).cast(pl.String)),
            service=pl.lit(SOC_SERVICE),
            severity="severity",
            occurred_at="occurred_at",
            detected_at="detected_at",
            contained_at=pl.when(pl.col("contained_at") < span.end).then("contained_at"),
        )
    )
    if events:
        slow_id = incidents.filter(pl.col("detected_at") == events[0].start)["incident_id"][0]
        events = [with_facts(events[0], incident_id=slow_id)]
    return incidents, events


def backup_runs(
    span: DemoRange, zone: str, contract_id: str, rng: np.random.Generator
) -> tuple[pl.DataFrame, list[ItemEvent]]:
    """One nightly backup of the orders database per local day (service, run_id, started_at,
    finished_at, success), starting at BACKUP_AT plus up to 5 minutes and lasting 20–30 minutes,
    and the missed night: the run 5 days before the end fails after 4 minutes."""
    days = local_days(span, zone)
    seconds = BACKUP_AT.hour * 3600 + rng.uniform(0, 300, len(days))
    started = _local(days, seconds, np.arange(len(days)), zone)
    runs = pl.DataFrame(
        {
            "service": DATABASE,
            "run_id": [f"{DATABASE}-{day:%Y%m%d}" for day in days],
            "started_at": started,
            "minutes": np.round(rng.uniform(20, 30, len(days)) * 60) / 60,
        }
    )
    missed_day = (span.end - timedelta(days=5)).date()
    missed = pl.col("run_id") == f"{DATABASE}-{missed_day:%Y%m%d}"
    runs = runs.select(
        "service",
        "run_id",
        "started_at",
        finished_at=pl.col("started_at")
        + pl.duration(
            microseconds=(pl.when(missed).then(4.0).otherwise("minutes") * 60e6).cast(pl.Int64)
        ),
        success=~missed,
    ).filter(pl.col("started_at") >= span.start, pl.col("finished_at") < span.end)
    failed = runs.filter(~pl.col("success"))
    good = runs.filter(pl.col("success"))
    if failed.is_empty():
        return runs, []
    failed_at = failed["started_at"][0]
    previous = good.filter(pl.col("finished_at") < failed_at)["finished_at"]
    following = good.filter(pl.col("finished_at") > failed_at)["finished_at"]
    if previous.is_empty() or following.is_empty():
        return runs, []
    gap_start, gap_end = previous[-1], following[0]
    event = ItemEvent(
        "missed_backup",
        contract_id,
        "orders-rpo",
        DATABASE,
        gap_start,
        gap_end,
        calendar_month(gap_end, zone),
        {
            "run_id": failed["run_id"][0],
            "night": missed_day.isoformat(),
            "gap_hours": (gap_end - gap_start).total_seconds() / 3600,
        },
    )
    return runs, [event]


def restore_tests(span: DemoRange, zone: str, rng: np.random.Generator) -> pl.DataFrame:
    """A weekly restore test of the orders database on Wednesdays at RESTORE_TEST_AT local,
    lasting 30–90 minutes, always successful (service, test_id, started_at, finished_at,
    success)."""
    days = [day for day in local_days(span, zone) if day.weekday() == 2]
    started = _local(
        days, np.full(len(days), RESTORE_TEST_AT.hour * 3600.0), np.arange(len(days)), zone
    )
    minutes = pl.Series(_micros(rng.uniform(30, 90, len(days)) * 60))
    return pl.DataFrame(
        {
            "service": DATABASE,
            "test_id": [f"restore-{day:%Y%m%d}" for day in days],
            "started_at": started,
            "finished_at": started + minutes.cast(pl.Duration("us")),
            "success": True,
        }
    ).filter(pl.col("started_at") >= span.start, pl.col("finished_at") < span.end)


def survey_responses(
    span: DemoRange, zone: str, calendar: Calendar, contract_id: str, rng: np.random.Generator
) -> tuple[pl.DataFrame, list[ItemEvent]]:
    """CSAT (1–5) and NPS (0–10) responses about the service desk (service, response_id,
    responded_at, survey, score), between 08:00 and 20:00 local, and the NPS dip: the NPS_DIP
    days from 12 days before the end answer DIP_NPS_PER_DAY a day, mostly detractors."""
    days = local_days(span, zone)
    working = working_days(calendar, days)
    dip_start = _at((span.end - timedelta(days=12)).date(), time(), zone)
    dip_end = dip_start + NPS_DIP
    has_dip = dip_start >= span.start
    in_dip = np.array([has_dip and dip_start <= _at(d, time(12), zone) < dip_end for d in days])
    csat_at, _ = _day_instants(span, zone, np.where(working, *CSAT_PER_DAY), (8, 20), rng)
    nps_per_day = np.where(in_dip, DIP_NPS_PER_DAY, np.where(working, *NPS_PER_DAY))
    nps_at, nps_day = _day_instants(span, zone, nps_per_day, (8, 20), rng)
    csat_scores = rng.choice(np.arange(1, 6), len(csat_at), p=CSAT_SCORES)
    quiet = rng.choice(np.arange(11), len(nps_at), p=NPS_SCORES)
    dipped = rng.choice(np.arange(11), len(nps_at), p=DIP_NPS_SCORES)
    nps_scores = np.where(in_dip[nps_day], dipped, quiet)
    responses = (
        pl.concat(
            [
                pl.DataFrame({"responded_at": csat_at, "survey": "csat", "score": csat_scores}),
                pl.DataFrame({"responded_at": nps_at, "survey": "nps", "score": nps_scores}),
            ]
        )
        .filter(pl.col("responded_at").is_between(span.start, span.end, "left"))
        .sort("responded_at", "survey", "score")
        .select(
            service=pl.lit(DESK_SERVICE),
            response_id=pl.format("R{}", (pl.int_range(pl.len()) + 100001).cast(pl.String)),
            responded_at="responded_at",
            survey="survey",
            score="score",
        )
    )
    if not has_dip:
        return responses, []
    return responses, [
        ItemEvent(
            "nps_dip",
            contract_id,
            "nps",
            DESK_SERVICE,
            dip_start,
            dip_end,
            calendar_month(dip_start, zone),
        )
    ]
