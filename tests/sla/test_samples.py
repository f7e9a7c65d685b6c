"""Window p90 exact from samples and interpolated from histogram buckets; share under 2 s."""

from __future__ import annotations

import polars as pl
import pytest
from sla_support import buckets, make_contract, utc

from pipelines.sla.objectives import objectives_frame
from pipelines.sla.outcomes import outcome_windows
from pipelines.sla.samples import histogram_percentile_windows, sample_outcomes

UTC_US = pl.Datetime("us", "UTC")


def latency(evidence: str, **sli: object) -> pl.DataFrame:
    objective = {"id": "page", "sli": {"kind": "latency", "evidence": evidence, **sli}}
    objective["target"] = "2s" if "statistic" in sli else 0.9
    return objectives_frame([make_contract([objective], time_zone="UTC")])


SAMPLES = pl.DataFrame(
    {
        "ts": [utc(2026, 3, 2, 12, n) for n in range(5)],
        "service": "api",
        "latency_seconds": [1.0, 2.0, 3.0, 4.0, 10.0],
    },
    schema_overrides={"ts": UTC_US},
)


def test_exact_p90_and_share_under_threshold_from_samples() -> None:
    p90 = latency("samples", statistic="p90")
    window = outcome_windows(p90, sample_outcomes(p90, SAMPLES), utc(2026, 3, 3)).row(0, named=True)
    # rank (5 − 1) × 0.9 = 3.6: 4 + 0.6 × (10 − 4) = 7.6 s
    assert window["measured"] == pytest.approx(7.6) and window["status"] == "breaching"
    share = latency("samples", threshold="2s")
    window = outcome_windows(share, sample_outcomes(share, SAMPLES), utc(2026, 3, 3)).row(
        0, named=True
    )
    assert (window["good"], window["total"], window["attainment"]) == (2, 5, 0.4)


def test_objectives_of_different_percentiles_each_get_their_own_in_one_call() -> None:
    # polars takes one quantile level for all groups: p50 beside p90 must not become p90
    p90, p50 = latency("samples", statistic="p90"), latency("samples", statistic="p50")
    p50 = p50.with_columns(objective_id=pl.lit("median-page"))
    both = pl.concat([p90, p50])
    outcomes = pl.concat([sample_outcomes(frame, SAMPLES) for frame in (p90, p50)])
    windows = outcome_windows(both, outcomes, utc(2026, 3, 3))
    measured = dict(windows.select("objective_id", "measured").iter_rows())
    assert measured == {"page": pytest.approx(7.6), "median-page": 3.0}


def test_window_p90_interpolated_from_summed_buckets() -> None:
    # Two minutes of {0.5 s: 50, 1 s: 80, 2 s: 100, +Inf: 100}: 200 requests, rank 180 lies in
    # (1 s, 2 s] between 160 and 200: 1 + (180 − 160)/(200 − 160) = 1.5 s.
    rows = buckets(utc(2026, 3, 2, 12), 2, {0.5: 50, 1.0: 80, 2.0: 100, float("inf"): 100})
    p90 = latency("histogram", statistic="p90")
    windows = histogram_percentile_windows(p90, rows, utc(2026, 3, 3))
    window = windows.row(0, named=True)
    assert (window["total"], window["measured"]) == (200, pytest.approx(1.5))
    assert window["status"] == "on_track" and window["unit"] == "seconds"
