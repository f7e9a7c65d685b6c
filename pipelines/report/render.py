"""The HTML reports: ``index.html`` (the portfolio, contracts most urgent first),
``contract-<id>.html`` per contract and ``objective-<contract>~<objective>.html`` per objective
(the drill-down: windows, budget burn-down with the forecast cone, timeline, credits, root-cause
hints, review recommendations), each saying what changed since the previous report (from the
snapshot it left beside the pages, see changes.py).

Pages are self-contained: styles are inlined, charts are plotly fragments drawing with the
``plotly.min.js`` written once beside the pages (taken from the installed plotly package), and no
page refers to anything on the network. Every number shown comes from the warehouse frames; all
text is HTML-escaped by Jinja2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import plotly.offline
import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipelines.contracts.schema import SRE_WORKBOOK_RULES, Contract, Exclusion, Objective
from pipelines.contracts.sli import statistic_percentile
from pipelines.contracts.units import format_duration
from pipelines.ingest.summary import (
    IngestRecords,
    failed_files,
    source_summary,
    top_reasons,
)
from pipelines.report.changes import (
    SNAPSHOT_FILE,
    changes_since,
    read_snapshot,
    snapshot_document,
    snapshot_rows,
)
from pipelines.report.exports import write_csv
from pipelines.report.figures.budget import budget_burndown, budget_burndown_figure, forecast_cone
from pipelines.report.figures.burn import burn_rate_figure, hourly_burn_rates
from pipelines.report.figures.overview import budget_overview_figure
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
    format_amount,
    format_attainment,
    format_burn_rate,
    format_elapsed,
    format_local_time,
    format_number,
    format_seconds,
    format_share,
    format_target,
    format_window_measure,
    recommendation_label,
    status_style,
)
from pipelines.report.items import outcome_items, ticket_items
from pipelines.report.paths import objective_items_name, objective_page_name
from pipelines.report.review import review_recommendations
from pipelines.report.summary import (
    budget_exhausted_since,
    capacity_running_out,
    contract_order,
    corrections_applied,
    credits_ledger,
    credits_owed,
    objective_summary,
    root_cause_hints,
    ticket_figures,
    unmatched_priorities,
)
from pipelines.sla.credits import credit_forecasts
from pipelines.sla.intervals import INTERVAL_METHOD
from pipelines.sla.objectives import credit_tiers_frame, exclusion_intervals
from pipelines.sla.outcomes import PERCENTILE_METHOD
from pipelines.sla.samples import HISTOGRAM_METHOD

REPORT_TABLES = (
    "objectives",
    "windows",
    "burn_rates",
    "alerts",
    "credits",
    "slices",
    "corrections",
    "outcomes",
    "ticket_timers",
    "ticket_rejects",
    "breach_risk",
    "forecasts",
    "root_causes",
    "anomalies",
    "capacity",
)
"""The ``sla.*`` and ``predict.*`` tables a report reads, by name without schema. Those without a
``contract_id`` (anomalies and capacity, per service) are shared by every contract."""

TEMPLATES_DIR = Path(__file__).parent / "templates"
REJECTS_PAGE = "rejects.html"
REJECTS_PER_FILE = 200
"""Rejects listed per file on the rejects page (the first by line; the page says how many more)."""
PLOTLY_JS = "plotly.min.js"
CREDITS_LEDGER = "credits-ledger.csv"
BURN_RATE_DAYS = 14
ROOT_CAUSE_EPISODES = 5
"""Burn episodes per objective shown with root-cause hints (the latest ones)."""
ROOT_CAUSE_HINTS = 3
"""Hints shown per burn episode (the best-ranked series)."""
CAPACITY_DAYS = 90
"""The portfolio lists the services whose capacity may run out within this many days."""
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


@dataclass(frozen=True)
class ReportSet:
    """The pages written and the portfolio's headline numbers."""

    index: Path
    contract_pages: dict[str, Path]
    objective_pages: dict[tuple[str, str], Path]
    """Keyed by (contract_id, objective_id)."""
    plotly_js: Path
    credits_ledger: Path
    """One CSV row per contract × objective × window of ``sla.credits`` (credits_ledger)."""
    snapshot: Path
    """This report's snapshot, which the next report compares itself with."""
    contracts: int
    objectives: int
    breached_windows: int
    objectives_at_risk: int
    objectives_breaching: int
    credits_total: dict[str, float]
    """Credits owed over the complete windows in ``sla.credits``, per currency."""
    changes: int
    """Changes since the previous report (0 for the first report)."""


@dataclass(frozen=True)
class PreviousReport:
    """What the previous report's snapshot said: when it was generated (None: no readable
    snapshot), why it could not be read (None when it could or when there was none), and the
    changes since (changes.CHANGES_SCHEMA rows; empty for the first report)."""

    generated_at: datetime | None
    problem: str | None
    changes: pl.DataFrame


def template_environment() -> Environment:
    """The Jinja environment of every report template, with the formatting filters."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        share=format_share,
        attainment=format_attainment,
        number=format_number,
        amount=format_amount,
        burn_rate=format_burn_rate,
        local_time=format_local_time,
        elapsed=format_elapsed,
        seconds=format_seconds,
        target=format_target,
        status_style=status_style,
        recommendation=recommendation_label,
    )
    environment.globals.update(
        measure=format_window_measure,
        objective_page=objective_page_name,
        coverage_warning_of=coverage_warning,
    )
    return environment


def render_reports(
    out_dir: Path,
    contracts: list[Contract],
    tables: dict[str, pl.DataFrame],
    generated_at: datetime | None = None,
    evidence: IngestRecords | None = None,
) -> ReportSet:
    """Write the portfolio, one page per contract and per objective, the credits ledger CSV and
    the snapshot (:data:`~pipelines.report.changes.SNAPSHOT_FILE`) into ``out_dir``.

    ``tables`` maps each name of :data:`REPORT_TABLES` to that table's rows (any subset of rows:
    the pages show the current window's slices, the last :data:`BURN_RATE_DAYS` days of burn
    rates and every ``anomalies`` row given, so pass only the points flagged anomalous). Rows of
    contracts not in ``contracts`` are ignored; root-cause hints are cut to the latest
    :data:`ROOT_CAUSE_EPISODES` episodes and :data:`ROOT_CAUSE_HINTS` hints each. The pages say
    what changed since the snapshot found in ``out_dir`` (written by the previous report), then
    the snapshot is replaced; ``generated_at`` (default now) is recorded in it. When
    ``evidence`` has a failed file or a rejected row, the portfolio opens with a data-quality
    banner linking to :data:`REJECTS_PAGE` (written by :func:`write_rejects_page`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    generated_at = generated_at or datetime.now(UTC)
    contract_ids = [contract.id for contract in contracts]
    mine = {name: _rows_of(tables[name], "contract_id", contract_ids) for name in REPORT_TABLES}
    mine["root_causes"] = root_cause_hints(
        mine["root_causes"], ROOT_CAUSE_EPISODES, ROOT_CAUSE_HINTS
    )
    summary = objective_summary(mine["objectives"], mine["windows"], mine["breach_risk"])
    mine["recommendations"] = review_recommendations(mine["objectives"], mine["windows"])
    owed = credits_owed(mine["credits"])
    mine["credit_forecasts"] = credit_forecasts(
        mine["credits"], credit_tiers_frame(contracts), mine["breach_risk"]
    )
    snapshot = snapshot_rows(summary, mine["credits"])
    snapshot_path = out_dir / SNAPSHOT_FILE
    previous = _previous_report(snapshot_path, snapshot)
    mine["changes"] = previous.changes
    environment = template_environment()
    plotly_js = out_dir / PLOTLY_JS
    plotly_js.write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    ledger = out_dir / CREDITS_LEDGER
    write_csv(credits_ledger(mine["credits"]), ledger)
    corrections = corrections_applied(mine["corrections"], mine["objectives"])

    by_id = {contract.id: contract for contract in contracts}
    ordered = [by_id[contract_id] for contract_id in contract_order(contract_ids, summary)]
    pages: dict[str, Path] = {}
    objective_pages: dict[tuple[str, str], Path] = {}
    contract_template = environment.get_template("contract.html.j2")
    objective_template = environment.get_template("objective.html.j2")
    for contract in ordered:
        context = _contract_context(contract, summary, owed, corrections, mine, previous)
        page = out_dir / f"contract-{contract.id}.html"
        page.write_text(contract_template.render(context), encoding="utf-8")
        pages[contract.id] = page
        for objective in context["objectives"]:
            key = (contract.id, objective["objective_id"])
            objective_page = out_dir / objective_page_name(*key)
            details = _objective_context(contract, objective, context["tables"], previous)
            if details["items"] is not None:
                write_csv(details["items"]["frame"], out_dir / details["items"]["csv"])
            objective_page.write_text(objective_template.render(details), encoding="utf-8")
            objective_pages[key] = objective_page

    credits_total = dict(
        owed.group_by("currency").agg(pl.col("credit_amount").sum()).sort("currency").rows()
    )
    report = ReportSet(
        index=out_dir / "index.html",
        contract_pages=pages,
        objective_pages=objective_pages,
        plotly_js=plotly_js,
        credits_ledger=ledger,
        snapshot=snapshot_path,
        contracts=len(contracts),
        objectives=summary.height,
        breached_windows=int(summary["breached_windows"].sum()),
        objectives_at_risk=summary.filter(pl.col("status") == "at_risk").height,
        objectives_breaching=summary.filter(pl.col("status") == "breaching").height,
        credits_total=credits_total,
        changes=previous.changes.height,
    )
    as_of = mine["windows"]["as_of"].max()
    report.index.write_text(
        environment.get_template("index.html.j2").render(
            report=report,
            contracts=[
                {
                    "contract": contract,
                    "page": pages[contract.id].name,
                    "objectives": summary.filter(pl.col("contract_id") == contract.id).to_dicts(),
                    "credits": owed.filter(pl.col("contract_id") == contract.id).to_dicts(),
                }
                for contract in ordered
            ],
            as_of=as_of,
            overview=_budget_overview(summary, "portfolio-budget", with_contract=True),
            rows=_portfolio_rows(ordered, pages, summary, owed),
            statuses=list(dict.fromkeys([*summary["status"].fill_null("no_data"), "no_data"])),
            previous=previous,
            changes=_changes_with_pages(previous.changes),
            capacity=capacity_running_out(mine["capacity"], as_of, CAPACITY_DAYS).to_dicts()
            if as_of is not None
            else [],
            capacity_days=CAPACITY_DAYS,
            evidence=_evidence_problems(evidence)
            if evidence is not None and evidence.has_problems
            else None,
            rejects_page=REJECTS_PAGE,
        ),
        encoding="utf-8",
    )
    snapshot_path.write_text(
        json.dumps(snapshot_document(snapshot, generated_at, as_of), indent=1), encoding="utf-8"
    )
    return report


def write_rejects_page(out_dir: Path, evidence: IngestRecords, rejects: pl.DataFrame) -> Path:
    """Write :data:`REJECTS_PAGE` into ``out_dir``: every failed file with its error, then per
    file with rejects its first rejects (``rejects``: summary.REJECT_LISTING_SCHEMA rows, at most
    :data:`REJECTS_PER_FILE` per file are shown) and how many more there are."""
    out_dir.mkdir(parents=True, exist_ok=True)
    per_file = (
        evidence.reasons.group_by("source", "file")
        .agg(pl.col("rejects").sum())
        .sort("source", "file")
    )
    files = [
        {
            "source": source,
            "file": file,
            "rejects": total,
            "rows": rejects.filter((pl.col("source") == source) & (pl.col("file") == file))
            .head(REJECTS_PER_FILE)
            .to_dicts(),
        }
        for source, file, total in per_file.iter_rows()
    ]
    page = out_dir / REJECTS_PAGE
    page.write_text(
        template_environment()
        .get_template("rejects.html.j2")
        .render(
            evidence=_evidence_problems(evidence),
            failed=failed_files(evidence).to_dicts(),
            files=files,
            per_file=REJECTS_PER_FILE,
            as_of=None,
        ),
        encoding="utf-8",
    )
    return page


def _portfolio_rows(
    contracts: list[Contract], pages: dict[str, Path], summary: pl.DataFrame, owed: pl.DataFrame
) -> list[dict[str, Any]]:
    """The portfolio table's rows: every objective most urgent first (``summary``'s order), each
    with its contract, the contract's page and credits owed; then one row per contract without
    objectives (``objective`` None)."""
    by_id = {contract.id: contract for contract in contracts}
    credits = {
        contract.id: owed.filter(pl.col("contract_id") == contract.id).to_dicts()
        for contract in contracts
    }
    rows = [
        {"contract": by_id[contract_id], "objective": objective}
        for objective in summary.to_dicts()
        if (contract_id := objective["contract_id"]) in by_id
    ]
    with_objectives = {row["contract"].id for row in rows}
    rows += [
        {"contract": contract, "objective": None}
        for contract in contracts
        if contract.id not in with_objectives
    ]
    return [
        row | {"page": pages[row["contract"].id].name, "credits": credits[row["contract"].id]}
        for row in rows
    ]


def _evidence_problems(evidence: IngestRecords) -> dict[str, Any]:
    """The banner's facts: files failed and rows rejected in all, and per source with a failed
    file or a reject its counts (summary.source_summary) and top reasons (summary.top_reasons)."""
    summary = source_summary(evidence).filter(
        (pl.col("files_failed") > 0) | (pl.col("rows_rejected") > 0)
    )
    reasons = top_reasons(evidence)
    return {
        "files_failed": int(summary["files_failed"].sum()),
        "rows_rejected": int(summary["rows_rejected"].sum()),
        "sources": [
            row | {"reasons": reasons.filter(pl.col("source") == row["source"]).to_dicts()}
            for row in summary.to_dicts()
        ],
    }


def _previous_report(path: Path, snapshot: pl.DataFrame) -> PreviousReport:
    """The previous report's snapshot at ``path`` compared with this report's ``snapshot``; an
    unreadable snapshot is reported (and then replaced), never fatal."""
    no_changes = changes_since(snapshot.clear(), snapshot.clear())
    if not path.exists():
        return PreviousReport(None, None, no_changes)
    try:
        before, generated_at = read_snapshot(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as error:
        return PreviousReport(None, f"{path.name} could not be read: {error}", no_changes)
    return PreviousReport(generated_at, None, changes_since(before, snapshot))


def _changes_with_pages(changes: pl.DataFrame) -> list[dict[str, Any]]:
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


def _contract_context(
    contract: Contract,
    summary: pl.DataFrame,
    owed: pl.DataFrame,
    corrections: pl.DataFrame,
    tables: dict[str, pl.DataFrame],
    previous: PreviousReport,
) -> dict[str, Any]:
    """Everything ``contract.html.j2`` shows for one contract; ``tables`` holds that contract's
    rows of every table (for its objective pages)."""
    of_contract = {
        name: _rows_of(frame, "contract_id", [contract.id]) for name, frame in tables.items()
    }
    objectives = summary.filter(pl.col("contract_id") == contract.id)
    titles = objectives.select(
        "objective_id", pl.coalesce("title", "objective_id").alias("objective_title")
    )
    windows = of_contract["windows"]
    return {
        "contract": contract,
        "tables": of_contract,
        "as_of": windows["as_of"].max(),
        "previous": previous,
        "changes": _changes_with_pages(of_contract["changes"]),
        "objectives": objectives.to_dicts(),
        "overview": _budget_overview(objectives, f"{contract.id}-budget", with_contract=False),
        "recommendations": of_contract["recommendations"]
        .join(titles, on="objective_id", how="left")
        .to_dicts(),
        "credits": of_contract["credits"]
        .join(titles, on="objective_id", how="left")
        .sort("window_label", "objective_id", descending=[True, False])
        .to_dicts(),
        "credits_owed": owed.filter(pl.col("contract_id") == contract.id).to_dicts(),
        "credit_forecasts": [
            {**forecast, "text": credit_forecast_sentence(forecast)}
            for forecast in of_contract["credit_forecasts"]
            .join(titles, on="objective_id", how="left")
            .iter_rows(named=True)
        ],
        "alerts": of_contract["alerts"]
        .join(titles, on="objective_id", how="left")
        .with_columns((pl.col("ended_at") - pl.col("started_at")).alias("duration"))
        .sort("started_at", descending=True)
        .to_dicts(),
        "gaps": _gaps(windows, objectives),
        "exclusions": [
            {
                "reason": exclusion.reason,
                "services": ", ".join(exclusion.services or ["all services"]),
                "schedule": _exclusion_schedule(exclusion, contract.time_zone),
            }
            for exclusion in contract.exclusions
        ],
        "corrections": corrections.filter(pl.col("contract_id") == contract.id).to_dicts(),
        "credits_ledger": CREDITS_LEDGER,
        "capacity": of_contract["capacity"]
        .filter(pl.col("service").is_in([service.id for service in contract.services]))
        .sort("service")
        .to_dicts(),
    }


def _budget_overview(summary: pl.DataFrame, div_id: str, with_contract: bool) -> Markup | None:
    """The budget-left chart of the objectives of ``summary`` (most urgent on top), each named by
    its title (and contract); None without objectives."""
    if summary.is_empty():
        return None
    title = pl.coalesce("title", "objective_id")
    name = pl.format("{} · {}", title, "contract_id") if with_contract else title
    labelled = summary.with_columns(
        pl.when(name.str.len_chars() > 48)
        .then(name.str.slice(0, 47) + "…")
        .otherwise(name)
        .alias("label")
    ).with_columns(  # two long names cut alike stay apart
        pl.when(pl.col("label").is_duplicated())
        .then(pl.format("{} ({})", "label", "objective_id"))
        .otherwise("label")
        .alias("label")
    )
    return _chart(budget_overview_figure(labelled, "label"), div_id)


def _gaps(windows: pl.DataFrame, objectives: pl.DataFrame) -> list[dict[str, Any]]:
    """The windows with excluded, corrected or missing minutes, with their objective's title and
    how missing data counts, by objective and latest window first."""
    return (
        windows.filter(
            (pl.col("excluded_minutes") > 0)
            | (pl.col("corrected_minutes") > 0)
            | (pl.col("missing_minutes") > 0)
        )
        .join(
            objectives.select(
                "objective_id",
                "missing_data",
                pl.coalesce("title", "objective_id").alias("objective_title"),
            ),
            on="objective_id",
            how="left",
        )
        .sort("objective_id", "window_start", descending=[False, True])
        .to_dicts()
    )


def _objective_context(
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
        name: _rows_of(frame, "objective_id", [row["objective_id"]])
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
            "html": _chart(
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
                "html": _chart(
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
                "html": _chart(
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
                    "html": _chart(
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
                "html": _chart(
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
                "html": _chart(timeline_figure(timeline, start, end, zone), f"{anchor}-timeline"),
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
        "changes": _changes_with_pages(of_objective["changes"]),
        "windows": windows.to_dicts(),
        "charts": charts,
        "timeline": {"start": events[0], "end": events[1], "events": events[2].to_dicts()}
        if events is not None
        else None,
        "tickets": ticket_figures(timers).to_dicts() if not timers.is_empty() else [],
        "items": _items(row, of_objective["outcomes"], timers),
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
    row: dict[str, Any], outcomes: pl.DataFrame, timers: pl.DataFrame
) -> dict[str, Any] | None:
    """The items of an item-judged objective's current window (items.ITEMS_SCHEMA ``frame``
    and its ``rows``) and the ``csv`` they are written to; None for other objectives and before
    the first window."""
    start, end = row["window_start"], row["window_end"]
    if start is None:
        return None
    if row["sli_kind"] in TICKET_KINDS:
        frame = ticket_items(timers, start, end)
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


def _rows_of(frame: pl.DataFrame, column: str, values: list[str]) -> pl.DataFrame:
    """The rows of ``frame`` whose ``column`` is one of ``values``; all of them when the frame has
    no such column (the per-service tables)."""
    return frame.filter(pl.col(column).is_in(values)) if column in frame.columns else frame


def _chart(figure: Any, div_id: str) -> Markup:
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


def _exclusion_schedule(exclusion: Exclusion, time_zone: str) -> str:
    """When an exclusion applies, in words; times without an offset are in the contract's zone."""
    if exclusion.start is not None and exclusion.end is not None:
        if exclusion.start.tzinfo is None:
            return f"{exclusion.start:%Y-%m-%d %H:%M} → {exclusion.end:%Y-%m-%d %H:%M} {time_zone}"
        return (
            f"{format_local_time(exclusion.start, time_zone)} → "
            f"{format_local_time(exclusion.end, time_zone)}"
        )
    assert exclusion.at is not None and exclusion.duration is not None
    return (
        f"every {exclusion.every} at {exclusion.at:%H:%M} for "
        f"{format_duration(exclusion.duration)} ({time_zone})"
    )
