"""Dagster assets of the SLA stage: objectives, daily slices, and windows with burn rates,
alerts and credits. Thin wrappers: read the warehouse, call the pure functions, write back."""

from datetime import UTC, datetime, time, timedelta

import dagster as dg
import duckdb
import polars as pl

from pipelines.partitions import daily, single_run
from pipelines.resources import WAREHOUSE_POOL, PledgeHome, partition_days
from pipelines.sla.burn import alert_episodes, burn_ledger, burn_rates, firing_at_end
from pipelines.sla.credits import window_credits
from pipelines.sla.objectives import (
    alert_rules_frame,
    credit_tiers_frame,
    excluded_minutes,
    exclusion_intervals,
    objectives_frame,
)
from pipelines.sla.slices import objective_slices
from pipelines.sla.windows import objective_windows
from pipelines.spec.schema import Contract
from pipelines.warehouse import query, replace_rows

RAW_TABLES = {
    "requests": "raw.requests",
    "probes": "raw.probes",
    "histogram": "raw.latency_buckets",
}
DAY_COLUMNS = {
    "requests": "ts, service, total, errors",
    "probes": "ts, service, up",
    "histogram": "ts, service, le_seconds, count",
}

STORED_SLICES_SQL = (
    "SELECT contract_id, objective_id, slice_start, good, total, excluded_minutes, "
    "missing_minutes FROM sla.slices"
)
"""Every stored slice, as ``sla_windows`` reads them. Unordered: burn_ledger and
objective_windows sort what they need, and an ORDER BY of a year of slices costs DuckDB seconds."""


def _valid_contracts(
    context: dg.AssetExecutionContext, pledge: PledgeHome
) -> tuple[list[Contract], list[str]]:
    contracts, problems = pledge.contracts()
    for problem in problems:
        context.log.warning(f"invalid contract skipped: {problem}")
    return contracts, [str(problem) for problem in problems]


def evidence_end(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The end of the latest evidence minute in the raw tables (None without evidence)."""
    latest = " UNION ALL ".join(
        f"SELECT max(ts) AS ts FROM {table}" for table in RAW_TABLES.values()
    )
    [(value,)] = con.execute(
        f"SELECT date_trunc('minute', max(ts)) + INTERVAL 1 MINUTE FROM ({latest})"
    ).fetchall()
    return value.astimezone(UTC) if value is not None else None


def first_evidence(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """service, sli_method, first_ts: the earliest raw timestamp per service and evidence table."""
    return query(
        con,
        " UNION ALL ".join(
            f"SELECT service, '{method}' AS sli_method, min(ts) AS first_ts FROM {table} "
            "GROUP BY service"
            for method, table in RAW_TABLES.items()
        ),
    )


def day_evidence(con: duckdb.DuckDBPyConnection, start: datetime) -> dict[str, pl.LazyFrame]:
    """The raw rows of the UTC day starting at ``start``, by evidence kind (selected by ``ts``:
    a landing file of one day may hold rows of the next)."""
    end = start + timedelta(days=1)
    return {
        kind: query(
            con, f"SELECT {DAY_COLUMNS[kind]} FROM {table} WHERE ts >= ? AND ts < ?", [start, end]
        ).lazy()
        for kind, table in RAW_TABLES.items()
    }


def day_slices(
    contracts: list[Contract],
    objectives: pl.DataFrame,
    evidence: dict[str, pl.LazyFrame],
    first: pl.DataFrame,
    start: datetime,
    as_of: datetime,
) -> pl.DataFrame:
    """Every objective's slices of the UTC day starting at ``start`` (SLICES_SCHEMA)."""
    end = start + timedelta(days=1)
    return objective_slices(
        objectives,
        evidence["requests"],
        evidence["probes"],
        evidence["histogram"],
        excluded_minutes(exclusion_intervals(contracts, start, end), start, end),
        first,
        start,
        end,
        as_of,
    )


@dg.asset(key=["sla", "objectives"], pool=WAREHOUSE_POOL, group_name="sla")
def sla_objectives(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    """One row per objective of every valid contract (sla.objectives)."""
    contracts, problems = _valid_contracts(context, pledge)
    objectives = objectives_frame(contracts)
    with pledge.connect() as con:
        replace_rows(con, [("sla.objectives", "TRUE", [], objectives)])
    return dg.MaterializeResult(
        metadata={
            "contracts": len(contracts),
            "objectives": objectives.height,
            "invalid_contract_problems": dg.MetadataValue.md(
                "\n".join(f"- `{problem}`" for problem in problems) or "none"
            ),
        }
    )


@dg.asset(
    key=["sla", "slices"],
    partitions_def=daily,
    backfill_policy=single_run,
    deps=[
        dg.AssetKey(["raw", "requests"]),
        dg.AssetKey(["raw", "latency_buckets"]),
        dg.AssetKey(["raw", "probes"]),
        dg.AssetKey(["sla", "objectives"]),
    ],
    pool=WAREHOUSE_POOL,
    group_name="sla",
)
def sla_slices(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    """Every objective's slices of each UTC day of the run (sla.slices), a day replaced at once."""
    contracts, _ = _valid_contracts(context, pledge)
    objectives = objectives_frame(contracts)
    rows_per_day: dict[str, int] = {}
    with pledge.connect() as con:
        as_of = evidence_end(con)
        first = first_evidence(con)
        for day in partition_days(context):
            start = datetime.combine(day, time(), UTC)
            slices = (
                day_slices(contracts, objectives, day_evidence(con, start), first, start, as_of)
                if as_of is not None
                else pl.DataFrame()
            )
            replace_rows(con, [("sla.slices", "partition_date = ?", [day], slices)])
            rows_per_day[day.isoformat()] = slices.height
    return dg.MaterializeResult(
        metadata={
            "slices": sum(rows_per_day.values()),
            "days": len(rows_per_day),
            "as_of": str(as_of),
        }
    )


@dg.asset(
    key=["sla", "windows"],
    deps=[dg.AssetKey(["sla", "slices"])],
    pool=WAREHOUSE_POOL,
    group_name="sla",
)
def sla_windows(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    """Windows, burn rates, alert episodes and credits of every objective, replaced together."""
    contracts, _ = _valid_contracts(context, pledge)
    objectives = objectives_frame(contracts)
    with pledge.connect() as con:
        as_of = evidence_end(con) or datetime.now(UTC).replace(second=0, microsecond=0)
        slices = query(con, STORED_SLICES_SQL)
        ledger = burn_ledger(objectives, slices)
        alerts = alert_episodes(ledger, alert_rules_frame(contracts))
        windows = objective_windows(objectives, slices, firing_at_end(alerts), as_of)
        credits = window_credits(windows, credit_tiers_frame(contracts))
        replace_rows(
            con,
            [
                ("sla.windows", "TRUE", [], windows),
                ("sla.burn_rates", "TRUE", [], burn_rates(ledger)),
                ("sla.alerts", "TRUE", [], alerts),
                ("sla.credits", "TRUE", [], credits),
            ],
        )
    statuses = dict(windows.group_by("status").len().iter_rows())
    credit_totals = dict(
        credits.group_by("currency").agg(pl.col("credit_amount").sum()).iter_rows()
    )
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "windows": windows.height,
            **{f"status_{status}": count for status, count in sorted(statuses.items())},
            "alerts_firing": alerts.filter(pl.col("ended_at").is_null()).height,
            **{
                f"credits_total_{currency}": float(total)
                for currency, total in credit_totals.items()
            },
        }
    )


sla_assets = [sla_objectives, sla_slices, sla_windows]
