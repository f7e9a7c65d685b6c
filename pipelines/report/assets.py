"""Dagster wrapper of the report stage: read the ``sla.*`` and ``predict.*`` tables read-only,
write the HTML."""

import dagster as dg
import duckdb
import polars as pl

from pipelines.report.render import BURN_RATE_DAYS, EXPOSURE_DAYS, render_reports
from pipelines.resources import WAREHOUSE_POOL, PledgeHome
from pipelines.warehouse import query

_TABLE_QUERIES: dict[str, tuple[str, list[object]]] = {  # keyed as REPORT_TABLES
    "objectives": ("SELECT * FROM sla.objectives", []),
    "windows": ("SELECT * FROM sla.windows", []),
    "alerts": ("SELECT * FROM sla.alerts", []),
    "credits": ("SELECT * FROM sla.credits", []),
    "corrections": ("SELECT * FROM sla.corrections", []),
    # Only what the pages draw: the burn rates of the last days, the current windows' slices.
    "burn_rates": (
        """
        SELECT * FROM sla.burn_rates
        QUALIFY ts > max(ts) OVER (PARTITION BY contract_id, objective_id) - to_days(?)
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
        """,
        [],
    ),
    # RPO exposure spans of the last days (the only outcomes drawn); every ticket timer, for the
    # figures per priority and the distribution of resolution times.
    "outcomes": (
        """
        SELECT o.* FROM sla.outcomes AS o
        JOIN sla.objectives AS b USING (contract_id, objective_id)
        WHERE b.measure = 'rpo'
        QUALIFY o.counted_at
            > max(o.counted_at) OVER (PARTITION BY o.contract_id, o.objective_id) - to_days(?)
        """,
        [EXPOSURE_DAYS],
    ),
    "breach_risk": ("SELECT * FROM predict.breach_risk", []),
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
        SELECT contract_id, objective_id, ticket_id, priority, timer_state, business_seconds,
               target_seconds, breached
        FROM sla.ticket_timers
        """,
        [],
    ),
}


def read_report_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """The ``sla.*`` and ``predict.*`` rows the pages show, keyed as :data:`REPORT_TABLES` (all of
    objectives, windows, alerts, credits, corrections, ticket timers, breach risks, root-cause
    hints and capacities; the current windows' slices; the last days of burn rates, of RPO
    exposure spans and of the points flagged anomalous)."""
    return {name: query(con, sql, params) for name, (sql, params) in _TABLE_QUERIES.items()}


@dg.asset(
    key=["report", "html"],
    deps=[
        ["sla", "windows"],
        ["predict", "breach_risk"],
        ["predict", "anomalies"],
        ["predict", "root_causes"],
        ["predict", "capacity"],
    ],
    group_name="report",
    pool=WAREHOUSE_POOL,
    kinds={"html", "plotly"},
    description="Portfolio page and one page per contract (HTML, plotly charts, no network).",
)
def report_html(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    contracts, problems = pledge.contracts()
    for problem in problems:
        context.log.warning(f"contract skipped: {problem}")
    with pledge.connect(read_only=True) as con:
        tables = read_report_tables(con)
    report = render_reports(pledge.settings.reports_dir, contracts, tables)
    return dg.MaterializeResult(
        metadata={
            "index": dg.MetadataValue.path(str(report.index)),
            "credits_ledger": dg.MetadataValue.path(str(report.credits_ledger)),
            "contracts": report.contracts,
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


report_assets = [report_html]
