"""Causal anomaly scores for one metric series.

The score at row t uses only rows up to and including t (the score of a prefix of a series equals
the first scores of the whole series). All windows are durations, so any sampling rate works.
The constants below were set while looking at the NAB nab-dev files, so only cross-validated
figures (``pledge nab-eval``: the threshold chosen on the other folds) say how it generalises.

1. Two forecasts of each value from strictly earlier rows: the median of the last
   ``LEVEL_WINDOW`` (a level shift is absorbed once it has lasted half of it) and the value one
   ``SEASON`` earlier (seasonal naive, matched by timestamp).
2. Each forecast's residual is divided by a robust scale over the last ``SCALE_WINDOW``:
   1.4826 x the median absolute residual (the normal-consistent MAD), floored at
   ``RESOLUTION`` x the range of the values so quantised series do not divide by zero (a
   constant series gets ``TINY_SCALE``: any change of it is extreme). No z before the scale
   rests on ``MIN_HISTORY`` residuals.
3. The row uses the forecast with the smaller mean absolute residual over ``SCALE_WINDOW``:
   seasonal when the series repeats daily, level otherwise.
4. Four kinds of evidence: the robust z of the row itself (spikes); the mean of log(1 + z)
   over the last ``SHORT_WINDOW`` (bursts, changed variance); the absolute median of the
   signed z over the same window (a sustained shift: the median ignores the isolated spikes
   of a heavy-tailed series that dominate the mean, and its standard error is only
   sqrt(pi / 2) / sqrt(n) for n rows, 0.36 for an hour of 5-minute rows, so a dip or bump of
   one or two standard deviations that holds for over half the window stands out although no
   single row does); and the duration of the current flat stretch (the value has not
   changed since the stretch began: a metric stuck at zero or frozen), which movement-based z
   cannot see.
5. Each evidence is divided by a reference: the larger of its maximum over the previous
   ``MEMORY`` and the median of that maximum over ``LONG_MEMORY`` (the typical daily worst of
   the past week), and a floor: ``Z_FLOOR`` standard deviations for the row's z, log(1 + 1)
   for the hour mean, and ``Z_FLOOR`` standard errors of the median, sqrt(pi / 2) / sqrt(n)
   for the n rows of the window, for the hour median (the same 3-sigma bar as the row's z).
   The ratio exceeds 1 only for something more surprising than the past day and than a usual
   day, so recurring spikes, heavy tails and the aftermath of an anomaly stay quiet. The past
   remembers each row's evidence as at most ``MEMORY_CAP`` times the bar that row met itself
   (its own reference and floor): an anomaly far above its bar raises the bar for the next day
   only to twice the old one, so a second anomaly within a day of a bigger one still counts.
   The bar also includes the same evidence one ``SEASON`` earlier: the seasonal forecast
   repeats yesterday's anomaly as a residual of the same size, which is no new anomaly.
   A flat stretch is compared with the same reference taken when the stretch began (the longest
   flat stretch of the past day and of a usual day, at least ``FLAT_FLOOR_SECONDS``); its ratio
   counts once, on the row where the stretch first lasts ``FLAT_FACTOR`` times that reference.
   A series flat since its first row has no reference and never counts.
6. The score is r / (1 + r) for the largest ratio (0.5 ties the reference), and 0 for a row
   whose score does not reach the highest of the previous ``SHORT_WINDOW`` (one anomaly, one
   alarm).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

LEVEL_WINDOW = "1d"
SEASON = "1d"
SEASON_TOLERANCE = "1h"
SCALE_WINDOW = "7d"
RESOLUTION = 0.01
SHORT_WINDOW = "1h"
MEMORY = "1d"
LONG_MEMORY = "7d"
Z_FLOOR = 3.0
SHORT_FLOOR = math.log(2.0)
FLAT_FACTOR = 3.0
FLAT_FLOOR_SECONDS = 3600.0
MAD_TO_SIGMA = 1.4826
MIN_HISTORY = 30
MEMORY_CAP = 2.0
TINY_SCALE = 1e-12


def score_series(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``anomaly_score`` (Float64 in [0, 1), causal) to one series.

    Input: ``timestamp`` (Datetime, ascending, unique) and ``value`` (Float64, no nulls).
    Output: the same rows and columns plus ``anomaly_score``.
    """
    ts = pl.col("timestamp")
    one_season_ago = frame.lazy().select(
        ts.dt.offset_by(SEASON).alias("timestamp"),
        pl.col("value").alias("season_value"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("season_row"),
    )
    evidence = (
        frame.lazy()
        .join_asof(one_season_ago, on="timestamp", tolerance=SEASON_TOLERANCE, strategy="backward")
        .with_columns(
            level_residual=pl.col("value")
            - pl.col("value").rolling_median_by("timestamp", LEVEL_WINDOW, closed="left"),
            season_residual=pl.col("value") - pl.col("season_value"),
            resolution=RESOLUTION
            * (
                pl.col("value").rolling_max_by("timestamp", SCALE_WINDOW, closed="left")
                - pl.col("value").rolling_min_by("timestamp", SCALE_WINDOW, closed="left")
            ),
        )
        .with_columns(
            signed_z=pl.when(_mean_abs("season_residual") < _mean_abs("level_residual"))
            .then(_robust_signed_z("season_residual"))
            .otherwise(_robust_signed_z("level_residual"))
            .fill_null(0.0)
            .fill_nan(0.0)
        )
        .with_columns(z=pl.col("signed_z").abs())
        .with_columns(
            recent=pl.col("z").log1p().rolling_mean_by("timestamp", SHORT_WINDOW),
            shift=pl.col("signed_z").rolling_median_by("timestamp", SHORT_WINDOW).abs(),
            run=(pl.col("value") != pl.col("value").shift(1)).fill_null(True).cum_sum(),
        )
        .with_columns(flat=(ts - ts.first().over("run")).dt.total_seconds().cast(pl.Float64))
        .with_columns(flat_reference=_reference(pl.col("flat")))
        .with_columns(flat_reference=pl.col("flat_reference").first().over("run"))
        .with_columns(
            ratio=pl.max_horizontal(
                _record_ratio("z", Z_FLOOR),
                _record_ratio("recent", SHORT_FLOOR),
                _record_ratio("shift", _median_floor(SHORT_WINDOW)),
                _flat_ratio(),
            )
        )
        .with_columns(score=pl.col("ratio") / (1.0 + pl.col("ratio")))
        .select(anomaly_score=_quiet_after_alarm("score"))
        # The in-memory engine: rolling windows over one series run 2-3x slower when
        # streamed (Polars 2's default engine).
        .collect(engine="in-memory")
    )
    return frame.with_columns(evidence["anomaly_score"])


def anomaly_scores(timestamps: pl.Series, values: pl.Series) -> np.ndarray:
    """Causal anomaly score in [0, 1) for each (timestamp, value) row, timestamps ascending."""
    frame = pl.DataFrame({"timestamp": timestamps, "value": values.cast(pl.Float64)})
    return score_series(frame)["anomaly_score"].to_numpy()


def _mean_abs(residual: str) -> pl.Expr:
    return pl.col(residual).abs().rolling_mean_by("timestamp", SCALE_WINDOW, closed="left")


def _robust_signed_z(residual: str) -> pl.Expr:
    mad = (
        pl.col(residual)
        .abs()
        .rolling_median_by("timestamp", SCALE_WINDOW, closed="left", min_samples=MIN_HISTORY)
    )
    scale = pl.max_horizontal(MAD_TO_SIGMA * mad, pl.col("resolution"), pl.lit(TINY_SCALE))
    return pl.when(mad.is_not_null()).then(pl.col(residual) / scale)


def _median_floor(window: str) -> pl.Expr:
    """``Z_FLOOR`` standard errors of the median of the n standard-normal rows in ``window``."""
    rows = pl.col("timestamp").is_not_null().cast(pl.Float64).rolling_sum_by("timestamp", window)
    return Z_FLOOR * math.sqrt(math.pi / 2.0) / rows.sqrt()


def _reference(evidence: pl.Expr) -> pl.Expr:
    previous = evidence.rolling_max_by("timestamp", MEMORY, closed="left")
    typical = previous.rolling_median_by("timestamp", LONG_MEMORY)
    return pl.max_horizontal(previous, typical)


def _record_ratio(evidence: str, floor: float | pl.Expr) -> pl.Expr:
    """The evidence over its bar: the reference of the remembered past evidence (each row
    remembered as at most ``MEMORY_CAP`` times the bar it met itself), the evidence of the row
    one season earlier (its echo in the seasonal residual), and ``floor``."""
    own_bar = pl.max_horizontal(_reference(pl.col(evidence)).fill_null(0.0), floor)
    remembered = pl.min_horizontal(pl.col(evidence), MEMORY_CAP * own_bar)
    season_row = pl.col("season_row")
    one_season_ago = pl.when(season_row.is_not_null()).then(
        pl.col(evidence).gather(season_row.fill_null(0))
    )
    return pl.col(evidence) / pl.max_horizontal(
        _reference(remembered).fill_null(0.0), one_season_ago.fill_null(0.0), floor
    )


def _flat_ratio() -> pl.Expr:
    ratio = pl.col("flat") / pl.max_horizontal("flat_reference", pl.lit(FLAT_FLOOR_SECONDS))
    crossing = (ratio >= FLAT_FACTOR) & (ratio.shift(1).fill_null(0.0) < FLAT_FACTOR)
    return pl.when(pl.col("flat_reference").is_not_null() & crossing).then(ratio).otherwise(0.0)


def _quiet_after_alarm(score: str) -> pl.Expr:
    recent_high = pl.col(score).rolling_max_by("timestamp", SHORT_WINDOW, closed="left")
    return pl.when(pl.col(score) >= recent_high.fill_null(0.0)).then(pl.col(score)).otherwise(0.0)
