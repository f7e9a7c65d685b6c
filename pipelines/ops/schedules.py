"""Schedules of the routine: ingest and windows every 15 minutes, predictions and reports daily,
the monthly summary on the first of the month at 06:00 in each contract's zone.

Schedules start stopped (Dagster's default): switch them on in the UI (Automation) or with
``dagster schedule start``; ``make dev`` runs the daemon that ticks them.
"""

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from pipelines.contracts.schema import Contract
from pipelines.ops.jobs import days_run_request, ingest_and_windows, monthly_summary
from pipelines.ops.jobs import predict_and_report as predict_and_report_job

LATE_HOURS = 3
"""For this many hours after UTC midnight an ingest tick also covers the previous day, whose last
files often land after midnight."""


def tick_days(tick: datetime, late_hours: int = LATE_HOURS) -> tuple[date, date]:
    """The first and last UTC day an ingest tick at ``tick`` covers: today, from yesterday while
    yesterday's late files may still land."""
    today = tick.astimezone(UTC).date()
    late = tick.astimezone(UTC) - timedelta(hours=late_hours)
    return min(late.date(), today), today


@dg.schedule(
    cron_schedule="*/15 * * * *",
    job=ingest_and_windows,
    execution_timezone="UTC",
    description="Every 15 minutes: pull the prometheus sources, ingest today's landing files (and "
    f"yesterday's in the first {LATE_HOURS} hours after midnight UTC) and recompute slices and "
    "windows.",
)
def ingest_often(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    first, last = tick_days(context.scheduled_execution_time)
    return days_run_request(first, last)


predict_and_report = dg.ScheduleDefinition(
    name="predict_and_report_daily",
    cron_schedule="30 5 * * *",
    job=predict_and_report_job,
    execution_timezone="UTC",
    description="Daily at 05:30 UTC, after the night's ingest: predictions and reports.",
)


def contract_zones(contracts: Iterable[Contract]) -> list[str]:
    """The distinct time zones of the contracts, sorted."""
    return sorted({contract.time_zone for contract in contracts})


def zone_slug(zone: str) -> str:
    """A schedule-name-safe form of a zone: ``America/New_York`` → ``america_new_york``."""
    return re.sub(r"[^0-9a-z]+", "_", zone.lower()).strip("_")


def monthly_summary_schedules(zones: Iterable[str]) -> list[dg.ScheduleDefinition]:
    """One schedule per zone: the monthly summary at 06:00 on the first of the month, local time
    (the run is tagged ``pledge/time_zone``)."""
    return [
        dg.ScheduleDefinition(
            name=f"monthly_summary_{zone_slug(zone)}",
            cron_schedule="0 6 1 * *",
            job=monthly_summary,
            execution_timezone=zone,
            tags={"pledge/time_zone": zone},
            description=f"The monthly compliance summary, 06:00 on the 1st in {zone}.",
        )
        for zone in zones
    ]
