"""Time to detect and to contain, open incidents, severities."""

from __future__ import annotations

import polars as pl
from sla_support import make_contract, utc

from pipelines.sla.objectives import objectives_frame
from pipelines.sla.outcomes import outcome_windows
from pipelines.sla.security import security_outcomes

UTC_US = pl.Datetime("us", "UTC")
INCIDENTS = pl.DataFrame(
    {
        "incident_id": ["S1", "S2", "S3", "S4"],
        "service": "api",
        "severity": ["high", "high", "low", "high"],
        "occurred_at": [utc(2026, 3, 2, 8), utc(2026, 3, 10, 8), utc(2026, 3, 11), utc(2026, 3, 30, 20)],
        "detected_at": [utc(2026, 3, 2, 9), utc(2026, 3, 10, 8, 30), utc(2026, 3, 11, 1), utc(2026, 3, 30, 22)],
        "contained_at": [utc(2026, 3, 2, 11), utc(2026, 3, 10, 18, 30), utc(2026, 3, 11, 2), None],
    },
    schema_overrides={"occurred_at": UTC_US, "detected_at": UTC_US, "contained_at": UTC_US},
)  # fmt: skip


def objectives(**sli: object) -> pl.DataFrame:
    objective = {"id": "sec", "sli": {"kind": "security_response", **sli}, "target": 0.5}
    if sli.get("statistic") == "mean":
        objective["target"] = "4h"
    return objectives_frame([make_contract([objective], time_zone="UTC")])


def test_contain_within_4h_with_an_open_incident_bad_once_past_threshold() -> None:
    high = objectives(measure="contain", threshold="4h", severities=["high"])
    outcomes = security_outcomes(high, INCIDENTS, utc(2026, 3, 31, 3))
    rows = {row["item_id"]: row for row in outcomes.iter_rows(named=True)}
    assert list(rows) == ["S1", "S2", "S4"]  # S3 is low severity
    assert (rows["S1"]["value"], rows["S1"]["good"]) == (7200, True)
    assert (rows["S2"]["value"], rows["S2"]["good"]) == (36000, False)
    # S4 detected 30 Mar 22:00, not contained at 31 Mar 03:00: bad from 02:00, 5 h elapsed.
    assert (rows["S4"]["counted_at"], rows["S4"]["value"], rows["S4"]["good"]) == (
        utc(2026, 3, 31, 2),
        18000,
        False,
    )
    window = outcome_windows(high, outcomes, utc(2026, 3, 31, 3)).row(0, named=True)
    assert (window["good"], window["total"], window["status"]) == (1, 3, "breaching")
    # At 01:00 S4 still has time: not counted.
    assert security_outcomes(high, INCIDENTS, utc(2026, 3, 31, 1))["item_id"].to_list() == [
        "S1",
        "S2",
    ]


def test_mean_time_to_detect_counts_every_severity() -> None:
    mean = objectives(measure="detect", statistic="mean")
    outcomes = security_outcomes(mean, INCIDENTS, utc(2026, 4, 1))
    assert outcomes["value"].to_list() == [3600, 1800, 3600, 7200]
    window = outcome_windows(mean, outcomes, utc(2026, 4, 1)).row(0, named=True)
    assert window["measured"] == 4050 and window["unit"] == "seconds"
    assert window["status"] == "met" and window["attainment"] is None
