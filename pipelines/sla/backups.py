"""Backup runs and restore tests → outcomes for RPO and RTO.

RPO. The exposure at instant t is e(t) = t − finished_at of the last successful backup finished
at or before t (how much data a loss at t would lose). A window's RPO is the largest exposure
within it: sup of e(t) over the window. e(t) grows along each *exposure span* (from one good
backup to the next, the last one open until ``as_of``) and drops at each good backup, so the
outcomes of an RPO objective are its spans: counted_at = the backup's finished_at, value = the
span's length in seconds. ``outcome_windows`` places a span in every window it overlaps with
value min(span end, window end) − span start: a gap across a window boundary counts in the first
window up to the boundary and in the second with its full length. Failed or unfinished runs do
not end a span. Before the first good backup the exposure is undefined: no span, no window.

RTO: one outcome per restore test, counted at its finished_at (started_at when a failed test has
none), value = its duration in seconds. A failed restore never recovered: value +inf (so a mean
or max is infinite, and a percentile is once the failures reach its rank) and good false.
Tests with no finished_at and no failure recorded are still running and not counted.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from pipelines.sla.objectives import KEYS, UTC_US
from pipelines.sla.outcomes import OUTCOMES_SCHEMA


def _good_backups(
    objectives: pl.DataFrame, backup_runs: pl.DataFrame, as_of: datetime
) -> pl.LazyFrame:
    """Successful backups finished by as_of of each RPO objective's service: KEYS, run_id,
    finished_at, sorted by objective and finished_at."""
    return (
        objectives.lazy()
        .filter(pl.col("sli_method") == "backup_runs")
        .select(*KEYS, "service")
        .join(backup_runs.lazy(), on="service", how="inner")
        .filter(
            pl.col("success").fill_null(False),
            pl.col("finished_at") <= pl.lit(as_of.astimezone(UTC), UTC_US),
        )
        .select(*KEYS, pl.col("run_id").cast(pl.String), "finished_at")
        .sort([*KEYS, "finished_at"])
    )


def rpo_exposures(
    objectives: pl.DataFrame, backup_runs: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """Exposure spans of every RPO objective (see the module docstring).

    Inputs: ``objectives`` (objectives_frame), ``backup_runs`` (raw.backup_runs: service,
    run_id, started_at, finished_at, success). Output: OUTCOMES_SCHEMA, one row per successful
    backup: item_id = its run_id, counted_at = its finished_at, value = seconds until the next
    successful backup finished (or until as_of), good null.
    """
    as_of_expr = pl.lit(as_of.astimezone(UTC), UTC_US)
    span_end = pl.col("finished_at").shift(-1).over(KEYS).fill_null(as_of_expr)
    return (
        _good_backups(objectives, backup_runs, as_of)
        .with_columns(
            value=(span_end - pl.col("finished_at")).dt.total_microseconds() / 1e6,
            open=pl.col("finished_at").shift(-1).over(KEYS).is_null(),
        )
        .select(
            *KEYS,
            item_id="run_id",
            counted_at="finished_at",
            value="value",
            good=pl.lit(None, pl.Boolean),
            detail=pl.format(
                "{} h since backup {}{}",
                (pl.col("value") / 3600).round(2),
                "run_id",
                pl.when("open").then(pl.lit(" (current)")).otherwise(pl.lit("")),
            ),
        )
        .collect()
        .cast(OUTCOMES_SCHEMA)  # type: ignore[arg-type]
    )


def current_exposure(
    objectives: pl.DataFrame, backup_runs: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """The exposure at ``as_of`` of every RPO objective: contract_id, objective_id,
    last_good_backup_at (null with none), exposure_seconds (as_of − last_good_backup_at)."""
    as_of_expr = pl.lit(as_of.astimezone(UTC), UTC_US)
    last = (
        _good_backups(objectives, backup_runs, as_of)
        .group_by(KEYS)
        .agg(last_good_backup_at=pl.col("finished_at").max())
    )
    return (
        objectives.lazy()
        .filter(pl.col("sli_method") == "backup_runs")
        .select(KEYS)
        .join(last, on=KEYS, how="left")
        .with_columns(
            exposure_seconds=(as_of_expr - pl.col("last_good_backup_at")).dt.total_microseconds()
            / 1e6
        )
        .collect()
    )


def restore_outcomes(
    objectives: pl.DataFrame, restore_tests: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """Outcomes of every RTO objective (see the module docstring).

    Inputs: ``objectives`` (objectives_frame), ``restore_tests`` (raw.restore_tests: service,
    test_id, started_at, finished_at, success). Output: OUTCOMES_SCHEMA; good = success and
    duration ≤ threshold for share_within objectives, else null.
    """
    failed = ~pl.col("success").fill_null(False)
    threshold = pl.col("threshold_seconds")
    duration = (pl.col("finished_at") - pl.col("started_at")).dt.total_microseconds() / 1e6
    return (
        objectives.lazy()
        .filter(pl.col("sli_method") == "restore_tests")
        .select(*KEYS, "service", "threshold_seconds")
        .join(restore_tests.lazy(), on="service", how="inner")
        .filter(pl.col("finished_at").is_not_null() | (pl.col("success") == False))  # noqa: E712
        .with_columns(
            counted_at=pl.coalesce("finished_at", "started_at"),
            value=pl.when(failed).then(float("inf")).otherwise(duration),
        )
        .filter(pl.col("counted_at") <= pl.lit(as_of.astimezone(UTC), UTC_US))
        .select(
            *KEYS,
            item_id=pl.col("test_id").cast(pl.String),
            counted_at="counted_at",
            value="value",
            good=pl.when(threshold.is_not_null()).then(~failed & (pl.col("value") <= threshold)),
            detail=pl.when(failed)
            .then(pl.lit("restore failed"))
            .otherwise(pl.format("restored in {} h", (pl.col("value") / 3600).round(2))),
        )
        .collect()
        .cast(OUTCOMES_SCHEMA)  # type: ignore[arg-type]
    )
