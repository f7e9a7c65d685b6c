"""Quiet-day evidence, vectorised: request volumes, failed requests, latency histograms, probes.

Per-minute quantities are NumPy matrices with one row per minute (``minute_grid``) and one column
per service (probes add a location axis, histograms a bucket axis); the ``*_frame`` functions turn
them into the long landing frames. Randomness comes only from the ``rng`` passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import polars as pl

from pipelines.demo.profiles import (
    BUCKET_BOUNDS,
    GROWTH_PER_DAY,
    MAX_REQUESTS,
    MIN_REQUESTS,
    ServiceProfile,
)

DAY_NOISE = 0.05
"""Log-normal sigma of each day's volume level."""
MINUTE_NOISE = 0.05
"""Log-normal sigma of each minute's volume around the day's shape."""
ERROR_NOISE = 0.5
"""Log-normal sigma of each minute's error rate around the baseline (the mean is kept)."""
LATENCY_NOISE = 0.08
"""Log-normal sigma of each minute's median latency."""
LOAD_SLOWDOWN = 0.25
"""Median latency at peak load, relative to an idle service: 1 + LOAD_SLOWDOWN."""


def minute_grid(start: datetime, end: datetime) -> pl.Series:
    """Every minute start in ``[start, end)``: a ``timestamp`` Series, Datetime("us", "UTC")."""
    return pl.datetime_range(
        start, end, "1m", closed="left", time_unit="us", time_zone="UTC", eager=True
    ).alias("timestamp")


def seasonal_shape(
    minutes: pl.Series, zone: str, night_share: float, weekend_share: float
) -> np.ndarray:
    """Expected volume of each minute as a share of the weekday peak, from its local time in
    ``zone``: a daily wave from ``night_share`` at 02:00 to 1 at 14:00, times ``weekend_share``
    on Saturdays and Sundays. Returns a float array of ``len(minutes)``."""
    local = minutes.dt.convert_time_zone(zone)
    hour = (local.dt.hour().cast(pl.Float64) + local.dt.minute() / 60).to_numpy()
    daily = night_share + (1 - night_share) * (0.5 - 0.5 * np.cos(2 * np.pi * (hour - 2) / 24))
    weekend = local.dt.weekday().to_numpy() >= 6
    return daily * np.where(weekend, weekend_share, 1.0)


def request_volumes(
    minutes: pl.Series,
    profiles: Sequence[ServiceProfile],
    zones: Sequence[str],
    rng: np.random.Generator,
) -> np.ndarray:
    """Requests per minute, int array (minutes, services): each profile's peak × its seasonal
    shape in its contract's zone × organic growth × day-level and minute-level noise, drawn from
    a Poisson distribution and kept within [MIN_REQUESTS, MAX_REQUESTS]."""
    elapsed_days = ((minutes - minutes[0]).dt.total_minutes() / 1440).to_numpy()
    day_index = elapsed_days.astype(np.int64)
    expected = np.column_stack(
        [
            profile.peak_requests
            * seasonal_shape(minutes, zone, profile.night_share, profile.weekend_share)
            for profile, zone in zip(profiles, zones, strict=True)
        ]
    )
    expected *= (1 + GROWTH_PER_DAY) ** elapsed_days[:, None]
    expected *= rng.lognormal(0, DAY_NOISE, (day_index[-1] + 1, len(profiles)))[day_index]
    expected *= rng.lognormal(0, MINUTE_NOISE, expected.shape)
    return np.clip(rng.poisson(expected), MIN_REQUESTS, MAX_REQUESTS)


def baseline_error_rates(
    minute_count: int, profiles: Sequence[ServiceProfile], rng: np.random.Generator
) -> np.ndarray:
    """Expected share of failed requests, float array (minutes, services): each profile's
    ``error_rate`` times mean-one log-normal noise."""
    noise = rng.lognormal(-(ERROR_NOISE**2) / 2, ERROR_NOISE, (minute_count, len(profiles)))
    return noise * np.array([profile.error_rate for profile in profiles])


def failed_requests(
    volumes: np.ndarray, error_rates: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Failed requests per minute: binomial draws of ``volumes`` at ``error_rates`` (same shape)."""
    return rng.binomial(volumes, np.clip(error_rates, 0, 1))


def latency_medians(
    volumes: np.ndarray, profiles: Sequence[ServiceProfile], rng: np.random.Generator
) -> np.ndarray:
    """Median latency in seconds, float array (minutes, services): each profile's idle median,
    slowed by up to LOAD_SLOWDOWN at peak load, with log-normal noise."""
    peaks = np.array([profile.peak_requests for profile in profiles])
    idle = np.array([profile.latency_median for profile in profiles])
    slowdown = 1 + LOAD_SLOWDOWN * np.minimum(volumes / peaks, 1)
    return idle * slowdown * rng.lognormal(0, LATENCY_NOISE, volumes.shape)


def bucket_shares(medians: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Share of requests in each latency bucket under a log-logistic distribution,
    ``F(x) = 1 / (1 + (x / median) ** -shape)``: float array ``medians.shape + (9,)`` whose
    last entry is the share above the largest finite bound; ``shapes`` broadcasts against
    ``medians`` (one per service)."""
    ratio = np.asarray(BUCKET_BOUNDS) / medians[..., None]
    below = 1 / (1 + ratio ** -np.asarray(shapes, dtype=float)[..., None])
    cumulative = np.concatenate([below, np.ones((*medians.shape, 1))], axis=-1)
    return np.diff(cumulative, axis=-1, prepend=0.0)


def latency_histogram(
    volumes: np.ndarray, shares: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Cumulative bucket counts, int array ``volumes.shape + (9,)``: a multinomial draw of each
    minute's requests over ``shares`` (from ``bucket_shares``), so the last (+Inf) equals
    ``volumes``."""
    return rng.multinomial(volumes, shares).cumsum(axis=-1)


def probe_results(failure_rates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Check outcomes (True = success), bool array shaped like ``failure_rates`` (minutes,
    services, locations); a rate of 1 fails every check."""
    return rng.random(failure_rates.shape) >= failure_rates


def _grid_columns(minutes: pl.Series, dimensions: dict[str, Sequence[str]]) -> list[pl.Series]:
    """Key columns of the cross product minutes × each dimension, time-major (C order), to lay
    beside a raveled (minutes, *dimensions) array."""
    sizes = [len(minutes), *(len(labels) for labels in dimensions.values())]
    row = np.arange(np.prod(sizes))
    strides = np.cumprod([1, *sizes[:0:-1]])[::-1]
    columns = [minutes.gather(row // strides[0])]
    for axis, (name, labels) in enumerate(dimensions.items(), start=1):
        columns.append(pl.Series(name, labels).gather((row // strides[axis]) % sizes[axis]))
    return columns


def requests_frame(
    minutes: pl.Series, services: Sequence[str], volumes: np.ndarray, failures: np.ndarray
) -> pl.DataFrame:
    """Request counters, one row per minute and service (sorted by time, then ``services``
    order): ``timestamp`` Datetime("us", "UTC"), ``service`` String, ``requests`` Int64,
    ``errors`` Int64."""
    return pl.DataFrame(
        [
            *_grid_columns(minutes, {"service": services}),
            pl.Series("requests", volumes.ravel(), dtype=pl.Int64),
            pl.Series("errors", failures.ravel(), dtype=pl.Int64),
        ]
    )


def latency_frame(
    minutes: pl.Series, services: Sequence[str], labels: Sequence[str], cumulative: np.ndarray
) -> pl.DataFrame:
    """Cumulative latency buckets in long format, one row per minute, service and bucket:
    ``timestamp`` Datetime("us", "UTC"), ``service`` String, ``le`` String, ``count`` Int64."""
    return pl.DataFrame(
        [
            *_grid_columns(minutes, {"service": services, "le": labels}),
            pl.Series("count", cumulative.ravel(), dtype=pl.Int64),
        ]
    )


def probes_frame(
    minutes: pl.Series, services: Sequence[str], locations: Sequence[str], success: np.ndarray
) -> pl.DataFrame:
    """Probe checks, one row per minute, service and location: ``timestamp`` Datetime("us",
    "UTC"), ``service`` String, ``location`` String, ``success`` Boolean."""
    return pl.DataFrame(
        [
            *_grid_columns(minutes, {"service": services, "location": locations}),
            pl.Series("success", success.ravel(), dtype=pl.Boolean),
        ]
    )
