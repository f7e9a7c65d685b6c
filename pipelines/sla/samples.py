"""Latency samples and histogram buckets → window percentiles and shares under a threshold.

From samples (raw.latency_samples, one row per measured request or page load) every sample is an
outcome: the window's share under the threshold is good/total and its pNN is exact (see
``outcomes.PERCENTILE_METHOD``). From histogram buckets the window's pNN is interpolated: the
buckets of every minute in the window are summed per bound, then HISTOGRAM_METHOD applies.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from pipelines.sla.objectives import KEYS
from pipelines.sla.outcomes import OUTCOMES_SCHEMA, WINDOW_STATS_SCHEMA, window_figures
from pipelines.sla.slices import histogram_quantile
from pipelines.sla.windows import window_bounds

HISTOGRAM_METHOD = (
    "window percentile from histogram buckets summed over the window, as Prometheus' "
    "histogram_quantile: rank = NN/100 × requests; linear interpolation inside the first bucket "
    "whose cumulative count reaches the rank; the largest finite bound if it falls in +Inf"
)


def sample_outcomes(objectives: pl.DataFrame, samples: pl.DataFrame) -> pl.DataFrame:
    """One outcome per latency sample of each latency objective reading ``samples``.

    Inputs: ``objectives`` (objectives_frame), ``samples`` (raw.latency_samples: ts, service,
    latency_seconds). Output: OUTCOMES_SCHEMA: item_id = the sample's ts (ISO text), counted_at
    = ts, value = latency_seconds, good = latency ≤ threshold_seconds (null without threshold),
    detail null.
    """
    return (
        objectives.lazy()
        .filter(pl.col("sli_method") == "latency_samples")
        .select(*KEYS, "service", "threshold_seconds")
        .join(samples.lazy(), on="service", how="inner")
        .select(
            *KEYS,
            item_id=pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"),
            counted_at="ts",
            value="latency_seconds",
            good=pl.col("latency_seconds") <= pl.col("threshold_seconds"),
            detail=pl.lit(None, pl.String),
        )
        .collect()
        .cast(OUTCOMES_SCHEMA)  # type: ignore[arg-type]
    )


def histogram_percentile_windows(
    objectives: pl.DataFrame, latency_buckets: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """Windows of latency objectives judged on a window percentile (statistic pNN) of histogram
    buckets, up to ``as_of``.

    Inputs: ``objectives`` (objectives_frame rows to compute: statistic pNN, sli_method
    histogram), ``latency_buckets`` (raw.latency_buckets: ts, service, le_seconds, count; per
    minute, cumulative in le). Output: OUTCOME_WINDOWS_SCHEMA: total = requests (+Inf bucket),
    measured = the interpolated percentile in seconds (HISTOGRAM_METHOD).
    """
    as_of = as_of.astimezone(UTC)
    readers = objectives.lazy().select(
        *KEYS,
        "service",
        quantile=pl.col("statistic").str.strip_prefix("p").cast(pl.Float64) / 100,
    )
    evidence = readers.join(
        latency_buckets.lazy().filter(pl.col("ts") < as_of), on="service", how="inner"
    )
    first = evidence.group_by(KEYS).agg(first_at=pl.col("ts").min()).collect()
    windows = window_bounds(objectives, first, as_of)
    window_keys = [*KEYS, "window_label"]
    summed = (
        windows.lazy()
        .join(evidence, on=KEYS, how="inner")
        .filter(pl.col("ts") >= pl.col("window_start"), pl.col("ts") < pl.col("window_end"))
        .group_by(*window_keys, "le_seconds")
        .agg(pl.col("count").sum(), pl.col("quantile").first())
        .sort([*window_keys, "le_seconds"])
        .with_columns(pl.col("count").cum_max().over(window_keys))
    )
    statistics = (
        histogram_quantile(summed, window_keys)
        .join(
            summed.group_by(window_keys).agg(total=pl.col("count").max()),
            on=window_keys,
            how="right",
        )
        .select(
            *window_keys,
            "total",
            good=pl.lit(None, pl.Float64),
            statistic_value="latency_quantile",
            interval_low=pl.lit(None, pl.Float64),
            interval_high=pl.lit(None, pl.Float64),
        )
        .collect()
        .cast(WINDOW_STATS_SCHEMA)  # type: ignore[arg-type]
    )
    return window_figures(objectives, windows, statistics, as_of)
