"""Portfolio figures: where every objective stands, which contracts need attention first, and the
credits owed. Pure functions on the warehouse's ``sla.*`` frames."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from pipelines.report.formatting import STATUS_STYLES, UNKNOWN_STATUS

OBJECTIVE_KEY = ["contract_id", "objective_id"]

_URGENCY = {status: style.urgency for status, style in STATUS_STYLES.items()}


def urgency(status: pl.Expr) -> pl.Expr:
    """Sort rank of a status: breaching/breached 0, at risk 1, no data 2, on track/met 3."""
    return status.replace_strict(_URGENCY, default=UNKNOWN_STATUS.urgency, return_dtype=pl.Int64)


def with_breach_risk(summary: pl.DataFrame, breach_risk: pl.DataFrame) -> pl.DataFrame:
    """The objective summary with each current window's breach prediction: p_breach,
    expected_attainment, attainment_low, attainment_high, predicted_exhaustion_at (null where
    predict.breach_risk has no row, e.g. item-judged objectives)."""
    return summary.join(
        breach_risk.select(
            *OBJECTIVE_KEY,
            "window_label",
            "p_breach",
            "expected_attainment",
            "attainment_low",
            "attainment_high",
            "predicted_exhaustion_at",
        ),
        on=[*OBJECTIVE_KEY, "window_label"],
        how="left",
    )


def objective_summary(objectives: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """One row per objective: its current window, its last complete window, and its urgency.

    Input: ``sla.objectives`` and ``sla.windows`` rows. Output columns: every column of
    ``sla.objectives``; the current (incomplete, latest) window's window_label, window_start,
    window_end, good, total, attainment, error_budget, budget_consumed, budget_remaining,
    excluded_minutes, missing_minutes, as_of, status (``no_data`` when there is no current
    window), measured, interval_low and interval_high; ``target`` (the current window's, else the
    objective's); last_window_label, last_status, last_attainment, last_measured of the latest
    complete window holding data; breached_windows (complete
    windows breached); urgency. Sorted most urgent first, then least budget left.
    """
    current = (
        windows.lazy()
        .filter(~pl.col("is_complete"))
        .sort("window_start")
        .group_by(OBJECTIVE_KEY)
        .last()
        .select(
            *OBJECTIVE_KEY,
            "window_label",
            "window_start",
            "window_end",
            "good",
            "total",
            "attainment",
            pl.col("target").alias("window_target"),
            "error_budget",
            "budget_consumed",
            "budget_remaining",
            "excluded_minutes",
            "missing_minutes",
            "as_of",
            "status",
            "measured",
            "interval_low",
            "interval_high",
        )
    )
    complete = windows.lazy().filter(pl.col("is_complete"), pl.col("status") != "no_data")
    last_complete = (
        complete.sort("window_end")
        .group_by(OBJECTIVE_KEY)
        .agg(
            pl.col("window_label").last().alias("last_window_label"),
            pl.col("status").last().alias("last_status"),
            pl.col("attainment").last().alias("last_attainment"),
            pl.col("measured").last().alias("last_measured"),
            (pl.col("status") == "breached").sum().alias("breached_windows"),
        )
    )
    return (
        objectives.lazy()
        .join(current, on=OBJECTIVE_KEY, how="left")
        .join(last_complete, on=OBJECTIVE_KEY, how="left")
        .with_columns(
            pl.col("status").fill_null("no_data"),
            pl.coalesce("window_target", "target").alias("target"),
            pl.col("breached_windows").fill_null(0),
        )
        .drop("window_target")
        .with_columns(urgency(pl.col("status")).alias("urgency"))
        .sort(["urgency", "budget_remaining", *OBJECTIVE_KEY], nulls_last=True)
        .collect()
    )


def ticket_figures(timers: pl.DataFrame) -> pl.DataFrame:
    """Resolution-time figures per priority of one ticket objective.

    Input: its ``sla.ticket_timers`` rows. Output, one row per priority (null priority as
    ``(none)``), sorted by priority: tickets (completed timers), within_target (share of them not
    breached), median_seconds, mean_seconds, p90_seconds (business time of the completed timers;
    p90 by linear interpolation between closest ranks), breached (completed timers breached),
    open (timers still running). within_target and breached are null for a priority without
    target (statistic objectives such as a mean).
    """
    completed = pl.col("timer_state") == "completed"
    business = pl.col("business_seconds").filter(completed)
    breached = pl.col("breached").filter(completed)
    return (
        timers.lazy()
        .group_by(pl.col("priority").fill_null("(none)"))
        .agg(
            completed.sum().cast(pl.Int64).alias("tickets"),
            pl.when(pl.col("target_seconds").is_not_null().any())
            .then(1 - breached.fill_null(False).mean())
            .alias("within_target"),
            business.median().alias("median_seconds"),
            business.mean().alias("mean_seconds"),
            business.quantile(0.9, "linear").alias("p90_seconds"),
            pl.when(pl.col("target_seconds").is_not_null().any())
            .then(breached.sum().cast(pl.Int64))
            .alias("breached"),
            (pl.col("timer_state") == "running").sum().cast(pl.Int64).alias("open"),
        )
        .sort("priority")
        .collect()
    )


def contract_order(contract_ids: list[str], summary: pl.DataFrame) -> list[str]:
    """``contract_ids`` sorted by their most urgent objective, then by least budget left, then id.

    ``summary``: the output of :func:`objective_summary`. A contract with no objective in it sorts
    as ``no_data``.
    """
    ranks = summary.group_by("contract_id").agg(
        pl.col("urgency").min(), pl.col("budget_remaining").min()
    )
    return (
        pl.DataFrame({"contract_id": contract_ids}, schema={"contract_id": pl.String})
        .join(ranks, on="contract_id", how="left")
        .with_columns(pl.col("urgency").fill_null(_URGENCY["no_data"]))
        .sort(["urgency", "budget_remaining", "contract_id"], nulls_last=True)["contract_id"]
        .to_list()
    )


def credits_owed(credits: pl.DataFrame) -> pl.DataFrame:
    """Credits owed per contract and currency, summed over every window of ``sla.credits``.

    Output: contract_id, currency, credit_amount (sum), windows_credited (windows with a
    positive credit); sorted by contract and currency.
    """
    return (
        credits.lazy()
        .group_by("contract_id", "currency")
        .agg(
            pl.col("credit_amount").sum(),
            (pl.col("credit_amount") > 0).sum().alias("windows_credited"),
        )
        .sort("contract_id", "currency")
        .collect()
    )


LEDGER_COLUMNS = [
    "contract_id",
    "objective_id",
    "window_label",
    "contract_window",
    "window_start",
    "window_end",
    "is_complete",
    "attainment",
    "tier_below",
    "tier_credit",
    "credit_pct",
    "credit_amount",
    "currency",
    "capped",
]


def credits_ledger(credits: pl.DataFrame) -> pl.DataFrame:
    """The credits ledger: one row per contract × objective × window of ``sla.credits``.

    Output: LEDGER_COLUMNS (tier_below: the tier reached, null when none; tier_credit: its credit
    before caps; credit_pct after the objective's and the contract's caps; capped: a cap cut the
    credit), sorted by contract, window_start and objective.
    """
    return credits.select(LEDGER_COLUMNS).sort("contract_id", "window_start", "objective_id")


def corrections_applied(corrections: pl.DataFrame, objectives: pl.DataFrame) -> pl.DataFrame:
    """One row per correction of ``sla.corrections`` with the objectives it applies to.

    Inputs: ``sla.corrections`` and ``sla.objectives`` rows. Output: contract_id, correction,
    reason, author, recorded, corrected_from, corrected_until, objectives (list of objective
    titles, falling back to ids, sorted); sorted by contract and correction.
    """
    return (
        corrections.lazy()
        .join(
            objectives.lazy().select(
                *OBJECTIVE_KEY, pl.coalesce("title", "objective_id").alias("objective_title")
            ),
            on=OBJECTIVE_KEY,
            how="left",
        )
        .group_by(
            "contract_id",
            "correction",
            "reason",
            "author",
            "recorded",
            "corrected_from",
            "corrected_until",
        )
        .agg(pl.coalesce("objective_title", "objective_id").sort().alias("objectives"))
        .sort("contract_id", "correction")
        .collect()
    )


def root_cause_hints(root_causes: pl.DataFrame, episodes: int = 5, hints: int = 3) -> pl.DataFrame:
    """The root-cause hints a page shows: per objective its latest ``episodes`` burn episodes and
    the ``hints`` best-ranked series of each.

    Input: ``predict.root_causes`` rows (contract_id, objective_id, episode_start, episode_end,
    peak_burn_rate, rank, series, score, evidence, ...). Output: the same columns, sorted by
    contract, objective, latest episode first, then rank.
    """
    latest = pl.col("episode_start").rank("dense", descending=True).over(OBJECTIVE_KEY).le(episodes)
    return (
        root_causes.lazy()
        .filter(pl.col("rank") <= hints, latest)
        .sort([*OBJECTIVE_KEY, "episode_start", "rank"], descending=[False, False, True, False])
        .collect()
    )


def capacity_running_out(capacity: pl.DataFrame, as_of: datetime, days: int = 90) -> pl.DataFrame:
    """The services whose declared capacity may run out within ``days`` days of ``as_of``.

    Input: ``predict.capacity`` rows (service, capacity, current_peak, growth_per_day,
    runs_out_at, runs_out_earliest, model). Output: the rows whose ``runs_out_earliest`` (the
    day the forecast's upper bound reaches the capacity) is at most ``as_of`` + ``days``, soonest
    first.
    """
    return capacity.filter(
        pl.col("runs_out_earliest") <= (as_of + timedelta(days=days)).date()
    ).sort("runs_out_earliest", "service")
