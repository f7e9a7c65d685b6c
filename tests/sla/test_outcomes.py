"""Outcomes → windows: placement in local and rolling windows, empty windows, medians."""

from __future__ import annotations

import polars as pl
from sla_support import make_contract, utc

from pipelines.sla.objectives import objectives_frame
from pipelines.sla.outcomes import OUTCOMES_SCHEMA, TICKET_FLAGS_SCHEMA, outcome_windows


def outcomes(*items: tuple[str, object, float]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"contract_id": "acme", "objective_id": "mttc", "item_id": item, "counted_at": at,
             "value": value, "good": None, "detail": None}
            for item, at, value in items
        ],
        schema=OUTCOMES_SCHEMA,
    )  # fmt: skip


def mttc(window: str, time_zone: str = "Europe/Berlin") -> pl.DataFrame:
    objective = {
        "id": "mttc",
        "sli": {"kind": "security_response", "measure": "contain", "statistic": "median"},
        "target": "2h",
        "window": window,
    }
    return objectives_frame([make_contract([objective], time_zone=time_zone)])


def test_items_fall_in_their_local_month_and_empty_months_are_listed() -> None:
    # 28 Feb 23:30 UTC is 1 March 00:30 in Berlin.
    items = outcomes(("a", utc(2026, 1, 15), 3600.0), ("b", utc(2026, 2, 28, 23, 30), 7200.0),
                     ("c", utc(2026, 3, 5), 10800.0))  # fmt: skip
    windows = outcome_windows(mttc("month"), items, utc(2026, 4, 2))
    assert windows.select("window_label", "total", "measured", "status").rows() == [
        ("2026-01", 1, 3600.0, "met"),
        ("2026-02", 0, None, "no_data"),
        ("2026-03", 2, 9000.0, "breached"),  # median of 2 h and 3 h
        ("2026-04", 0, None, "no_data"),
    ]


def test_rolling_windows_count_an_item_in_each_window_holding_it() -> None:
    items = outcomes(("a", utc(2026, 3, 1, 12), 3600.0), ("b", utc(2026, 3, 2, 12), 10800.0))
    windows = outcome_windows(mttc("rolling 2d", "UTC"), items, utc(2026, 3, 3, 12))
    assert windows.select("window_label", "measured").rows() == [
        ("rolling 2d to 2026-03-01", 3600.0),
        ("rolling 2d to 2026-03-02", 7200.0),
        ("rolling 2d to 2026-03-03", 10800.0),
    ]


def test_flagged_tickets_are_counted_per_window_and_open_the_first_one() -> None:
    objective = {"id": "fix", "sli": {"kind": "resolution_time", "threshold": "4h"}, "target": 0.9}
    objectives = objectives_frame([make_contract([objective], time_zone="UTC")])
    flags = pl.DataFrame(
        [
            ("acme", "fix", utc(2026, 1, 20), True, False),
            ("acme", "fix", utc(2026, 3, 5), True, True),
            ("acme", "fix", utc(2026, 3, 6), False, True),
        ],
        schema=TICKET_FLAGS_SCHEMA,
        orient="row",
    )
    windows = outcome_windows(objectives, outcomes(), utc(2026, 4, 2), flags)
    # no counted ticket at all: the windows still start at the first flagged one
    assert windows.select("window_label", "total", "unmatched", "incomplete").rows() == [
        ("2026-01", 0, 1, 0),
        ("2026-02", 0, 0, 0),
        ("2026-03", 0, 1, 2),
        ("2026-04", 0, 0, 0),
    ]
    # other item objectives have no such counts
    assert outcome_windows(mttc("month"), outcomes(), utc(2026, 4, 2))["unmatched"].is_null().all()
