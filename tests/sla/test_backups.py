"""RPO exposure spans across window boundaries, current exposure, RTO with a failed restore."""

from __future__ import annotations

import math

import polars as pl
from sla_support import make_contract, utc

from pipelines.sla.backups import current_exposure, restore_outcomes, rpo_exposures
from pipelines.sla.objectives import objectives_frame
from pipelines.sla.outcomes import outcome_windows

UTC_US = pl.Datetime("us", "UTC")
HOUR = 3600.0


def frame(rows: dict[str, list]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"started_at": UTC_US, "finished_at": UTC_US})


def backup_objective(measure: str, target: object, **sli: object) -> pl.DataFrame:
    objective = {
        "id": measure,
        "sli": {"kind": "backup", "measure": measure, **sli},
        "target": target,
        "window": "day",
    }
    return objectives_frame([make_contract([objective], time_zone="UTC")])


RUNS = frame(
    {
        "service": "api",
        "run_id": ["b1", "b2", "b3", "b4"],
        "started_at": [utc(2026, 3, 1, 1, 30), utc(2026, 3, 1, 21), utc(2026, 3, 2, 21), utc(2026, 3, 3, 1)],
        "finished_at": [utc(2026, 3, 1, 2), utc(2026, 3, 1, 22), utc(2026, 3, 2, 22), utc(2026, 3, 3, 2)],
        "success": [True, True, False, True],
    }
)  # fmt: skip


def test_a_gap_across_midnight_counts_in_both_days() -> None:
    rpo = backup_objective("rpo", "24h")
    as_of = utc(2026, 3, 3, 12)
    spans = rpo_exposures(rpo, RUNS, as_of)
    # b2 (1 Mar 22:00) → b4 (3 Mar 02:00): 28 h, b3 failed; b4 → as_of: 10 h.
    assert spans["value"].to_list() == [20 * HOUR, 28 * HOUR, 10 * HOUR]
    windows = {
        row["window_label"]: row for row in outcome_windows(rpo, spans, as_of).iter_rows(named=True)
    }
    assert windows["2026-03-01"]["measured"] == 20 * HOUR  # b1 → b2
    assert windows["2026-03-02"]["measured"] == 26 * HOUR  # the gap up to midnight
    assert windows["2026-03-02"]["status"] == "breached"
    assert windows["2026-03-03"]["measured"] == 28 * HOUR  # its full length
    assert windows["2026-03-03"]["status"] == "breaching"  # at most 24 h, already 28 h
    exposure = current_exposure(rpo, RUNS, as_of).row(0, named=True)
    assert (exposure["last_good_backup_at"], exposure["exposure_seconds"]) == (
        utc(2026, 3, 3, 2),
        10 * HOUR,
    )


def test_a_failed_restore_is_bad_and_infinite() -> None:
    tests = frame(
        {
            "service": "api",
            "test_id": ["t1", "t2", "t3"],
            "started_at": [utc(2026, 3, 1, 9), utc(2026, 3, 1, 12), utc(2026, 3, 1, 15)],
            "finished_at": [utc(2026, 3, 1, 10), None, None],
            "success": [True, False, None],
        }
    )
    share = backup_objective("rto", 0.9, threshold="2h", statistic="share_within")
    outcomes = restore_outcomes(share, tests, utc(2026, 3, 1, 20))
    assert outcomes["item_id"].to_list() == ["t1", "t2"]  # t3 is still running
    assert outcomes["good"].to_list() == [True, False]
    assert outcomes["value"][0] == HOUR and math.isinf(outcomes["value"][1])
    assert outcomes["counted_at"][1] == utc(2026, 3, 1, 12)
    maximum = backup_objective("rto", "2h", statistic="max")
    window = outcome_windows(
        maximum, restore_outcomes(maximum, tests, utc(2026, 3, 1, 20)), utc(2026, 3, 1, 20)
    ).row(0, named=True)
    assert math.isinf(window["measured"]) and window["status"] == "breaching"
