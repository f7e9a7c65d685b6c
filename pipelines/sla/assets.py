"""Dagster assets of the SLA stage: objectives, daily slices, and windows with burn rates,
alerts and credits. Thin wrappers: read the warehouse, call the pure functions, write back."""

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import duckdb
import polars as pl

from pipelines.contracts.schema import Contract
from pipelines.ingest.load import RAW_TABLES as LOADED_TABLES
from pipelines.ops.evidence import read_held, run_days, with_held
from pipelines.ops.jobs import BLOCKED_SOURCES
from pipelines.partitions import daily, single_run
from pipelines.resources import WAREHOUSE_POOL, PledgeHome, partition_days
from pipelines.sla.backups import current_exposure, restore_outcomes, rpo_exposures
from pipelines.sla.burn import firing_at_end, refresh_burn, stored_episodes
from pipelines.sla.corrections import corrected_minutes, corrections_frame, drop_corrected
from pipelines.sla.credits import owed_credits, window_credits
from pipelines.sla.objectives import (
    alert_rules_frame,
    credit_tiers_frame,
    excluded_minutes,
    exclusion_intervals,
    objectives_frame,
)
from pipelines.sla.outcomes import OUTCOMES_SCHEMA, TIMER_KINDS, outcome_windows
from pipelines.sla.samples import histogram_percentile_windows, sample_outcomes
from pipelines.sla.security import security_outcomes
from pipelines.sla.slices import SLICES_SCHEMA, slice_inputs, slices_sql
from pipelines.sla.surveys import survey_outcomes
from pipelines.sla.tickets import (
    TICKET_EVENTS_SCHEMA,
    TICKET_TIMERS_SCHEMA,
    first_contact_outcomes,
    ticket_flags,
    ticket_timers,
    timer_outcomes,
)
from pipelines.sla.windows import daily_windows, measurement_starts, stored_daily_totals
from pipelines.warehouse import any_order, query, replace_rows, transaction

RAW_TABLES = {
    "requests": "raw.requests",
    "probes": "raw.probes",
    "histogram": "raw.latency_buckets",
}
ITEM_RAW_ASSETS = (
    "ticket_events",
    "security_incidents",
    "backup_runs",
    "restore_tests",
    "survey_responses",
    "latency_samples",
)
DAYS_PER_STATEMENT = 92
"""The most days of slices one SQL statement computes (and one write replaces): a quarter keeps
a year of 100 services' slices well under 2 GB of memory."""

STORED_SLICES_SQL = (
    "SELECT contract_id, objective_id, slice_start, good, total, excluded_minutes, "
    "corrected_minutes, missing_minutes FROM sla.slices"
)
"""Every stored slice (the prediction stage reads them all). Unordered: an ORDER BY of a year of
slices costs DuckDB seconds."""


ITEM_EVIDENCE = {
    "tickets": (
        "SELECT service, ticket_id, ts, state, priority, opened_at, reassignment_count, "
        "reopen_count FROM raw.latest_ticket_events ORDER BY ticket_id, ts, seq"
    ),
    "security_incidents": (
        "SELECT incident_id, service, severity, occurred_at, detected_at, contained_at "
        "FROM raw.latest_security_incidents"
    ),
    "backup_runs": (
        "SELECT service, run_id, started_at, finished_at, success FROM raw.latest_backup_runs"
    ),
    "restore_tests": (
        "SELECT service, test_id, started_at, finished_at, success FROM raw.latest_restore_tests"
    ),
    "survey_responses": (
        "SELECT response_id, service, ts AS responded_at, survey, score "
        "FROM raw.latest_survey_responses"
    ),
    "latency_samples": "SELECT ts, service, latency_seconds FROM raw.latency_samples",
}
"""The evidence of item-judged objectives, by SLI source kind (the ``raw.latest_*`` views keep
each re-exported item once)."""

REJECTED_TICKETS_SQL = "SELECT DISTINCT service, item_id AS ticket_id FROM raw.ticket_rejects"
"""service, ticket_id: the tickets with a rejected update."""


def is_traffic(objectives: pl.DataFrame) -> pl.Series:
    """Objectives computed through slices: request, probe and histogram evidence, except window
    percentiles from histograms (computed from the window's summed buckets instead)."""
    return objectives["sli_method"].is_in(list(RAW_TABLES)) & ~(
        (objectives["sli_method"] == "histogram")
        & objectives["statistic"].fill_null("share_within").str.starts_with("p")
    )


def _valid_contracts(
    context: dg.AssetExecutionContext, pledge: PledgeHome
) -> tuple[list[Contract], list[str]]:
    contracts, problems = pledge.contracts()
    for problem in problems:
        context.log.warning(f"invalid contract skipped: {problem}")
    return contracts, [str(problem) for problem in problems]


EVIDENCE_END_TIME = {
    "raw.security_incidents": "greatest(detected_at, contained_at)",
    "raw.backup_runs": "finished_at",
    "raw.restore_tests": "finished_at",
}
"""The latest instant a raw row speaks of, where it is not ``ts``: an incident's containment (or
detection while it runs), a backup run's or restore test's end."""


def evidence_end(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """``as_of`` of every stage: the end of the latest evidence minute of any kind (every raw
    table: traffic, tickets, incidents, backups, restore tests, surveys, latency samples; None
    without evidence)."""
    latest = " UNION ALL ".join(
        f"SELECT max({EVIDENCE_END_TIME.get(table, 'ts')}) AS ts FROM {table}"
        for table in LOADED_TABLES.values()
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


def day_periods(days: list[date]) -> list[tuple[date, date]]:
    """The days as runs of consecutive days (first, last), each at most DAYS_PER_STATEMENT long."""
    periods: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if periods and day - periods[-1][1] == timedelta(days=1):
            first, last = periods[-1]
            if (day - first).days < DAYS_PER_STATEMENT:
                periods[-1] = (first, day)
                continue
        periods.append((day, day))
    return periods


def period_slices(
    con: duckdb.DuckDBPyConnection,
    contracts: list[Contract],
    objectives: pl.DataFrame,
    first: pl.DataFrame,
    first_day: date,
    last_day: date,
    as_of: datetime,
) -> pl.DataFrame:
    """Every traffic objective's slices of the UTC days ``first_day``..``last_day`` (SLICES_SCHEMA,
    in no order), exclusions and corrections removed: ``sql/sla/slices.sql`` over the stored raw
    rows."""
    start = datetime.combine(first_day, time(), UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(), UTC)
    excluded = excluded_minutes(exclusion_intervals(contracts, start, end), start, end)
    corrected = corrected_minutes(corrections_frame(contracts), start, end)
    traffic = objectives.filter(is_traffic(objectives))
    with slice_inputs(con, traffic, excluded, first, corrected), any_order(con):
        return query(con, slices_sql(start, end, as_of)).cast(SLICES_SCHEMA)  # type: ignore[arg-type]


@dg.asset(key=["sla", "objectives"], pool=WAREHOUSE_POOL, group_name="sla")
def sla_objectives(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    """One row per objective of every valid contract (sla.objectives) and per correction applied
    to an objective (sla.corrections). Invalid sources are logged here, once a run, as invalid
    contracts are (the ingest assets skip them)."""
    contracts, problems = _valid_contracts(context, pledge)
    source_problems = [str(problem) for problem in pledge.source_problems()]
    for problem in source_problems:
        context.log.warning(f"invalid source skipped: {problem}")
    objectives = objectives_frame(contracts)
    corrections = corrections_frame(contracts)
    with pledge.connect() as con:
        replace_rows(
            con,
            [
                ("sla.objectives", "TRUE", [], objectives),
                ("sla.corrections", "TRUE", [], corrections),
            ],
        )
    return dg.MaterializeResult(
        metadata={
            "contracts": len(contracts),
            "objectives": objectives.height,
            "corrections": corrections.height,
            "invalid_contract_problems": dg.MetadataValue.md(
                "\n".join(f"- `{problem}`" for problem in problems) or "none"
            ),
            "invalid_source_problems": dg.MetadataValue.md(
                "\n".join(f"- `{problem}`" for problem in source_problems) or "none"
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
        *(dg.AssetKey(["raw", table]) for table in ITEM_RAW_ASSETS),  # as_of: evidence_end
        dg.AssetKey(["sla", "objectives"]),
        BLOCKED_SOURCES,  # the objectives held back
    ],
    pool=WAREHOUSE_POOL,
    group_name="sla",
)
def sla_slices(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    """Every objective's slices of each UTC day of the run (sla.slices): one SQL statement and
    one write per run of up to DAYS_PER_STATEMENT consecutive days."""
    contracts, _ = _valid_contracts(context, pledge)
    objectives = objectives_frame(contracts)
    days, stored = partition_days(context), 0
    with pledge.connect() as con:
        as_of = evidence_end(con)
        first = first_evidence(con)
        held = read_held(con, RAW_TABLES)
        with transaction(con):  # one commit for the whole run; each period replaced at once
            for first_day, last_day in day_periods(days):
                slices = (
                    period_slices(con, contracts, objectives, first, first_day, last_day, as_of)
                    if as_of is not None
                    else pl.DataFrame(schema=SLICES_SCHEMA)
                )
                if not held.is_empty():  # their slices of these days stay as stored
                    before = "SELECT * FROM sla.slices WHERE partition_date BETWEEN ? AND ?"
                    slices = with_held(slices, query(con, before, [first_day, last_day]), held)
                replace_rows(
                    con,
                    [
                        (
                            "sla.slices",
                            "partition_date BETWEEN ? AND ?",
                            [first_day, last_day],
                            slices,
                        )
                    ],
                )
                stored += slices.height
    return dg.MaterializeResult(
        metadata={
            "slices": stored,
            "days": len(days),
            "objectives_held": held.height,
            "as_of": str(as_of),
        }
    )


def item_outcomes(
    contracts: list[Contract],
    objectives: pl.DataFrame,
    evidence: dict[str, pl.DataFrame],
    as_of: datetime,
    rejected_tickets: pl.DataFrame,
    declared_priorities: Collection[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Outcomes (OUTCOMES_SCHEMA) of every item-judged objective, and the ticket timers behind
    the ticket ones (TICKET_TIMERS_SCHEMA). ``evidence``: ITEM_EVIDENCE's frames by kind;
    ``rejected_tickets``: service, ticket_id of the tickets with a rejected update;
    ``declared_priorities``: the priorities the tickets sources declare (``priorities:``).
    Ticket objectives with the same terms (their contracts and themselves equal but for ids)
    share their timers: a portfolio of customers on one service desk's standard terms runs
    each clock once."""
    tickets = evidence["tickets"]
    timers, outcomes = [], []
    by_terms: dict[tuple[str, str], pl.DataFrame] = {}
    for contract in contracts:
        contract_terms = contract.model_dump_json(exclude={"id", "objectives"})
        for objective in contract.objectives:
            if objective.sli.kind not in (*TIMER_KINDS, "first_contact_resolution"):
                continue
            of_service = pl.col("service") == objective.service
            if objective.sli.kind == "first_contact_resolution":
                events = tickets.filter(of_service).select(TICKET_EVENTS_SCHEMA.names())
                outcomes.append(
                    first_contact_outcomes(events, contract, objective, as_of, declared_priorities)
                )
                continue
            terms = (contract_terms, objective.model_dump_json(exclude={"id"}))
            if terms not in by_terms:
                by_terms[terms] = ticket_timers(
                    tickets.filter(of_service).select(TICKET_EVENTS_SCHEMA.names()),
                    contract,
                    objective,
                    as_of,
                    rejected_tickets.filter(of_service),
                    declared_priorities,
                )
            timers.append(
                by_terms[terms].with_columns(
                    contract_id=pl.lit(contract.id), objective_id=pl.lit(objective.id)
                )
            )
    timer_frame = pl.concat(timers) if timers else pl.DataFrame(schema=TICKET_TIMERS_SCHEMA)
    outcomes += [
        timer_outcomes(timer_frame),
        security_outcomes(objectives, evidence["security_incidents"], as_of),
        rpo_exposures(objectives, evidence["backup_runs"], as_of),
        restore_outcomes(objectives, evidence["restore_tests"], as_of),
        survey_outcomes(objectives, evidence["survey_responses"]),
        sample_outcomes(objectives, evidence["latency_samples"]),
    ]
    return pl.concat([frame.cast(dict(OUTCOMES_SCHEMA)) for frame in outcomes]), timer_frame


@dg.asset(
    key=["sla", "outcomes"],
    deps=[
        *(dg.AssetKey(["raw", table]) for table in ITEM_RAW_ASSETS),
        dg.AssetKey(["sla", "objectives"]),
        BLOCKED_SOURCES,
    ],
    pool=WAREHOUSE_POOL,
    group_name="sla",
)
def sla_outcomes(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    """Every counted item of the item-judged objectives (sla.outcomes), corrections dropped, and
    the ticket timers (sla.ticket_timers); metadata gives each RPO objective's current exposure
    (hours since its last good backup)."""
    contracts, _ = _valid_contracts(context, pledge)
    objectives = objectives_frame(contracts)
    with pledge.connect() as con:
        as_of = evidence_end(con) or datetime.now(UTC).replace(second=0, microsecond=0)
        evidence = {kind: query(con, sql) for kind, sql in ITEM_EVIDENCE.items()}
        rejected = query(con, REJECTED_TICKETS_SQL)
        declared = {
            priority
            for source in pledge.sources_of_kind("tickets").values()
            for priority in source.priorities or ()
        }
        outcomes, timers = item_outcomes(contracts, objectives, evidence, as_of, rejected, declared)
        kept, dropped = drop_corrected(outcomes, corrections_frame(contracts))
        held = read_held(con, ITEM_EVIDENCE)
        if not held.is_empty():  # their outcomes and timers stay as stored
            kept = with_held(kept, query(con, "SELECT * FROM sla.outcomes"), held)
            timers = with_held(timers, query(con, "SELECT * FROM sla.ticket_timers"), held)
        exposure = current_exposure(objectives, evidence["backup_runs"], as_of)
        replace_rows(
            con,
            [("sla.outcomes", "TRUE", [], kept), ("sla.ticket_timers", "TRUE", [], timers)],
        )
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "outcomes": kept.height,
            "objectives_held": held.height,
            "dropped_by_corrections": dropped.height,
            "ticket_timers": timers.height,
            "tickets_breached": int(timers["breached"].sum() or 0),
            "tickets_unmatched": int(timers["unmatched"].sum() or 0),
            "tickets_incomplete": int(timers["incomplete"].sum() or 0),
            **{
                f"rpo_exposure_hours_{contract_id}_{objective_id}": round(seconds / 3600, 2)
                for contract_id, objective_id, seconds in exposure.select(
                    "contract_id", "objective_id", "exposure_seconds"
                ).iter_rows()
                if seconds is not None
            },
        }
    )


@dg.asset(
    key=["sla", "windows"],
    deps=[dg.AssetKey(["sla", "slices"]), dg.AssetKey(["sla", "outcomes"]), BLOCKED_SOURCES],
    pool=WAREHOUSE_POOL,
    group_name="sla",
)
def sla_windows(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    """Windows of every objective (traffic ones from slices, item ones from outcomes, histogram
    window percentiles from summed buckets), alert episodes and credits, replaced together; first
    the burn rates and firing alert rules of the partitions the run's days move (all of them
    outside a run of days), written to the lake partition by partition."""
    contracts, _ = _valid_contracts(context, pledge)
    objectives = objectives_frame(contracts)
    with pledge.connect() as con:
        as_of = evidence_end(con) or datetime.now(UTC).replace(second=0, microsecond=0)
        traffic = objectives.filter(is_traffic(objectives))
        items = objectives.filter(~is_traffic(objectives))
        days = run_days(context.run.tags)
        burned = refresh_burn(con, traffic, alert_rules_frame(contracts), days)
        alerts = stored_episodes(con, traffic)
        windows = pl.concat(
            [
                daily_windows(
                    traffic,
                    stored_daily_totals(con, traffic),
                    firing_at_end(alerts),
                    as_of,
                    measurement_starts(traffic, first_evidence(con)),
                ),
                outcome_windows(
                    items.filter(pl.col("sli_method") != "histogram"),
                    query(con, "SELECT * FROM sla.outcomes"),
                    as_of,
                    ticket_flags(query(con, "SELECT * FROM sla.ticket_timers"), as_of),
                ),
                histogram_percentile_windows(
                    items.filter(pl.col("sli_method") == "histogram"),
                    query(con, "SELECT ts, service, le_seconds, count FROM raw.latency_buckets"),
                    as_of,
                ),
            ],
            how="diagonal",
        )
        held = read_held(con, LOADED_TABLES)
        if not held.is_empty():  # their windows stay as stored
            windows = with_held(windows, query(con, "SELECT * FROM sla.windows"), held)
        credits = window_credits(windows, credit_tiers_frame(contracts))
        replace_rows(
            con,
            [
                ("sla.windows", "TRUE", [], windows),
                ("sla.alerts", "TRUE", [], alerts),
                ("sla.credits", "TRUE", [], credits),
            ],
        )
    statuses = dict(windows.group_by("status").len().iter_rows())
    credit_totals = dict(  # owed: complete windows only
        owed_credits(credits).group_by("currency").agg(pl.col("credit_amount").sum()).iter_rows()
    )
    return dg.MaterializeResult(
        metadata={
            "as_of": str(as_of),
            "windows": windows.height,
            "objectives_held": held.height,
            **{f"status_{status}": count for status, count in sorted(statuses.items())},
            "alerts_firing": alerts.filter(pl.col("ended_at").is_null()).height,
            "burn_rate_partitions": "none" if burned is None else f"{burned[0]} .. {burned[1]}",
            **{
                f"credits_total_{currency}": float(total)
                for currency, total in credit_totals.items()
            },
        }
    )


sla_assets = [sla_objectives, sla_slices, sla_outcomes, sla_windows]
