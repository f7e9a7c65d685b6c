"""Asset checks on what matters: no duplicate raw rows, fresh sources, few rejects, and a current
window for every objective; and the asset ``ops/blocked_sources`` that judges the evidence once a
run for the checks and the SLA stage.

Duplicate rows and a reject-heavy day are errors that block no Dagster step: a failing check on
one source must stop only what reads that source, and a Dagster blocking check stops every asset
downstream of the raw asset, for every contract. ``ops/blocked_sources`` looks for both after the
raw assets, once for every raw table and source (``pipelines.ops.evidence.find_evidence``), and
stores what it finds; the SLA assets hold back what reads a blocked source (its objectives keep
their stored windows, the others are computed), the raw assets' checks report the stored
findings, and ``pledge run`` names the source and its files and exits non-zero. The checks name
the files and their most common reject reasons; stale sources warn; an objective without a
current window is an error that does not stop the reports. The evidence of a run over days is
judged over those days; ``ops/blocked_sources`` run alone (from the UI) judges everything, and a
check run alone reports the latest findings. Thresholds come from the environment, a source's own
(``sources.yaml``) taking precedence:

- A day of a source is reject-heavy when both its rejected share exceeds the largest allowed
  (``max_reject_ratio``; ``PLEDGE_MAX_REJECT_RATIO``, default 0.01) and its rejected rows exceed
  those tolerated whatever their share (``max_rejected_rows``; ``PLEDGE_MAX_REJECTED_ROWS``,
  default 10): one bad line of a five-line file is 20 % but no reason to alarm.
- ``PLEDGE_FRESHNESS``: maximum age of each source's newest evidence, in hours, as
  ``source=hours,...`` (e.g. ``requests=6,security=720``); sources not named get their kind's
  default (``MAX_AGE_HOURS``). Age is measured at the end of the run's last day, or now when that
  is earlier or the run has no days: a backfill of past days is judged as of those days.
"""

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg
import duckdb
import polars as pl

from pipelines.ingest.assets import ingest_assets
from pipelines.ingest.load import RAW_TABLES
from pipelines.ops.evidence import (
    DEFAULT_MAX_REJECT_RATIO,
    DEFAULT_MAX_REJECTED_ROWS,
    find_evidence,
    held_objectives,
    read_duplicates,
    read_reject_heavy,
    reject_limits,
    run_days,
)
from pipelines.ops.jobs import BLOCKED_SOURCES
from pipelines.resources import WAREHOUSE_POOL, PledgeHome
from pipelines.sla.assets import evidence_end
from pipelines.sla.objectives import objectives_frame
from pipelines.warehouse import query, replace_rows

EVIDENCE_TIME = {
    "raw.security_incidents": "detected_at",
    "raw.backup_runs": "finished_at",
    "raw.restore_tests": "finished_at",
}
"""The column dating a row, where it is not ``ts``."""

MAX_AGE_HOURS: dict[str, float | None] = {
    "requests": 36,
    "histogram": 36,
    "probes": 36,
    "latency_samples": 36,
    "backup_runs": 72,
    "tickets": 72,
    "survey_responses": 7 * 24,
    "restore_tests": 8 * 24,
    "security_incidents": None,
}
"""Default maximum age of a source's newest evidence by kind: a daily export plus slack; tickets
over a weekend; a nightly backup run missed once; weekly restore tests. No incident for a long
time is good news: not checked."""


def freshness_time(days: tuple[date, date] | None, now: datetime) -> datetime:
    """The instant evidence age is measured at: the end of the run's last day, or ``now`` when
    that is earlier or the run covers no days."""
    if days is None:
        return now
    return min(now, datetime.combine(days[1] + timedelta(days=1), time(), UTC))


def newest_evidence(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    """source (String), newest (Datetime UTC): the latest evidence time of each source."""
    column = EVIDENCE_TIME.get(table, "ts")
    return query(con, f"SELECT source, max({column}) AS newest FROM {table} GROUP BY source")


def max_ages(sources: Mapping[str, str], setting: str | None = None) -> dict[str, timedelta | None]:
    """Each source's maximum evidence age (None: not checked). ``sources``: name → kind;
    ``setting``: ``PLEDGE_FRESHNESS`` text, ``source=hours`` pairs separated by commas."""
    hours = {name: MAX_AGE_HOURS[kind] for name, kind in sources.items()}
    for pair in filter(None, (part.strip() for part in (setting or "").split(","))):
        name, _, value = pair.partition("=")
        try:
            hours[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"PLEDGE_FRESHNESS: {pair!r} is not source=hours") from None
    return {
        name: None if value is None else timedelta(hours=value)
        for name, value in hours.items()
        if name in sources
    }


def stale_sources(
    newest: pl.DataFrame, ages: Mapping[str, timedelta | None], as_of: datetime
) -> pl.DataFrame:
    """The sources whose newest evidence (``newest_evidence``) is older than their maximum age at
    ``as_of``, or which have none: source (String), newest (Datetime UTC, null without
    evidence), age_hours (Float64, null without evidence), max_age_hours (Float64)."""
    latest = dict(newest.iter_rows())
    rows = [
        {
            "source": name,
            "newest": latest.get(name),
            "age_hours": None
            if latest.get(name) is None
            else (as_of - latest[name]).total_seconds() / 3600,
            "max_age_hours": limit.total_seconds() / 3600,
        }
        for name, limit in sorted(ages.items())
        if limit is not None and (latest.get(name) is None or as_of - latest[name] > limit)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "source": pl.String,
            "newest": pl.Datetime("us", "UTC"),
            "age_hours": pl.Float64,
            "max_age_hours": pl.Float64,
        },
    )


def objectives_without_current_window(
    con: duckdb.DuckDBPyConnection, as_of: datetime
) -> pl.DataFrame:
    """contract_id, objective_id of every objective in effect at ``as_of`` that has no current
    (incomplete) window in sla.windows."""
    return query(
        con,
        "SELECT contract_id, objective_id FROM sla.objectives o "
        "WHERE coalesce(effective_start <= ?, TRUE) AND coalesce(effective_end > ?, TRUE) "
        "AND NOT EXISTS (SELECT 1 FROM sla.windows w WHERE w.contract_id = o.contract_id "
        "AND w.objective_id = o.objective_id AND NOT w.is_complete) "
        "ORDER BY contract_id, objective_id",
        [as_of, as_of],
    )


def _listing(frame: pl.DataFrame, limit: int = 20) -> dg.MetadataValue:
    """The first rows of a frame as a markdown table."""
    if frame.is_empty():
        return dg.MetadataValue.md("none")
    head = frame.head(limit)
    lines = [
        "| " + " | ".join(head.columns) + " |",
        "|" + " --- |" * head.width,
        *("| " + " | ".join(str(value) for value in row) + " |" for row in head.iter_rows()),
    ]
    more = [f"\n… and {frame.height - limit} more"] if frame.height > limit else []
    return dg.MetadataValue.md("\n".join(lines + more))


def judge_evidence(
    pledge: PledgeHome, days: tuple[date, date] | None, log: Callable[[str], object]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Judge the evidence of ``days`` (every day when None) once: the ``find_evidence`` of the
    home's sources and the objectives of its valid contracts they hold back, stored in
    ``ops.duplicate_rows``, ``ops.reject_heavy_days``, ``ops.blocked_sources`` and
    ``ops.held_objectives``; each blocked source told to ``log``. Returns the blocked sources and
    the objectives held (BLOCKED_SOURCES_SCHEMA, HELD_OBJECTIVES_SCHEMA)."""
    sources = {
        name: source for name, source in pledge.sources().items() if source.kind in RAW_TABLES
    }
    objectives = objectives_frame(pledge.contracts()[0])
    with pledge.connect() as con:
        found = find_evidence(con, sources, reject_limits(sources, os.environ), days)
        held = held_objectives(con, objectives, found.blocked, sources, days)
        as_of = evidence_end(con) or datetime.now(UTC).replace(second=0, microsecond=0)
        replace_rows(
            con,
            [
                ("ops.duplicate_rows", "TRUE", [], found.duplicates),
                ("ops.reject_heavy_days", "TRUE", [], found.reject_heavy),
                ("ops.held_objectives", "TRUE", [], held),
                (
                    "ops.blocked_sources",
                    "TRUE",
                    [],
                    found.blocked.with_columns(
                        first_day=pl.lit(days and days[0], pl.Date),
                        last_day=pl.lit(days and days[1], pl.Date),
                        as_of=pl.lit(as_of, pl.Datetime("us", "UTC")),
                    ),
                ),
            ],
        )
    for source, check, reason in found.blocked.select("source", "check_name", "reason").rows():
        of_source = held.filter(pl.col("source") == source).select("contract_id", "objective_id")
        objectives_held = ", ".join("/".join(key) for key in of_source.iter_rows()) or "none"
        log(f"source {source} blocked ({check}): {reason}; held: {objectives_held}")
    return found.blocked, held


@dg.asset(
    key=BLOCKED_SOURCES,
    deps=[asset.key for asset in ingest_assets],
    pool=WAREHOUSE_POOL,
    group_name="ops",
)
def blocked_sources(context: dg.AssetExecutionContext, pledge: PledgeHome) -> dg.MaterializeResult:
    """The sources whose rows of the run's days are there twice or that have a reject-heavy day,
    and the objectives they hold back (``judge_evidence``): what the SLA assets hold back and
    the raw assets' checks report."""
    blocked, held = judge_evidence(pledge, run_days(context.run.tags), context.log.error)
    return dg.MaterializeResult(
        metadata={
            "sources_blocked": ", ".join(blocked["source"].unique(maintain_order=True)),
            "objectives_held": held.height,
        }
    )


def raw_checks(asset: dg.AssetsDefinition, kind: str) -> dg.AssetChecksDefinition:
    """The duplicate, reject and freshness checks of one raw asset (source kind ``kind``), run
    as one step on one read-only connection (each can still be run alone); the first two report
    what ``ops/blocked_sources`` found."""
    table = RAW_TABLES[kind]
    specs = [
        dg.AssetCheckSpec(
            "no_duplicate_rows",
            asset=asset,
            additional_deps=[BLOCKED_SOURCES],
            description=f"No row of {table} is there twice (it would be counted twice): an error "
            "that blocks no step; the objectives reading a source with duplicates keep their "
            "previous windows, the others are computed.",
        ),
        dg.AssetCheckSpec(
            "reject_ratio",
            asset=asset,
            additional_deps=[BLOCKED_SOURCES],
            description="No source of the asset rejects both more than its max_reject_ratio "
            f"(PLEDGE_MAX_REJECT_RATIO, default {DEFAULT_MAX_REJECT_RATIO:.0%}) of a day's rows "
            "and more than its max_rejected_rows (PLEDGE_MAX_REJECTED_ROWS, default "
            f"{DEFAULT_MAX_REJECTED_ROWS}) (an error naming the files and reasons that blocks no "
            "step; the objectives reading that source keep their previous windows).",
        ),
        dg.AssetCheckSpec(
            "fresh_sources",
            asset=asset,
            description="Each source's newest evidence is younger than its maximum age "
            "(PLEDGE_FRESHNESS).",
        ),
    ]

    @dg.multi_asset_check(
        name=f"{asset.key.path[-1]}_checks", specs=specs, can_subset=True, pool=WAREHOUSE_POOL
    )
    def checks(
        context: dg.AssetCheckExecutionContext, pledge: PledgeHome
    ) -> Iterator[dg.AssetCheckResult]:
        days = run_days(context.run.tags)
        declared = pledge.sources_of_kind(kind)
        sources = {name: kind for name in declared}
        selected = {key.name for key in context.selected_asset_check_keys}
        with pledge.connect(read_only=True) as con:
            if "no_duplicate_rows" in selected:
                duplicates = read_duplicates(con, table)
                yield dg.AssetCheckResult(
                    check_name="no_duplicate_rows",
                    passed=duplicates.is_empty(),
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "duplicate_keys": duplicates.height,
                        "duplicates": _listing(duplicates),
                    },
                )
            if "reject_ratio" in selected:
                limits = reject_limits(declared, os.environ)
                heavy = read_reject_heavy(con, declared)
                yield dg.AssetCheckResult(
                    check_name="reject_ratio",
                    passed=heavy.is_empty(),
                    severity=dg.AssetCheckSeverity.ERROR,
                    description="\n".join(heavy["reason"]) or None,
                    metadata={
                        "limits": _listing(
                            pl.DataFrame(
                                [{"source": name, **vars(limit)} for name, limit in limits.items()]
                            )
                        ),
                        "reject_heavy_days": heavy.height,
                        "days": _listing(heavy.drop("reason")),
                    },
                )
            if "fresh_sources" in selected:
                as_of = freshness_time(days, datetime.now(UTC))
                ages = max_ages(sources, os.environ.get("PLEDGE_FRESHNESS"))
                stale = stale_sources(newest_evidence(con, table), ages, as_of)
                yield dg.AssetCheckResult(
                    check_name="fresh_sources",
                    passed=stale.is_empty(),
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "as_of": str(as_of),
                        "sources_checked": sum(limit is not None for limit in ages.values()),
                        "stale_sources": _listing(stale),
                    },
                )

    return checks


@dg.asset_check(
    asset=dg.AssetKey(["sla", "windows"]),
    name="current_window_per_objective",
    pool=WAREHOUSE_POOL,
    description="Every objective in effect has a current window (else reports and predictions "
    "leave it out).",
)
def current_window_per_objective(pledge: PledgeHome) -> dg.AssetCheckResult:
    with pledge.connect(read_only=True) as con:
        as_of = evidence_end(con) or datetime.now(UTC)
        missing = objectives_without_current_window(con, as_of)
    return dg.AssetCheckResult(
        passed=missing.is_empty(),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "as_of": str(as_of),
            "objectives_without_window": missing.height,
            "objectives": _listing(missing),
        },
    )


RAW_KINDS = {table.split(".")[1]: kind for kind, table in RAW_TABLES.items()}

asset_checks = [
    *(raw_checks(asset, RAW_KINDS[asset.key.path[1]]) for asset in ingest_assets),
    current_window_per_objective,
]
