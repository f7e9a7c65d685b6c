"""Corrections: periods removed after the fact from the objectives they apply to."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
from sla_support import EMPTY, NO_FIRING, make_contract, requests, utc

from pipelines.contracts.schema import Contract
from pipelines.sla.corrections import corrected_minutes, corrections_frame, drop_corrected
from pipelines.sla.objectives import excluded_minutes, exclusion_intervals, objectives_frame
from pipelines.sla.outcomes import OUTCOMES_SCHEMA
from pipelines.sla.slices import objective_slices
from pipelines.sla.windows import measurement_starts, objective_windows

API = {"id": "avail", "sli": {"kind": "availability"}, "window": "day"}
WEB = {"id": "web-avail", "service": "web", "sli": {"kind": "availability"}, "window": "day"}


def corrected_windows(
    contract: Contract, evidence: pl.DataFrame, start: datetime, end: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Slices over [start, end) with the contract's corrections applied, and their windows
    (as_of = end)."""
    first = evidence.group_by("service").agg(
        first_ts=pl.col("ts").min(), sli_method=pl.lit("requests")
    )
    objectives = objectives_frame([contract])
    slices = objective_slices(
        objectives,
        evidence.lazy(),
        EMPTY["probes"].lazy(),
        EMPTY["histogram"].lazy(),
        excluded_minutes(exclusion_intervals([contract], start, end), start, end),
        first,
        start,
        end,
        end,
        corrected=corrected_minutes(corrections_frame([contract]), start, end),
    )
    measured_from = measurement_starts(objectives, first)
    return slices, objective_windows(objectives, slices, NO_FIRING, end, measured_from)


def outage(service: str = "api") -> pl.DataFrame:
    """2026-03-02 00:00–02:00 UTC, 100 requests a minute: every request fails 01:00–01:10 and 5
    fail per minute 01:10–01:30. Uncorrected: total 12,000, bad 1,000 + 100 → 90.83%."""
    return pl.concat(
        [
            requests(utc(2026, 3, 2, 0, 0), 60, total=100, errors=0, service=service),
            requests(utc(2026, 3, 2, 1, 0), 10, total=100, errors=100, service=service),
            requests(utc(2026, 3, 2, 1, 10), 20, total=100, errors=5, service=service),
            requests(utc(2026, 3, 2, 1, 30), 30, total=100, errors=0, service=service),
        ]
    )


CORRECTION = {
    "reason": "load balancer health check misread",
    "author": "ops lead",
    "recorded": "2026-03-05",
    "start": "2026-03-02T01:00:00Z",
    "end": "2026-03-02T01:10:00Z",
}


def day_window(windows: pl.DataFrame, objective_id: str, label: str) -> dict:
    return windows.filter(
        pl.col("objective_id") == objective_id, pl.col("window_label") == label
    ).row(0, named=True)


def test_a_correction_flips_a_breached_window_to_met() -> None:
    start, end = utc(2026, 3, 2), utc(2026, 3, 3)
    plain = make_contract([API], time_zone="UTC")
    _, before = corrected_windows(plain, outage(), start, end)
    window = day_window(before, "avail", "2026-03-02")
    assert (window["good"], window["total"], window["status"]) == (10_900, 12_000, "breached")

    corrected = make_contract([API], time_zone="UTC", corrections=[CORRECTION])
    slices, after = corrected_windows(corrected, outage(), start, end)
    window = day_window(after, "avail", "2026-03-02")
    # 10 minutes × 100 requests removed: 10,900 good of 11,000 = 99.09% ≥ 99%.
    assert (window["good"], window["total"]) == (10_900, 11_000)
    assert window["attainment"] == 10_900 / 11_000
    assert window["status"] == "met"
    assert slices["corrected_minutes"].sum() == 10
    assert slices["excluded_minutes"].sum() == 0
    assert slices.filter(pl.col("corrected_minutes") > 0)["slice_start"].to_list() == [
        utc(2026, 3, 2, 1, 0),
        utc(2026, 3, 2, 1, 5),
    ]


def test_a_correction_scoped_to_one_objective_leaves_the_other_untouched() -> None:
    contract = make_contract(
        [API, WEB], time_zone="UTC", corrections=[{**CORRECTION, "objectives": ["avail"]}]
    )
    evidence = pl.concat([outage("api"), outage("web")])
    slices, windows = corrected_windows(contract, evidence, utc(2026, 3, 2), utc(2026, 3, 3))
    api = day_window(windows, "avail", "2026-03-02")
    web = day_window(windows, "web-avail", "2026-03-02")
    assert (api["good"], api["total"], api["status"]) == (10_900, 11_000, "met")
    assert (web["good"], web["total"], web["status"]) == (10_900, 12_000, "breached")
    assert dict(
        slices.group_by("objective_id").agg(pl.col("corrected_minutes").sum()).iter_rows()
    ) == {"avail": 10, "web-avail": 0}


def test_a_correction_across_a_local_midnight_corrects_both_days() -> None:
    # Berlin (UTC+1 in March): 2026-03-10 23:30 → 03-11 00:30 local = 22:30–23:30 UTC, and the
    # local midnight between the two daily windows is 23:00 UTC. Evidence 21:00–01:00 UTC, 10
    # requests a minute, all failing 22:30–23:30 UTC.
    correction = {**CORRECTION, "start": "2026-03-10T23:30", "end": "2026-03-11T00:30"}
    contract = make_contract([API], corrections=[correction])
    evidence = pl.concat(
        [
            requests(utc(2026, 3, 10, 21, 0), 90, total=10, errors=0),
            requests(utc(2026, 3, 10, 22, 30), 60, total=10, errors=10),
            requests(utc(2026, 3, 10, 23, 30), 90, total=10, errors=0),
        ]
    )
    slices, windows = corrected_windows(contract, evidence, utc(2026, 3, 10), utc(2026, 3, 12))
    # Each local day had 120 minutes (1,200 requests) of which 30 failed minutes are corrected.
    for label in ("2026-03-10", "2026-03-11"):
        window = day_window(windows, "avail", label)
        assert (window["good"], window["total"], window["status"]) == (900, 900, "met")
    by_local_day = (
        slices.filter(pl.col("corrected_minutes") > 0)
        .group_by(pl.col("slice_start").dt.convert_time_zone("Europe/Berlin").dt.date())
        .agg(pl.col("corrected_minutes").sum())
        .sort("slice_start")
        .rows()
    )
    assert by_local_day == [(date(2026, 3, 10), 30), (date(2026, 3, 11), 30)]


def test_a_timeslice_loses_only_its_corrected_minutes() -> None:
    # 5-minute probe slices; the correction 10:02–10:07 covers the start of the 10:05 slice only.
    probe = {
        "id": "avail",
        "sli": {"kind": "availability", "evidence": "probes"},
        "budgeting": {"method": "timeslices", "slice": "5m", "slice_target": 0.5},
        "window": "day",
    }
    correction = {**CORRECTION, "start": "2026-03-02T10:02:00Z", "end": "2026-03-02T10:07:00Z"}
    contract = make_contract([probe], time_zone="UTC", corrections=[correction])
    start, end = utc(2026, 3, 2), utc(2026, 3, 3)
    up = pl.DataFrame(
        {
            "ts": [utc(2026, 3, 2, 10, minute) for minute in range(15)],
            "service": "api",
            "up": [True, True, False, False, False, False, False, False, False, False] + [True] * 5,
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    slices = objective_slices(
        objectives_frame([contract]),
        EMPTY["requests"].lazy(),
        up.lazy(),
        EMPTY["histogram"].lazy(),
        excluded_minutes(exclusion_intervals([contract], start, end), start, end),
        pl.DataFrame({"service": ["api"], "sli_method": ["probes"], "first_ts": [up["ts"].min()]}),
        start,
        end,
        utc(2026, 3, 2, 10, 15),
        corrected=corrected_minutes(corrections_frame([contract]), start, end),
    )
    assert slices.select(
        "slice_start", "good", "total", "corrected_minutes", "missing_minutes"
    ).rows() == [
        # 10:00: 10:02–10:04 corrected; 10:00 and 10:01 up → good slice of 2 kept minutes.
        (utc(2026, 3, 2, 10, 0), 2.0, 2.0, 3.0, 0.0),
        # 10:05: 10:05, 10:06 corrected; 10:07–10:09 down → bad slice of 3 kept minutes.
        (utc(2026, 3, 2, 10, 5), 0.0, 3.0, 2.0, 0.0),
        (utc(2026, 3, 2, 10, 10), 5.0, 5.0, 0.0, 0.0),
    ]


def test_corrections_frame_resolves_scope_and_zone() -> None:
    corrections = [
        {**CORRECTION, "start": "2026-03-01T10:00", "end": "2026-03-01T12:00"},
        {**CORRECTION, "reason": "web probe moved", "services": ["web"]},
        {**CORRECTION, "reason": "one objective", "objectives": ["avail"]},
    ]
    contract = make_contract([API, WEB], corrections=corrections)
    frame = corrections_frame([contract])
    assert frame.select(
        "correction", "objective_id", "corrected_from", "corrected_until"
    ).rows() == [
        # no scope: every objective; Berlin local time (UTC+1) → UTC
        (1, "avail", utc(2026, 3, 1, 9), utc(2026, 3, 1, 11)),
        (1, "web-avail", utc(2026, 3, 1, 9), utc(2026, 3, 1, 11)),
        (2, "web-avail", utc(2026, 3, 2, 1), utc(2026, 3, 2, 1, 10)),
        (3, "avail", utc(2026, 3, 2, 1), utc(2026, 3, 2, 1, 10)),
    ]
    assert frame["author"].unique().to_list() == ["ops lead"]
    assert frame["recorded"].unique().to_list() == [date(2026, 3, 5)]


def test_drop_corrected_removes_items_counted_in_a_correction_of_their_objective() -> None:
    corrections = [
        {**CORRECTION, "start": "2026-03-01T10:00:00Z", "end": "2026-03-01T12:00:00Z"},
        {**CORRECTION, "start": "2026-03-01T11:00:00Z", "end": "2026-03-01T13:00:00Z"},
    ]
    contract = make_contract(
        [{**API, "id": "p1"}, {**API, "id": "p2"}],
        corrections=[{**c, "objectives": ["p1"]} for c in corrections],
    )
    outcomes = pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": ["p1", "p1", "p1", "p1", "p2"],
            "item_id": ["INC1", "INC2", "INC3", "INC4", "INC5"],
            "counted_at": [
                datetime(2026, 3, 1, 9, 59, 59),
                datetime(2026, 3, 1, 10, 0),  # first instant of the correction
                datetime(2026, 3, 1, 11, 30),  # in both corrections: dropped once
                datetime(2026, 3, 1, 13, 0),  # the end is excluded
                datetime(2026, 3, 1, 11, 0),  # another objective
            ],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
            "good": [True, False, False, True, True],
            "detail": "P1",
        },
        schema=OUTCOMES_SCHEMA,
        schema_overrides={"counted_at": pl.Datetime("us")},
    ).with_columns(pl.col("counted_at").dt.replace_time_zone("UTC"))
    kept, dropped = drop_corrected(outcomes, corrections_frame([contract]))
    assert kept["item_id"].to_list() == ["INC1", "INC4", "INC5"]
    assert dropped["item_id"].to_list() == ["INC2", "INC3"]
    assert kept.schema == dropped.schema == OUTCOMES_SCHEMA
