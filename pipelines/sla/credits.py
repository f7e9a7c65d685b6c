"""Service credits per objective window from the objective's tiered schedule."""

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
    "attainment": pl.Float64,
    "credit_pct": pl.Float64,
    "credit_amount": pl.Float64,
    "currency": pl.String,
}


def window_credits(windows: pl.DataFrame, tiers: pl.DataFrame) -> pl.DataFrame:
    """The credit each calendar window of an objective with credits earns.

    The lowest tier whose ``below`` the attainment is under wins (attainment 98.5% with tiers
    below 99.9% → 10% and below 99% → 25% earns 25%); the credit is capped at ``cap`` and
    credit_amount = credit_pct × monthly_fee. Windows with no data or meeting every tier earn 0.
    Every listed window is, complete ones and the current one (credits need a calendar window:
    the contract model refuses them on rolling windows, which overlap day by day).

    Inputs: ``windows`` (objective_windows), ``tiers`` (credit_tiers_frame).
    Output: CREDITS_SCHEMA; credit_pct is a share (0.1 = 10%).
    """
    listed = windows.join(
        tiers.select(*KEYS, "cap", "monthly_fee", "currency").unique(KEYS), on=KEYS
    )
    earned = (
        listed.select(*KEYS, "window_label", "attainment")
        .join(tiers.select(*KEYS, "below", "credit"), on=KEYS)
        .filter(pl.col("attainment") < pl.col("below"))
        .group_by([*KEYS, "window_label"])
        .agg(credit=pl.col("credit").sort_by("below").first())
    )
    credit_pct = pl.min_horizontal(pl.col("credit").fill_null(0.0), pl.col("cap"))
    return (
        listed.join(earned, on=[*KEYS, "window_label"], how="left")
        .with_columns(credit_pct=credit_pct)
        .with_columns(credit_amount=pl.col("credit_pct") * pl.col("monthly_fee"))
        .select(list(CREDITS_SCHEMA))
        .sort([*KEYS, "window_start"])
        .cast(CREDITS_SCHEMA)  # type: ignore[arg-type]
    )
