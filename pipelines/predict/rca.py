"""Root-cause hints: when an objective burns, which other series moved with it.

1. Burn episodes (``burn_episodes``): runs of slice ends at which an objective's 1-hour burn
   rate exceeds ``BURNING`` (1: the budget would be gone by the window's end), runs less than
   ``MERGE_GAP`` apart merged. The 1-hour look-back says *that* the objective burns; the episode
   is then trimmed to the slices whose 5-minute burn rate exceeds ``BURNING`` (when it burnt),
   so that the 1-hour look-back's tail does not stretch it by an hour. Burn-rate rows, not
   ``sla.alerts``: a hint is wanted for burns too short or too slow to page.
2. Candidate series (``request_series``, ``latency_series``, ``probe_series``): 5-minute
   aggregates of the raw evidence per service — error ratio, request rate, mean and p99
   latency from the histogram buckets, probe failure share.
3. Each series gets the causal anomaly score of ``pipelines.predict.anomaly.anomaly_scores``.
   For each episode and each series other than the objective's own SLI series
   (``SLI_METRICS``), three alignment terms in [0, 1]:

   - lift: mean anomaly score inside the episode minus its mean over the ``BASELINE`` before
     ``LEAD`` ahead of the episode (clipped at 0);
   - timing: when the series first scores ``ONSET_SCORE`` or more, from ``LEAD`` before the
     episode on: 1 when that is at or before the burn starts, falling linearly to 0 at the
     episode's end (0 when it never does);
   - correlation: absolute Pearson correlation of the series' values with the objective's
     5-minute burn rate from ``CONTEXT`` before to ``CONTEXT`` after the episode.

   The score is their mean; the best ``TOP`` series per episode are ranked.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from pipelines.predict.anomaly import anomaly_scores
from pipelines.sla.objectives import KEYS, UTC_US

BUCKET = timedelta(minutes=5)
BURNING = 1.0
MERGE_GAP = timedelta(hours=1)
BASELINE = timedelta(days=1)
LEAD = timedelta(hours=1)
CONTEXT = timedelta(hours=3)
ONSET_SCORE = 0.5
TOP = 10
P99 = 0.99

SLI_METRICS: dict[str, tuple[str, ...]] = {
    "availability": ("error_ratio", "probe_failure"),
    "latency": ("latency_mean", "latency_p99"),
}
"""The metrics that measure an objective of each SLI kind on its own service: left out of its
hints (they are the burn itself)."""

SERIES_SCHEMA = {
    "series": pl.String,
    "dimension": pl.String,
    "member": pl.String,
    "metric": pl.String,
    "ts": UTC_US,
    "value": pl.Float64,
}
EPISODES_SCHEMA = {
    "contract_id": pl.String,
    "objective_id": pl.String,
    "episode_start": UTC_US,
    "episode_end": UTC_US,
    "peak_burn_rate": pl.Float64,
}
ROOT_CAUSES_SCHEMA = {
    **EPISODES_SCHEMA,
    "rank": pl.Int32,
    "series": pl.String,
    "dimension": pl.String,
    "member": pl.String,
    "metric": pl.String,
    "score": pl.Float64,
    "anomaly_inside": pl.Float64,
    "anomaly_before": pl.Float64,
    "lead_minutes": pl.Float64,
    "correlation": pl.Float64,
    "evidence": pl.String,
}


def burn_episodes(burn_rates: pl.DataFrame) -> pl.DataFrame:
    """Periods in which each objective burnt its budget faster than it can afford.

    Input: ``sla.burn_rates`` rows (contract_id, objective_id, ts, burn_5m, burn_1h).
    Output: EPISODES_SCHEMA, one row per episode: ``[episode_start, episode_end)`` spans the
    burning 5-minute look-backs of a run of 1-hour burn rates above BURNING (the run's 1-hour
    look-back when no 5-minute one burnt), ``peak_burn_rate`` the run's highest 1-hour burn.
    """
    burning = pl.col("burn_5m") > BURNING
    lookback_5m, lookback_1h = pl.duration(minutes=5), pl.duration(hours=1)
    return (
        burn_rates.lazy()
        .filter(pl.col("burn_1h") > BURNING)
        .sort(*KEYS, "ts")
        .with_columns(
            run=(pl.col("ts").diff().over(KEYS) > MERGE_GAP).fill_null(False).cum_sum().over(KEYS)
        )
        .group_by(*KEYS, "run")
        .agg(
            episode_start=pl.coalesce(
                pl.col("ts").filter(burning).min() - lookback_5m, pl.col("ts").min() - lookback_1h
            ),
            episode_end=pl.coalesce(pl.col("ts").filter(burning).max(), pl.col("ts").max()),
            peak_burn_rate=pl.col("burn_1h").max(),
        )
        .select(*EPISODES_SCHEMA)
        .sort(*KEYS, "episode_start")
        .collect()
        .cast(EPISODES_SCHEMA)  # type: ignore[arg-type]
    )


def _bucket() -> pl.Expr:
    return pl.col("ts").dt.truncate(BUCKET).alias("ts")


def _service_series(frame: pl.LazyFrame, metrics: list[str]) -> pl.DataFrame:
    """Wide (service, ts, metric columns) → SERIES_SCHEMA rows."""
    return (
        frame.unpivot(metrics, index=["service", "ts"], variable_name="metric")
        .select(
            series=pl.format("{}:{}", "service", "metric"),
            dimension=pl.lit("service"),
            member="service",
            metric="metric",
            ts="ts",
            value=pl.col("value").cast(pl.Float64),
        )
        .sort("series", "ts")
        .collect()
        .cast(SERIES_SCHEMA)  # type: ignore[arg-type]
    )


def request_series(requests: pl.DataFrame) -> pl.DataFrame:
    """Error ratio and request rate (requests/s) per service and 5-minute bucket.

    Input: ``raw.requests`` rows (ts, service, total, errors). Output: SERIES_SCHEMA (metrics
    ``error_ratio``, ``request_rate``; ``ts`` the bucket start).
    """
    per_bucket = (
        requests.lazy()
        .group_by("service", _bucket())
        .agg(pl.col("total").sum(), pl.col("errors").sum())
        .select(
            "service",
            "ts",
            error_ratio=pl.col("errors") / pl.col("total"),
            request_rate=pl.col("total") / BUCKET.total_seconds(),
        )
    )
    return _service_series(per_bucket, ["error_ratio", "request_rate"])


def latency_series(latency_buckets: pl.DataFrame) -> pl.DataFrame:
    """Mean and p99 latency (seconds) per service and 5-minute bucket from histogram buckets.

    Input: ``raw.latency_buckets`` rows (ts, service, le_seconds, count: cumulative, the +Inf
    bucket with le_seconds = inf). The mean puts each request at its bucket's midpoint (the
    largest finite bound for +Inf); the p99 interpolates linearly inside the bucket holding it
    (Prometheus' ``histogram_quantile``), the largest finite bound when that is +Inf.
    Output: SERIES_SCHEMA (metrics ``latency_mean``, ``latency_p99``).
    """
    per_request = ["service", "ts"]
    histogram = (
        latency_buckets.lazy()
        .group_by("service", _bucket(), "le_seconds")
        .agg(pl.col("count").sum())
        .sort("service", "ts", "le_seconds")
        .with_columns(
            lower=pl.col("le_seconds").shift(1, fill_value=0.0).over(per_request),
            below=pl.col("count").shift(1, fill_value=0).over(per_request),
            total=pl.col("count").last().over(per_request),
        )
        .filter(pl.col("total") > 0)
        .with_columns(rank=P99 * pl.col("total"))
    )
    finite = pl.col("le_seconds").is_finite()
    midpoint = pl.when(finite).then((pl.col("lower") + pl.col("le_seconds")) / 2)
    within = (pl.col("rank") - pl.col("below")) / (pl.col("count") - pl.col("below"))
    quantile = pl.when(finite).then(
        pl.col("lower") + (pl.col("le_seconds") - pl.col("lower")) * within
    )
    per_bucket = histogram.group_by(per_request).agg(
        latency_mean=(
            (pl.col("count") - pl.col("below")) * midpoint.otherwise(pl.col("lower"))
        ).sum()
        / pl.col("total").first(),
        latency_p99=quantile.otherwise(pl.col("lower"))
        .filter((pl.col("count") >= pl.col("rank")) & (pl.col("below") < pl.col("rank")))
        .first(),
    )
    return _service_series(per_bucket, ["latency_mean", "latency_p99"])


def probe_series(probes: pl.DataFrame) -> pl.DataFrame:
    """Share of failed probe checks per service and 5-minute bucket, all locations together.

    Input: ``raw.probes`` rows (ts, service, location, up). Output: SERIES_SCHEMA (metric
    ``probe_failure``).
    """
    per_bucket = (
        probes.lazy()
        .group_by("service", _bucket())
        .agg(probe_failure=1 - pl.col("up").cast(pl.Float64).mean())
    )
    return _service_series(per_bucket, ["probe_failure"])


def scored_series(series: pl.DataFrame) -> pl.DataFrame:
    """SERIES_SCHEMA rows plus ``anomaly_score`` (causal, per series, from ``anomaly_scores``)."""
    ordered = series.sort("series", "ts")
    scores = [
        anomaly_scores(rows["ts"], rows["value"])
        for _, rows in ordered.group_by("series", maintain_order=True)
    ]
    return ordered.with_columns(
        anomaly_score=pl.Series(np.concatenate(scores) if scores else [], dtype=pl.Float64)
    )


def root_causes(
    episodes: pl.DataFrame,
    burn_rates: pl.DataFrame,
    scored: pl.DataFrame,
    objectives: pl.DataFrame,
) -> pl.DataFrame:
    """Rank the series that line up with each burn episode (module docstring: the score).

    Inputs: ``episodes`` (EPISODES_SCHEMA, from ``burn_episodes``), ``burn_rates``
    (``sla.burn_rates``: contract_id, objective_id, ts, burn_5m), ``scored`` (``scored_series``
    of the concatenated ``request_series``, ``latency_series``, ``probe_series``), ``objectives``
    (contract_id, objective_id, service, sli_kind). Output: ROOT_CAUSES_SCHEMA, the TOP best
    series per episode, ``rank`` 1 the best; ``lead_minutes`` how long before the episode the
    series turned anomalous (negative: after; null: it did not); ``evidence`` says it in words.
    """
    burn = (
        burn_rates.lazy()
        .group_by(*KEYS, ts=(pl.col("ts") - pl.duration(microseconds=1)).dt.truncate(BUCKET))
        .agg(burn=pl.col("burn_5m").mean())
    )
    own = pl.col("metric").is_in(
        pl.col("sli_kind").replace_strict(SLI_METRICS, default=[], return_dtype=pl.List(pl.String))
    ) & (pl.col("member") == pl.col("service"))
    candidates = (
        episodes.lazy()
        .join(objectives.lazy().select(*KEYS, "service", "sli_kind"), on=KEYS, how="left")
        .join(scored.lazy().select("series", "dimension", "member", "metric").unique(), how="cross")
        .filter(~own)
        .drop("service", "sli_kind")
    )
    start, end = pl.col("episode_start"), pl.col("episode_end")
    first_bucket = start.dt.truncate(BUCKET)
    inside = pl.col("ts").is_between(first_bucket, end, closed="left")
    before = pl.col("ts").is_between(start - BASELINE, first_bucket - LEAD, closed="left")
    onset_window = pl.col("ts").is_between(first_bucket - LEAD, end, closed="left")
    context = pl.col("ts").is_between(start - CONTEXT, end + CONTEXT, closed="left")
    episode = [*EPISODES_SCHEMA, "series", "dimension", "member", "metric"]
    aligned = (
        candidates.join(scored.lazy().drop("dimension", "member", "metric"), on="series")
        .filter(pl.col("ts").is_between(start - BASELINE, end + CONTEXT, closed="left"))
        .join(burn, on=[*KEYS, "ts"], how="left")
        .group_by(episode)
        .agg(
            anomaly_inside=pl.col("anomaly_score").filter(inside).mean().fill_null(0.0),
            anomaly_before=pl.col("anomaly_score").filter(before).mean().fill_null(0.0),
            onset=pl.col("ts")
            .filter(onset_window & (pl.col("anomaly_score") >= ONSET_SCORE))
            .min(),
            correlation=pl.corr(
                pl.col("value").filter(context), pl.col("burn").fill_null(0.0).filter(context)
            )
            .fill_nan(0.0)
            .fill_null(0.0),
        )
    )
    lift = (pl.col("anomaly_inside") - pl.col("anomaly_before")).clip(lower_bound=0.0)
    timing = ((end - pl.col("onset")) / (end - first_bucket)).clip(0.0, 1.0).fill_null(0.0)
    return (
        aligned.with_columns(
            score=(lift + timing + pl.col("correlation").abs()) / 3,
            lead_minutes=(first_bucket - pl.col("onset")).dt.total_seconds() / 60,
        )
        .sort(*EPISODES_SCHEMA, "score", "series", descending=[False] * 5 + [True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over(*KEYS, "episode_start"))
        .filter(pl.col("rank") <= TOP)
        .with_columns(evidence=_evidence())
        .select(*ROOT_CAUSES_SCHEMA)
        .collect()
        .cast(ROOT_CAUSES_SCHEMA)  # type: ignore[arg-type]
    )


def _evidence() -> pl.Expr:
    def shown(column: str) -> pl.Expr:
        return pl.col(column).round(2).cast(pl.String)

    onset = (
        pl.when(pl.col("lead_minutes").is_null())
        .then(pl.lit("never anomalous around the burn"))
        .when(pl.col("lead_minutes") >= 0)
        .then(pl.format("anomalous {} min before the burn", _minutes(pl.col("lead_minutes"))))
        .otherwise(
            pl.format("anomalous {} min after the burn began", _minutes(-pl.col("lead_minutes")))
        )
    )
    return pl.format(
        "{} of {}: anomaly score {} during the burn vs {} the day before; {}; "
        "correlation with the burn rate {}",
        "metric",
        "member",
        shown("anomaly_inside"),
        shown("anomaly_before"),
        onset,
        shown("correlation"),
    )


def _minutes(minutes: pl.Expr) -> pl.Expr:
    return minutes.round(0).cast(pl.Int64)
