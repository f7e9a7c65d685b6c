"""Monthly compliance summary per contract, ready to send to the provider: one HTML page
(self-contained, printable) and one CSV with the same rows, at
``reports/monthly/<contract_id>-<YYYY-MM>.html`` and ``.csv``.

The month is a calendar month of the contract's zone, by default the last one complete at the
warehouse's ``as_of``. Its rows: every objective of the contract with each of its windows that
ends in the month (end after the month's first instant, at or before its last): a monthly
objective's window of that month, the days or ISO weeks ending in it, a quarter ending with it;
for a rolling objective only the window ending with the month (its days overlap). An objective
with no such window (a quarter ending later) gets one row without a window. A window with a
start (``window_anchor``) ends in the month holding its last day, its days running from the
anchor's time of day: a month from 12:00 on the 1st, ending 1 December 12:00, is November's.
Each row carries the target, the result in the objective's unit, the status, the error budget
used, the credit owed (from ``sla.credits``, complete windows only as ``owed_credits`` defines,
after the objective's and the contract's caps; it counts in the contract month
``contract_window``), the corrections applied and the data gaps (minutes without evidence with
the window's coverage, windows without enough data).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from pipelines.contracts.schema import Contract
from pipelines.report.exports import write_csv
from pipelines.report.formatting import (
    NO_VALUE,
    format_amount,
    format_local_time,
    format_number,
    format_share,
    format_target,
    format_window_measure,
    status_style,
)
from pipelines.report.render import template_environment
from pipelines.report.review import DATA_GAP_STATUSES
from pipelines.sla.clock import local_midnight
from pipelines.sla.credits import owed_credits
from pipelines.sla.objectives import KEYS, UTC_US
from pipelines.warehouse import query

MONTHLY_DIR = "monthly"
"""The summaries' folder under the reports folder."""


MONTHLY_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "title": pl.String,
    "service": pl.String,
    "judged_on": pl.String,
    "window_label": pl.String,
    "window_start": UTC_US,
    "window_end": UTC_US,
    "is_complete": pl.Boolean,
    "target": pl.Float64,
    "attainment": pl.Float64,
    "measured": pl.Float64,
    "unit": pl.String,
    "interval_low": pl.Float64,
    "interval_high": pl.Float64,
    "status": pl.String,
    "budget_used": pl.Float64,
    "contract_window": pl.String,
    "credit_pct": pl.Float64,
    "credit_amount": pl.Float64,
    "currency": pl.String,
    "capped": pl.Boolean,
    "corrected_minutes": pl.Float64,
    "corrections_applied": pl.Int64,
    "missing_minutes": pl.Float64,
    "coverage": pl.Float64,
    "data_gap": pl.Boolean,
}
"""One summary row (also the CSV's columns): target, attainment, measured and budget_used are
shares (0.999) for share objectives, ``measured`` and ``target`` in ``unit`` (seconds, points)
otherwise; credit_pct a share of the monthly fee, credit_amount in ``currency``; capped: a cap
cut the credit (complete windows only: a window still running owes nothing yet, null);
corrections_applied: corrections overlapping the window; coverage: the share of the window's time
with evidence (null for item-judged objectives); data_gap: the window is no_data /
insufficient_data or misses evidence for some minutes."""

MONTHLY_COLUMNS = (
    "Objective",
    "Window",
    "Target",
    "Result",
    "Status",
    "Budget used",
    "Credit",
    "Corrections",
    "Data gaps",
)
"""The summary table's headers, one per :func:`display_rows` value."""


def last_complete_month(as_of: datetime, time_zone: str) -> str:
    """``YYYY-MM`` of the last calendar month of ``time_zone`` that ended at or before ``as_of``."""
    local = as_of.astimezone(ZoneInfo(time_zone))
    index = local.year * 12 + local.month - 2
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_days(month: str) -> tuple[date, date]:
    """The first day of month ``YYYY-MM`` and of the month after it."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ValueError(f"month {month!r}: expected YYYY-MM") from None
    return first, date(first.year + first.month // 12, first.month % 12 + 1, 1)


def month_span(month: str, time_zone: str) -> tuple[datetime, datetime]:
    """The UTC instants at which local month ``YYYY-MM`` starts and ends (exclusive)."""
    first, following = month_days(month)
    zone = ZoneInfo(time_zone)
    return local_midnight(first, zone), local_midnight(following, zone)


def monthly_rows(
    objectives: pl.DataFrame, windows: pl.DataFrame, credits: pl.DataFrame,
    corrections: pl.DataFrame, contract_id: str, month: str,
) -> pl.DataFrame:  # fmt: skip
    """The summary rows of one contract's month (module docstring).

    Inputs: rows of ``sla.objectives``, ``sla.windows``, ``sla.credits`` and
    ``sla.corrections`` (any contracts). Output: MONTHLY_SCHEMA, sorted by objective and
    window_start.
    """
    mine = objectives.filter(pl.col("contract_id") == contract_id)
    if mine.is_empty():
        raise ValueError(f"contract {contract_id!r} has no objectives in the warehouse")
    zone = mine["time_zone"][0]
    end_lit = pl.lit(month_span(month, zone)[1], UTC_US)
    # The window's last day, its days running from its anchor's time of day (local midnight
    # without an anchor): the local wall-clock end, less that time, is the day after it.
    anchor = pl.col("window_anchor")
    last_day = (
        pl.col("window_end").dt.convert_time_zone(zone).dt.replace_time_zone(None)
        - (anchor - anchor.dt.truncate("1d")).fill_null(timedelta(0))
    ).dt.date() - timedelta(days=1)
    first, following = month_days(month)
    ends_in_month = (last_day >= first) & (last_day < following)
    in_month = (
        windows.lazy()
        .join(mine.lazy().select(*KEYS, "window_kind", "window_anchor"), on=KEYS)
        .filter(
            pl.when(pl.col("window_kind") == "rolling")
            .then(pl.col("window_end") == end_lit)
            .otherwise(ends_in_month)
        )
    )
    applied = (
        in_month.select(*KEYS, "window_label", "window_start", "window_end")
        .join(corrections.lazy().select(*KEYS, "corrected_from", "corrected_until"), on=KEYS)
        .filter(
            pl.col("corrected_from") < pl.col("window_end"),
            pl.col("corrected_until") > pl.col("window_start"),
        )
        .group_by(*KEYS, "window_label")
        .agg(corrections_applied=pl.len())
    )
    owed = (
        owed_credits(credits)
        .lazy()
        .select(*KEYS, "window_label", "contract_window", "credit_pct", "credit_amount", "capped")
    )
    return (
        mine.lazy()
        .select(*KEYS, "title", "service", "judged_on", "currency", pl.col("target").alias("t0"))
        .join(in_month.drop("window_kind", "window_anchor"), on=KEYS, how="left")
        .join(owed, on=[*KEYS, "window_label"], how="left")
        .join(applied, on=[*KEYS, "window_label"], how="left")
        .with_columns(
            pl.col("title").fill_null(pl.col("objective_id")),
            pl.coalesce("target", "t0").alias("target"),
            budget_used=pl.when(pl.col("error_budget") > 0).then(
                pl.col("budget_consumed") / pl.col("error_budget")
            ),
            corrections_applied=pl.when(pl.col("window_label").is_not_null()).then(
                pl.col("corrections_applied").fill_null(0)
            ),
            data_gap=pl.when(pl.col("window_label").is_not_null()).then(
                pl.col("status").is_in(DATA_GAP_STATUSES)
                | (pl.col("missing_minutes").fill_null(0) > 0)
            ),
        )
        .select(list(MONTHLY_SCHEMA))
        .sort("objective_id", "window_start", nulls_last=True)
        .collect(engine="in-memory")  # the engine of eager steps: one contract's rows
        .cast(MONTHLY_SCHEMA)  # type: ignore[arg-type]
    )


def monthly_corrections(corrections: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The corrections applied to the summary's windows, one row per correction.

    Inputs: ``sla.corrections`` rows, :func:`monthly_rows`. Output: correction, reason, author,
    recorded, corrected_from, corrected_until, objectives (list of objective ids, sorted);
    sorted by correction.
    """
    windows = rows.filter(pl.col("window_label").is_not_null()).select(
        *KEYS, "window_start", "window_end"
    )
    return (
        corrections.join(windows, on=KEYS)
        .filter(
            pl.col("corrected_from") < pl.col("window_end"),
            pl.col("corrected_until") > pl.col("window_start"),
        )
        .group_by("correction", "reason", "author", "recorded", "corrected_from", "corrected_until")
        .agg(pl.col("objective_id").unique().sort().alias("objectives"))
        .sort("correction")
    )


@dataclass(frozen=True)
class MonthlyTotals:
    objectives: int
    windows: int
    met: int
    breached: int
    data_gaps: int
    corrections: int
    credits: dict[str, float]
    """Credit owed per currency, summed over the rows (each already capped)."""


def monthly_totals(rows: pl.DataFrame, corrections: pl.DataFrame) -> MonthlyTotals:
    """Totals of :func:`monthly_rows` and :func:`monthly_corrections`."""
    windowed = rows.filter(pl.col("window_label").is_not_null())
    owed = (
        windowed.filter(pl.col("credit_amount").is_not_null())
        .group_by("currency")
        .agg(pl.col("credit_amount").sum())
        .sort("currency")
    )
    return MonthlyTotals(
        objectives=rows["objective_id"].n_unique(),
        windows=windowed.height,
        met=windowed.filter(pl.col("status") == "met").height,
        breached=windowed.filter(pl.col("status") == "breached").height,
        data_gaps=windowed.filter(pl.col("data_gap")).height,
        corrections=corrections.height,
        credits=dict(owed.rows()),
    )


def display_rows(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """The summary rows as the page shows them: one dict per row with ``cells`` (the texts under
    MONTHLY_COLUMNS, in order) and ``status`` (the status key, for the badge colour)."""
    shown = []
    for row in rows.iter_rows(named=True):
        judged_on, has_window = row["judged_on"], row["window_label"] is not None
        credit = NO_VALUE
        if row["credit_amount"] is not None:
            credit = format_amount(row["credit_amount"], row["currency"])
            if row["credit_amount"] > 0:
                credit += f" ({format_share(row['credit_pct'], 1)} of fee"
                credit += ", capped)" if row["capped"] else ")"
        gaps = []
        if row["status"] in DATA_GAP_STATUSES:
            gaps.append(status_style(row["status"]).label.lower())
        if row["missing_minutes"]:
            gaps.append(
                f"{format_number(row['missing_minutes'])} min without evidence "
                f"(coverage {format_share(row['coverage'], 1)})"
            )
        corrections = "none" if has_window else NO_VALUE
        if row["corrections_applied"]:
            corrections = f"{row['corrections_applied']}"
            if row["corrected_minutes"]:
                corrections += f" ({format_number(row['corrected_minutes'])} min)"
        style = status_style(row["status"])
        shown.append(
            {
                "status": row["status"] if has_window else None,
                "cells": [
                    row["title"],
                    (row["window_label"] + ("" if row["is_complete"] else " (in progress)"))
                    if has_window
                    else "no window ends in this month",
                    format_target(row["target"], judged_on),
                    format_window_measure(row, judged_on) if has_window else NO_VALUE,
                    f"{style.symbol} {style.label}" if has_window else NO_VALUE,
                    format_share(row["budget_used"], 1),
                    credit,
                    corrections,
                    "; ".join(gaps) if gaps else ("none" if has_window else NO_VALUE),
                ],
            }
        )
    return shown


@dataclass(frozen=True)
class MonthlySummary:
    contract_id: str
    month: str
    html: Path
    csv: Path
    totals: MonthlyTotals


def write_monthly_summary(
    out_dir: Path, contract: Contract, month: str, tables: dict[str, pl.DataFrame]
) -> MonthlySummary:
    """Write ``<contract id>-<month>.html`` and ``.csv`` into ``out_dir``.

    ``tables``: rows of ``sla.objectives``, ``sla.windows``, ``sla.credits`` and
    ``sla.corrections`` keyed objectives, windows, credits, corrections.
    """
    rows = monthly_rows(
        tables["objectives"], tables["windows"], tables["credits"], tables["corrections"],
        contract.id, month,
    )  # fmt: skip
    corrections = monthly_corrections(
        tables["corrections"].filter(pl.col("contract_id") == contract.id), rows
    )
    totals = monthly_totals(rows, corrections)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / f"{contract.id}-{month}.html"
    csv = out_dir / f"{contract.id}-{month}.csv"
    write_csv(rows, csv)
    start, end = month_span(month, contract.time_zone)
    windows = tables["windows"].filter(pl.col("contract_id") == contract.id)
    html.write_text(
        template_environment()
        .get_template("monthly.html.j2")
        .render(
            contract=contract,
            month=month,
            period=(
                format_local_time(start, contract.time_zone),
                format_local_time(end, contract.time_zone),
            ),
            as_of=format_local_time(windows["as_of"].max(), contract.time_zone),
            monthly_fee=format_amount(contract.monthly_fee, contract.currency),
            credit_cap=format_share(contract.credit_cap, 0) if contract.credit_cap else None,
            columns=MONTHLY_COLUMNS,
            rows=display_rows(rows),
            totals=totals,
            credits_total=[format_amount(v, c) for c, v in totals.credits.items()],
            corrections=corrections.to_dicts(),
            csv_name=csv.name,
        ),
        encoding="utf-8",
    )
    return MonthlySummary(contract.id, month, html, csv, totals)


MONTHLY_TABLES = {
    "objectives": "SELECT * FROM sla.objectives",
    "windows": "SELECT * FROM sla.windows",
    "credits": "SELECT * FROM sla.credits",
    "corrections": "SELECT * FROM sla.corrections",
}


def write_monthly_summaries(
    con: duckdb.DuckDBPyConnection,
    reports_dir: Path,
    contracts: Sequence[Contract],
    month: str | None = None,
) -> list[MonthlySummary]:
    """The summary of every contract with objectives in the warehouse, for ``month`` or each
    contract's last complete month at the warehouse's as_of, under ``reports_dir/monthly``."""
    tables = {name: query(con, sql) for name, sql in MONTHLY_TABLES.items()}
    known = set(tables["objectives"]["contract_id"].to_list())
    as_of = tables["windows"]["as_of"].max()
    summaries = []
    for contract in contracts:
        if contract.id not in known or (month is None and as_of is None):
            continue
        chosen = month or last_complete_month(as_of, contract.time_zone)
        summaries.append(write_monthly_summary(reports_dir / MONTHLY_DIR, contract, chosen, tables))
    return summaries
