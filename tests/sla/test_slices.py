"""Slices: per-objective good/total per slice, exclusions, missing data, histogram SLIs."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from sla_support import buckets, make_contract, probes, requests, slices_of, utc

from pipelines.sla.objectives import exclusion_intervals
from pipelines.sla.slices import histogram_quantile, histogram_share_at

AVAILABILITY = {"id": "avail", "sli": {"kind": "availability", "evidence": "requests"}}


def test_occurrences_sum_events_into_epoch_aligned_five_minute_slices() -> None:
    contract = make_contract([AVAILABILITY], time_zone="UTC")
    start = utc(2026, 3, 1)
    # 12:03 .. 12:09: the first slice (12:00) has 2 minutes of evidence, 3 missing before them.
    rows = requests(utc(2026, 3, 1, 12, 3), 7, total=10, errors=1)
    slices = slices_of(
        [contract], start, start + timedelta(days=1), utc(2026, 3, 1, 12, 10), requests=rows
    )
    assert slices.select("slice_start", "good", "total", "missing_minutes").rows() == [
        (utc(2026, 3, 1, 12, 0), 18.0, 20.0, 0.0),
        (utc(2026, 3, 1, 12, 5), 45.0, 50.0, 0.0),
    ]
    # Measurement starts at the first evidence minute: no slice or missing minute before it.
    assert slices["partition_date"].to_list() == [start.date()] * 2


def test_one_off_exclusion_across_midnight_removes_evidence_on_both_sides() -> None:
    # 23:30–00:30 Berlin summer time = 21:30–22:30 UTC; the excluded minutes have only errors.
    contract = make_contract(
        [AVAILABILITY],
        exclusions=[{"reason": "upgrade", "start": "2026-03-31T23:30", "end": "2026-04-01T00:30"}],
    )
    rows = pl.concat(
        [
            requests(utc(2026, 3, 31, 21, 0), 30, total=10, errors=0),
            requests(utc(2026, 3, 31, 21, 30), 60, total=10, errors=10),
            requests(utc(2026, 3, 31, 22, 30), 30, total=10, errors=0),
        ]
    )
    slices = slices_of(
        [contract], utc(2026, 3, 31), utc(2026, 4, 1), utc(2026, 3, 31, 23), requests=rows
    )
    assert slices["good"].sum() == slices["total"].sum() == 600
    assert slices["excluded_minutes"].sum() == 60
    excluded = slices.filter(pl.col("excluded_minutes") > 0)
    assert excluded["slice_start"].min() == utc(2026, 3, 31, 21, 30)
    assert excluded["slice_start"].max() == utc(2026, 3, 31, 22, 25)


def test_weekly_exclusion_keeps_its_local_time_across_dst() -> None:
    # Sunday 03:00 Berlin: 02:00 UTC in winter (22 March), 01:00 UTC in summer (29 March),
    # 02:00 UTC again after the autumn change (25 October).
    contract = make_contract(
        [AVAILABILITY],
        exclusions=[{"reason": "patch", "every": "sunday", "at": "03:00", "duration": "30m"}],
    )
    intervals = exclusion_intervals([contract], utc(2026, 3, 20), utc(2026, 3, 30))
    assert intervals.filter(pl.col("service") == "api").select(
        "excluded_from", "excluded_until"
    ).rows() == [
        (utc(2026, 3, 22, 2, 0), utc(2026, 3, 22, 2, 30)),
        (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)),
    ]
    assert (
        exclusion_intervals([contract], utc(2026, 10, 24), utc(2026, 10, 26))[
            "excluded_from"
        ].to_list()
        == [utc(2026, 10, 25, 2, 0)] * 2
    )  # api and web: no services listed
    rows = requests(utc(2026, 3, 29, 0, 0), 180, total=1, errors=0)
    slices = slices_of(
        [contract], utc(2026, 3, 29), utc(2026, 3, 30), utc(2026, 3, 29, 3), requests=rows
    )
    excluded = slices.filter(pl.col("excluded_minutes") > 0)
    assert excluded["slice_start"].to_list() == [utc(2026, 3, 29, 1, 5 * n) for n in range(6)]
    assert slices["total"].sum() == 150


def test_probe_timeslices_share_of_checks_and_missing_data() -> None:
    # 5-minute slices, slice target 50%: one of two locations down is still a good slice.
    def objective(missing: str) -> dict:
        return {
            "id": f"up-{missing}",
            "sli": {"kind": "availability", "evidence": "probes"},
            "budgeting": {"method": "timeslices", "slice": "5m", "slice_target": "50%"},
            "missing_data": missing,
        }

    contract = make_contract([objective(m) for m in ("good", "bad", "excluded")], time_zone="UTC")
    rows = pl.concat(
        [
            probes(utc(2026, 3, 1, 0, 0), 5, [True, False]),  # 50% → good
            # 00:05–00:15 no probes at all: two missing slices
            probes(utc(2026, 3, 1, 0, 15), 5, [False, False]),  # 0% → bad
        ]
    )
    slices = slices_of(
        [contract], utc(2026, 3, 1), utc(2026, 3, 2), utc(2026, 3, 1, 0, 20), probes=rows
    )
    totals = {
        objective_id: (good, total, missing)
        for objective_id, good, total, missing in slices.group_by("objective_id")
        .agg(pl.col("good", "total", "missing_minutes").sum())
        .rows()
    }
    assert totals == {
        "up-good": (15.0, 20.0, 10.0),
        "up-bad": (5.0, 20.0, 10.0),
        "up-excluded": (5.0, 10.0, 10.0),
    }


def test_ratio_timeslices_average_slice_ratios_and_count_missing_slices() -> None:
    # 5-minute slices: 00:00 ratio 1.0 (50 requests), 00:05 no evidence, 00:10 ratio 0.5
    # (10 requests), 00:15 ratio 0.9 (500 requests).
    def objective(missing: str) -> dict:
        return {
            "id": f"ratio-{missing}",
            "sli": {"kind": "availability", "evidence": "requests"},
            "budgeting": {"method": "ratio_timeslices", "slice": "5m"},
            "missing_data": missing,
        }

    contract = make_contract(
        [*(objective(m) for m in ("good", "bad", "excluded")), AVAILABILITY], time_zone="UTC"
    )
    rows = pl.concat(
        [
            requests(utc(2026, 3, 1, 0, 0), 5, total=10, errors=0),
            requests(utc(2026, 3, 1, 0, 10), 5, total=2, errors=1),
            requests(utc(2026, 3, 1, 0, 15), 5, total=100, errors=10),
        ]
    )
    slices = slices_of(
        [contract], utc(2026, 3, 1), utc(2026, 3, 2), utc(2026, 3, 1, 0, 20), requests=rows
    )
    assert slices.filter(pl.col("objective_id") == "ratio-good").select(
        "good", "total", "missing_minutes"
    ).rows() == [(1.0, 1.0, 0.0), (1.0, 1.0, 5.0), (0.5, 1.0, 0.0), (0.9, 1.0, 0.0)]
    totals = {
        objective_id: (round(good, 9), total)
        for objective_id, good, total in slices.group_by("objective_id")
        .agg(pl.col("good", "total").sum())
        .rows()
    }
    assert totals == {
        "ratio-good": (3.4, 4.0),  # attainment 0.85
        "ratio-bad": (2.4, 4.0),  # 0.6
        "ratio-excluded": (2.4, 3.0),  # 0.8, the mean of 1.0, 0.5 and 0.9
        "avail": (505.0, 560.0),  # occurrences: 0.9018 (weighed by requests)
    }


def test_a_ratio_timeslice_wholly_excluded_counts_nothing() -> None:
    contract = make_contract(
        [
            {
                "id": "ratio",
                "sli": {"kind": "availability", "evidence": "probes"},
                "budgeting": {"method": "ratio_timeslices", "slice": "5m"},
                "missing_data": "bad",
            }
        ],
        time_zone="UTC",
        exclusions=[{"reason": "m", "start": "2026-03-01T00:05", "end": "2026-03-01T00:10"}],
    )
    rows = probes(utc(2026, 3, 1), 15, [True, True, False, True])  # 3 of 4 checks up
    slices = slices_of(
        [contract], utc(2026, 3, 1), utc(2026, 3, 2), utc(2026, 3, 1, 0, 15), probes=rows
    )
    assert slices.select("good", "total", "excluded_minutes").rows() == [
        (0.75, 1.0, 0.0),
        (0.0, 0.0, 5.0),
        (0.75, 1.0, 0.0),
    ]


def test_a_timeslice_loses_only_its_excluded_minutes() -> None:
    contract = make_contract(
        [
            {
                "id": "up",
                "sli": {"kind": "availability", "evidence": "probes"},
                "budgeting": {"method": "timeslices", "slice": "5m", "slice_target": "100%"},
            }
        ],
        time_zone="UTC",
        exclusions=[{"reason": "m", "start": "2026-03-01T00:03", "end": "2026-03-01T00:07"}],
    )
    rows = probes(utc(2026, 3, 1), 10, [False])
    slices = slices_of(
        [contract], utc(2026, 3, 1), utc(2026, 3, 2), utc(2026, 3, 1, 0, 10), probes=rows
    )
    # 00:00 slice: 00:03, 00:04 excluded, judged on 00:00–00:02 (bad), counting those 3 minutes;
    # 00:05 slice: 00:05, 00:06 excluded, judged on 00:07–00:09 (bad), 3 minutes.
    assert slices.select("good", "total", "excluded_minutes").rows() == [
        (0.0, 3.0, 2.0),
        (0.0, 3.0, 2.0),
    ]


def test_errors_just_after_a_maintenance_off_the_slice_boundary_count() -> None:
    # The case: maintenance 09:02–09:13, 30% errors in 09:13–09:14, 5-minute slices.
    # The 09:10 slice keeps 09:13 and 09:14 (15% errors: bad) and counts 2 minutes; the day has
    # 1440 − 11 = 1429 kept minutes, 2 of them bad: 1427 / 1429 = 99.86% (not 100%).
    timeslices = {
        "id": "slices",
        "sli": {"kind": "availability", "evidence": "requests"},
        "budgeting": {"method": "timeslices", "slice": "5m", "slice_target": "99%"},
        "window": "day",
    }
    contract = make_contract(
        [timeslices, {**AVAILABILITY, "window": "day"}],
        time_zone="UTC",
        exclusions=[{"reason": "m", "start": "2026-03-01T09:02", "end": "2026-03-01T09:13"}],
    )
    day = utc(2026, 3, 1)
    rows = pl.concat(
        [
            requests(day, 9 * 60 + 13, total=100, errors=0),
            requests(utc(2026, 3, 1, 9, 13), 1, total=100, errors=30),
            requests(utc(2026, 3, 1, 9, 14), 14 * 60 + 46, total=100, errors=0),
        ]
    )
    slices = slices_of([contract], day, day + timedelta(days=1), utc(2026, 3, 2), requests=rows)
    totals = dict(
        slices.group_by("objective_id")
        .agg(pl.struct(pl.col("good", "total", "excluded_minutes").sum()))
        .rows()
    )
    assert totals["slices"] == {"good": 1427.0, "total": 1429.0, "excluded_minutes": 11.0}
    assert f"{totals['slices']['good'] / totals['slices']['total']:.2%}" == "99.86%"
    # the occurrences objective on the same data counts the 30 errors too
    assert totals["avail"] == {"good": 142_870.0, "total": 142_900.0, "excluded_minutes": 11.0}
    ten_past = slices.filter(
        pl.col("objective_id") == "slices", pl.col("slice_start") == utc(2026, 3, 1, 9, 10)
    )
    assert ten_past.select("good", "total", "excluded_minutes").row(0) == (0.0, 2.0, 3.0)


CUMULATIVE = pl.DataFrame(
    {"slice": 1, "le_seconds": [0.1, 0.25, 0.5, float("inf")], "count": [250, 400, 475, 500]}
)


@pytest.mark.parametrize(
    ("quantile", "expected"),
    [
        (0.9, 0.25 + 0.25 * 50 / 75),  # rank 450 in (0.25, 0.5]
        (0.75, 0.1 + 0.15 * 125 / 150),  # rank 375 in (0.1, 0.25]
        (0.4, 0.1 * 200 / 250),  # rank 200 in the first bucket, from 0
        (0.99, 0.5),  # rank 495 in +inf: the largest finite bound
    ],
)
def test_histogram_quantile_interpolates_like_prometheus(quantile: float, expected: float) -> None:
    result = histogram_quantile(
        CUMULATIVE.lazy().with_columns(quantile=pl.lit(quantile)), ["slice"]
    )
    assert result.collect()["latency_quantile"].item() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("threshold", "good"),
    [(0.25, 400), (0.3, 400 + 75 * 0.05 / 0.25), (0.05, 250 * 0.5), (2.0, 475)],
)
def test_histogram_share_at_threshold(threshold: float, good: float) -> None:
    result = histogram_share_at(
        CUMULATIVE.lazy().with_columns(threshold_seconds=pl.lit(threshold)), ["slice"]
    ).collect()
    assert result.select("good", "total").row(0) == (pytest.approx(good), 500)


def test_latency_slices_from_buckets() -> None:
    # Per minute 50/80/95/100 cumulative → per 5-minute slice 250/400/475/500.
    timeslice = {"method": "timeslices", "slice": "5m", "slice_target": "100%"}
    contract = make_contract(
        [
            {"id": "p90", "sli": {"kind": "latency", "threshold": "300ms", "percentile": 90},
             "budgeting": timeslice},
            {"id": "p75", "sli": {"kind": "latency", "threshold": "300ms", "percentile": 75},
             "budgeting": timeslice},
            {"id": "share", "sli": {"kind": "latency", "threshold": "300ms"}},
        ],
        time_zone="UTC",
    )  # fmt: skip
    rows = buckets(utc(2026, 3, 1), 5, {0.1: 50, 0.25: 80, 0.5: 95, float("inf"): 100})
    slices = slices_of(
        [contract], utc(2026, 3, 1), utc(2026, 3, 2), utc(2026, 3, 1, 0, 5), histogram=rows
    )
    by_objective = {
        row[0]: row[1:] for row in slices.select("objective_id", "good", "total").rows()
    }
    assert by_objective["p90"] == (0.0, 5.0)  # p90 = 0.4167 s > 300 ms
    assert by_objective["p75"] == (5.0, 5.0)  # p75 = 0.225 s
    assert by_objective["share"] == (pytest.approx(415.0), 500.0)
