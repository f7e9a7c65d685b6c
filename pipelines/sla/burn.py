"""Burn rates and multi-window burn-rate alerts (SRE workbook) from slices.

Burn rate at time t over look-back w = (bad / total over the slices ending in (t − w, t]) /
(1 − target), evaluated at the end of every slice. A look-back shorter than the slice length
covers the one slice ending at t. Trailing sums come from one sort of all slices: cumulative sums
and a vectorised binary search for where each look-back begins (objective index × 2**34 + epoch
second keys keep objectives apart), so look-backs may differ per objective.

An alert rule fires at t when both its long and short look-back burn rates exceed its
``burn_rate`` (strictly). Rules of one severity fire together; an episode is a run of consecutive
slice ends at which it fires: ``started_at`` is the first of them, ``ended_at`` the next slice end
at which it no longer fires (null while still firing at the objective's last slice), and
``peak_burn_rate`` the highest long look-back burn rate of a firing rule during the episode.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.sla.objectives import KEYS, UTC_US

LOOKBACKS = {
    "burn_5m": 300,
    "burn_30m": 1_800,
    "burn_1h": 3_600,
    "burn_6h": 21_600,
    "burn_1d": 86_400,
    "burn_3d": 259_200,
}
"""The burn-rate columns of ``sla.burn_rates``: look-back in seconds (not scaled)."""

_OBJECTIVE_SHIFT = 1 << 34

BURN_RATES_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "ts": UTC_US,
    **dict.fromkeys(LOOKBACKS, pl.Float64),
}
ALERTS_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "severity": pl.String,
    "started_at": UTC_US,
    "ended_at": UTC_US,
    "peak_burn_rate": pl.Float64,
}


def burn_ledger(objectives: pl.DataFrame, slices: pl.DataFrame) -> pl.DataFrame:
    """Slices sorted per objective with running sums, the input of burn_rates and alert_episodes.

    Inputs: ``objectives`` (objectives_frame), ``slices`` (contract_id, objective_id,
    slice_start, good, total). Output: contract_id, objective_id, objective_index, ts (slice
    end), target, slice_seconds, key (objective_index × 2**34 + epoch second of ts), bad,
    bad_through/total_through (running sums including the row), bad_before/total_before
    (excluding it).
    """
    indexed = objectives.select(*KEYS, "target", "slice_seconds").with_row_index("objective_index")
    return (
        slices.lazy()
        .select(*KEYS, "slice_start", "good", "total")
        .join(indexed.lazy(), on=KEYS, how="inner")
        .sort(["objective_index", "slice_start"])
        .with_columns(
            ts=pl.col("slice_start") + pl.duration(seconds=pl.col("slice_seconds")),
            bad=pl.col("total") - pl.col("good"),
        )
        .with_columns(
            key=pl.col("objective_index").cast(pl.Int64) * _OBJECTIVE_SHIFT
            + pl.col("ts").dt.epoch("s"),
            bad_through=pl.col("bad").cum_sum(),
            total_through=pl.col("total").cum_sum(),
        )
        .with_columns(
            bad_before=pl.col("bad_through") - pl.col("bad"),
            total_before=pl.col("total_through") - pl.col("total"),
        )
        .collect()
    )


def burn_rates(ledger: pl.DataFrame) -> pl.DataFrame:
    """Burn rates at the end of every slice over 5m, 30m, 1h, 6h, 1d and 3d look-backs.

    Input: burn_ledger. Output: BURN_RATES_SCHEMA (ts = slice end; a burn rate is null when
    its look-back holds no events or minutes).
    """
    return ledger.select(
        *KEYS,
        "ts",
        *(
            pl.Series(name, _trailing_burn(ledger, seconds)).fill_nan(None)
            for name, seconds in LOOKBACKS.items()
        ),
    ).cast(BURN_RATES_SCHEMA)  # type: ignore[arg-type]


def alert_episodes(ledger: pl.DataFrame, rules: pl.DataFrame) -> pl.DataFrame:
    """Alert episodes per objective and severity.

    Inputs: burn_ledger, ``rules`` (alert_rules_frame: look-backs already scaled to the
    window). Output: ALERTS_SCHEMA.
    """
    objective_rules = rules.join(ledger.select(*KEYS, "objective_index").unique(), on=KEYS)
    if objective_rules.is_empty():
        return pl.DataFrame(schema=ALERTS_SCHEMA)
    firing = pl.concat(
        [
            _firing(ledger, objective_rules.filter(pl.col("rule") == position))
            for position in objective_rules["rule"].unique().sort()
        ],
        how="vertical_relaxed",
    )
    if firing.is_empty():
        return pl.DataFrame(schema=ALERTS_SCHEMA)
    series = [*KEYS, "severity"]
    last_evaluated = ledger.group_by(KEYS).agg(last_ts=pl.col("ts").max())
    step = pl.duration(seconds=pl.col("slice_seconds"))
    return (
        firing.group_by([*series, "ts"])
        .agg(pl.col("burn").max(), pl.col("slice_seconds").first())
        .sort([*series, "ts"])
        .with_columns(
            episode=(pl.col("ts").diff().over(series) != step)
            .fill_null(True)
            .cum_sum()
            .over(series)
        )
        .group_by([*series, "episode"])
        .agg(
            started_at=pl.col("ts").min(),
            last_firing=pl.col("ts").max(),
            peak_burn_rate=pl.col("burn").max(),
            slice_seconds=pl.col("slice_seconds").first(),
        )
        .join(last_evaluated, on=KEYS)
        .with_columns(
            ended_at=pl.when(pl.col("last_firing") < pl.col("last_ts")).then(
                pl.col("last_firing") + step
            )
        )
        .select(list(ALERTS_SCHEMA))
        .sort([*series, "started_at"])
        .cast(ALERTS_SCHEMA)  # type: ignore[arg-type]
    )


def firing_at_end(alerts: pl.DataFrame) -> pl.DataFrame:
    """Objectives with an alert episode still firing (ended_at null): contract_id, objective_id."""
    return alerts.filter(pl.col("ended_at").is_null()).select(KEYS).unique()


def _firing(ledger: pl.DataFrame, rule: pl.DataFrame) -> pl.DataFrame:
    """Slice ends at which a rule fires, given at most one rule per objective (objective_index,
    severity, long_seconds, short_seconds, burn_rate): contract_id, objective_id, severity, ts,
    slice_seconds, burn (the long look-back burn rate)."""
    objective_index = ledger["objective_index"].to_numpy()
    size = int(objective_index.max()) + 1

    def per_row(column: str) -> np.ndarray:
        values = np.full(size, np.nan)
        values[rule["objective_index"].to_numpy()] = rule[column].to_numpy()
        return values[objective_index]

    threshold = per_row("burn_rate")
    long_burn = _trailing_burn(ledger, np.nan_to_num(per_row("long_seconds")))
    short_burn = _trailing_burn(ledger, np.nan_to_num(per_row("short_seconds")))
    fires = (long_burn > threshold) & (short_burn > threshold)
    return (
        ledger.with_columns(burn=long_burn)
        .filter(fires)
        .join(rule.select("objective_index", "severity"), on="objective_index")
        .select(*KEYS, "severity", "ts", "slice_seconds", "burn")
    )


def _trailing_burn(ledger: pl.DataFrame, lookback_seconds: float | np.ndarray) -> np.ndarray:
    """Burn rate over the slices ending in (ts − look-back, ts] for every row of a
    burn_ledger (NaN where the look-back holds nothing); look-backs may differ per row.
    One binary search of the sorted composite keys finds where each look-back begins."""
    keys = ledger["key"].to_numpy()
    begins = np.searchsorted(keys, keys - np.ceil(lookback_seconds).astype(np.int64), side="right")
    bad = ledger["bad_through"].to_numpy() - ledger["bad_before"].to_numpy()[begins]
    total = ledger["total_through"].to_numpy() - ledger["total_before"].to_numpy()[begins]
    budget = 1 - ledger["target"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, bad / total / budget, np.nan)
