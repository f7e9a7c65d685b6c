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
"""

from __future__ import annotations

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
    listed window is credited, complete ones and the current one (credits need a calendar window:
    the contract model refuses them on rolling windows, which overlap day by day).

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
    owed = (
        (pl.col("objective_pct") * pl.col("monthly_fee"))
        .sum()
        .over("contract_id", "contract_window")
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
