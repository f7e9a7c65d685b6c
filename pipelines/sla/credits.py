"""Service credits per objective window from the objective's tiered schedule, capped per
objective and across the contract.

Per objective window: the lowest tier whose ``below`` the attainment is under is the tier reached
(attainment 98.5% with tiers below 99.9% → 10% and below 99% → 25% reaches the 25% tier); its
credit is limited to the objective's ``cap``.

Across a contract: the monthly fee is paid per month, so the *contract window* is the calendar
month of the contract's zone, and an objective window belongs to the month holding its start
(its first local day). A monthly objective's window is its own contract window (label
``2026-03``); daily windows fall in their month; a weekly window that straddles two months counts
in the month of its Monday; a quarterly window in the quarter's first month. When the credits of
the contract's objective windows in one contract window add up to more than
``credit_cap × monthly_fee``, every one of them is scaled down by the same factor
(``credit_cap × monthly_fee / sum``), so each objective keeps its share of the capped total.

credit_amount = credit_pct × monthly_fee. ``capped`` flags a window whose credit_pct ended below
its tier's credit, by the objective's cap or the contract's.

Owed and forecast. Only complete windows owe a credit (:func:`owed_credits`, the one definition
the reports, the monthly summary and the notebooks use); the contract's cap is applied over the
complete windows of a contract window alone. The current window's row is what it would earn if it
ended now; what it is expected to earn is a forecast (:func:`credit_forecasts`).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import polars as pl

from pipelines.sla.objectives import KEYS, UTC_US

CREDITS_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "window_label": pl.String,
    "window_start": UTC_US,
    "window_end": UTC_US,
    "is_complete": pl.Boolean,
    "contract_window": pl.String,
    "attainment": pl.Float64,
    "tier_below": pl.Float64,
    "tier_credit": pl.Float64,
    "credit_pct": pl.Float64,
    "credit_amount": pl.Float64,
    "currency": pl.String,
    "capped": pl.Boolean,
}


def window_credits(windows: pl.DataFrame, tiers: pl.DataFrame) -> pl.DataFrame:
    """The credit each calendar window of an objective with credits earns (module docstring).

    Windows with no data or meeting every tier earn 0 (tier_below and tier_credit null). Every
    listed window is credited, complete ones and the current one (what it earns if it ended now;
    only complete ones are owed, see :func:`owed_credits`). Credits need a calendar window: the
    contract model refuses them on rolling windows, which overlap day by day.

    Inputs: ``windows`` (objective_windows: contract_id, objective_id, window_label,
    window_start, window_end, is_complete, attainment), ``tiers`` (credit_tiers_frame).
    Output: CREDITS_SCHEMA; tier_below, tier_credit and credit_pct are shares (0.1 = 10%).
    """
    contract_terms = ["cap", "monthly_fee", "currency", "credit_cap", "time_zone"]
    listed = with_contract_window(
        windows.join(tiers.select(*KEYS, *contract_terms).unique(KEYS), on=KEYS)
    )
    reached = (
        listed.select(*KEYS, "window_label", "attainment")
        .join(tiers.select(*KEYS, "below", "credit"), on=KEYS)
        .filter(pl.col("attainment") < pl.col("below"))
        .group_by([*KEYS, "window_label"])
        .agg(
            tier_below=pl.col("below").min(),
            tier_credit=pl.col("credit").sort_by("below").first(),
        )
    )
    objective_pct = pl.min_horizontal(pl.col("tier_credit").fill_null(0.0), pl.col("cap"))
    contract_limit = pl.col("credit_cap") * pl.col("monthly_fee")
    # complete windows share the cap among themselves; the current one is scaled with them
    earned = pl.col("objective_pct") * pl.col("monthly_fee")
    owed = (
        pl.when(pl.col("is_complete"))
        .then(earned.filter(pl.col("is_complete")).sum().over("contract_id", "contract_window"))
        .otherwise(earned.sum().over("contract_id", "contract_window"))
    )
    scale = pl.when(owed > contract_limit).then(contract_limit / owed).otherwise(1.0)
    return (
        listed.join(reached, on=[*KEYS, "window_label"], how="left")
        .with_columns(objective_pct=objective_pct)
        .with_columns(credit_pct=pl.col("objective_pct") * scale)
        .with_columns(
            credit_amount=pl.col("credit_pct") * pl.col("monthly_fee"),
            capped=pl.col("credit_pct") < pl.col("tier_credit").fill_null(0.0),
        )
        .select(list(CREDITS_SCHEMA))
        .sort([*KEYS, "window_start"])
        .cast(CREDITS_SCHEMA)  # type: ignore[arg-type]
    )


def with_contract_window(windows: pl.DataFrame) -> pl.DataFrame:
    """``windows`` (window_start, time_zone) with contract_window: the month (YYYY-MM) of the
    zone holding window_start. Converts once per zone, not per row."""
    parts = [
        part.with_columns(
            contract_window=pl.col("window_start").dt.convert_time_zone(zone).dt.strftime("%Y-%m")
        )
        for (zone,), part in windows.partition_by("time_zone", as_dict=True).items()
    ]
    if not parts:
        return windows.with_columns(contract_window=pl.lit(None, pl.String))
    return pl.concat(parts)


def owed_credits(credits: pl.DataFrame) -> pl.DataFrame:
    """The credits owed: the ``sla.credits`` rows of complete windows (a running window is
    forecast, not owed: :func:`credit_forecasts`)."""
    return credits.filter(pl.col("is_complete"))


FORECAST_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "window_label": pl.String,
    "expected_attainment": pl.Float64,
    "tier_below": pl.Float64,
    "tier_credit": pl.Float64,
    "credit_pct": pl.Float64,
    "credit_amount": pl.Float64,
    "currency": pl.String,
    "probability": pl.Float64,
}
_DECILE = NormalDist().inv_cdf(0.9)


def credit_forecasts(
    credits: pl.DataFrame, tiers: pl.DataFrame, breach_risk: pl.DataFrame
) -> pl.DataFrame:
    """The credit each current window is expected to earn, from its breach-risk prediction.

    The expected tier is the tier reached at the expected attainment (as :func:`window_credits`
    reads tiers); credit_pct is its credit after the objective's cap and the contract's
    ``credit_cap`` (the other windows of the month are not counted); credit_amount =
    credit_pct × monthly_fee. ``probability`` is the chance the window ends in that tier or a
    worse one, or with no tier expected the chance of any credit (below the highest tier): the
    prediction's p_breach when that tier's bound is the target, else a normal distribution with
    the expected attainment as mean and the prediction's 10th–90th percentile spread.

    Inputs: ``sla.credits`` rows, ``tiers`` (credit_tiers_frame), ``predict.breach_risk`` rows.
    Output: FORECAST_SCHEMA, one row per current window with credits and an expected attainment
    (tier_below, tier_credit null and credit 0 when no tier is expected).
    """
    predicted = breach_risk.select(
        *KEYS, "window_label", "p_breach", "expected_attainment", "attainment_low",
        "attainment_high", "target",
    ).filter(pl.col("expected_attainment").is_not_null())  # fmt: skip
    current = credits.filter(~pl.col("is_complete")).select(*KEYS, "window_label", "currency")
    listed = current.join(predicted, on=[*KEYS, "window_label"]).join(
        tiers.select(*KEYS, "cap", "monthly_fee", "credit_cap").unique(KEYS), on=KEYS
    )
    window = [*KEYS, "window_label"]
    with_tiers = listed.join(tiers.select(*KEYS, "below", "credit"), on=KEYS)
    reached = (
        with_tiers.group_by(window)
        .agg(highest_below=pl.col("below").max())
        .join(
            with_tiers.filter(pl.col("expected_attainment") < pl.col("below"))
            .group_by(window)
            .agg(
                tier_below=pl.col("below").min(),
                tier_credit=pl.col("credit").sort_by("below").first(),
            ),
            on=window,
            how="left",
        )
    )
    pct = pl.min_horizontal(
        pl.col("tier_credit").fill_null(0.0), "cap", pl.col("credit_cap").fill_null(1.0)
    )
    forecasts = (
        listed.join(reached, on=window)
        .with_columns(credit_pct=pct)
        .with_columns(credit_amount=pl.col("credit_pct") * pl.col("monthly_fee"))
    )
    probability = [
        _probability_below(row)
        for row in forecasts.select(
            pl.coalesce("tier_below", "highest_below").alias("bound"), "target", "p_breach",
            "expected_attainment", "attainment_low", "attainment_high",
        ).iter_rows(named=True)
    ]  # fmt: skip
    return (
        forecasts.with_columns(probability=pl.Series(probability, dtype=pl.Float64))
        .select(list(FORECAST_SCHEMA))
        .sort(KEYS)
        .cast(FORECAST_SCHEMA)  # type: ignore[arg-type]
    )


def _probability_below(row: dict) -> float | None:
    """P(final attainment < bound) for one prediction (see :func:`credit_forecasts`)."""
    if math.isclose(row["bound"], row["target"]) and row["p_breach"] is not None:
        return row["p_breach"]
    mean, low, high = row["expected_attainment"], row["attainment_low"], row["attainment_high"]
    if low is None or high is None or high <= low:
        return float(mean < row["bound"])
    return NormalDist(mean, (high - low) / (2 * _DECILE)).cdf(row["bound"])
