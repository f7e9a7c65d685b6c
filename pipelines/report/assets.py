"""Dagster wrapper of the report stage: read the ``sla.*`` and ``predict.*`` tables read-only,
write the HTML."""

import dagster as dg
import duckdb
import polars as pl

from pipelines.ingest.summary import read_ingest_records, read_rejects
from pipelines.ops.evidence import read_blocked
from pipelines.report.monthly import write_monthly_summaries
from pipelines.report.objective_page import BURN_RATE_DAYS, EXPOSURE_DAYS
from pipelines.report.render import REJECTS_PER_FILE, render_reports, write_rejects_page
from pipelines.resources import WAREHOUSE_POOL, PledgeHome
from pipelines.warehouse import query
from pipelines.workers import worker_count

_TABLE_QUERIES: dict[str, tuple[str, list[object]]] = {  # keyed as REPORT_TABLES
    "objectives": ("SELECT * FROM sla.objectives", []),
    "windows": ("SELECT * FROM sla.windows", []),
    "alerts": ("SELECT * FROM sla.alerts", []),
    "credits": ("SELECT * FROM sla.credits", []),
    "corrections": ("SELECT * FROM sla.corrections", []),
    # Only what the pages draw: the burn rates of the last days, the current windows' slices.
    # A window function or a join leaves the order of the rows undefined: ORDER BY gives every
    # report the same frames, so the pages and the digests of their charts' inputs (the chart
    # cache) do not change when the evidence does not.
    "burn_rates": (
        """
        SELECT * FROM sla.burn_rates
        QUALIFY ts > max(ts) OVER (PARTITION BY contract_id, objective_id) - to_days(?)
        ORDER BY contract_id, objective_id, ts
        """,
        [BURN_RATE_DAYS],
    ),
    "slices": (
        """
        SELECT s.contract_id, s.objective_id, s.slice_start, s.good, s.total,
               s.excluded_minutes, s.missing_minutes
        FROM sla.slices AS s
        JOIN sla.windows AS w
          ON w.contract_id = s.contract_id AND w.objective_id = s.objective_id
         AND NOT w.is_complete
         AND s.slice_start >= w.window_start AND s.slice_start < w.window_end
        ORDER BY s.contract_id, s.objective_id, s.slice_start
        """,
        [],
    ),
    # Backups, restore tests and security incidents of the last days (RPO exposure is drawn, each
    # objective's current window listed item by item);
    # every ticket timer, for the figures per priority, the distribution of resolution times and
    # the breached tickets on the timelines.
    "outcomes": (
        """
        SELECT o.* FROM sla.outcomes AS o
        JOIN sla.objectives AS b USING (contract_id, objective_id)
        WHERE b.sli_kind IN ('backup', 'security_response')
        QUALIFY o.counted_at
            > max(o.counted_at) OVER (PARTITION BY o.contract_id, o.objective_id) - to_days(?)
        ORDER BY o.contract_id, o.objective_id, o.counted_at, o.item_id
        """,
        [EXPOSURE_DAYS],
    ),
    "breach_risk": ("SELECT * FROM predict.breach_risk", []),
    # The volume and bad-ratio forecasts the burn-down's cone is drawn from.
    "forecasts": (
        """
        SELECT contract_id, objective_id, series, hour, weight, mean, interval_low, interval_high
        FROM predict.forecasts WHERE series IN ('volume', 'bad_ratio')
        """,
        [],
    ),
    "root_causes": ("SELECT * FROM predict.root_causes", []),
    # Only the points flagged anomalous, of the days the burn-rate charts draw.
    "anomalies": (
        """
        SELECT member, metric, series, ts, value, score FROM predict.anomalies
        WHERE is_anomaly AND ts > (SELECT max(ts) FROM predict.anomalies) - to_days(?)
        """,
        [BURN_RATE_DAYS],
    ),
    "capacity": ("SELECT * FROM predict.capacity", []),
    "ticket_timers": (
        """
        SELECT contract_id, objective_id, ticket_id, priority, timer_state, started_at,
               stopped_at, business_seconds, paused_seconds, target_seconds, breach_at, breached,
               unmatched, incomplete
        FROM sla.ticket_timers
        """,
        [],
    ),
    # The rejected lines behind each incomplete ticket timer.
    "ticket_rejects": (
        """
        SELECT t.contract_id, t.objective_id, t.ticket_id, r.file, r.line, r.reason
        FROM sla.ticket_timers AS t
        JOIN sla.objectives AS o USING (contract_id, objective_id)
        JOIN raw.ticket_rejects AS r ON r.service = o.service AND r.item_id = t.ticket_id
        WHERE t.incomplete
        ORDER BY t.ticket_id, r.file, r.line
        """,
        [],
    ),
    # The latest non-empty short description of each counted ticket of a ticket objective.
    "ticket_descriptions": (
        """
        SELECT t.contract_id, t.objective_id, t.ticket_id, d.short_description
        FROM sla.ticket_timers AS t
        JOIN sla.objectives AS o USING (contract_id, objective_id)
        JOIN (
            SELECT service, ticket_id, short_description FROM raw.latest_ticket_events
            WHERE short_description IS NOT NULL
            QUALIFY row_number() OVER (
                PARTITION BY service, ticket_id ORDER BY ts DESC, seq DESC, source
            ) = 1
        ) AS d ON d.service = o.service AND d.ticket_id = t.ticket_id
        WHERE NOT t.unmatched
        """,
        [],
    ),
}


def read_report_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """The ``sla.*`` and ``predict.*`` rows the pages show, keyed as :data:`REPORT_TABLES` (all of
    objectives, windows, alerts, credits, corrections, ticket timers, breach risks, volume and
    bad-ratio forecasts, root-cause hints and capacities; the current windows' slices; the last
    days of burn rates, of RPO exposure spans and security incidents, and of the points flagged
    anomalous)."""
    return {name: query(con, sql, params) for name, (sql, params) in _TABLE_QUERIES.items()}


@dg.asset(
    key=["report", "html"],
    deps=[
        ["sla", "windows"],
        ["predict", "breach_risk"],  # writes predict.forecasts too
        ["predict", "anomalies"],
        ["predict", "root_causes"],
        ["predict", "capacity"],
    ],
    group_name="report",
    pool=WAREHOUSE_POOL,
    kinds={"html", "plotly"},
    description="Portfolio page, one page per contract and per objective, what changed since the "
    "last report, the rejected evidence (HTML, plotly charts, no network).",
)
def report_html(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    contracts, problems = pledge.contracts()
    for problem in problems:
        context.log.warning(f"contract skipped: {problem}")
    with pledge.connect(read_only=True) as con:
        tables = read_report_tables(con)
        evidence = read_ingest_records(con)
        rejects = read_rejects(con, REJECTS_PER_FILE)
        blocked = read_blocked(con)
    reports_dir = pledge.settings.reports_dir
    report = render_reports(
        reports_dir,
        contracts,
        tables,
        evidence=evidence,
        invalid_contracts=[str(problem) for problem in problems],
        blocked_sources=blocked.to_dicts(),
        workers=worker_count(),
    )
    rejects_page = write_rejects_page(reports_dir, evidence, rejects)
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(report.index)),
            "rejects_page": dg.MetadataValue.path(str(rejects_page)),
            "credits_ledger": dg.MetadataValue.path(str(report.credits_ledger)),
            "contracts": report.contracts,
            "objective_pages": len(report.objective_pages),
            "changes_since_last_report": report.changes,
            "objectives": report.objectives,
            "breached_windows": report.breached_windows,
            "objectives_at_risk": report.objectives_at_risk,
            "objectives_breaching": report.objectives_breaching,
            **{
                f"credits_total_{currency}": dg.MetadataValue.float(amount)
                for currency, amount in report.credits_total.items()
            },
        }
    )


class MonthlySummaryConfig(dg.Config):
    month: str = ""
    """YYYY-MM; empty: each contract's last complete month at the warehouse's as_of."""


@dg.asset(
    key=["report", "monthly_summary"],
    deps=[["sla", "windows"]],
    group_name="report",
    pool=WAREHOUSE_POOL,
    kinds={"html", "csv"},
    description="Monthly compliance summary per contract for the provider (HTML and CSV).",
)
def monthly_summary(
    context: dg.AssetExecutionContext, config: MonthlySummaryConfig, pledge: PledgeHome
) -> dg.MaterializeResult:
    contracts, problems = pledge.contracts()
    for problem in problems:
        context.log.warning(f"contract skipped: {problem}")
    with pledge.connect(read_only=True) as con:
        summaries = write_monthly_summaries(
            con, pledge.settings.reports_dir, contracts, config.month or None
        )
    credits: dict[str, float] = {}
    for summary in summaries:
        for currency, amount in summary.totals.credits.items():
            credits[currency] = credits.get(currency, 0.0) + amount
    return dg.MaterializeResult(
        metadata={
            "summaries": len(summaries),
            "months": ", ".join(sorted({s.month for s in summaries})),
            "breached_windows": sum(s.totals.breached for s in summaries),
            **{f"credits_{currency}": dg.MetadataValue.float(v) for currency, v in credits.items()},
            **{
                f"{s.contract_id}_{kind}": dg.MetadataValue.path(str(path))
                for s in summaries
                for kind, path in (("html", s.html), ("csv", s.csv))
            },
        }
    )


report_assets = [report_html, monthly_summary]
