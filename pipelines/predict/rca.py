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

   The score is their mean; the best ``TOP`` series per episode are ranked. Missing points
   (NaN, or outside the scored days) are left out of each mean and correlation.
4. Chance (``p_value``): the same scores are recomputed with every candidate series shifted
   in time together, circularly over the scored days (bucket i takes bucket i − s), by
   PERMUTATIONS shifts s drawn with a fixed SEED, each at least the episode's whole span
   (BASELINE before to CONTEXT after) away from no shift, so that no shifted copy keeps the
   real alignment. A series' p-value is (1 + the shifts whose *best* candidate scores at least
   its score) / (1 + PERMUTATIONS): comparing with the best of all candidates corrects for
   trying them all (a max-statistic test; the chance that any hint of an episode is pure
   alignment stays ≤ ALPHA). A hint is ``significant`` when p_value ≤ ALPHA = 0.05; pages
   show only those, and "no series lines up with this burn" for an episode without one.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

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
PERMUTATIONS = 199
ALPHA = 0.05
SEED = 0
SCORING_THREADS = 4
"""Threads scoring the series at once (at most one per CPU): Polars computes each series' scores
without holding the GIL."""
BLOCK_VALUES = 2**19
"""About how many values the correlations under shifts take at once (a few MB, so that they
stay in the processor's cache)."""

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
    "p_value": pl.Float64,
    "significant": pl.Boolean,
    "evidence": pl.String,
}
ROOT_CAUSES_KEPT = ("root_causes", {"hints": ROOT_CAUSES_SCHEMA})
"""The kind and part of the kept.KeptPredictions of root_causes: all episodes' hints at once
(their permutation tests draw from one generator in turn)."""


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
    """SERIES_SCHEMA rows plus ``anomaly_score`` (causal, per series, from ``anomaly_scores``;
    the series are scored on a few threads, Polars releasing the GIL while it computes)."""
    ordered = series.sort("series", "ts")
    with ThreadPoolExecutor(min(SCORING_THREADS, os.cpu_count() or 1)) as pool:
        scores = list(
            pool.map(
                lambda rows: anomaly_scores(rows["ts"], rows["value"]),
                ordered.partition_by("series", maintain_order=True),
            )
        )
    return ordered.with_columns(
        anomaly_score=pl.Series(np.concatenate(scores) if scores else [], dtype=pl.Float64)
    )


def root_causes(
    episodes: pl.DataFrame,
    burn_rates: pl.DataFrame,
    scored: pl.DataFrame,
    objectives: pl.DataFrame,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
) -> pl.DataFrame:
    """Rank the series that line up with each burn episode and test each against chance
    (module docstring: the score and the permutation test).

    Inputs: ``episodes`` (EPISODES_SCHEMA, from ``burn_episodes``), ``burn_rates``
    (``sla.burn_rates``: contract_id, objective_id, ts, burn_5m), ``scored`` (``scored_series``
    of the concatenated ``request_series``, ``latency_series``, ``probe_series``), ``objectives``
    (contract_id, objective_id, service, sli_kind); ``permutations`` shifts per episode drawn
    with ``seed``. Output: ROOT_CAUSES_SCHEMA, the TOP best series per episode, ``rank`` 1 the
    best; ``lead_minutes`` how long before the episode the series turned anomalous (negative:
    after; null: it did not); ``p_value`` and ``significant`` (p_value ≤ ALPHA) from the test;
    ``evidence`` says it in words.
    """
    if episodes.is_empty() or scored.is_empty():
        return pl.DataFrame(schema=ROOT_CAUSES_SCHEMA)
    grid = _Grid.of(scored)
    names = scored.select("series", "dimension", "member", "metric").unique().sort("series")
    index = {name: row for row, name in enumerate(names["series"])}
    named = names.rows(named=True)
    shifted = _Shifted(
        grid.matrix(scored, "anomaly_score", index), grid.matrix(scored, "value", index)
    )
    burn = (
        burn_rates.lazy()
        .group_by(*KEYS, ts=(pl.col("ts") - pl.duration(microseconds=1)).dt.truncate(BUCKET))
        .agg(burn=pl.col("burn_5m").mean())
        .collect()
    )
    burn_of = burn.partition_by(KEYS, as_dict=True)
    kinds = {
        (contract_id, objective_id): (service, sli_kind)
        for contract_id, objective_id, service, sli_kind in objectives.select(
            *KEYS, "service", "sli_kind"
        ).iter_rows()
    }
    rng = np.random.default_rng(seed)
    rows = []
    for episode in episodes.iter_rows(named=True):
        key = (episode["contract_id"], episode["objective_id"])
        service, sli_kind = kinds.get(key, (None, None))
        own = SLI_METRICS.get(sli_kind or "", ())
        candidates = [
            row
            for row, name in enumerate(named)
            if not (name["member"] == service and name["metric"] in own)
        ]
        objective_burn = burn_of.get(key, burn.clear())
        alignment = _episode_alignment(
            grid,
            shifted,
            candidates,
            grid.vector(objective_burn, "burn"),
            episode["episode_start"],
            episode["episode_end"],
            permutations,
            rng,
        )
        rows.extend(
            {**episode, **named[series], **terms}
            for series, terms in zip(candidates, alignment, strict=True)
        )
    aligned = pl.DataFrame(rows, schema_overrides=ROOT_CAUSES_SCHEMA, infer_schema_length=None)
    return (
        aligned.sort(*EPISODES_SCHEMA, "score", "series", descending=[False] * 5 + [True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over(*KEYS, "episode_start"))
        .filter(pl.col("rank") <= TOP)
        .with_columns(significant=pl.col("p_value") <= ALPHA, evidence=_evidence())
        .select(*ROOT_CAUSES_SCHEMA)
        .cast(ROOT_CAUSES_SCHEMA)  # type: ignore[arg-type]
    )


class _Grid:
    """The 5-minute grid of the scored series: bucket i starts at ``origin`` + i × BUCKET."""

    def __init__(self, origin: datetime, size: int) -> None:
        self.origin, self.size = origin, size

    @classmethod
    def of(cls, scored: pl.DataFrame) -> _Grid:
        first, last = scored["ts"].min(), scored["ts"].max()
        return cls(first, int((last - first) / BUCKET) + 1)  # type: ignore[operator]

    def position(self, moment: datetime) -> float:
        """``moment`` in buckets from the origin (fractional between bucket starts)."""
        return (moment - self.origin) / BUCKET

    def _columns(self, frame: pl.DataFrame) -> np.ndarray:
        return ((frame["ts"] - self.origin).dt.total_seconds() // BUCKET.total_seconds()).to_numpy()

    def matrix(self, scored: pl.DataFrame, column: str, index: dict[str, int]) -> np.ndarray:
        """bucket × series matrix of ``column`` (NaN: no point)."""
        matrix = np.full((self.size, len(index)), np.nan)
        series = scored["series"].replace_strict(index, return_dtype=pl.Int64).to_numpy()
        matrix[self._columns(scored).astype(int), series] = scored[column].to_numpy()
        return matrix

    def vector(self, frame: pl.DataFrame, column: str) -> np.ndarray:
        """``column`` per bucket, 0 where ``frame`` has none (or it lies off the grid)."""
        vector = np.zeros(self.size)
        columns = self._columns(frame)
        on_grid = (columns >= 0) & (columns < self.size)
        vector[columns[on_grid].astype(int)] = frame[column].fill_null(0.0).to_numpy()[on_grid]
        return vector


class _Running:
    """Running sums of a bucket × series matrix (NaN: no point) over the grid twice around, and
    counts of its points: a sum over any range of buckets shifted circularly is one
    difference."""

    def __init__(self, matrix: np.ndarray) -> None:
        twice = np.tile(matrix, (2, 1))
        self.sums, self.counts = np.zeros((2, len(twice) + 1, matrix.shape[1]))
        np.cumsum(~np.isnan(twice), axis=0, out=self.counts[1:])
        np.cumsum(np.nan_to_num(twice, copy=False, nan=0.0), axis=0, out=self.sums[1:])

    def mean(self, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """shifts × series: the mean over the ``length`` buckets from each of ``starts`` (0 where
        there is no point), and the number of points."""
        count = self.counts[starts + length] - self.counts[starts]
        total = self.sums[starts + length] - self.sums[starts]
        return np.where(count > 0, total / np.maximum(count, 1), 0.0), count


class _Shifted:
    """The series (columns of bucket × series ``anomaly`` and ``value`` matrices, NaN: no
    point) under circular shifts s of the grid, bucket i taking bucket i − s: running sums make
    their means over any range of buckets one difference, and the next onset at or after each
    bucket (in the grid twice around) the range's first onset one look-up."""

    def __init__(self, anomaly: np.ndarray, value: np.ndarray) -> None:
        self.size, self.value = len(anomaly), value
        self.anomaly_sums, self.value_sums = _Running(anomaly), _Running(value)
        buckets = np.arange(self.size)[:, None]
        onsets = np.where(anomaly >= ONSET_SCORE, buckets, 2 * self.size)
        # The next onset at or after each bucket (2 × size: none), else the grid's first one.
        following = np.minimum.accumulate(onsets[::-1], axis=0)[::-1]
        self.next_onset = np.minimum(following, following[:1] + self.size)

    def _range(self, shifts: np.ndarray, buckets: tuple[int, int]) -> tuple[int, int, np.ndarray]:
        """The on-grid part of ``buckets`` [from, to): its first bucket, its length, and per
        shift the bucket it starts at in the grid twice around."""
        first = max(buckets[0], 0)
        length = max(min(buckets[1], self.size) - first, 0)
        return first, length, (first - shifts) % self.size

    def mean(self, shifts: np.ndarray, buckets: tuple[int, int]) -> np.ndarray:
        """shifts × series: the mean anomaly score over ``buckets``, 0 where there is none."""
        _, length, starts = self._range(shifts, buckets)
        return self.anomaly_sums.mean(starts, length)[0]

    def onset(self, shifts: np.ndarray, buckets: tuple[int, int]) -> np.ndarray:
        """shifts × series: the first of ``buckets`` whose anomaly score reaches ONSET_SCORE
        (NaN: none does)."""
        first, length, starts = self._range(shifts, buckets)
        after = self.next_onset[starts] - starts[:, None]
        return np.where(after < length, first + after, np.nan)

    def correlation(
        self, shifts: np.ndarray, buckets: tuple[int, int], burn: np.ndarray
    ) -> np.ndarray:
        """shifts × series: the Pearson correlation of the values over ``buckets`` with ``burn``
        (per bucket of the grid, no NaN), missing values left out; 0 where undefined. In blocks
        of shifts of about BLOCK_VALUES values (they stay in the processor's cache)."""
        first, length, starts = self._range(shifts, buckets)
        level, count = self.value_sums.mean(starts, length)
        b = burn[first : first + length]
        step = max(BLOCK_VALUES // max(length * level.shape[1], 1), 1)
        return np.concatenate(
            [
                self._correlation(starts[block], level[block], count[block], b)
                for block in (slice(at, at + step) for at in range(0, len(starts), step))
            ]
        )

    def _correlation(
        self, starts: np.ndarray, level: np.ndarray, count: np.ndarray, b: np.ndarray
    ) -> np.ndarray:
        """``correlation`` over the window of ``b``'s length from each of ``starts``, given the
        values' ``level`` (mean) and ``count`` there (shifts × series)."""
        window = (np.arange(len(b))[:, None] + starts) % self.size  # buckets × shifts
        # buckets × shifts × series: the values less their mean over the window, 0 if missing
        dx = self.value[window]
        dx -= level
        missing = np.isnan(dx)
        np.copyto(dx, 0.0, where=missing)
        sum_dx, sum_dx_b = dx.sum(axis=0), np.einsum("i,ijk->jk", b, dx)
        # Σ b and Σ b² over the window, less over its missing points (if any)
        sum_b, sum_b2 = np.full(level.shape, b.sum()), np.full(level.shape, b @ b)
        if missing.any():
            sum_b -= np.einsum("i,ijk->jk", b, missing)
            sum_b2 -= np.einsum("i,ijk->jk", b * b, missing)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_b = sum_b / count
            # Over the points: Σ dx·(b − mean_b), Σ dx², Σ (b − mean_b)².
            covariance = sum_dx_b - sum_dx * mean_b
            spread_x, spread_b = np.einsum("ijk,ijk->jk", dx, dx), sum_b2 - sum_b * mean_b
            return np.nan_to_num(covariance / np.sqrt(spread_x * spread_b), nan=0.0)


def _episode_alignment(
    grid: _Grid,
    series: _Shifted,
    candidates: list[int],
    burn: np.ndarray,
    start: datetime,
    end: datetime,
    permutations: int,
    rng: np.random.Generator,
) -> list[dict[str, float | None]]:
    """Per candidate (columns of ``series``) its alignment terms with one episode, its score
    and its permutation p-value."""
    first = int(np.floor(grid.position(start)))
    last = int(np.ceil(grid.position(end)))  # buckets [first, last) are inside
    lead = int(LEAD / BUCKET)
    before = (int(np.ceil(grid.position(start - BASELINE))), first - lead)
    context = (
        int(np.ceil(grid.position(start - CONTEXT))),
        int(np.ceil(grid.position(end + CONTEXT))),
    )
    span = max(last, context[1]) - min(before[0], context[0])
    free = grid.size - 2 * span + 1  # circular shifts keeping the span off its own place
    shifts = np.concatenate(
        [[0], span + rng.integers(0, free, permutations) if free > 0 else np.zeros(0, int)]
    )
    # shifts × candidates, the first shift none
    inside = series.mean(shifts, (first, last))[:, candidates]
    before_mean = series.mean(shifts, before)[:, candidates]
    onset = series.onset(shifts, (first - lead, last))[:, candidates]
    correlation = series.correlation(shifts, context, burn)[:, candidates]
    end_position = grid.position(end)
    timing = np.nan_to_num(
        np.clip((end_position - onset) / (end_position - first), 0.0, 1.0), nan=0.0
    )
    score = (np.clip(inside - before_mean, 0.0, None) + timing + np.abs(correlation)) / 3
    observed, chance = score[0], score[1:].max(axis=1)
    p_value = (1 + (chance[:, None] >= observed).sum(axis=0)) / (1 + chance.size)
    lead_minutes = (first - onset[0]) * BUCKET.total_seconds() / 60
    return [
        {
            "score": float(observed[column]),
            "anomaly_inside": float(inside[0, column]),
            "anomaly_before": float(before_mean[0, column]),
            "lead_minutes": None if np.isnan(lead_minutes[column]) else float(lead_minutes[column]),
            "correlation": float(correlation[0, column]),
            "p_value": float(p_value[column]),
        }
        for column in range(score.shape[1])
    ]


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
