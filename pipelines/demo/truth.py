"""The demo's ground truth: what the scripted events should do to their objectives' windows,
with the figures measured on the generated evidence (a yardstick for the pipeline's results).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import polars as pl

from pipelines.contracts.fields import WEEKDAYS
from pipelines.contracts.schema import Calendar, Contract, Timeslices
from pipelines.demo.events import (
    DEGRADATION_BREACH_LEAD,
    DEPENDENCY_LAG,
    CalendarWindow,
    DemoRange,
    ScriptedEvent,
)
from pipelines.demo.incidents import RandomIncident
from pipelines.demo.items import ItemEvent, ItemEvidence

MET_BEFORE_END = timedelta(days=3)
"""The degrading month is checked to be still met this long before it ends."""


def iso(moment: datetime) -> str:
    """``2026-11-20T00:01:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expected_status(window: CalendarWindow, span: DemoRange, met: bool) -> str:
    """The status a window should get: ``met``/``breached`` once it has ended inside the range,
    ``on_track``/``breaching`` while it is still running at the range's end."""
    if window.end <= span.end:
        return "met" if met else "breached"
    return "on_track" if met else "breaching"


def request_attainment(
    requests: pl.DataFrame, service: str, start: datetime, end: datetime
) -> dict[str, float]:
    """good, total and attainment (good / total) of ``service`` over ``[start, end)``, from a
    requests frame (timestamp, service, requests, errors)."""
    good, total = (
        requests.lazy()
        .filter(pl.col("service") == service, pl.col("timestamp").is_between(start, end, "left"))
        .select(
            (pl.col("requests") - pl.col("errors")).sum().alias("good"),
            pl.col("requests").sum().alias("total"),
        )
        .collect()
        .row(0)
    )
    return {"good": good, "total": total, "attainment": good / total}


def last_breach_start(
    requests: pl.DataFrame, service: str, window: CalendarWindow, target: float
) -> datetime | None:
    """The minute from which the window's running attainment of ``service`` stays below
    ``target`` to the window's end; None when it ends at or above the target."""
    running = (
        requests.lazy()
        .filter(
            pl.col("service") == service,
            pl.col("timestamp").is_between(window.start, window.end, "left"),
        )
        .sort("timestamp")
        .select(
            "timestamp",
            below=(1 - pl.col("errors").cum_sum() / pl.col("requests").cum_sum()) < target,
        )
        .collect()
    )
    if running.is_empty() or not running["below"][-1]:
        return None
    met_at = running.filter(~pl.col("below"))["timestamp"]
    return running["timestamp"][0] if met_at.is_empty() else met_at[-1] + timedelta(minutes=1)


def probe_slices(
    probes: pl.DataFrame,
    service: str,
    start: datetime,
    end: datetime,
    slice_length: timedelta,
    slice_target: float,
    excluded: tuple[datetime, datetime] | None = None,
) -> dict[str, float]:
    """Timeslice attainment of ``service`` over ``[start, end)`` from a probes frame (timestamp,
    service, location, success): a slice is good when its share of successful checks reaches
    ``slice_target``; slices overlapping ``excluded`` are left out. Returns slices, bad_slices
    and attainment."""
    slices = (
        probes.lazy()
        .filter(pl.col("service") == service, pl.col("timestamp").is_between(start, end, "left"))
        .group_by(slice_start=pl.col("timestamp").dt.truncate(slice_length))
        .agg(good=pl.col("success").mean() >= slice_target)
    )
    if excluded is not None:
        slices = slices.filter(
            (pl.col("slice_start") + slice_length <= excluded[0])
            | (pl.col("slice_start") >= excluded[1])
        )
    count, bad = slices.select(pl.len(), (~pl.col("good")).sum()).collect().row(0)
    return {"slices": count, "bad_slices": bad, "attainment": 1 - bad / count}


def measured(
    event: ScriptedEvent,
    contract: Contract,
    span: DemoRange,
    requests: pl.DataFrame,
    probes: pl.DataFrame,
) -> dict[str, object]:
    """The figures of ``event``'s window measured on the generated evidence, and the status the
    pipeline should report for it (``expected_status``)."""
    start, end = max(event.window.start, span.start), min(event.window.end, span.end)
    if event.kind == "dependency_failure":
        assert event.dependent is not None
        figures = request_attainment(requests, event.dependent, start, end)
        failing = request_attainment(
            requests, event.dependent, event.start + DEPENDENCY_LAG, event.end + DEPENDENCY_LAG
        )
        return {
            **figures,
            "dependent_service": event.dependent,
            "dependent_error_ratio": 1 - failing["attainment"],
            "expected_status": expected_status(
                event.window, span, figures["attainment"] >= event.target
            ),
        }
    if event.kind in ("hard_outage", "slow_degradation"):
        figures: dict[str, object] = request_attainment(requests, event.service, start, end)
        met = figures["attainment"] >= event.target
        if event.kind == "slow_degradation":
            before_end = event.window.end - MET_BEFORE_END
            figures[f"attainment_{MET_BEFORE_END.days}_days_before_end"] = request_attainment(
                requests, event.service, start, before_end
            )["attainment"]
            breach_start = last_breach_start(requests, event.service, event.window, event.target)
            figures["breached_from"] = iso(breach_start) if breach_start else None
            figures["designed_breach_at"] = iso(event.window.end - DEGRADATION_BREACH_LEAD)
        return {**figures, "expected_status": expected_status(event.window, span, met)}
    objective = contract.objective(event.objective_id)
    assert isinstance(objective.budgeting, Timeslices)
    slice_length = objective.budgeting.slice
    slice_count = int((end - start) / slice_length)
    affected = int((event.end - event.start) / slice_length)
    if event.kind == "latency_regression":
        return {
            "slices": slice_count,
            "affected_slices": affected,
            "allowed_bad_slices": (1 - event.target) * slice_count,
            "expected_status": expected_status(event.window, span, met=False),
        }
    rule = (objective.budgeting.slice, objective.budgeting.slice_target)
    with_exclusion = probe_slices(
        probes, event.service, start, end, *rule, (event.start, event.end)
    )
    without = probe_slices(probes, event.service, start, end, *rule)
    return {
        "excluded_slices": affected,
        "with_exclusion": with_exclusion,
        "without_exclusion": without,
        "status_without_exclusion": expected_status(
            event.window, span, without["attainment"] >= event.target
        ),
        "expected_status": expected_status(
            event.window, span, with_exclusion["attainment"] >= event.target
        ),
    }


def event_entry(event: ScriptedEvent | ItemEvent) -> dict[str, object]:
    """The fields every ground-truth event has: kind, contract, objective, service, its UTC
    period and the window it is expected to affect."""
    return {
        "kind": event.kind,
        "contract_id": event.contract_id,
        "objective_id": event.objective_id,
        "service": event.service,
        "start": iso(event.start),
        "end": iso(event.end),
        "window_label": event.window.label,
        "window_start": iso(event.window.start),
        "window_end": iso(event.window.end),
    }


def ground_truth(
    seed: int,
    span: DemoRange,
    events: list[ScriptedEvent],
    clean: CalendarWindow | None,
    contracts: dict[str, Contract],
    requests: pl.DataFrame,
    probes: pl.DataFrame,
) -> dict[str, object]:
    """The scenario's parameters, its events with their expected window status and measured
    figures, and the clean month's label, as written to ``ground_truth.json``."""
    return {
        "seed": seed,
        "start": iso(span.start),
        "end": iso(span.end),
        "days": (span.end - span.start).days,
        "events": [
            {
                **event_entry(event),
                "target": event.target,
                **measured(event, contracts[event.contract_id], span, requests, probes),
            }
            for event in events
        ],
        "clean_month": clean.label if clean else None,
    }


def walked_business_seconds(
    start: datetime, end: datetime, calendar: Calendar, zone: ZoneInfo
) -> float:
    """Working seconds from ``start`` to ``end`` (UTC instants), walked minute by minute: each
    step, up to the next whole minute or ``end``, counts when its first instant, read as a
    wall-clock time in ``zone``, falls on a working weekday that is neither a public holiday (the
    ``holidays`` package) nor one of the calendar's dates, between the opening and closing hours.

    Deliberately independent of ``pipelines.sla``: the pipeline's business time is checked
    against this walk, so the two must not share code."""
    closed: set[date] = set(calendar.dates)
    if calendar.holidays is not None:
        years = range(start.astimezone(zone).year, end.astimezone(zone).year + 1)
        closed |= set(
            holidays.country_holidays(
                calendar.holidays.country, subdiv=calendar.holidays.subdivision, years=years
            )
        )
    working_days = {WEEKDAYS.index(day) for day in calendar.days}
    opening, closing = calendar.hours
    seconds = 0.0
    moment = start
    while moment < end:
        step_end = min(end, moment.replace(second=0, microsecond=0) + timedelta(minutes=1))
        local = moment.astimezone(zone)
        if (
            local.weekday() in working_days
            and local.date() not in closed
            and opening <= local.time() < closing
        ):
            seconds += (step_end - moment).total_seconds()
        moment = step_end
    return seconds


def ticket_figures(
    log: pl.DataFrame, contract: Contract, event_facts: dict, window: CalendarWindow
) -> dict[str, object]:
    """Business hours of the event's ticket and the P1/P2 share within target of its window,
    from the ticket log (P1 and P2 tickets never wait or reopen, so opened → first Resolved is
    their timer)."""
    objective = contract.objective("p1-p2-resolution")
    targets = {p: t.total_seconds() for p, t in objective.sli.targets.items()}
    resolved = (
        log.filter(pl.col("incident_state") == "Resolved", pl.col("priority").is_in(list(targets)))
        .group_by("number")
        .agg(
            pl.col("priority").first(),
            start=pl.col("opened_at").first(),
            end=pl.col("sys_updated_at").min(),
        )
        .filter(pl.col("end").is_between(window.start, window.end, "left"))
    )
    calendar = contract.calendars[objective.calendar]
    seconds = [
        walked_business_seconds(start, end, calendar, contract.zone)
        for start, end in resolved.select("start", "end").iter_rows()
    ]
    resolved = resolved.with_columns(
        business_seconds=pl.Series(seconds, dtype=pl.Float64)
    ).with_columns(good=pl.col("business_seconds") <= pl.col("priority").replace_strict(targets))
    ticket = resolved.filter(pl.col("number") == event_facts["ticket_id"]).row(0, named=True)
    good, total = int(resolved["good"].sum()), resolved.height
    return {
        "ticket_business_hours": ticket["business_seconds"] / 3600,
        "ticket_within_target": ticket["good"],
        "good": good,
        "total": total,
        "attainment": good / total,
    }


def item_measured(
    event: ItemEvent, contract: Contract, span: DemoRange, evidence: ItemEvidence
) -> dict[str, object]:
    """The figures of an item event's window measured on the generated items, and the status
    the pipeline should report for it."""
    window = event.window
    if event.kind in ("p1_breach", "public_holiday"):
        figures = ticket_figures(evidence.tickets, contract, event.facts, window)
        met = figures["attainment"] >= contract.objective(event.objective_id).target
    elif event.kind == "slow_containment":
        hours = evidence.incidents.filter(
            pl.col("contained_at").is_between(window.start, window.end, "left")
        ).select((pl.col("contained_at") - pl.col("detected_at")).dt.total_seconds() / 3600)
        figures = {"incidents": hours.height, "mean_contain_hours": hours.to_series().mean()}
        met = figures["mean_contain_hours"] * 3600 <= contract.objective(event.objective_id).target
    elif event.kind == "missed_backup":
        figures = {}
        met = event.facts["gap_hours"] * 3600 <= contract.objective(event.objective_id).target
    else:
        nps = evidence.surveys.filter(
            pl.col("survey") == "nps",
            pl.col("responded_at").is_between(window.start, window.end, "left"),
        )["score"]
        point = 100 * ((nps >= 9).mean() - (nps <= 6).mean())
        figures = {"responses": nps.len(), "nps": point}
        met = point >= contract.objective(event.objective_id).target
    return {**figures, "expected_status": expected_status(window, span, met)}


def item_events_truth(
    contracts: dict[str, Contract], span: DemoRange, evidence: ItemEvidence
) -> list[dict[str, object]]:
    """Ground-truth entries of the item events (same keys as the traffic events, plus their
    facts and measured figures)."""
    return [
        {
            **event_entry(event),
            "target": contracts[event.contract_id].objective(event.objective_id).target,
            **event.facts,
            **item_measured(event, contracts[event.contract_id], span, evidence),
        }
        for event in evidence.events
    ]


def incidents_truth(
    incidents: list[RandomIncident], contracts: list[Contract]
) -> list[dict[str, object]]:
    """Ground-truth entries of the random incidents: kind ``random_incident``, the contract
    declaring the service, service, shape, start, end and peak error rate."""
    contract_of = {
        service.id: contract.id for contract in contracts for service in contract.services
    }
    return [
        {
            "kind": "random_incident",
            "contract_id": contract_of[incident.service],
            "service": incident.service,
            "shape": incident.shape,
            "start": iso(incident.start),
            "end": iso(incident.end),
            "peak_error_rate": incident.peak_error_rate,
        }
        for incident in incidents
    ]
