"""The HTML reports: ``index.html`` (the portfolio, contracts most urgent first),
``contract-<id>.html`` per contract and ``objective-<contract>~<objective>.html`` per objective
(the drill-down, assembled by objective_page.py: windows, budget burn-down with the forecast cone,
timeline, items, credits, root-cause hints, review recommendations), each saying what changed
since the previous report (from the snapshot it left beside the pages, see changes.py).

Pages are self-contained: styles are inlined, charts are plotly fragments drawing with the
``plotly.min.js`` written once beside the pages (taken from the installed plotly package), and no
page refers to anything on the network. Every number shown comes from the warehouse frames; all
text is HTML-escaped by Jinja2.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

import plotly.offline
import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipelines.contracts.schema import Contract, Exclusion
from pipelines.contracts.units import format_duration
from pipelines.ingest.summary import (
    IngestRecords,
    failed_files,
    source_summary,
    top_reasons,
)
from pipelines.report.changes import (
    SNAPSHOT_FILE,
    PreviousReport,
    changes_since,
    read_snapshot,
    snapshot_document,
    snapshot_rows,
)
from pipelines.report.exports import write_csv
from pipelines.report.figures.overview import budget_overview_figure
from pipelines.report.figures.style import figure_html
from pipelines.report.formatting import (
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
from pipelines.report.objective_page import (
    ChartCache,
    RowsBy,
    changes_with_pages,
    chart_digest,
    objective_context,
    rows_of,
)
from pipelines.report.paths import BACKTEST_PAGE, CREDITS_LEDGER, objective_page_name
from pipelines.report.review import review_recommendations
from pipelines.report.summary import (
    capacity_running_out,
    contract_order,
    corrections_applied,
    credits_ledger,
    credits_owed,
    objective_summary,
    root_cause_hints,
)
from pipelines.sla.credits import credit_forecasts
from pipelines.sla.objectives import credit_tiers_frame
from pipelines.workers import shared_batches

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
    "ticket_descriptions",
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
CHARTS_DRAWN = ".charts"
"""The folder beside the pages keeping each objective page's charts with a digest of their
inputs (objective_page.ChartCache): a report redraws only the charts whose inputs changed."""
ROOT_CAUSE_EPISODES = 5
"""Burn episodes per objective shown with root-cause hints (the latest ones)."""
ROOT_CAUSE_HINTS = 3
"""Hints shown per burn episode (the best-ranked series)."""
CAPACITY_DAYS = 90
"""The portfolio lists the services whose capacity may run out within this many days."""


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


@cache
def template_environment() -> Environment:
    """The Jinja environment of every report template, with the formatting filters: one per
    process, so each template is compiled once (a monthly summary per contract compiled its
    template again each time)."""
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
    invalid_contracts: Sequence[str] = (),
    blocked_sources: Sequence[dict[str, Any]] = (),
    workers: int = 1,
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
    banner linking to :data:`REJECTS_PAGE` (written by :func:`write_rejects_page`);
    ``invalid_contracts`` (``file:line: field: problem`` of the contracts left out) gets one too,
    and so does each of ``blocked_sources`` (``pipelines.ops.evidence.read_blocked`` rows: source,
    check_name, reason, held), whose held objectives' pages say their figures are from before it.
    The objective pages are shared with up to ``workers`` − 1 worker processes
    (write_objective_pages).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    generated_at = generated_at or datetime.now(UTC)
    contract_ids = [contract.id for contract in contracts]
    mine = {name: rows_of(tables[name], "contract_id", contract_ids) for name in REPORT_TABLES}
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
    contract_template = environment.get_template("contract.html.j2")
    charts_drawn = ChartCache(out_dir / CHARTS_DRAWN)
    by_contract = RowsBy(mine, "contract_id")
    contexts = []
    to_write: list[ObjectivePage] = []
    for contract in ordered:
        page = out_dir / f"contract-{contract.id}.html"
        context = _contract_context(
            contract,
            summary,
            owed,
            corrections,
            by_contract.of(contract.id),
            previous,
            (charts_drawn, page.name),
        )
        contexts.append((page, context))
        pages[contract.id] = page
        by_objective = RowsBy(context["tables"], "objective_id")
        to_write.extend(
            ObjectivePage(
                contract,
                objective,
                by_objective.of(objective["objective_id"]),
                [
                    blocked
                    for blocked in blocked_sources
                    if f"{contract.id}/{objective['objective_id']}" in blocked["held"]
                ],
            )
            for objective in context["objectives"]
        )
    written = write_objective_pages(out_dir, previous, to_write, workers)
    for page, context in contexts:
        page.write_text(contract_template.render(context), encoding="utf-8")
    objective_pages = {
        (page.contract.id, page.row["objective_id"]): path
        for page, path in zip(to_write, written, strict=True)
    }
    charts_drawn.keep_only(
        page.name for page in [*objective_pages.values(), *pages.values(), out_dir / "index.html"]
    )

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
            overview=_budget_overview(
                summary, "portfolio-budget", True, charts_drawn, report.index.name
            ),
            rows=_portfolio_rows(ordered, pages, summary, owed),
            statuses=list(dict.fromkeys([*summary["status"].fill_null("no_data"), "no_data"])),
            previous=previous,
            changes=changes_with_pages(previous.changes),
            capacity=capacity_running_out(mine["capacity"], as_of, CAPACITY_DAYS).to_dicts()
            if as_of is not None
            else [],
            capacity_days=CAPACITY_DAYS,
            evidence=_evidence_problems(evidence)
            if evidence is not None and evidence.has_problems
            else None,
            rejects_page=REJECTS_PAGE,
            backtest_page=BACKTEST_PAGE if (out_dir / BACKTEST_PAGE).exists() else None,
            invalid_contracts=invalid_contracts,
            blocked_sources=blocked_sources,
        ),
        encoding="utf-8",
    )
    snapshot_path.write_text(
        json.dumps(snapshot_document(snapshot, generated_at, as_of), indent=1), encoding="utf-8"
    )
    return report


@dataclass(frozen=True)
class ObjectivePage:
    """An objective page to write: its contract, its objective_summary row, its rows of every
    table (RowsBy) and the blocked sources holding it back."""

    contract: Contract
    row: dict[str, Any]
    tables: dict[str, pl.DataFrame]
    blocked_sources: list[dict[str, Any]]


def write_objective_pages(
    out_dir: Path, previous: PreviousReport, pages: list[ObjectivePage], workers: int = 1
) -> list[Path]:
    """Write each of ``pages`` (with its tickets' CSV) into ``out_dir``, shared with up to
    ``workers`` − 1 worker processes (workers.shared_batches); their charts are taken from, and
    kept in, the ChartCache in ``out_dir``. Returns each page's path, in order."""
    return shared_batches(partial(_write_objective_pages, out_dir, previous), pages, workers)


def _write_objective_pages(
    out_dir: Path, previous: PreviousReport, pages: list[ObjectivePage]
) -> list[Path]:
    """One batch of write_objective_pages."""
    template = template_environment().get_template("objective.html.j2")
    charts_drawn = ChartCache(out_dir / CHARTS_DRAWN)
    written = []
    for page in pages:
        path = out_dir / objective_page_name(page.contract.id, page.row["objective_id"])
        details = objective_context(page.contract, page.row, page.tables, previous, charts_drawn)
        details["blocked_sources"] = page.blocked_sources
        if details["items"] is not None:
            write_csv(details["items"]["frame"], out_dir / details["items"]["csv"])
        path.write_text(template.render(details), encoding="utf-8")
        written.append(path)
    return written


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


def _contract_context(
    contract: Contract,
    summary: pl.DataFrame,
    owed: pl.DataFrame,
    corrections: pl.DataFrame,
    of_contract: dict[str, pl.DataFrame],
    previous: PreviousReport,
    drawn_for: tuple[ChartCache, str],
) -> dict[str, Any]:
    """Everything ``contract.html.j2`` shows for one contract; ``of_contract`` holds that
    contract's rows of every table (RowsBy), passed on as ``tables`` for its objective pages;
    ``drawn_for`` the chart cache and the page's name (for its budget overview)."""
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
        "changes": changes_with_pages(of_contract["changes"]),
        "objectives": objectives.to_dicts(),
        "overview": _budget_overview(objectives, f"{contract.id}-budget", False, *drawn_for),
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


def _budget_overview(
    summary: pl.DataFrame, div_id: str, with_contract: bool, charts_drawn: ChartCache, page: str
) -> Markup | None:
    """The budget-left chart of the objectives of ``summary`` (most urgent on top), each named by
    its title (and contract); None without objectives. Kept in ``charts_drawn`` for ``page``,
    taken from it while its rows are the same."""
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
    inputs = chart_digest(div_id, labelled)
    html = charts_drawn.charts(page, inputs).get("overview")
    if html is None:
        html = figure_html(budget_overview_figure(labelled, "label"), div_id)
        charts_drawn.keep(page, inputs, {"overview": html})
    return Markup(html)


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
