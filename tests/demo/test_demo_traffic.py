"""The quiet-day evidence: seasonality, latency buckets, and the long landing frames."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from pipelines.demo.profiles import PROFILES
from pipelines.demo.traffic import (
    bucket_shares,
    latency_histogram,
    minute_grid,
    probes_frame,
    request_volumes,
    requests_frame,
    seasonal_shape,
)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_minute_grid_is_half_open_and_utc() -> None:
    minutes = minute_grid(_utc(2026, 11, 20), _utc(2026, 11, 20, 0, 3))
    assert minutes.dtype == pl.Datetime("us", "UTC")
    assert minutes.to_list() == [_utc(2026, 11, 20, 0, m) for m in range(3)]


def test_seasonal_shape_peaks_at_14_local_and_drops_at_night_and_weekends() -> None:
    # Thursday 19 and Saturday 21 November 2026; Berlin is UTC+1.
    minutes = pl.Series(
        [
            _utc(2026, 11, 19, 13),
            _utc(2026, 11, 19, 1),
            _utc(2026, 11, 19, 7),
            _utc(2026, 11, 21, 13),
        ]
    ).dt.replace_time_zone("UTC")
    shape = seasonal_shape(minutes, "Europe/Berlin", night_share=0.3, weekend_share=0.5)
    # 14:00 peak, 02:00 low, 08:00 halfway (the cosine's quarter), Saturday peak halved.
    assert shape == pytest.approx([1.0, 0.3, 0.65, 0.5])


def test_request_volumes_stay_within_bounds_and_follow_the_day() -> None:
    minutes = minute_grid(_utc(2026, 11, 16), _utc(2026, 11, 23))
    profile = PROFILES["refunds-api"]
    volumes = request_volumes(minutes, [profile], ["America/New_York"], np.random.default_rng(1))
    assert volumes.shape == (len(minutes), 1)
    assert volumes.min() >= 50 and volumes.max() <= 3000
    # Monday 16 November, 14:00-14:59 New York (19:00 UTC) against 02:00-02:59 (07:00 UTC).
    peak, night = volumes[19 * 60 : 20 * 60].mean(), volumes[7 * 60 : 8 * 60].mean()
    assert peak == pytest.approx(profile.peak_requests, rel=0.1)
    assert night == pytest.approx(profile.peak_requests * profile.night_share, rel=0.1)


def test_bucket_shares_follow_the_log_logistic_distribution() -> None:
    shares = bucket_shares(np.array([[0.25], [0.5]]), np.array([2.0]))
    assert shares.shape == (2, 1, 9)
    assert shares.sum(axis=-1) == pytest.approx(np.ones((2, 1)))
    cumulative = shares.cumsum(axis=-1)
    # Half the requests are under the median; F(0.05) = 1 / (1 + 5²) for a median of 0.25 s.
    assert cumulative[0, 0, 2] == pytest.approx(0.5)
    assert cumulative[1, 0, 3] == pytest.approx(0.5)
    assert cumulative[0, 0, 0] == pytest.approx(1 / 26)
    assert shares[0, 0, 8] == pytest.approx(1 / (1 + (5 / 0.25) ** 2))


def test_latency_histogram_is_cumulative_and_ends_at_the_volume() -> None:
    volumes = np.array([[100, 7], [0, 3000]])
    shares = bucket_shares(np.full((2, 2), 0.3), np.array([4.0, 4.0]))
    cumulative = latency_histogram(volumes, shares, np.random.default_rng(3))
    assert cumulative.shape == (2, 2, 9)
    assert (np.diff(cumulative, axis=-1) >= 0).all()
    assert (cumulative[..., -1] == volumes).all()


def test_frames_are_long_and_time_major() -> None:
    minutes = minute_grid(_utc(2026, 11, 20), _utc(2026, 11, 20, 0, 2))
    requests = requests_frame(
        minutes, ["a", "b"], np.array([[10, 20], [30, 40]]), np.array([[0, 1], [2, 3]])
    )
    assert requests.rows() == [
        (_utc(2026, 11, 20, 0, 0), "a", 10, 0),
        (_utc(2026, 11, 20, 0, 0), "b", 20, 1),
        (_utc(2026, 11, 20, 0, 1), "a", 30, 2),
        (_utc(2026, 11, 20, 0, 1), "b", 40, 3),
    ]
    probes = probes_frame(minutes, ["s"], ["x", "y"], np.array([[[True, False]], [[False, True]]]))
    assert probes.columns == ["timestamp", "service", "location", "success"]
    assert probes.select("location", "success").rows() == [
        ("x", True),
        ("y", False),
        ("x", False),
        ("y", True),
    ]
