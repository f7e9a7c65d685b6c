"""Windows: local calendar boundaries, rolling windows, budgets and statuses."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from sla_support import (
    EMPTY,
    NO_FIRING,
    first_evidence_of,
    make_contract,
    probes,
    requests,
    slices_of,
    utc,
)

from pipelines.sla.objectives import objectives_frame
from pipelines.sla.windows import measurement_starts, objective_windows

AVAILABILITY = {"id": "avail", "sli": {"kind": "availability", "evidence": "requests"}}


def windows_of(contract, start, end, as_of, firing=NO_FIRING, **evidence) -> pl.DataFrame:
    slices = slices_of([contract], start, end, as_of, **evidence)
    objectives = objectives_frame([contract])
    measured_from = measurement_starts(objectives, first_evidence_of(**{**EMPTY, **evidence}))
    return objective_windows(objectives, slices, firing, as_of, measured_from)


def by_label(windows: pl.DataFrame) -> dict[str, dict]:
    return {row["window_label"]: row for row in windows.iter_rows(named=True)}


def test_berlin_month_starts_at_23_utc_the_day_before() -> None:
    contract = make_contract([AVAILABILITY])
    rows = pl.concat(
        [
            requests(utc(2026, 2, 28, 22, 55), 5, total=10, errors=2),  # 23:55 Berlin, February
            requests(utc(2026, 2, 28, 23, 30), 5, total=10, errors=0),  # 00:30 Berlin, March
        ]
    )
    windows = by_label(
        windows_of(
            contract, utc(2026, 2, 28), utc(2026, 3, 1), utc(2026, 2, 28, 23, 35), requests=rows
        )
    )
    assert list(windows) == ["2026-02", "2026-03"]
    february, march = windows["2026-02"], windows["2026-03"]
    assert (february["window_start"], february["window_end"]) == (
        utc(2026, 1, 31, 23),
        utc(2026, 2, 28, 23),
    )
    assert (february["good"], february["total"], february["attainment"]) == (40, 50, 0.8)
    assert february["is_complete"] and february["status"] == "breached"
    assert (march["window_start"], march["window_end"]) == (
        utc(2026, 2, 28, 23),
        utc(2026, 3, 31, 22),
    )
    assert (march["good"], march["total"], march["status"]) == (50, 50, "on_track")
    assert not march["is_complete"]


def test_dst_day_in_berlin_has_1380_minutes() -> None:
    contract = make_contract(
        [
            {
                "id": "up",
                "sli": {"kind": "availability", "evidence": "probes"},
                "budgeting": {"method": "timeslices", "slice": "1m", "slice_target": "50%"},
                "window": "day",
                "target": 0.99,
            }
        ]
    )
    # Probes from 28 March 23:00 Berlin (22:00 UTC) to 30 March 01:00 Berlin (23:00 UTC), two
    # locations; ten minutes with both down on 29 March.
    rows = pl.concat(
        [
            probes(utc(2026, 3, 28, 22), 600, [True, True]),
            probes(utc(2026, 3, 29, 8), 10, [False, False]),
            probes(utc(2026, 3, 29, 8, 10), 890, [True, False]),
        ]
    )
    windows = by_label(
        windows_of(contract, utc(2026, 3, 28), utc(2026, 3, 30), utc(2026, 3, 29, 23), probes=rows)
    )
    day = windows["2026-03-29"]
    assert (day["window_start"], day["window_end"]) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert (day["good"], day["total"]) == (1370, 1380)
    assert day["error_budget"] == pytest.approx(13.8)
    assert day["budget_remaining"] == pytest.approx(1 - 10 / 13.8)
    assert day["status"] == "met"
    assert windows["2026-03-28"]["total"] == 60
    assert windows["2026-03-30"]["total"] == 60 and windows["2026-03-30"]["status"] == "on_track"


def test_exclusion_across_a_month_boundary_keeps_each_window_exact() -> None:
    contract = make_contract(
        [AVAILABILITY],
        exclusions=[{"reason": "upgrade", "start": "2026-03-31T23:30", "end": "2026-04-01T00:30"}],
    )
    rows = pl.concat(
        [
            requests(utc(2026, 3, 31, 21, 0), 30, total=10, errors=1),
            requests(utc(2026, 3, 31, 21, 30), 60, total=10, errors=10),
            requests(utc(2026, 3, 31, 22, 30), 30, total=10, errors=0),
        ]
    )
    windows = by_label(
        windows_of(contract, utc(2026, 3, 31), utc(2026, 4, 1), utc(2026, 3, 31, 23), requests=rows)
    )
    march, april = windows["2026-03"], windows["2026-04"]
    assert (march["good"], march["total"], march["excluded_minutes"]) == (270, 300, 30)
    assert (april["good"], april["total"], april["excluded_minutes"]) == (300, 300, 30)


def test_a_day_without_evidence_has_no_data_not_full_attainment() -> None:
    contract = make_contract([{**AVAILABILITY, "window": "day"}], time_zone="UTC")
    rows = pl.concat(
        [
            requests(utc(2026, 3, 1, 12), 1, total=100, errors=0),
            requests(utc(2026, 3, 3, 12), 1, total=100, errors=50),
        ]
    )
    windows = by_label(
        windows_of(
            contract, utc(2026, 3, 1), utc(2026, 3, 4), utc(2026, 3, 3, 12, 1), requests=rows
        )
    )
    empty = windows["2026-03-02"]
    assert empty["status"] == "no_data" and empty["attainment"] is None
    assert empty["total"] == 0 and empty["budget_remaining"] is None
    assert empty["missing_minutes"] == 1440
    assert windows["2026-03-03"]["status"] == "breaching"


def test_rolling_and_calendar_windows_answer_differently() -> None:
    # Day 1: 100/100, day 2: 80/100, day 3: 300/300 (UTC; 2 March 2026 is a Monday).
    rows = pl.concat(
        [
            requests(utc(2026, 3, 1, 12), 1, total=100, errors=0),
            requests(utc(2026, 3, 2, 12), 1, total=100, errors=20),
            requests(utc(2026, 3, 3, 12), 1, total=300, errors=0),
        ]
    )
    as_of = utc(2026, 3, 3, 12, 1)

    def attainments(window: str) -> dict[str, float]:
        contract = make_contract([{**AVAILABILITY, "window": window}], time_zone="UTC")
        windows = windows_of(contract, utc(2026, 3, 1), utc(2026, 3, 4), as_of, requests=rows)
        return dict(windows.select("window_label", "attainment").rows())

    assert attainments("rolling 2d") == {
        "rolling 2d to 2026-03-01": 1.0,
        "rolling 2d to 2026-03-02": 0.9,
        "rolling 2d to 2026-03-03": 0.95,
    }
    assert attainments("day") == {"2026-03-01": 1.0, "2026-03-02": 0.8, "2026-03-03": 1.0}
    assert attainments("week") == {"2026-W09": 1.0, "2026-W10": 0.95}
    assert attainments("quarter") == {"2026-Q1": 480 / 500}


def test_at_a_midnight_the_window_just_begun_is_the_current_one() -> None:
    # Evidence up to 2026-03-03 00:00 UTC and as_of exactly then: the rolling window to 03-03 and
    # the day 03-03 have begun (current, carrying the earlier days for rolling), nothing complete
    # is missing.
    rows = pl.concat(
        [
            requests(utc(2026, 3, 1, 12), 1, total=100, errors=0),
            requests(utc(2026, 3, 2, 12), 1, total=100, errors=20),
        ]
    )
    as_of = utc(2026, 3, 3)

    def listed(window: str) -> dict[str, tuple[bool, str]]:
        contract = make_contract([{**AVAILABILITY, "window": window}], time_zone="UTC")
        windows = windows_of(contract, utc(2026, 3, 1), as_of, as_of, requests=rows)
        return {label: (complete, status) for label, complete, status in
                windows.select("window_label", "is_complete", "status").rows()}  # fmt: skip

    assert listed("rolling 2d") == {
        "rolling 2d to 2026-03-01": (True, "met"),
        "rolling 2d to 2026-03-02": (True, "breached"),
        "rolling 2d to 2026-03-03": (False, "breaching"),  # 03-02 still in it: 80/100
    }
    assert listed("day")["2026-03-03"] == (False, "no_data")


def test_over_budget_remaining_goes_negative_and_status_follows() -> None:
    contract = make_contract([{**AVAILABILITY, "window": "day"}], time_zone="UTC")
    rows = requests(utc(2026, 3, 1, 12), 1, total=100, errors=5)
    windows = windows_of(
        contract, utc(2026, 3, 1), utc(2026, 3, 3), utc(2026, 3, 2, 0, 1), requests=rows
    )
    day = by_label(windows)["2026-03-01"]
    assert day["error_budget"] == pytest.approx(1.0)
    assert day["budget_consumed"] == 5
    assert day["budget_remaining"] == pytest.approx(-4.0)
    assert day["status"] == "breached" and day["is_complete"]
    assert day["measured"] == day["attainment"] == 0.95 and day["unit"] == "ratio"


def test_current_window_at_risk_when_an_alert_fires() -> None:
    contract = make_contract([AVAILABILITY], time_zone="UTC")
    rows = requests(utc(2026, 3, 1, 12), 1, total=1000, errors=1)
    firing = pl.DataFrame({"contract_id": ["acme"], "objective_id": ["avail"]})
    as_of = utc(2026, 3, 1, 12, 1)
    quiet = windows_of(contract, utc(2026, 3, 1), utc(2026, 3, 2), as_of, requests=rows)
    loud = windows_of(contract, utc(2026, 3, 1), utc(2026, 3, 2), as_of, firing, requests=rows)
    assert quiet["status"].to_list() == ["on_track"]
    assert loud["status"].to_list() == ["at_risk"]


def test_objective_without_evidence_lists_its_current_window_as_no_data() -> None:
    contract = make_contract([AVAILABILITY], time_zone="UTC")
    windows = windows_of(contract, utc(2026, 3, 1), utc(2026, 3, 2), utc(2026, 3, 10))
    assert windows.select("window_label", "status", "is_complete").rows() == [
        ("2026-03", "no_data", False)
    ]


def test_autumn_dst_day_lasts_25_hours() -> None:
    contract = make_contract([{**AVAILABILITY, "window": "day"}])
    rows = requests(utc(2026, 10, 24, 22), 25 * 60 + 60, total=1, errors=0)
    windows = by_label(
        windows_of(
            contract, utc(2026, 10, 24), utc(2026, 10, 27), utc(2026, 10, 26, 0), requests=rows
        )
    )
    day = windows["2026-10-25"]
    assert day["window_end"] - day["window_start"] == timedelta(hours=25)
    assert day["total"] == 1500


def test_unobserved_time_counts_from_the_effective_start_and_coverage() -> None:
    # Effective from 1 March (UTC); evidence only from 18:00: 1080 of the day's 1440 minutes
    # are unobserved. Timeslices under missing_data: bad count them bad (360 / 1440 = 25%);
    # occurrences have no events there (attainment 100%) but show coverage 25%; an objective
    # whose service has no evidence at all is breached under missing_data: bad, not met.
    def probe_slices(objective_id: str, service: str) -> dict:
        return {
            "id": objective_id,
            "service": service,
            "sli": {"kind": "availability", "evidence": "probes"},
            "budgeting": {"method": "timeslices", "slice": "5m", "slice_target": "50%"},
            "missing_data": "bad",
            "window": "day",
        }

    contract = make_contract(
        [
            probe_slices("up", "api"),
            probe_slices("silent", "web"),
            {**AVAILABILITY, "window": "day"},
        ],
        time_zone="UTC",
        effective={"from": "2026-03-01"},
    )
    evening = utc(2026, 3, 1, 18)
    evidence = {
        "requests": requests(evening, 360, total=10, errors=0),
        "probes": probes(evening, 360, [True]),
    }
    as_of = utc(2026, 3, 2)
    slices = slices_of([contract], utc(2026, 3, 1), as_of, as_of, **evidence)
    objectives = objectives_frame([contract])
    windows = objective_windows(
        objectives,
        slices,
        NO_FIRING,
        as_of,
        measurement_starts(objectives, first_evidence_of(**evidence)),
    ).filter(pl.col("window_label") == "2026-03-01")
    rows = {row["objective_id"]: row for row in windows.iter_rows(named=True)}
    up, avail, silent = rows["up"], rows["avail"], rows["silent"]
    assert (up["good"], up["total"], up["attainment"], up["status"]) == (
        360.0,
        1440.0,
        0.25,
        "breached",
    )
    assert (up["missing_minutes"], up["coverage"]) == (1080.0, 0.25)
    assert (avail["attainment"], avail["status"], avail["coverage"]) == (1.0, "met", 0.25)
    assert avail["missing_minutes"] == 1080.0
    assert (silent["total"], silent["attainment"], silent["status"]) == (1440.0, 0.0, "breached")
    assert silent["coverage"] == 0.0


def test_ratio_timeslices_window_is_the_mean_of_slice_ratios_with_unobserved_slices() -> None:
    # Effective from 1 March (UTC), evidence from 23:00: 23:00–23:30 ratio 1.0 (10 requests a
    # minute), 23:30–00:00 ratio 0.5 (1000 a minute): 12 slices of 5 minutes, 6 at 1.0 and 6 at
    # 0.5 (sum 9). The 23 unobserved hours are 276 slices counted per missing_data; occurrences
    # weigh each minute by its requests.
    def ratio(missing: str) -> dict:
        return {
            "id": f"ratio-{missing}",
            "sli": {"kind": "availability", "evidence": "requests"},
            "budgeting": {"method": "ratio_timeslices", "slice": "5m"},
            "missing_data": missing,
            "window": "day",
        }

    contract = make_contract(
        [*(ratio(m) for m in ("good", "bad", "excluded")), {**AVAILABILITY, "window": "day"}],
        time_zone="UTC",
        effective={"from": "2026-03-01"},
    )
    rows = pl.concat(
        [
            requests(utc(2026, 3, 1, 23), 30, total=10, errors=0),
            requests(utc(2026, 3, 1, 23, 30), 30, total=1000, errors=500),
        ]
    )
    as_of = utc(2026, 3, 2)
    windows = windows_of(contract, utc(2026, 3, 1), as_of, as_of, requests=rows)
    attained = {
        row["objective_id"]: (round(row["good"], 9), row["total"], round(row["attainment"], 9))
        for row in windows.filter(pl.col("window_label") == "2026-03-01").iter_rows(named=True)
    }
    assert attained == {
        "ratio-good": (23 * 12 + 9.0, 288.0, round(285 / 288, 9)),
        "ratio-bad": (9.0, 288.0, round(9 / 288, 9)),
        "ratio-excluded": (9.0, 12.0, 0.75),
        "avail": (15300.0, 30300.0, round(15300 / 30300, 9)),
    }


def test_month_anchored_at_noon_in_berlin_across_the_spring_dst_change() -> None:
    """Months from the 1st at 12:00 Berlin: March starts at 11:00 UTC (CET), April at 10:00 UTC
    (CEST); the label is the month holding the first day; requests before noon on 1 April still
    count in March."""
    anchored = {**AVAILABILITY, "window": {"period": "month", "start": "2022-01-01T12:00:00"}}
    contract = make_contract([anchored])
    rows = pl.concat(
        [
            requests(utc(2026, 3, 1, 10, 55), 5, total=10, errors=10),  # 11:55 Berlin, 1 March
            requests(utc(2026, 3, 1, 11), 5, total=10, errors=1),  # 12:00 Berlin, 1 March
            requests(utc(2026, 4, 1, 9, 55), 5, total=10, errors=2),  # 11:55 Berlin, 1 April
            requests(utc(2026, 4, 1, 10), 5, total=10, errors=0),  # 12:00 Berlin, 1 April
        ]
    )
    windows = by_label(
        windows_of(
            contract, utc(2026, 3, 1), utc(2026, 4, 2), utc(2026, 4, 1, 10, 5), requests=rows
        )
    )
    assert list(windows) == ["2026-02", "2026-03", "2026-04"]
    february, march, april = windows["2026-02"], windows["2026-03"], windows["2026-04"]
    assert (february["window_start"], february["window_end"]) == (
        utc(2026, 2, 1, 11),
        utc(2026, 3, 1, 11),
    )
    assert (february["good"], february["total"]) == (0, 50)
    assert (march["window_start"], march["window_end"]) == (
        utc(2026, 3, 1, 11),
        utc(2026, 4, 1, 10),
    )
    assert (march["good"], march["total"], march["is_complete"]) == (85, 100, True)
    assert (april["window_start"], april["window_end"]) == (
        utc(2026, 4, 1, 10),
        utc(2026, 5, 1, 10),
    )
    assert (april["good"], april["total"], april["is_complete"]) == (50, 50, False)


def test_week_anchored_on_wednesday_0900() -> None:
    """Weeks from Wednesday 09:00 UTC (7 January 2026 is a Wednesday); labelled by the ISO week
    of their Wednesday."""
    anchored = {**AVAILABILITY, "window": {"period": "week", "start": "2026-01-07 09:00"}}
    contract = make_contract([anchored], time_zone="UTC")
    rows = pl.concat(
        [
            requests(utc(2026, 3, 18, 8, 55), 5, total=10, errors=5),  # Wednesday 08:55
            requests(utc(2026, 3, 18, 9), 5, total=10, errors=0),  # Wednesday 09:00
        ]
    )
    windows = by_label(
        windows_of(
            contract, utc(2026, 3, 18), utc(2026, 3, 19), utc(2026, 3, 18, 9, 5), requests=rows
        )
    )
    assert list(windows) == ["2026-W11", "2026-W12"]
    before, after = windows["2026-W11"], windows["2026-W12"]
    assert (before["window_start"], before["window_end"]) == (
        utc(2026, 3, 11, 9),
        utc(2026, 3, 18, 9),
    )
    assert (before["good"], before["total"]) == (25, 50)
    assert (after["window_start"], after["window_end"]) == (
        utc(2026, 3, 18, 9),
        utc(2026, 3, 25, 9),
    )
    assert (after["good"], after["total"]) == (50, 50)


def test_quarter_anchored_on_15_february() -> None:
    """Quarters from the 15th of February, May, August and November at 00:00 UTC."""
    anchored = {**AVAILABILITY, "window": {"period": "quarter", "start": "2025-11-15T00:00"}}
    contract = make_contract([anchored], time_zone="UTC")
    rows = requests(utc(2026, 3, 1), 5, total=10, errors=0)
    windows = windows_of(
        contract, utc(2026, 3, 1), utc(2026, 3, 2), utc(2026, 3, 1, 1), requests=rows
    )
    assert windows.select("window_label", "window_start", "window_end").rows() == [
        ("2026-Q1", utc(2026, 2, 15), utc(2026, 5, 15))
    ]
