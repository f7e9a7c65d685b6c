"""The objective page (``objective-<contract>~<objective>.html``): the drill-down of one
objective — its windows, charts (windows, ticket times, RPO exposure, budget burn-down with the
forecast cone, burn rates, timeline), the items of its current window, credits, root-cause hints,
review recommendations and what changed — and the helpers every page shares (rows of a
contract or objective, a chart's HTML, changes with their pages)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import plotly
import polars as pl
from markupsafe import Markup

from pipelines.contracts.schema import SRE_WORKBOOK_RULES, Contract, Objective
from pipelines.contracts.sli import statistic_percentile
from pipelines.contracts.units import format_duration
from pipelines.report.changes import PreviousReport
from pipelines.report.figures.budget import budget_burndown, budget_burndown_figure, forecast_cone
from pipelines.report.figures.burn import burn_rate_figure, hourly_burn_rates
from pipelines.report.figures.style import Figure, figure_html
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
from pipelines.sla.objectives import exclusion_intervals, utc_literal
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
    of_objective: dict[str, pl.DataFrame],
    previous: PreviousReport,
    charts_drawn: ChartCache | None = None,
) -> dict[str, Any]:
    """Everything ``objective.html.j2`` shows for one objective: its summary row, windows, charts
    (name, HTML fragment or None for "no data yet", caption, method text), timeline events,
    credits, root-cause hints, review recommendations, changes since the previous report and,
    for ticket objectives, its figures per priority, its unmatched tickets per priority and the
    rejected lines of its incomplete tickets. ``of_objective``: its rows of every table
    (RowsBy). With ``charts_drawn``, charts whose inputs are those of the previous report are
    taken from it instead of being drawn again, and the new ones are kept for the next."""
    zone = contract.time_zone
    anchor = row["objective_id"]
    page = objective_page_name(row["contract_id"], anchor)
    inputs = chart_inputs(contract, row, of_objective) if charts_drawn is not None else ""
    drawn_before = charts_drawn.charts(page, inputs) if charts_drawn is not None else {}
    drawn: dict[str, str] = {}

    def draw(name: str, figure: Callable[[], Figure]) -> Markup:
        """The chart ``name`` as drawn by the previous report, or ``figure()`` drawn now."""
        html = drawn_before.get(name)
        drawn[name] = html if html is not None else figure_html(figure(), f"{anchor}-{name}")
        return Markup(drawn[name])

    judged_on = row["judged_on"]
    windows = of_objective["windows"].sort("window_start", descending=True)
    shown = windows_drawn(windows)
    caption = _WINDOW_CAPTIONS[judged_on].format(statistic=row["statistic"])
    if shown.height < windows.height:
        caption += (
            " Windows without data before or after these are left out of the chart"
            f" ({windows.height - shown.height}; see the table below)."
        )
    charts: list[dict[str, Any]] = [
        {
            "name": "windows",
            "html": draw("windows", lambda: window_figure(shown, zone, judged_on, row["statistic"]))
            if not shown.is_empty()
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
                "html": draw(
                    "tickets",
                    lambda: ticket_times_figure(
                        timers, row["target"] if judged_on == "duration" else None
                    ),
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
                "html": draw(
                    "exposure",
                    lambda: exposure_figure(of_objective["outcomes"], row["target"], zone),
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
            pl.col("slice_start") >= utc_literal(row["window_start"]),
            pl.col("slice_start") < utc_literal(row["window_end"]),
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
                    "html": draw(
                        "budget",
                        lambda: budget_burndown_figure(
                            burndown, row["window_start"], row["window_end"], zone, cone
                        ),
                    ),
                    "caption": "Error budget of the current window: share left (top, exhausted "
                    "at the dashed 0 line) and cumulative bad against the budget (bottom). "
                    + _cone_caption(cone),
                    "method": None,
                }
            )
    if not of_objective["burn_rates"].is_empty():
        charts.append(
            {
                "name": "burn",
                "html": draw(
                    "burn",
                    lambda: burn_rate_figure(
                        hourly_burn_rates(of_objective["burn_rates"], BURN_RATE_DAYS),
                        of_objective["alerts"],
                        _thresholds(contract, anchor),
                        zone,
                        of_objective["anomalies"].filter(pl.col("member") == row["service"]),
                    ),
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
                "html": draw("timeline", lambda: timeline_figure(timeline, start, end, zone)),
                "caption": f"What happened from {format_local_time(start, zone)} to "
                f"{format_local_time(end, zone)}: burn-rate alert episodes, security incidents, "
                "breached tickets, "
                f"anomalies of {row['service']}'s own series (scored over the last "
                f"{BURN_RATE_DAYS} days), planned maintenance and corrections (listed under "
                "Timeline below).",
                "method": None,
            }
        )
    if charts_drawn is not None and drawn != drawn_before:
        charts_drawn.keep(page, inputs, drawn)
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


class RowsBy:
    """Every table's rows split once by ``column`` (contract_id or objective_id), so a page
    takes its rows by lookup rather than by a filter over the whole table. Tables without the
    column (the per-service ones) are shared whole."""

    def __init__(self, tables: dict[str, pl.DataFrame], column: str) -> None:
        self._tables = tables
        self._parts = {
            name: {key: part for (key,), part in frame.partition_by(column, as_dict=True).items()}
            for name, frame in tables.items()
            if column in frame.columns
        }
        self._none = {name: tables[name].clear() for name in self._parts}

    def of(self, value: str) -> dict[str, pl.DataFrame]:
        """Each table's rows whose column is ``value`` (rows_of with one value)."""
        return {
            name: self._parts[name].get(value, self._none[name]) if name in self._parts else frame
            for name, frame in self._tables.items()
        }


CHART_TABLES = (
    "windows",
    "ticket_timers",
    "outcomes",
    "slices",
    "breach_risk",
    "forecasts",
    "burn_rates",
    "alerts",
    "anomalies",
    "corrections",
)
"""The tables an objective's charts are drawn from."""

_CHART_CODE = hashlib.sha256(
    b"".join(
        path.read_bytes()
        for path in sorted([Path(__file__), *Path(__file__).with_name("figures").glob("*.py")])
    )
    + f"{plotly.__version__} {pl.__version__}".encode()
).hexdigest()
"""The code that draws the charts: a new version draws them all again."""


def chart_inputs(contract: Contract, row: dict[str, Any], tables: dict[str, pl.DataFrame]) -> str:
    """A digest of everything an objective's charts are drawn from: the chart code, the
    contract but for its other objectives, the objective itself, its summary row and its rows of
    CHART_TABLES (``tables``). (No page's charts show another objective: a change to one redraws
    only its own, and a contract's pages do not each serialise all of its objectives.)"""
    digest = hashlib.sha256(_CHART_CODE.encode())
    digest.update(contract.model_dump_json(exclude={"objectives"}).encode())
    objective = _objective(contract, row["objective_id"])
    digest.update(objective.model_dump_json().encode() if objective else b"null")
    digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    for name in CHART_TABLES:
        frame = tables[name]
        digest.update(f"{name} {frame.schema}".encode())
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()


def chart_digest(name: str, frame: pl.DataFrame) -> str:
    """A digest of a chart drawn from one frame (a page's budget overview): the chart code, its
    name and the frame's rows."""
    digest = hashlib.sha256(f"{_CHART_CODE} {name} {frame.schema}".encode())
    digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()


class ChartCache:
    """The charts of each objective page as last drawn, with a digest of their inputs
    (chart_inputs), one JSON file per page in ``folder``: ``{"inputs": digest, "charts": {name:
    HTML}}``. A page whose inputs did not change takes its charts from here; deleting the
    folder has every chart drawn again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def charts(self, page: str, inputs: str) -> dict[str, str]:
        """The charts kept for ``page`` when they were drawn from ``inputs``, else none (also
        when the file is unreadable: it is then rewritten)."""
        try:
            kept = json.loads((self.folder / f"{page}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return kept["charts"] if kept.get("inputs") == inputs else {}

    def keep(self, page: str, inputs: str, charts: dict[str, str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{page}.json"
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"inputs": inputs, "charts": charts}), encoding="utf-8")
        partial.replace(path)

    def keep_only(self, pages: Iterable[str]) -> None:
        """Forget the charts of every page not in ``pages`` (objectives no longer reported)."""
        wanted = {f"{page}.json" for page in pages}
        for path in self.folder.glob("*.json"):
            if path.name not in wanted:
                path.unlink()


def rows_of(frame: pl.DataFrame, column: str, values: list[str]) -> pl.DataFrame:
    """The rows of ``frame`` whose ``column`` is one of ``values``; all of them when the frame has
    no such column (the per-service tables)."""
    return frame.filter(pl.col(column).is_in(values)) if column in frame.columns else frame


def _method(objective: dict[str, Any]) -> str | None:
    """How the objective's window statistic is computed, when it is more than a count or mean:
    survey intervals, percentiles from histogram buckets, percentiles from items."""
    statistic = objective["statistic"] or ""
    if objective["measure"] in ("csat", "nps"):
        return INTERVAL_METHOD
    if statistic == "median" or statistic_percentile(statistic) is not None:
        return HISTOGRAM_METHOD if objective["sli_method"] == "histogram" else PERCENTILE_METHOD
    return None


def _objective(contract: Contract, objective_id: str) -> Objective | None:
    """The contract's objective of that id, None when it has none."""
    return next((o for o in contract.objectives if o.id == objective_id), None)


def _thresholds(contract: Contract, objective_id: str) -> list[tuple[str, float]]:
    """The burn-rate alert thresholds of an objective, labelled with their look-backs."""
    objective = _objective(contract, objective_id)
    rules = objective.alerting.burn_rate_rules if objective else SRE_WORKBOOK_RULES
    return [
        (
            f"{rule.severity}: {format_duration(rule.long)} & {format_duration(rule.short)}",
            rule.burn_rate,
        )
        for rule in rules
    ]
