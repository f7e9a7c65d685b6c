"""Security incidents → outcomes for time to detect and time to contain.

detect: value = detected_at − occurred_at, counted at detected_at; contain: value =
contained_at − detected_at, counted at contained_at (an incident never detected has no
containment clock). Only incidents of the objective's service and ``severities`` (all when none)
count. An incident whose clock is still running at ``as_of`` (detected_at, or contained_at, null
or later than as_of):

- share_within objectives: once its elapsed time passes the threshold it is bad, counted at the
  instant it crossed (start + threshold), with value = the time elapsed at as_of; before that it
  is not counted (it may still make it).
- statistic objectives (mean, median, max, pNN): counted at ``as_of`` with value = the time
  elapsed so far, a lower bound, so that an open incident weighs on the current window.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from pipelines.sla.objectives import KEYS, UTC_US
from pipelines.sla.outcomes import OUTCOMES_SCHEMA


def security_outcomes(
    objectives: pl.DataFrame, incidents: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """Outcomes of every security_response objective.

    Inputs: ``objectives`` (objectives_frame: measure, severities, threshold_seconds,
    statistic), ``incidents`` (raw.security_incidents: incident_id, service, severity,
    occurred_at, detected_at, contained_at). Output: OUTCOMES_SCHEMA (good null for statistic
    objectives), detail like ``"high, contain 2.50 h"`` or ``"... (open)"``; sorted by objective
    and item_id.
    """
    as_of_expr = pl.lit(as_of.astimezone(UTC), UTC_US)
    detect = pl.col("measure") == "detect"
    start = pl.when(detect).then(pl.col("occurred_at")).otherwise(pl.col("detected_at"))
    end = pl.when(detect).then(pl.col("detected_at")).otherwise(pl.col("contained_at"))
    threshold = pl.col("threshold_seconds")
    seconds = (pl.col("end") - pl.col("start")).dt.total_microseconds() / 1e6
    open_seconds = (as_of_expr - pl.col("start")).dt.total_microseconds() / 1e6
    is_open = pl.col("end").is_null() | (pl.col("end") > as_of_expr)
    crossed_at = pl.col("start") + pl.duration(microseconds=(threshold * 1e6).cast(pl.Int64))
    return (
        objectives.lazy()
        .filter(pl.col("sli_method") == "security_incidents")
        .select(*KEYS, "service", "measure", "severities", "threshold_seconds")
        .join(incidents.lazy(), on="service", how="inner")
        .filter(
            pl.col("severities").is_null() | pl.col("severities").list.contains(pl.col("severity"))
        )
        .with_columns(start=start, end=end)
        .filter(pl.col("start").is_not_null(), pl.col("start") <= as_of_expr)
        .with_columns(
            counted_at=pl.when(~is_open)
            .then(pl.col("end"))
            .when(threshold.is_null())
            .then(as_of_expr)
            .otherwise(crossed_at),
            value=pl.when(is_open).then(open_seconds).otherwise(seconds),
        )
        .filter(pl.col("counted_at") <= as_of_expr)
        .select(
            *KEYS,
            item_id=pl.col("incident_id").cast(pl.String),
            counted_at="counted_at",
            value="value",
            good=pl.when(threshold.is_not_null()).then(~is_open & (pl.col("value") <= threshold)),
            detail=pl.format(
                "{}, {} {} h{}",
                "severity",
                "measure",
                (pl.col("value") / 3600).round(2),
                pl.when(is_open).then(pl.lit(" (open)")).otherwise(pl.lit("")),
            ),
        )
        .sort([*KEYS, "item_id"])
        .collect()
        .cast(OUTCOMES_SCHEMA)  # type: ignore[arg-type]
    )
