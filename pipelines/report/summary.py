"""Portfolio figures: where every objective stands, which contracts need attention first, and the
credits owed. Pure functions on the warehouse's ``sla.*`` frames."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from pipelines.sla.credits import owed_credits

OBJECTIVE_KEY = ["contract_id", "objective_id"]

LOW_BUDGET = 0.25
"""A current window with less than this share of its error budget left ranks as "budget low"."""

URGENCY_LABELS = ("Breaching", "At risk", "Budget low", "No data", "OK")
"""What each urgency rank (0 … 4) means; :func:`urgency` assigns them."""


def urgency(
    status: pl.Expr, p_breach: pl.Expr, risk_threshold: pl.Expr, budget_remaining: pl.Expr
) -> pl.Expr:
    """The urgency rank of an objective's current window, 0 needing attention first: 0 breaching
    now (status ``breaching``), 1 at risk (status ``at_risk``, or a breach probability at or above
    the objective's risk threshold), 2 budget low (less than :data:`LOW_BUDGET` of the error
    budget left), 3 no data (also insufficient data or an unknown status), 4 on track. A null
    ``p_breach`` or ``budget_remaining`` raises no rank."""
    return (
        pl.when(status.is_in(["breaching", "breached"]))
        .then(0)
        .when((status == "at_risk") | (p_breach >= risk_threshold).fill_null(False))
        .then(1)
        .when((budget_remaining < LOW_BUDGET).fill_null(False))
        .then(2)
        .when(~status.is_in(["on_track", "met"]).fill_null(True))
        .then(3)
        .otherwise(4)
        .cast(pl.Int64)
    )


def by_urgency(summary: pl.DataFrame) -> pl.DataFrame:
    """Objective rows (contract_id, objective_id, status, p_breach, risk_threshold,
    budget_remaining, ...) with their ``urgency`` rank (:func:`urgency`), most urgent first;
    within a rank the highest breach probability, then the least budget left, then the ids."""
    return summary.with_columns(
        urgency(
            pl.col("status"),
            pl.col("p_breach"),
            pl.col("risk_threshold"),
            pl.col("budget_remaining"),
        ).alias("urgency")
    ).sort(
        ["urgency", "p_breach", "budget_remaining", *OBJECTIVE_KEY],
        descending=[False, True, False, False, False],
        nulls_last=True,
    )


_PREDICTION = {
    "p_breach": pl.Float64,
    "expected_attainment": pl.Float64,
    "attainment_low": pl.Float64,
    "attainment_high": pl.Float64,
    "predicted_exhaustion_at": pl.Datetime("us", "UTC"),
    "expected_measured": pl.Float64,
    "measured_low": pl.Float64,
    "measured_high": pl.Float64,
    "method": pl.String,
}


def objective_summary(
    objectives: pl.DataFrame, windows: pl.DataFrame, breach_risk: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per objective: its current window, its breach prediction, its last complete window
    and its urgency.

    Input: ``sla.objectives``, ``sla.windows`` and ``predict.breach_risk`` rows (none given: no
    predictions). Output columns: every column of ``sla.objectives``; the current (incomplete,
    latest) window's window_label, window_start, window_end, good, total, attainment,
    error_budget, budget_consumed, budget_remaining, excluded_minutes, missing_minutes, coverage,
    as_of,
    status (``no_data`` when there is no current window), measured, interval_low,
    interval_high, unmatched and incomplete (tickets); ``target`` (the current window's, else
    the objective's); that window's
    p_breach, expected_attainment, attainment_low, attainment_high, predicted_exhaustion_at,
    expected_measured, measured_low, measured_high and method (null without a prediction; the
    measured ones, in the objective's unit, are null in a ``predict.breach_risk`` without them);
    last_window_label, last_status, last_attainment, last_measured of the latest complete window
    holding data;
    breached_windows (complete windows breached); urgency. Sorted as :func:`by_urgency`.
    """
    if breach_risk is None:
        breach_risk = pl.DataFrame(
            schema={**dict.fromkeys([*OBJECTIVE_KEY, "window_label"], pl.String), **_PREDICTION}
        )
    predicted = breach_risk.lazy().select(
        *OBJECTIVE_KEY,
        "window_label",
        *(
            pl.col(name) if name in breach_risk.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in _PREDICTION.items()
        ),
    )
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
            "coverage",
            "as_of",
            "status",
            "measured",
            "interval_low",
            "interval_high",
            "unmatched",
            "incomplete",
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
    summary = (
        objectives.lazy()
        .join(current, on=OBJECTIVE_KEY, how="left")
        .join(predicted, on=[*OBJECTIVE_KEY, "window_label"], how="left")
        .join(last_complete, on=OBJECTIVE_KEY, how="left")
        .with_columns(
            pl.col("status").fill_null("no_data"),
            pl.coalesce("window_target", "target").alias("target"),
            pl.col("breached_windows").fill_null(0),
        )
        .drop("window_target")
        .collect()
    )
    return by_urgency(summary)


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
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )


def unmatched_priorities(timers: pl.DataFrame) -> pl.DataFrame:
    """The unmatched tickets of one ticket objective per priority.

    Input: its ``sla.ticket_timers`` rows. Output: priority (null as ``no priority``), tickets;
    most tickets first, then by priority.
    """
    return (
        timers.lazy()
        .filter(pl.col("unmatched"))
        .group_by(pl.col("priority").fill_null("no priority"))
        .agg(tickets=pl.len())
        .sort(["tickets", "priority"], descending=[True, False])
        .collect(engine="in-memory")  # the engine of eager steps: small frames
    )


def contract_order(contract_ids: list[str], summary: pl.DataFrame) -> list[str]:
    """``contract_ids`` sorted by their most urgent objective (:func:`urgency`), then by their
    highest breach probability, then by least budget left, then id.

    ``summary``: the output of :func:`objective_summary`. A contract with no objective in it sorts
    as no data.
    """
    ranks = summary.group_by("contract_id").agg(
        pl.col("urgency").min(), pl.col("p_breach").max(), pl.col("budget_remaining").min()
    )
    return (
        pl.DataFrame({"contract_id": contract_ids}, schema={"contract_id": pl.String})
        .join(ranks, on="contract_id", how="left")
        .with_columns(pl.col("urgency").fill_null(URGENCY_LABELS.index("No data")))
        .sort(
            ["urgency", "p_breach", "budget_remaining", "contract_id"],
            descending=[False, True, False, False],
            nulls_last=True,
        )["contract_id"]
        .to_list()
    )


def credits_owed(credits: pl.DataFrame) -> pl.DataFrame:
    """Credits owed per contract and currency, summed over the complete windows of
    ``sla.credits`` (:func:`~pipelines.sla.credits.owed_credits`; the running window is a
    forecast, not owed).

    Output: contract_id, currency, credit_amount (sum), windows_credited (windows with a
    positive credit); sorted by contract and currency.
    """
    return (
        owed_credits(credits)
        .lazy()
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
    the ``hints`` best-ranked series of each that beat chance (``significant``); an episode with
    none keeps its best series, not significant, for the page to say nothing lines up.

    Input: ``predict.root_causes`` rows (contract_id, objective_id, episode_start, episode_end,
    peak_burn_rate, rank, series, score, p_value, significant, evidence, ...). Output: the same
    columns, sorted by contract, objective, latest episode first, then rank.
    """
    latest = pl.col("episode_start").rank("dense", descending=True).over(OBJECTIVE_KEY).le(episodes)
    shown = pl.col("significant").fill_null(False) | (pl.col("rank") == 1)
    return (
        root_causes.lazy()
        .filter(pl.col("rank") <= hints, shown, latest)
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


def budget_exhausted_since(burndown: pl.DataFrame) -> datetime | None:
    """When the current window's error budget ran out, if it is out now: the first point of the
    last stretch of the burn-down (``figures.budget_burndown``: ts, budget_remaining, hourly)
    with no budget left (budget_remaining ≤ 0). None when budget is left at the last point."""
    out = (burndown["budget_remaining"] <= 0).fill_null(False)
    if burndown.is_empty() or not out[-1]:
        return None
    left = (~out).arg_true()
    return burndown["ts"][0 if left.is_empty() else left[-1] + 1]
