"""Per-item drill-downs of an objective's current window: the tickets of a ticket objective, the
incidents of a security objective, the backups and restore tests of a backup objective; shown
on the objective's page (breached first) and written beside it as a CSV.

A ticket's short description is text anyone who can open a ticket typed: the page escapes it
(Jinja autoescape) and the CSV writer (``exports.write_csv``) neutralises a cell that would start
a formula."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipelines.sla.objectives import utc_literal

ITEMS_SCHEMA = {
    "item": pl.String,
    "priority": pl.String,
    "started_at": pl.Datetime("us", "UTC"),
    "stopped_at": pl.Datetime("us", "UTC"),
    "business_hours": pl.Float64,
    "paused_hours": pl.Float64,
    "target_hours": pl.Float64,
    "value_hours": pl.Float64,
    "result": pl.String,
    "incomplete": pl.Boolean,
    "detail": pl.String,
}
"""One row per item: ``item`` (ticket number, incident, backup or restore-test id),
``priority`` (tickets), ``started_at`` / ``stopped_at`` (a ticket's timer started and stopped,
null while running; for other items ``stopped_at`` is when it was counted), ``business_hours``
and ``paused_hours`` (tickets: elapsed business time and time paused), ``target_hours``
(tickets), ``value_hours`` (other items: the time measured), ``result`` (``breached``, ``met``,
``open`` for a ticket still running within its target, ``—`` when the objective judges no single
item), ``incomplete`` (tickets with a rejected update) and ``detail`` (tickets: the short
description; other items: what was measured)."""

_ORDER = {"breached": 0, "open": 1, "met": 2, "—": 3}


def ticket_items(
    timers: pl.DataFrame,
    descriptions: pl.DataFrame,
    window_start: datetime,
    window_end: datetime,
) -> pl.DataFrame:
    """The tickets of one ticket objective's window, breached first, then by timer start, each
    with its short description as ``detail``.

    ``timers``: its ``sla.ticket_timers`` rows counted by the objective (not ``unmatched``).
    ``descriptions``: ticket_id, short_description (one row per ticket that has one). A
    ticket belongs to the window its timer counts in (its stop when completed, its breach when
    running overdue, as the windows count them); a ticket still running within its target is
    listed as ``open``.
    """
    completed = pl.col("timer_state") == "completed"
    running = pl.col("timer_state") == "running"
    breached = pl.col("breached").fill_null(False)
    counted_at = pl.when(completed).then("stopped_at").when(running & breached).then("breach_at")
    start, end = utc_literal(window_start), utc_literal(window_end)
    in_window = counted_at.is_between(start, end, closed="left") | (
        running & ~breached & (pl.col("started_at") < end)
    )
    result = (
        pl.when(breached)
        .then(pl.lit("breached"))
        .when(running)
        .then(pl.lit("open"))
        .when(pl.col("target_seconds").is_not_null())
        .then(pl.lit("met"))
        .otherwise(pl.lit("—"))
    )
    return _ordered(
        timers.filter(in_window)
        .join(descriptions.select("ticket_id", "short_description"), on="ticket_id", how="left")
        .select(
            item="ticket_id",
            priority="priority",
            started_at="started_at",
            stopped_at="stopped_at",
            business_hours=pl.col("business_seconds") / 3600,
            paused_hours=pl.col("paused_seconds") / 3600,
            target_hours=pl.col("target_seconds") / 3600,
            value_hours=pl.lit(None, pl.Float64),
            result=result,
            incomplete=pl.col("incomplete").fill_null(False),
            detail="short_description",
        )
    )


def outcome_items(
    outcomes: pl.DataFrame, window_start: datetime, window_end: datetime
) -> pl.DataFrame:
    """The items (security incidents, backups, restore tests) one objective counted in its
    window, breached first, then by the time counted.

    ``outcomes``: its ``sla.outcomes`` rows (item_id, counted_at, value in seconds, good: null
    when the objective judges the window's statistic, not each item; detail).
    """
    return _ordered(
        outcomes.filter(
            pl.col("counted_at").is_between(
                utc_literal(window_start), utc_literal(window_end), closed="left"
            )
        ).select(
            item="item_id",
            priority=pl.lit(None, pl.String),
            started_at=pl.lit(None, pl.Datetime("us", "UTC")),
            stopped_at="counted_at",
            business_hours=pl.lit(None, pl.Float64),
            paused_hours=pl.lit(None, pl.Float64),
            target_hours=pl.lit(None, pl.Float64),
            value_hours=pl.col("value") / 3600,
            result=pl.when(pl.col("good").is_null())
            .then(pl.lit("—"))
            .when("good")
            .then(pl.lit("met"))
            .otherwise(pl.lit("breached")),
            incomplete=pl.lit(False),
            detail="detail",
        )
    )


def _ordered(items: pl.DataFrame) -> pl.DataFrame:
    rank = pl.col("result").replace_strict(_ORDER, default=9, return_dtype=pl.Int8)
    return (
        items.cast(ITEMS_SCHEMA)  # type: ignore[arg-type]
        .sort(rank, pl.coalesce("started_at", "stopped_at"), "item", nulls_last=True)
        .select(list(ITEMS_SCHEMA))
    )
