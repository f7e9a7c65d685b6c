"""The objective page (``objective-<contract>~<objective>.html``): the drill-down of one
objective — its windows, charts (windows, ticket times, RPO exposure, budget burn-down with the
forecast cone, burn rates, timeline), the items of its current window, credits, root-cause hints,
review recommendations and what changed — and the helpers every page shares (rows of a
contract or objective, a chart's HTML, changes with their pages)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl
from markupsafe import Markup

from pipelines.contracts.schema import SRE_WORKBOOK_RULES, Contract, Objective
from pipelines.contracts.sli import statistic_percentile
from pipelines.contracts.units import format_duration
from pipelines.report.changes import PreviousReport
from pipelines.report.figures.budget import budget_burndown, budget_burndown_figure, forecast_cone
from pipelines.report.figures.burn import burn_rate_figure, hourly_burn_rates
from pipelines.report.figures.style import figure_html
from pipelines.report.figures.timeline import timeline_events, timeline_figure
from pipelines.report.figures.windows import (
    exposure_figure,
    ticket_times_figure,
    window_figure,
    windows_drawn,
)
from pipelines.report.formatting import (
    budget_sentence,
    coverage_warning,
    credit_forecast_sentence,
    format_local_time,
)
from pipelines.report.items import outcome_items, ticket_items
from pipelines.report.paths import CREDITS_LEDGER, objective_items_name, objective_page_name
from pipelines.report.summary import (
    budget_exhausted_since,
    ticket_figures,
    unmatched_priorities,
)
from pipelines.sla.intervals import INTERVAL_METHOD
from pipelines.sla.objectives import exclusion_intervals
from pipelines.sla.outcomes import PERCENTILE_METHOD
from pipelines.sla.samples import HISTOGRAM_METHOD

BURN_RATE_DAYS = 14
EXPOSURE_DAYS = 90
"""Days of RPO exposure drawn (the asset reads no more of ``sla.outcomes``)."""
TICKET_KINDS = ("resolution_time", "response_time")
"""Objectives judged on ticket timers (``sla.ticket_timers``); the other item-judged ones are in
``sla.outcomes``."""
TIMELINE_DAYS = BURN_RATE_DAYS
"""An objective's timeline covers its current window and at least this many days before the
as-of time (the days of anomalies read)."""

_WINDOW_CAPTIONS = {
    "share": "Attainment of each window against the target; the label on each bar gives the "
    "status.",
    "duration": "The {statistic} of each window in hours against the target (dashed step line); "
    "the label on each bar gives the status.",
    "points": "NPS of each window with its confidence interval against the target (dashed step "
    "line); the label on each bar gives the status.",
}


def changes_with_pages(changes: pl.DataFrame) -> list[dict[str, Any]]:
    """The changes as dicts, each with the page of its objective (None once it is removed)."""
    return [
        {
            **change,
            "page": objective_page_name(change["contract_id"], change["objective_id"])
            if change["change"] != "removed_objective"
            else None,
        }
        for change in changes.to_dicts()
    ]


def objective_context(
    contract: Contract,
    row: dict[str, Any],
    tables: dict[str, pl.DataFrame],
    previous: PreviousReport,
) -> dict[str, Any]:
    """Everything ``objective.html.j2`` shows for one objective: its summary row, windows, charts
    (name, HTML fragment or None for "no data yet", caption, method text), timeline events,
    credits, root-cause hints, review recommendations, changes since the previous report and,
    for ticket objectives, its figures per priority, its unmatched tickets per priority and the
    rejected lines of its incomplete tickets. ``tables``: its contract's rows."""
    of_objective = {
        name: rows_of(frame, "objective_id", [row["objective_id"]])
        for name, frame in tables.items()
    }
    zone = contract.time_zone
    anchor = row["objective_id"]
    judged_on = row["judged_on"]
    windows = of_objective["windows"].sort("window_start", descending=True)
    drawn = windows_drawn(windows)
    caption = _WINDOW_CAPTIONS[judged_on].format(statistic=row["statistic"])
    if drawn.height < windows.height:
        caption += (
            " Windows without data before or after these are left out of the chart"
            f" ({windows.height - drawn.height}; see the table below)."
        )
    charts: list[dict[str, Any]] = [
        {
            "name": "windows",
            "html": chart(
                window_figure(drawn, zone, judged_on, row["statistic"]),
                f"{anchor}-windows",
            )
            if not drawn.is_empty()
            else None,
            "caption": caption,
            "method": _method(row),
        }
    ]
    timers = of_objective["ticket_timers"].filter(~pl.col("unmatched"))  # the counted ones
    if not timers.is_empty():
        charts.append(
            {
                "name": "tickets",
                "html": chart(
                    ticket_times_figure(timers, row["target"] if judged_on == "duration" else None),
                    f"{anchor}-tickets",
                ),
                "caption": "Business resolution time of every completed ticket per priority "
                "(box: quartiles and median; points: tickets; log scale) against the priority's "
                "target.",
                "method": None,
            }
        )
    if row["measure"] == "rpo" and not of_objective["outcomes"].is_empty():
        charts.append(
            {
                "name": "exposure",
                "html": chart(
                    exposure_figure(of_objective["outcomes"], row["target"], zone),
                    f"{anchor}-exposure",
                ),
                "caption": f"Data-loss exposure over the last {EXPOSURE_DAYS} days of backups: "
                "time since the last good backup, reset by each good backup; a window's RPO is "
                "its highest point.",
                "method": None,
            }
        )
    slices = of_objective["slices"]
    exhausted_since = None
    if row["window_start"] is not None:
        slices = slices.filter(
            pl.col("slice_start") >= row["window_start"], pl.col("slice_start") < row["window_end"]
        )
        if not slices.is_empty():
            burndown = budget_burndown(
                slices, row["target"], timedelta(seconds=row["slice_seconds"])
            )
            exhausted_since = budget_exhausted_since(burndown)
            predictions = of_objective["breach_risk"].filter(
                pl.col("window_label") == row["window_label"]
            )
            cone = forecast_cone(
                of_objective["forecasts"],
                row,
                predictions.row(0, named=True) if predictions.height else None,
            )
            charts.append(
                {
                    "name": "budget",
                    "html": chart(
                        budget_burndown_figure(
                            burndown, row["window_start"], row["window_end"], zone, cone
                        ),
                        f"{anchor}-budget",
                    ),
                    "caption": "Error budget of the current window: share left (top, exhausted "
                    "at the dashed 0 line) and cumulative bad against the budget (bottom). "
                    + _cone_caption(cone),
                    "method": None,
                }
            )
    if not of_objective["burn_rates"].is_empty():
        hourly = hourly_burn_rates(of_objective["burn_rates"], BURN_RATE_DAYS)
        charts.append(
            {
                "name": "burn",
                "html": chart(
                    burn_rate_figure(
                        hourly,
                        of_objective["alerts"],
                        _thresholds(contract, anchor),
                        zone,
                        of_objective["anomalies"].filter(pl.col("member") == row["service"]),
                    ),
                    f"{anchor}-burn",
                ),
                "caption": f"Burn rates of the last {BURN_RATE_DAYS} days (hourly maxima) "
                "against the alert thresholds; shaded spans are alert episodes, triangles at "
                f"the foot are anomalies of {row['service']}'s own 5-minute series.",
                "method": None,
            }
        )
    events = _timeline(contract, row, of_objective)
    if events is not None and not events[2].is_empty():
        start, end, timeline = events
        charts.append(
            {
                "name": "timeline",
                "html": chart(timeline_figure(timeline, start, end, zone), f"{anchor}-timeline"),
                "caption": f"What happened from {format_local_time(start, zone)} to "
                f"{format_local_time(end, zone)}: burn-rate alert episodes, security incidents, "
                "breached tickets, "
                f"anomalies of {row['service']}'s own series (scored over the last "
                f"{BURN_RATE_DAYS} days), planned maintenance and corrections (listed under "
                "Timeline below).",
                "method": None,
            }
        )
    return {
        "contract": contract,
        "objective": {**row, "anchor": anchor},
        "as_of": row["as_of"],
        "previous": previous,
        "changes": changes_with_pages(of_objective["changes"]),
        "windows": windows.to_dicts(),
        "charts": charts,
        "timeline": {"start": events[0], "end": events[1], "events": events[2].to_dicts()}
        if events is not None
        else None,
        "tickets": ticket_figures(timers).to_dicts() if not timers.is_empty() else [],
        "items": _items(row, of_objective["outcomes"], timers, of_objective["ticket_descriptions"]),
        "unmatched": unmatched_priorities(of_objective["ticket_timers"]).to_dicts(),
        "ticket_rejects": of_objective["ticket_rejects"].to_dicts(),
        "root_causes": of_objective["root_causes"].to_dicts(),
        "recommendations": of_objective["recommendations"].to_dicts(),
        "credits": of_objective["credits"].sort("window_start", descending=True).to_dicts(),
        "credit_forecasts": [
            credit_forecast_sentence(forecast)
            for forecast in of_objective["credit_forecasts"].iter_rows(named=True)
        ],
        "budget_text": budget_sentence(row, zone, exhausted_since),
        "coverage_warning": coverage_warning(row["coverage"]),
        "corrections": of_objective["corrections"].sort("corrected_from").to_dicts(),
        "credits_ledger": CREDITS_LEDGER,
    }


def _items(
    row: dict[str, Any], outcomes: pl.DataFrame, timers: pl.DataFrame, descriptions: pl.DataFrame
) -> dict[str, Any] | None:
    """The items of an item-judged objective's current window (items.ITEMS_SCHEMA ``frame``
    and its ``rows``) and the ``csv`` they are written to; None for other objectives and before
    the first window."""
    start, end = row["window_start"], row["window_end"]
    if start is None:
        return None
    if row["sli_kind"] in TICKET_KINDS:
        frame = ticket_items(timers, descriptions, start, end)
    elif row["sli_kind"] in ("security_response", "backup"):
        frame = outcome_items(outcomes, start, end)
    else:
        return None
    return {
        "frame": frame,
        "rows": frame.to_dicts(),
        "csv": objective_items_name(row["contract_id"], row["objective_id"]),
        "tickets": row["sli_kind"] in TICKET_KINDS,
    }


def _cone_caption(cone: pl.DataFrame) -> str:
    """What the burn-down says about its forecast."""
    if cone.is_empty():
        return "No forecast of this window yet."
    if cone["low"].is_null().all():
        return "Dotted: the budget expected to be left to the window's end (no breach-risk band)."
    return (
        "Dotted: the budget expected to be left to the window's end from the volume and "
        "bad-ratio forecasts; shaded: its 10–90 % band, which ends at the simulated final "
        "attainment's 10th and 90th percentiles."
    )


def _timeline(
    contract: Contract, row: dict[str, Any], tables: dict[str, pl.DataFrame]
) -> tuple[datetime, datetime, pl.DataFrame] | None:
    """The period and events (timeline_events) of an objective's timeline: its current
    window and at least the last :data:`TIMELINE_DAYS` days to the as-of time, or to the
    window's end for the maintenance ahead. None before the objective has any window."""
    as_of = row["as_of"] or tables["windows"]["as_of"].max()
    if as_of is None:
        return None
    start = as_of - timedelta(days=TIMELINE_DAYS)
    if row["window_start"] is not None:
        start = min(start, row["window_start"])
    end = max(as_of, row["window_end"] or as_of)
    maintenance = exclusion_intervals([contract], start, end).filter(
        pl.col("service") == row["service"]
    )
    outcomes = tables["outcomes"]
    events = timeline_events(
        tables["alerts"],
        outcomes if row["sli_kind"] == "security_response" else outcomes.clear(),
        tables["ticket_timers"],
        tables["anomalies"].filter(pl.col("member") == row["service"]),
        maintenance,
        tables["corrections"],
        start,
        end,
    )
    return start, end, events


def rows_of(frame: pl.DataFrame, column: str, values: list[str]) -> pl.DataFrame:
    """The rows of ``frame`` whose ``column`` is one of ``values``; all of them when the frame has
    no such column (the per-service tables)."""
    return frame.filter(pl.col(column).is_in(values)) if column in frame.columns else frame


def chart(figure: Any, div_id: str) -> Markup:
    return Markup(figure_html(figure, div_id))


def _method(objective: dict[str, Any]) -> str | None:
    """How the objective's window statistic is computed, when it is more than a count or mean:
    survey intervals, percentiles from histogram buckets, percentiles from items."""
    statistic = objective["statistic"] or ""
    if objective["measure"] in ("csat", "nps"):
        return INTERVAL_METHOD
    if statistic == "median" or statistic_percentile(statistic) is not None:
        return HISTOGRAM_METHOD if objective["sli_method"] == "histogram" else PERCENTILE_METHOD
    return None


def _thresholds(contract: Contract, objective_id: str) -> list[tuple[str, float]]:
    """The burn-rate alert thresholds of an objective, labelled with their look-backs."""
    objective: Objective | None = next(
        (o for o in contract.objectives if o.id == objective_id), None
    )
    rules = objective.alerting.burn_rate_rules if objective else SRE_WORKBOOK_RULES
    return [
        (
            f"{rule.severity}: {format_duration(rule.long)} & {format_duration(rule.short)}",
            rule.burn_rate,
        )
        for rule in rules
    ]
