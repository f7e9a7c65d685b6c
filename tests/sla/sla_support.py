"""Builders shared by the SLA tests: contracts from short dicts, raw evidence frames, slices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from pipelines.contracts.schema import Calendar, Contract
from pipelines.sla.calendar import UTC_TIME, WorkingTime
from pipelines.sla.objectives import (
    excluded_minutes,
    exclusion_intervals,
    objectives_frame,
)
from pipelines.sla.slices import objective_slices

MICROS = 1_000_000

UTC_US = pl.Datetime("us", "UTC")
NO_FIRING = pl.DataFrame(schema={"contract_id": pl.String, "objective_id": pl.String})


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def make_contract(objectives: list[dict[str, Any]], **fields: Any) -> Contract:
    """A contract with services ``api`` and ``web`` and the given objectives (service ``api``
    unless stated)."""
    document = {
        "id": "acme",
        "title": "Acme",
        "provider": "Acme",
        "consumer": "Us",
        "time_zone": "Europe/Berlin",
        "monthly_fee": 1000,
        "services": [{"id": "api"}, {"id": "web"}],
        "objectives": [{"service": "api", "target": 0.99, **objective} for objective in objectives],
        **fields,
    }
    return Contract.model_validate(document)


def minutes(start: datetime, count: int) -> list[datetime]:
    return [start + timedelta(minutes=n) for n in range(count)]


def requests(
    start: datetime, count: int, total: int, errors: int, service: str = "api"
) -> pl.DataFrame:
    """``count`` per-minute request rows from ``start``."""
    return pl.DataFrame(
        {"ts": minutes(start, count), "service": service, "total": total, "errors": errors},
        schema={"ts": UTC_US, "service": pl.String, "total": pl.Int64, "errors": pl.Int64},
    )


def probes(start: datetime, count: int, up: list[bool], service: str = "api") -> pl.DataFrame:
    """``count`` minutes of probes from ``start``, one check per location with the given results."""
    return pl.concat(
        pl.DataFrame(
            {"ts": minutes(start, count), "service": service, "up": result},
            schema={"ts": UTC_US, "service": pl.String, "up": pl.Boolean},
        )
        for result in up
    )


def buckets(
    start: datetime, count: int, counts: dict[float, int], service: str = "api"
) -> pl.DataFrame:
    """``count`` minutes of cumulative latency buckets {le_seconds: count} from ``start``."""
    return pl.concat(
        pl.DataFrame(
            {"ts": minutes(start, count), "service": service, "le_seconds": le, "count": value},
            schema={
                "ts": UTC_US,
                "service": pl.String,
                "le_seconds": pl.Float64,
                "count": pl.Int64,
            },
        )
        for le, value in counts.items()
    )


EMPTY = {
    "requests": requests(utc(2026, 1, 1), 0, 0, 0),
    "probes": probes(utc(2026, 1, 1), 0, [True]),
    "histogram": buckets(utc(2026, 1, 1), 0, {1.0: 0}),
}


def first_evidence_of(**evidence: pl.DataFrame) -> pl.DataFrame:
    """service, sli_method, first_ts of evidence frames ``requests``/``probes``/``histogram``."""
    return pl.concat(
        frame.group_by("service")
        .agg(first_ts=pl.col("ts").min())
        .with_columns(sli_method=pl.lit(method))
        for method, frame in evidence.items()
    )


def slices_of(
    contracts: list[Contract],
    start: datetime,
    end: datetime,
    as_of: datetime,
    **evidence: pl.DataFrame,
) -> pl.DataFrame:
    """objective_slices over [start, end) with evidence ``requests``/``probes``/``histogram``;
    first evidence taken from the frames given."""
    frames = {**EMPTY, **evidence}
    first = first_evidence_of(**frames)
    excluded = excluded_minutes(exclusion_intervals(contracts, start, end), start, end)
    return objective_slices(
        objectives_frame(contracts),
        frames["requests"].lazy(),
        frames["probes"].lazy(),
        frames["histogram"].lazy(),
        excluded,
        first,
        start,
        end,
        as_of,
    )


def business_seconds(
    intervals: pl.DataFrame,
    calendar: Calendar | None,
    zone: ZoneInfo,
    start: str = "start",
    end: str = "end",
) -> pl.Series:
    """Working seconds between two UTC instants, row by row (``WorkingTime`` as the ticket
    timers use it, over a frame of spans).

    In: ``intervals`` with Datetime("us", "UTC") columns ``start`` and ``end`` (end ≥ start).
    Out: Float64 series ``business_seconds``, one value per row (null where either is null).
    """
    if intervals.is_empty():
        return pl.Series("business_seconds", [], pl.Float64)
    first, last = intervals.select(
        pl.min_horizontal(pl.col(start).min(), pl.col(end).min()).alias("first"),
        pl.max_horizontal(pl.col(start).max(), pl.col(end).max()).alias("last"),
    ).row(0)
    working = WorkingTime.covering(calendar, zone, first, last)
    seconds = (working.worked(pl.col(end)) - working.worked(pl.col(start))) / MICROS
    return intervals.select(seconds.alias("business_seconds")).to_series()


def business_deadline(
    starts: pl.DataFrame,
    calendar: Calendar | None,
    zone: ZoneInfo,
    start: str = "start",
    seconds: str = "seconds",
) -> pl.Series:
    """The UTC instant at which ``seconds`` working seconds have elapsed from ``start``.

    In: ``starts`` with a Datetime("us", "UTC") column ``start`` and a numeric column ``seconds``
    (≥ 0). Out: Datetime("us", "UTC") series ``deadline`` (``start`` itself for zero seconds).
    """
    if starts.is_empty():
        return pl.Series("deadline", [], UTC_TIME)
    first, last = starts.get_column(start).min(), starts.get_column(start).max()
    most = starts.get_column(seconds).max()
    working = WorkingTime.covering(calendar, zone, first, last, timedelta(seconds=most))
    target = working.worked(pl.col(start)) + (pl.col(seconds) * MICROS).round().cast(pl.Int64)
    deadline = pl.max_horizontal(pl.col(start), working.reached(target))
    return starts.select(deadline.alias("deadline")).to_series()
