"""Slices → compliance windows: good, total, attainment, error budget and status per window.

Calendar windows (day, ISO week from Monday, month, quarter) have their boundaries computed in the
contract's zone and converted to UTC: a Europe/Berlin month starts at 22:00 or 23:00 UTC the day
before and a DST day lasts 23 or 25 hours. Labels are local: ``2026-03-29``, ``2026-W12``,
``2026-03``, ``2026-Q1``. A calendar window with a start (``window_anchor``, local wall-clock
time) has periods beginning at that offset, each boundary converted on its own day (a month from
12:00 on the 1st in Europe/Berlin starts at 11:00 or 10:00 UTC); its days run from the anchor's
time to the same time the next day, and its label is the day, ISO week, month or quarter holding
its first day (``2026-11`` for 1 November 12:00 to 1 December 12:00). A rolling window of N days
is listed once per local day D, from the start of day D−N+1 to the end of day D, labelled
``rolling 28d to 2026-03-29``.

A slice belongs to the local day its ``slice_start`` falls in (slice lengths divide the zone's
UTC offset, true for 1 and 5 minute slices everywhere), days sum into windows. Listed: every
window from the one holding the objective's first slice (or, with no slice yet, the one holding
``as_of``) up to the current one, within the contract's effective period; for rolling windows,
one per day up to the day holding ``as_of`` (at a local midnight, the day just begun). A window
is complete when it ends at or before
``as_of``.

Figures: attainment = good / total (null when total is 0: status ``no_data``, never 100%);
error_budget = (1 − target) × total; budget_consumed = total − good (the bad events, minutes or
slices);
budget_remaining = 1 − consumed / budget (negative once over budget, null with no budget).
These are ratio SLIs, so ``measured`` repeats the attainment and ``unit`` is ``ratio``.
Status: complete windows ``met`` (attainment ≥ target) or ``breached``; the current window
``breaching`` (attainment already below target), ``at_risk`` (a burn-rate alert of the objective
is still firing), ``on_track``; either with no data ``no_data`` (``breached``/``breaching`` under
``missing_data: bad``: unobserved time is bad).

Unobserved time and coverage. A window's *measurable time* runs from the later of its start and
the contract's effective start to the earliest of its end, ``as_of`` and the effective end. Its
part before the objective's measurement start (its first evidence, ``measured_from``; all of it
without evidence) has no slices: those *unobserved minutes* are added to missing_minutes and
count per ``missing_data`` like a timeslice without evidence (good: to good and total; bad: to
total; excluded: nothing; as minutes for timeslices, as minutes / slice minutes for
ratio_timeslices; occurrences have no events there, so only coverage shows them).
coverage = evidence minutes / kept minutes, kept = measurable − excluded − corrected minutes,
evidence = kept − missing (null when nothing is kept). Exclusions before the measurement start
are not subtracted (no slices exist there).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from pipelines.sla.clock import local_day_from, local_time_on
from pipelines.sla.objectives import KEYS, UTC_US
from pipelines.warehouse import query, sql_text

SUMMED = ["good", "total", "excluded_minutes", "corrected_minutes", "missing_minutes"]
WINDOW_SPEC = ["time_zone", "window_kind", "window_period", "window_days", "window_anchor"]
# Unanchored periods begin as if anchored at this Monday, 1 January, 00:00.
DEFAULT_ANCHOR = datetime(2024, 1, 1)
_BLOCK_SECONDS = 900

WINDOWS_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "window_label": pl.String,
    "window_start": UTC_US,
    "window_end": UTC_US,
    "is_complete": pl.Boolean,
    "good": pl.Float64,
    "total": pl.Float64,
    "attainment": pl.Float64,
    "target": pl.Float64,
    "error_budget": pl.Float64,
    "budget_consumed": pl.Float64,
    "budget_remaining": pl.Float64,
    "status": pl.String,
    "measured": pl.Float64,
    "unit": pl.String,
    "excluded_minutes": pl.Float64,
    "corrected_minutes": pl.Float64,
    "missing_minutes": pl.Float64,
    "coverage": pl.Float64,
    "as_of": UTC_US,
}


def objective_windows(
    objectives: pl.DataFrame,
    slices: pl.DataFrame,
    firing: pl.DataFrame,
    as_of: datetime,
    measured_from: pl.DataFrame,
) -> pl.DataFrame:
    """Every objective's windows up to ``as_of``.

    Inputs: ``objectives`` (objectives_frame), ``slices`` (contract_id, objective_id,
    slice_start, good, total, excluded_minutes, corrected_minutes, missing_minutes),
    ``firing`` (contract_id, objective_id of objectives with a burn-rate alert firing at
    as_of), ``measured_from`` (contract_id, objective_id, measured_from: each objective's
    measurement start, see :func:`measurement_starts`; an objective missing from it has no
    evidence).
    Output: WINDOWS_SCHEMA, sorted by objective and window_start.
    """
    daily = local_daily_totals(objectives, slices)
    return daily_windows(objectives, daily, firing, as_of, measured_from)


def daily_windows(
    objectives: pl.DataFrame,
    daily: pl.DataFrame,
    firing: pl.DataFrame,
    as_of: datetime,
    measured_from: pl.DataFrame,
) -> pl.DataFrame:
    """``objective_windows`` from the slices' daily totals (``daily``: local_daily_totals or
    stored_daily_totals)."""
    as_of = as_of.astimezone(UTC)
    first_evidence = daily.group_by(KEYS).agg(first_at=pl.col("first_block").min())
    windows = window_bounds(objectives, first_evidence, as_of).with_columns(
        day_before=pl.col("first_day") - timedelta(days=1)
    )
    cumulative = daily.sort([*KEYS, "day"]).select(
        *KEYS, "day", *(pl.col(name).cum_sum().over(KEYS) for name in SUMMED)
    )

    def running_totals(day_column: str, suffix: str) -> pl.DataFrame:
        return (
            windows.select(*KEYS, "window_label", day_column)
            .sort(day_column)
            .join_asof(
                cumulative.sort("day"),
                left_on=day_column,
                right_on="day",
                by=KEYS,
                strategy="backward",
                check_sortedness=False,
            )
            .select(
                *KEYS, "window_label", *(pl.col(n).fill_null(0).alias(n + suffix) for n in SUMMED)
            )
        )

    sums = (
        windows.join(running_totals("last_day", "_through"), on=[*KEYS, "window_label"])
        .join(running_totals("day_before", "_before"), on=[*KEYS, "window_label"])
        .with_columns(
            (pl.col(f"{name}_through") - pl.col(f"{name}_before")).alias(name) for name in SUMMED
        )
        .join(objectives.select(*KEYS, "target"), on=KEYS)
        .join(firing.select(*KEYS).unique().with_columns(firing=pl.lit(True)), on=KEYS, how="left")
    )
    return (
        _with_unobserved(sums, objectives, measured_from, as_of)
        .with_columns(
            is_complete=pl.col("window_end") <= pl.lit(as_of, UTC_US),
            attainment=pl.when(pl.col("total") > 0).then(pl.col("good") / pl.col("total")),
            error_budget=(1 - pl.col("target")) * pl.col("total"),
            budget_consumed=pl.col("total") - pl.col("good"),
        )
        .with_columns(
            budget_remaining=pl.when(pl.col("error_budget") > 0).then(
                1 - pl.col("budget_consumed") / pl.col("error_budget")
            ),
            status=_status(),
            measured=pl.col("attainment"),
            unit=pl.lit("ratio"),
            as_of=pl.lit(as_of, UTC_US),
        )
        .select(list(WINDOWS_SCHEMA))
        .sort([*KEYS, "window_start"])
        .cast(WINDOWS_SCHEMA)  # type: ignore[arg-type]
    )


def measurement_starts(objectives: pl.DataFrame, first_evidence: pl.DataFrame) -> pl.DataFrame:
    """contract_id, objective_id, measured_from: where each objective's slices start (as
    ``slices.objective_slices`` measures): the minute of its service's first evidence in its
    evidence table (``first_evidence``: service, sli_method, first_ts), not before the contract's
    effective start. Objectives without evidence are left out."""
    return objectives.join(first_evidence, on=["service", "sli_method"]).select(
        *KEYS,
        measured_from=pl.max_horizontal(
            pl.col("first_ts").dt.truncate("1m"), "effective_start"
        ).cast(UTC_US),
    )


def _with_unobserved(
    sums: pl.DataFrame,
    objectives: pl.DataFrame,
    measured_from: pl.DataFrame,
    as_of: datetime,
) -> pl.DataFrame:
    """Window sums with the unobserved minutes before the measurement start counted per
    ``missing_data`` and ``coverage`` (module docstring). Needs the sums' good, total,
    excluded_minutes, corrected_minutes, missing_minutes, window_start and window_end."""

    def minutes(start: pl.Expr, end: pl.Expr) -> pl.Expr:
        return ((end - start).dt.total_seconds() / 60).clip(lower_bound=0)

    start = pl.max_horizontal("window_start", "effective_start")
    end = pl.min_horizontal("window_end", pl.lit(as_of, UTC_US), "effective_end")
    # without evidence (no measured_from) the whole window is unobserved
    unobserved = minutes(start, pl.min_horizontal(end, pl.col("measured_from").fill_null(end)))
    missing_data = pl.col("missing_data")
    # the unobserved time in good/total's unit: minutes, slices, or nothing (occurrences)
    counted = (
        pl.when(pl.col("budgeting") == "timeslices")
        .then(pl.col("unobserved"))
        .when(pl.col("budgeting") == "ratio_timeslices")
        .then(pl.col("unobserved") * 60 / pl.col("slice_seconds"))
        .otherwise(0)
    )
    kept = minutes(start, end) - pl.col("excluded_minutes") - pl.col("corrected_minutes")
    return (
        sums.join(
            objectives.select(
                *KEYS,
                "effective_start",
                "effective_end",
                "budgeting",
                "slice_seconds",
                "missing_data",
            ),
            on=KEYS,
        )
        .join(measured_from.select(*KEYS, "measured_from"), on=KEYS, how="left")
        .with_columns(unobserved=unobserved)
        .with_columns(
            good=pl.col("good") + pl.when(missing_data == "good").then(counted).otherwise(0),
            total=pl.col("total") + pl.when(missing_data != "excluded").then(counted).otherwise(0),
            missing_minutes=pl.col("missing_minutes") + pl.col("unobserved"),
            coverage=pl.when(kept > 0).then(
                (kept - pl.col("missing_minutes") - pl.col("unobserved")) / kept
            ),
        )
    )


def _status() -> pl.Expr:
    below = pl.col("attainment") < pl.col("target")
    unobserved_is_bad = (pl.col("missing_data") == "bad") & (pl.col("unobserved") > 0)
    return (
        pl.when(pl.col("attainment").is_null() & unobserved_is_bad)
        .then(
            pl.when(pl.col("is_complete")).then(pl.lit("breached")).otherwise(pl.lit("breaching"))
        )
        .when(pl.col("attainment").is_null())
        .then(pl.lit("no_data"))
        .when(pl.col("is_complete"))
        .then(pl.when(below).then(pl.lit("breached")).otherwise(pl.lit("met")))
        .when(below)
        .then(pl.lit("breaching"))
        .when(pl.col("firing").fill_null(False))
        .then(pl.lit("at_risk"))
        .otherwise(pl.lit("on_track"))
    )


def local_daily_totals(objectives: pl.DataFrame, slices: pl.DataFrame) -> pl.DataFrame:
    """Slices (a frame: contract_id, objective_id, slice_start, good, total,
    excluded_minutes, corrected_minutes, missing_minutes) summed per local day of the
    objective's zone: ``stored_daily_totals`` over the frame."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("frame_slices", slices)
        return stored_daily_totals(con, objectives, "frame_slices")


def stored_daily_totals(
    con: duckdb.DuckDBPyConnection, objectives: pl.DataFrame, slices: str = "sla.slices"
) -> pl.DataFrame:
    """The slices of relation ``slices`` on ``con`` summed per local day of the objective's zone
    (by slice_start) in SQL (``sql/sla/daily_totals.sql``); for a calendar window with a start,
    per day running from the start's time of day.

    Every zone's offset and every window start is a multiple of 15 minutes, so a 15-minute UTC
    block never straddles a day's start: each zone's calendar is laid out once as the day of
    every block from the first slice to the last, and each slice finds its day by joining its
    block (no zone conversion per row). Slices of unknown objectives are dropped. Output:
    contract_id, objective_id, day (local Date), first_block (UTC start of the first 15-minute
    block holding a slice), good, total, excluded_minutes, corrected_minutes, missing_minutes.
    """
    schema = {
        **dict.fromkeys(KEYS, pl.String),
        "day": pl.Date,
        "first_block": UTC_US,
        **dict.fromkeys(SUMMED, pl.Float64),
    }
    [(first, last)] = con.execute(
        f"SELECT min(epoch_us(slice_start)), max(epoch_us(slice_start)) FROM {slices}"
    ).fetchall()
    if first is None or objectives.is_empty():
        return pl.DataFrame(schema=schema)
    first, last = first // (_BLOCK_SECONDS * 10**6), last // (_BLOCK_SECONDS * 10**6)
    day_start = pl.col("window_anchor").dt.time().fill_null(time())
    zones = objectives.select("time_zone", day_start=day_start).unique().sort(pl.all())
    day_keys = (
        objectives.with_columns(day_start=day_start)
        .join(zones.with_row_index("zone_index"), on=["time_zone", "day_start"])
        .select(*KEYS, pl.col("zone_index").cast(pl.Int64))
    )
    day_calendar = pl.concat(
        [
            pl.DataFrame(
                {
                    "zone_index": index,
                    "block": pl.int_range(first, last + 1, eager=True),
                    "day": _block_days(ZoneInfo(zone), at, first, last - first + 1),
                }
            )
            for index, (zone, at) in enumerate(zones.iter_rows())
        ]
    )
    con.register("day_keys", day_keys)
    con.register("day_calendar", day_calendar)
    try:
        sql = sql_text("sla/daily_totals").format(slices=slices, block_seconds=_BLOCK_SECONDS)
        return query(con, sql).cast(schema)  # type: ignore[arg-type]
    finally:
        con.unregister("day_keys")
        con.unregister("day_calendar")


def _block_days(zone: ZoneInfo, at: time, first: int, blocks: int) -> pl.Series:
    """The local day in ``zone`` (days starting at wall-clock ``at``) of each of ``blocks``
    consecutive 15-minute UTC blocks, the first being block number ``first`` since the epoch."""
    start, end = first * _BLOCK_SECONDS, (first + blocks) * _BLOCK_SECONDS
    first_day = local_day_from(datetime.fromtimestamp(start, UTC), at, zone)
    last_day = local_day_from(datetime.fromtimestamp(end - 1, UTC), at, zone)
    day_starts = pl.Series(
        [
            int(local_time_on(first_day + timedelta(days=n), at, zone).timestamp())
            for n in range((last_day - first_day).days + 1)
        ]
    )
    block_starts = pl.int_range(start, end, _BLOCK_SECONDS, eager=True)
    days_after_first = day_starts.search_sorted(block_starts, side="right") - 1
    return pl.select(pl.lit(first_day) + pl.duration(days=pl.lit(days_after_first))).to_series()


def window_bounds(
    objectives: pl.DataFrame, first_evidence: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """The windows to list per objective (see the module docstring), given ``first_evidence``
    (contract_id, objective_id, first_at: the objective's earliest slice or item, UTC).

    Output: contract_id, objective_id, window_label, window_start, window_end (UTC), first_day,
    last_day (the local dates the window covers).
    """
    as_of_expr = pl.lit(as_of, UTC_US)
    ranged = (
        objectives.join(first_evidence.select(*KEYS, "first_at"), on=KEYS, how="left")
        .with_columns(
            range_start=pl.max_horizontal(
                pl.min_horizontal("first_at", as_of_expr - timedelta(microseconds=1)),
                "effective_start",
            ),
            # Up to and including the instant as_of: at a midnight, the day (and the rolling
            # window) that has just begun is the current one.
            range_end=pl.min_horizontal(as_of_expr + timedelta(microseconds=1), "effective_end"),
        )
        .filter(pl.col("range_start") < pl.col("range_end"))
    )
    schema = {
        **dict.fromkeys(KEYS, pl.String),
        "window_label": pl.String,
        "window_start": UTC_US,
        "window_end": UTC_US,
        "first_day": pl.Date,
        "last_day": pl.Date,
    }
    spans = ranged.group_by(WINDOW_SPEC).agg(
        first=pl.col("range_start").min(), last=pl.col("range_end").max()
    )
    calendars = [
        _calendar(zone, kind, period, days, anchor, first, last).with_columns(
            time_zone=pl.lit(zone),
            window_kind=pl.lit(kind),
            window_period=pl.lit(period, pl.String),
            window_days=pl.lit(days, pl.Int64),
            window_anchor=pl.lit(anchor, pl.Datetime("us")),
        )
        for zone, kind, period, days, anchor, first, last in spans.iter_rows()
    ]
    if not calendars:
        return pl.DataFrame(schema=schema)
    return (
        ranged.join(pl.concat(calendars), on=WINDOW_SPEC, how="inner", nulls_equal=True)
        .filter(
            pl.col("window_end") > pl.col("range_start"),
            pl.col("anchor") < pl.col("range_end"),
        )
        .select(list(schema))
        .cast(schema)  # type: ignore[arg-type]
    )


def _calendar(
    zone_name: str,
    kind: str,
    period: str | None,
    days: int | None,
    anchor: datetime | None,
    first: datetime,
    last: datetime,
) -> pl.DataFrame:
    """Windows of one kind in one zone covering the instants [first, last): window_label,
    window_start, window_end, first_day, last_day, anchor (the window's start, or for a rolling
    window the start of its last day: the window is listed once the anchor has passed). With a
    window ``anchor`` (local wall-clock time), days start at its time of day and periods at its
    offset in the period."""
    zone = ZoneInfo(zone_name)
    anchor = anchor or DEFAULT_ANCHOR
    at = anchor.time()
    first_day = local_day_from(first, at, zone)
    last_day = local_day_from(last - timedelta(microseconds=1), at, zone)
    rows = []
    if kind == "rolling":
        assert days is not None
        for n in range((last_day - first_day).days + 1):
            day = first_day + timedelta(days=n)
            start_day = day - timedelta(days=days - 1)
            rows.append((f"rolling {days}d to {day.isoformat()}", start_day, day, day))
    else:
        start_day = period_start(first_day, period or "month", anchor.date())
        while start_day <= last_day:
            next_start = _next_period_start(start_day, period or "month")
            end_day = next_start - timedelta(days=1)
            rows.append((_label(start_day, period), start_day, end_day, start_day))
            start_day = next_start
    return pl.DataFrame(
        [
            {
                "window_label": label,
                "window_start": local_time_on(begin, at, zone),
                "window_end": local_time_on(end + timedelta(days=1), at, zone),
                "first_day": begin,
                "last_day": end,
                "anchor": local_time_on(listed_from, at, zone),
            }
            for label, begin, end, listed_from in rows
        ],
        schema={
            "window_label": pl.String,
            "window_start": UTC_US,
            "window_end": UTC_US,
            "first_day": pl.Date,
            "last_day": pl.Date,
            "anchor": UTC_US,
        },
    )


def _next_period_start(start: date, period: str) -> date:
    """The first local day of the calendar period after the one starting on ``start``."""
    if period in ("day", "week"):
        return start + timedelta(days=1 if period == "day" else 7)
    month_index = start.year * 12 + start.month - 1 + (1 if period == "month" else 3)
    return date(month_index // 12, month_index % 12 + 1, start.day)


def period_start(day: date, period: str, anchor: date) -> date:
    """The first local day of the calendar period holding ``day``, periods beginning on
    ``anchor`` (a day of the month up to 28 for months and quarters): weeks on its weekday,
    months on its day of the month, quarters also in its month of the quarter."""
    if period == "week":
        return day - timedelta(days=(day.weekday() - anchor.weekday()) % 7)
    if period in ("month", "quarter"):
        months = 1 if period == "month" else 3
        month_index = day.year * 12 + day.month - 1 - (day.day < anchor.day)
        month_index -= (month_index - (anchor.month - 1)) % months
        return date(month_index // 12, month_index % 12 + 1, anchor.day)
    return day


def _label(start: date, period: str | None) -> str:
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return start.strftime("%Y-%m")
    if period == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return start.isoformat()
