"""Review recommendations: which targets the evidence says to tighten, which to renegotiate (or
invest in the service to meet), and which cannot be judged for lack of data.

Only complete windows count. Rolling windows are listed once per day and overlap, so of a rolling
objective's complete windows only the non-overlapping ones are read: the latest and every
``window_days``-th before it. A window is *judged* when its status is ``met`` or ``breached``.

- ``data_gaps``: at least one complete window is ``no_data`` or ``insufficient_data``, or misses
  evidence for more than :data:`DATA_GAP_MAX_MISSING_SHARE` of its minutes (``missing_minutes``).
- ``renegotiate_or_invest``: at least :data:`MIN_JUDGED_WINDOWS` judged windows, and more than
  :data:`RENEGOTIATE_MIN_BREACHED_SHARE` of them breached.
- ``tighten``: at least :data:`MIN_JUDGED_WINDOWS` judged windows, none breached, no data gap, the
  current window not :data:`NEAR_NOW_STATUSES` (breaching or at risk now is near), and even the
  worst complete window stayed far from the target ("never near"), measured in the objective's
  unit: for shares, the worst window used at most :data:`TIGHTEN_MAX_BUDGET_USED` of its error
  budget, (1 − value) / (1 − target); for durations (upper bounds), the worst value was at most
  :data:`TIGHTEN_MAX_DURATION_SHARE` of the target; for points (NPS, lower bounds), the worst
  value beat the target by at least :data:`TIGHTEN_MIN_POINTS_MARGIN` points.

The value judged is the one the window's status was decided on: the attainment of share
objectives, ``measured`` otherwise, or the interval's lower bound for surveys judged on it.
An objective can get both ``data_gaps`` and ``renegotiate_or_invest``; ``tighten`` never comes
with a data gap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl

from pipelines.report.formatting import format_measure, format_share, format_target
from pipelines.sla.objectives import KEYS

MIN_JUDGED_WINDOWS = 3
"""Fewest complete met/breached windows before a target is called never near or mostly missed."""

TIGHTEN_MAX_BUDGET_USED = 0.5
"""A share objective is never near its target when no window used more than half its budget."""

TIGHTEN_MAX_DURATION_SHARE = 0.5
"""A duration objective is never near its target when no window measured over half of it."""

TIGHTEN_MIN_POINTS_MARGIN = 10.0
"""A points objective (NPS) is never near its target when every window beat it by 10 points."""

RENEGOTIATE_MIN_BREACHED_SHARE = 0.5
"""Breached "most windows": strictly more than half of the judged windows."""

DATA_GAP_MAX_MISSING_SHARE = 0.01
"""A window missing evidence for more than 1 % of its minutes has a data gap."""

DATA_GAP_STATUSES = ("no_data", "insufficient_data")

NEAR_NOW_STATUSES = ("breaching", "at_risk")
"""Statuses of a current window that rule out tightening, whatever the complete windows say."""

RECOMMENDATIONS = ("tighten", "renegotiate_or_invest", "data_gaps")

REVIEW_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "recommendation": pl.String,
    "reason": pl.String,
}


def review_recommendations(objectives: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """The review recommendations of every objective (module docstring for the rules).

    Inputs: ``sla.objectives`` rows (contract_id, objective_id, judged_on, judge, window_kind,
    window_days) and ``sla.windows`` rows (contract_id, objective_id, window_start, window_end,
    is_complete, attainment, measured, target, status, missing_minutes, interval_low).
    Output: REVIEW_SCHEMA, one row per objective and recommendation it gets (objectives with
    none are absent); recommendation one of RECOMMENDATIONS, reason a sentence with the figures;
    sorted by contract, objective and recommendation in RECOMMENDATIONS order.
    """
    near_now = set(
        windows.filter(~pl.col("is_complete") & pl.col("status").is_in(NEAR_NOW_STATUSES))
        .select(KEYS)
        .iter_rows()
    )
    rows = [
        {"contract_id": contract_id, "objective_id": objective_id, **recommendation}
        for contract_id, objective_id, recommendation in _recommend(
            _window_history(objectives, windows), near_now
        )
    ]
    order = {name: rank for rank, name in enumerate(RECOMMENDATIONS)}
    return pl.DataFrame(rows, schema=REVIEW_SCHEMA).sort(
        "contract_id",
        "objective_id",
        pl.col("recommendation").replace_strict(order, return_dtype=pl.Int64),
    )


def _window_history(objectives: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """Per objective with complete windows: judged_on, target (the latest window's), rolling,
    complete (windows read), judged, breached, gap_statuses (list of no_data /
    insufficient_data statuses), short_windows (windows missing over the allowed share),
    worst_missing_share, worst_value, median_value."""
    judged_on = pl.col("judged_on")
    value = (
        pl.when(pl.col("judge") == "lower_bound")
        .then(pl.col("interval_low"))
        .when(judged_on == "share")
        .then(pl.col("attainment"))
        .otherwise(pl.col("measured"))
    )
    judged = pl.col("status").is_in(["met", "breached"])
    window_minutes = (pl.col("window_end") - pl.col("window_start")).dt.total_seconds() / 60
    missing_share = pl.col("missing_minutes").fill_null(0.0) / window_minutes
    latest_first = pl.col("window_end").rank("ordinal", descending=True).over(KEYS) - 1
    rolling = pl.col("window_kind") == "rolling"
    return (
        windows.lazy()
        .filter(pl.col("is_complete"))
        .join(
            objectives.lazy().select(*KEYS, "judged_on", "judge", "window_kind", "window_days"),
            on=KEYS,
        )
        .filter(~rolling | (latest_first % pl.col("window_days") == 0))
        .with_columns(value=value, missing_share=missing_share)
        .sort("window_end")
        .group_by(KEYS)
        .agg(
            judged_on.first(),
            pl.col("target").last(),
            rolling.first().alias("rolling"),
            pl.len().alias("complete"),
            judged.sum().alias("judged"),
            (pl.col("status") == "breached").sum().alias("breached"),
            pl.col("status")
            .filter(pl.col("status").is_in(DATA_GAP_STATUSES))
            .alias("gap_statuses"),
            (pl.col("missing_share") > DATA_GAP_MAX_MISSING_SHARE).sum().alias("short_windows"),
            pl.col("missing_share").max().alias("worst_missing_share"),
            pl.when(judged_on.first() == "duration")
            .then(pl.col("value").filter(judged).max())
            .otherwise(pl.col("value").filter(judged).min())
            .alias("worst_value"),
            pl.col("value").filter(judged).median().alias("median_value"),
        )
        .sort(KEYS)
        .collect()
    )


def _recommend(
    history: pl.DataFrame, near_now: set[tuple[str, str]]
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(contract_id, objective_id, {recommendation, reason}) for each recommendation earned;
    ``near_now``: the objectives whose current window is breaching or at risk."""
    for row in history.iter_rows(named=True):
        keys = row["contract_id"], row["objective_id"]
        windows = "complete windows" + (" (non-overlapping)" if row["rolling"] else "")
        if row["gap_statuses"] or row["short_windows"]:
            yield *keys, {"recommendation": "data_gaps", "reason": _gap_reason(row, windows)}
        if row["judged"] < MIN_JUDGED_WINDOWS:
            continue
        if row["breached"] > RENEGOTIATE_MIN_BREACHED_SHARE * row["judged"]:
            reason = (
                f"breached {row['breached']} of {row['judged']} judged {windows}; median "
                f"{_value(row, row['median_value'])} vs target {_target(row)}: "
                "renegotiate the target or invest in the service"
            )
            yield *keys, {"recommendation": "renegotiate_or_invest", "reason": reason}
        elif (
            row["breached"] == 0
            and not row["gap_statuses"]
            and not row["short_windows"]
            and keys not in near_now
        ):
            headroom = _headroom(row)
            if headroom is not None:
                reason = (
                    f"met {row['judged']} of {row['judged']} {windows}; worst "
                    f"{_value(row, row['worst_value'])} vs target {_target(row)} "
                    f"({headroom}): could be tightened"
                )
                yield *keys, {"recommendation": "tighten", "reason": reason}


def _headroom(row: dict[str, Any]) -> str | None:
    """How far the worst window stayed from the target, when far enough to tighten; else None."""
    worst, target = row["worst_value"], row["target"]
    if worst is None:
        return None
    if row["judged_on"] == "share":
        used = (1 - worst) / (1 - target)
        if used <= TIGHTEN_MAX_BUDGET_USED:
            return f"{format_share(used, 0)} of its error budget used"
    elif row["judged_on"] == "duration":
        share = worst / target
        if share <= TIGHTEN_MAX_DURATION_SHARE:
            return f"{format_share(share, 0)} of the target"
    elif worst - target >= TIGHTEN_MIN_POINTS_MARGIN:
        return f"{worst - target:.1f} points above it"
    return None


def _gap_reason(row: dict[str, Any], windows: str) -> str:
    parts = []
    if row["gap_statuses"]:
        counts = {status: row["gap_statuses"].count(status) for status in DATA_GAP_STATUSES}
        named = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        parts.append(f"{len(row['gap_statuses'])} of {row['complete']} {windows} ({named})")
    if row["short_windows"]:
        parts.append(
            f"{row['short_windows']} of {row['complete']} {windows} missing evidence for over "
            f"{format_share(DATA_GAP_MAX_MISSING_SHARE, 0)} of their minutes (up to "
            f"{format_share(row['worst_missing_share'], 1)})"
        )
    return "; ".join(parts) + ": fix the evidence before judging the target"


def _value(row: dict[str, Any], value: float | None) -> str:
    return format_measure(value, row["judged_on"], row["target"])


def _target(row: dict[str, Any]) -> str:
    return format_target(row["target"], row["judged_on"])
