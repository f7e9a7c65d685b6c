"""Ticket timers (ServiceNow task-SLA semantics) and ticket outcomes, hand-computed.

Times are wall-clock in the contract's zone (Europe/Berlin) unless stated; the office calendar is
Monday to Friday 08:00-17:00 with German public holidays.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

import pipelines.sla.assets as sla_assets
from pipelines import warehouse
from pipelines.contracts.schema import Contract, Objective
from pipelines.sla.assets import ITEM_EVIDENCE, REJECTED_TICKETS_SQL, item_outcomes
from pipelines.sla.objectives import objectives_frame
from pipelines.sla.outcomes import OUTCOMES_SCHEMA
from pipelines.sla.tickets import (
    TICKET_EVENTS_SCHEMA,
    TICKET_TIMERS_SCHEMA,
    first_contact_outcomes,
    ticket_flags,
    ticket_timers,
    timer_outcomes,
)
from pipelines.warehouse import query

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600.0
P1, P3 = "1 - Critical", "3 - Moderate"
AWAITING = ["Awaiting User Info", "Awaiting Problem", "Awaiting Vendor", "Awaiting Evidence"]
SAMPLE = (
    Path(__file__).parents[3] / "shared/datasets/incidents-sample/incident_event_log_sample.csv"
)


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def desk(
    sli: dict[str, Any], calendar: str = "office", **objective: Any
) -> tuple[Contract, Objective]:
    """The service desk contract with one ticket objective."""
    contract = Contract.model_validate(
        {
            "id": "desk",
            "title": "Service desk",
            "provider": "IT",
            "consumer": "Staff",
            "time_zone": "Europe/Berlin",
            "services": [{"id": "desk"}],
            "calendars": {"office": {"holidays": {"country": "DE"}}},
            "objectives": [
                {
                    "id": "resolution",
                    "service": "desk",
                    "sli": sli,
                    "target": "90%",
                    "calendar": calendar,
                    **objective,
                }
            ],
        }
    )
    return contract, contract.objectives[0]


def events(*updates: tuple[Any, ...]) -> pl.DataFrame:
    """Updates (ticket, local time, state, priority[, reassignment_count, reopen_count]); a
    ticket is opened at its first update."""
    rows = [
        {
            "ticket_id": ticket,
            "ts": berlin(when),
            "state": state,
            "priority": priority,
            "reassignment_count": counts[0] if counts else 0,
            "reopen_count": counts[1] if counts else 0,
        }
        for ticket, when, state, priority, *counts in updates
    ]
    frame = pl.DataFrame(rows).with_columns(opened_at=pl.col("ts").min().over("ticket_id"))
    return frame.select(TICKET_EVENTS_SCHEMA.names()).cast(dict(TICKET_EVENTS_SCHEMA))


def timers(
    updates: pl.DataFrame, as_of: str, sli: dict[str, Any], **objective: Any
) -> dict[str, dict[str, Any]]:
    contract, goal = desk(sli, **objective)
    frame = ticket_timers(updates, contract, goal, berlin(as_of))
    assert frame.schema == TICKET_TIMERS_SCHEMA
    return {row["ticket_id"]: row for row in frame.iter_rows(named=True)}


RESOLUTION_4H = {"kind": "resolution_time", "threshold": "4h", "timer": {"pause": AWAITING, "stop": ["Resolved", "Closed"], "cancel": ["Cancelled"]}}  # fmt: skip


def test_friday_night_ticket_on_monday_morning():
    # the case: opened Fri 21:00, still open Mon 09:30
    log = events(("T1", "2026-03-06 21:00", "New", P3))
    t1 = timers(log, "2026-03-09 09:30", RESOLUTION_4H)["T1"]
    assert t1["timer_state"] == "running"
    assert t1["business_seconds"] == 1.5 * HOUR
    assert t1["actual_seconds"] == 60.5 * HOUR
    assert t1["stopped_at"] is None
    # 4 business hours run out Monday 12:00: not yet breached, so not counted
    assert t1["breach_at"] == berlin("2026-03-09 12:00")
    assert not t1["breached"]
    contract, goal = desk(RESOLUTION_4H)
    running = ticket_timers(log, contract, goal, berlin("2026-03-09 09:30"))
    assert timer_outcomes(running).is_empty()


def test_a_pause_over_christmas_shifts_the_breach():
    log = events(
        ("T1", "2026-12-23 16:00", "New", P3),
        ("T1", "2026-12-24 10:00", "Awaiting User Info", P3),  # 1h Wed + 2h Thu
        ("T1", "2026-12-28 09:00", "Active", P3),  # paused over Christmas (Fri 25) and weekend
        ("T1", "2026-12-28 12:00", "Resolved", P3),  # 3h Monday
        ("T2", "2026-12-24 16:00", "New", P3),  # runs over the holiday: 1h Thu + 2h Mon
        ("T2", "2026-12-28 10:00", "Resolved", P3),
    )
    result = timers(log, "2027-01-04 00:00", RESOLUTION_4H)
    t1, t2 = result["T1"], result["T2"]
    assert t1["timer_state"] == "completed"
    assert t1["business_seconds"] == 6 * HOUR
    assert t1["actual_seconds"] == (18 + 3) * HOUR
    assert t1["paused_seconds"] == 95 * HOUR  # Thu 10:00 to Mon 09:00 (no DST change)
    assert t1["pauses"] == 1
    # 3h before the pause; the 4th hour runs out Monday 10:00, not Thursday 11:00
    assert t1["breach_at"] == berlin("2026-12-28 10:00")
    assert t1["breached"]
    assert t2["business_seconds"] == 3 * HOUR
    assert t2["breach_at"] is None and not t2["breached"]
    assert t2["stopped_at"] == berlin("2026-12-28 10:00")


@pytest.mark.parametrize(
    ("on_reopen", "started", "business", "stopped"),
    [
        ("resume", "2026-03-09 10:00", 2 * HOUR + 1.5 * HOUR, "2026-03-10 10:30"),
        ("restart", "2026-03-10 09:00", 1.5 * HOUR, "2026-03-10 10:30"),
    ],
)
def test_a_reopened_ticket_resumes_or_restarts(on_reopen, started, business, stopped):
    log = events(
        ("T1", "2026-03-09 10:00", "New", P3),
        ("T1", "2026-03-09 12:00", "Resolved", P3),
        ("T1", "2026-03-09 15:00", "Closed", P3),  # still stopped
        ("T1", "2026-03-10 09:00", "Active", P3),  # reopened
        ("T1", "2026-03-10 10:30", "Resolved", P3),
    )
    sli = {**RESOLUTION_4H, "timer": {**RESOLUTION_4H["timer"], "on_reopen": on_reopen}}
    t1 = timers(log, "2026-03-20 00:00", sli)["T1"]
    assert t1["timer_state"] == "completed"
    assert t1["started_at"] == berlin(started)
    assert t1["stopped_at"] == berlin(stopped)
    assert t1["business_seconds"] == business
    assert t1["actual_seconds"] == business  # all within office hours


PER_PRIORITY = {"kind": "resolution_time", "targets": {P1: "2h", P3: "8h"}}


@pytest.mark.parametrize(
    ("mode", "started", "business", "breach_at"),
    [
        # keep_start: the P1 target applies from the original start: breached at 12:00
        ("keep_start", "2026-03-09 10:00", 6 * HOUR, "2026-03-09 12:00"),
        # restart: a new P1 timer from the change at 13:00: breached at 15:00
        ("restart", "2026-03-09 13:00", 3 * HOUR, "2026-03-09 15:00"),
    ],
)
def test_a_priority_raised_mid_ticket(mode, started, business, breach_at):
    log = events(
        ("T1", "2026-03-09 10:00", "New", P3),
        ("T1", "2026-03-09 13:00", "Active", P1),
        ("T1", "2026-03-09 16:00", "Resolved", P1),
    )
    t1 = timers(log, "2026-03-20 00:00", {**PER_PRIORITY, "priority_change": mode})["T1"]
    assert (t1["priority"], t1["target_seconds"]) == (P1, 2 * HOUR)
    assert t1["started_at"] == berlin(started)
    assert t1["business_seconds"] == business
    assert t1["breach_at"] == berlin(breach_at)
    assert t1["breached"]


def test_a_priority_lowered_mid_ticket_gets_the_longer_target():
    log = events(
        ("T1", "2026-03-09 10:00", "New", P1),
        ("T1", "2026-03-09 11:00", "Active", P3),
        ("T1", "2026-03-09 15:00", "Resolved", P3),
        ("T2", "2026-03-09 10:00", "New", "5 - Planning"),  # no target for it: unmatched
        ("T2", "2026-03-09 11:00", "Resolved", "5 - Planning"),
    )
    result = timers(log, "2026-03-20 00:00", PER_PRIORITY)
    assert [(t, row["unmatched"], row["target_seconds"]) for t, row in result.items()] == [
        ("T1", False, 8 * HOUR),
        ("T2", True, None),
    ]
    assert result["T1"]["business_seconds"] == 5 * HOUR
    assert not result["T1"]["breached"] and result["T1"]["breach_at"] is None


def test_tickets_still_open_at_the_window_end():
    log = events(
        ("LATE", "2026-03-09 10:00", "New", P3),
        ("LATE", "2026-03-09 11:00", "Active", P3),
        ("WAIT", "2026-03-09 10:00", "New", P3),
        ("WAIT", "2026-03-09 12:00", "Awaiting Vendor", P3),
        ("DONE", "2026-03-09 10:00", "New", P3),
        ("DONE", "2026-03-09 15:00", "Resolved", P3),
        ("DONE", "2026-03-09 16:30", "Active", P3),  # reopened after as_of: not seen yet
    )
    contract, goal = desk(RESOLUTION_4H)
    frame = ticket_timers(log, contract, goal, berlin("2026-03-09 16:00"))
    result = {row["ticket_id"]: row for row in frame.iter_rows(named=True)}
    late, wait, done = result["LATE"], result["WAIT"], result["DONE"]
    assert (late["timer_state"], late["business_seconds"], late["breached"]) == (
        "running",
        6 * HOUR,
        True,
    )
    assert late["breach_at"] == berlin("2026-03-09 14:00")
    # paused at as_of with 2h used: no breach time while the clock stands still
    assert (wait["timer_state"], wait["business_seconds"], wait["paused_seconds"]) == (
        "running",
        2 * HOUR,
        4 * HOUR,
    )
    assert wait["breach_at"] is None and not wait["breached"]
    assert (done["timer_state"], done["business_seconds"]) == ("completed", 5 * HOUR)
    outcomes = timer_outcomes(frame)
    assert outcomes.schema == OUTCOMES_SCHEMA
    assert outcomes.rows() == [
        (
            "desk",
            "resolution",
            "DONE",
            berlin("2026-03-09 15:00"),
            5 * HOUR,
            False,
            "3 - Moderate, target 4h, 0 pauses",
        ),
        (
            "desk",
            "resolution",
            "LATE",
            berlin("2026-03-09 14:00"),
            6 * HOUR,
            False,
            "3 - Moderate, target 4h, 0 pauses, still open",
        ),
    ]


def test_a_cancelled_ticket_is_not_counted():
    log = events(
        ("T1", "2026-03-09 10:00", "New", P3),
        ("T1", "2026-03-09 11:00", "Cancelled", P3),
        ("T1", "2026-03-09 12:00", "Active", P3),  # cancelled for good
    )
    contract, goal = desk(RESOLUTION_4H)
    frame = ticket_timers(log, contract, goal, berlin("2026-03-10 00:00"))
    row = frame.row(0, named=True)
    assert (row["timer_state"], row["stopped_at"], row["business_seconds"]) == (
        "cancelled",
        berlin("2026-03-09 11:00"),
        HOUR,
    )
    assert timer_outcomes(frame).is_empty()


def test_a_cancel_after_the_first_response_keeps_the_response():
    # the case: picked up in 5 minutes, cancelled 13 hours later; a cancel stops only a
    # timer still running (ServiceNow), so the completed first response stays counted
    log = events(
        ("T1", "2026-03-09 09:00", "New", P3),
        ("T1", "2026-03-09 09:05", "Active", P3),
        ("T1", "2026-03-09 22:05", "Cancelled", P3),
        ("T2", "2026-03-09 09:00", "New", P3),  # cancelled before any response: not counted
        ("T2", "2026-03-09 09:30", "Cancelled", P3),
    )
    contract, goal = desk({"kind": "response_time", "threshold": "1h"})
    frame = ticket_timers(log, contract, goal, berlin("2026-03-10 00:00"))
    rows = {row["ticket_id"]: row for row in frame.iter_rows(named=True)}
    assert (
        rows["T1"]["timer_state"],
        rows["T1"]["stopped_at"],
        rows["T1"]["business_seconds"],
        rows["T1"]["breached"],
    ) == ("completed", berlin("2026-03-09 09:05"), 5 * 60, False)
    assert rows["T2"]["timer_state"] == "cancelled"
    assert timer_outcomes(frame)["item_id"].to_list() == ["T1"]


def test_start_states_and_reset_states():
    sli = {
        "kind": "response_time",
        "threshold": "1h",
        "timer": {"start": ["Active"], "stop": ["Resolved"], "reset": ["Reassigned"]},
    }
    log = events(
        ("T1", "2026-03-09 09:00", "New", P3),  # not started yet
        ("T1", "2026-03-09 10:00", "Active", P3),
        ("T1", "2026-03-09 11:00", "Reassigned", P3),  # starts again from zero
        ("T1", "2026-03-09 11:40", "Resolved", P3),
        ("T2", "2026-03-09 09:00", "New", P3),  # never reaches a start state
        ("T2", "2026-03-09 10:00", "Resolved", P3),
    )
    result = timers(log, "2026-03-10 00:00", sli)
    assert list(result) == ["T1"]
    assert result["T1"]["started_at"] == berlin("2026-03-09 11:00")
    assert result["T1"]["business_seconds"] == 40 * 60


def test_a_dst_weekend_in_the_contract_zone():
    # Fri 2026-03-27 16:00 (+01:00) to Mon 30 09:00 (+02:00): 1h + 1h business, 64h actual
    log = events(("T1", "2026-03-27 16:00", "New", P3), ("T1", "2026-03-30 09:00", "Resolved", P3))
    office = timers(log, "2026-04-01 00:00", RESOLUTION_4H)["T1"]
    assert (office["business_seconds"], office["actual_seconds"]) == (2 * HOUR, 64 * HOUR)
    always = timers(log, "2026-04-01 00:00", RESOLUTION_4H, calendar="24x7")["T1"]
    assert (always["business_seconds"], always["actual_seconds"]) == (64 * HOUR, 64 * HOUR)
    # 24x7: the 4 hours run out Fri 20:00 local
    assert always["breach_at"] == berlin("2026-03-27 20:00")


def test_a_window_statistic_counts_every_completed_ticket_without_a_verdict():
    log = events(("T1", "2026-03-09 10:00", "New", P3), ("T1", "2026-03-09 13:00", "Resolved", P3))
    contract, goal = desk({"kind": "resolution_time", "statistic": "mean"}, target="8h")
    outcomes = timer_outcomes(ticket_timers(log, contract, goal, berlin("2026-03-10 00:00")))
    assert outcomes.rows() == [
        (
            "desk",
            "resolution",
            "T1",
            berlin("2026-03-09 13:00"),
            3 * HOUR,
            None,
            "3 - Moderate, 0 pauses",
        )
    ]


def test_first_contact_resolution():
    log = events(
        ("FIRST", "2026-03-09 10:00", "New", P3),
        ("FIRST", "2026-03-09 11:00", "Resolved", P3),
        (
            "FIRST",
            "2026-03-12 11:00",
            "Closed",
            P3,
            1,
            0,
        ),  # reassigned after resolution: still good
        ("MOVED", "2026-03-09 10:00", "New", P1),
        ("MOVED", "2026-03-09 11:00", "Active", P1, 1, 0),
        ("MOVED", "2026-03-09 12:00", "Resolved", P1, 1, 0),
        ("BACK", "2026-03-09 10:00", "New", P3),
        ("BACK", "2026-03-09 11:00", "Resolved", P3),
        ("BACK", "2026-03-10 09:00", "Active", P3),  # came back; the log's reopen_count says 0
        ("BACK", "2026-03-10 10:00", "Closed", P3),
        ("OPEN", "2026-03-09 10:00", "Active", P3),
    )
    contract = Contract.model_validate(
        {
            "id": "desk",
            "title": "Service desk",
            "provider": "IT",
            "consumer": "Staff",
            "services": [{"id": "desk"}],
            "objectives": [
                {
                    "id": "fcr",
                    "service": "desk",
                    "sli": {"kind": "first_contact_resolution"},
                    "target": "70%",
                },
                {
                    "id": "fcr-p3",
                    "service": "desk",
                    "sli": {"kind": "first_contact_resolution", "priorities": [P3]},
                    "target": "70%",
                },
            ],
        }
    )
    every, p3_only = contract.objectives
    outcomes = first_contact_outcomes(log, contract, every, berlin("2026-03-20 00:00"))
    assert outcomes.schema == OUTCOMES_SCHEMA
    assert outcomes.select("item_id", "counted_at", "value", "good").rows() == [
        ("BACK", berlin("2026-03-10 10:00"), 1.0, False),
        ("FIRST", berlin("2026-03-09 11:00"), 0.0, True),
        ("MOVED", berlin("2026-03-09 12:00"), 1.0, False),
    ]
    assert outcomes.get_column("detail").to_list()[2] == "1 - Critical, 1 reassignments, 0 reopens"
    p3 = first_contact_outcomes(log, contract, p3_only, berlin("2026-03-20 00:00"))
    assert p3.get_column("item_id").to_list() == ["BACK", "FIRST"]


def test_priorities_match_trimmed_on_both_sides():
    log = events(
        ("T1", "2026-03-09 10:00", "New", "3 - Moderate "),
        ("T1", "2026-03-09 11:00", "Resolved", "3 - Moderate "),
        ("T2", "2026-03-09 10:00", "New", P1),
        ("T2", "2026-03-09 11:00", "Resolved", P1),
    )
    sli = {"kind": "resolution_time", "targets": {" 1 - Critical": "2h", "3 - Moderate ": "8h"}}
    result = timers(log, "2026-03-20 00:00", sli)
    assert [(t, r["priority"], r["target_seconds"], r["unmatched"]) for t, r in result.items()] == [
        ("T1", P3, 8 * HOUR, False),
        ("T2", P1, 2 * HOUR, False),
    ]


def two_desk_objectives() -> Contract:
    """Per-priority targets for the two priorities the contract names, and a 1h objective
    filtered to the critical ones."""
    return Contract.model_validate(
        {
            "id": "desk",
            "title": "Service desk",
            "provider": "IT",
            "consumer": "Staff",
            "time_zone": "Europe/Berlin",
            "services": [{"id": "desk"}],
            "objectives": [
                {
                    "id": "resolution",
                    "service": "desk",
                    "sli": {"kind": "resolution_time", "targets": {P1: "4h", P3: "8h"}},
                    "target": "90%",
                },
                {
                    "id": "critical",
                    "service": "desk",
                    "sli": {"kind": "resolution_time", "threshold": "1h", "priorities": [P1]},
                    "target": "90%",
                },
            ],
        }
    )


def test_priorities_the_contract_does_not_name_are_unmatched_everywhere():
    log = events(
        *(
            update
            for ticket, priority in [
                ("C1", P1),
                ("M1", P3),
                ("X1", "P1"),
                ("X2", "P1"),
                ("X3", "P1"),
                ("U1", "9 - Unknown"),
                ("N1", None),
            ]
            for update in [
                (ticket, "2026-03-09 10:00", "New", priority),
                (ticket, "2026-03-09 11:00", "Resolved", priority),
            ]
        )
    )
    contract = two_desk_objectives()
    for objective, counted in zip(contract.objectives, [["C1", "M1"], ["C1"]], strict=True):
        frame = ticket_timers(log, contract, objective, berlin("2026-03-20 00:00"))
        # M1 ("3 - Moderate") is named by the contract: out of the critical objective's scope
        assert frame.filter(~pl.col("unmatched"))["ticket_id"].to_list() == counted
        unmatched = frame.filter(pl.col("unmatched"))
        assert unmatched.group_by("priority").len().sort("priority").rows() == [
            (None, 1),
            ("9 - Unknown", 1),
            ("P1", 3),
        ]
        assert unmatched["target_seconds"].is_null().all()
        assert unmatched["breached"].is_null().all()
        # unmatched tickets are not counted
        assert timer_outcomes(frame)["item_id"].to_list() == counted


def test_a_priority_the_source_declares_is_out_of_a_filtered_objectives_scope():
    log = events(
        *(
            update
            for ticket, priority in [("C1", P1), ("L1", "4 - Low"), ("X1", "P1")]
            for update in [
                (ticket, "2026-03-09 10:00", "New", priority),
                (ticket, "2026-03-09 11:00", "Resolved", priority),
            ]
        )
    )
    contract = two_desk_objectives()
    critical = contract.objectives[1]
    as_of = berlin("2026-03-20 00:00")
    # "4 - Low" is named nowhere in the contract: unmatched, unless the source declares it
    undeclared = ticket_timers(log, contract, critical, as_of)
    assert undeclared.filter(pl.col("unmatched"))["ticket_id"].to_list() == ["L1", "X1"]
    declared = ticket_timers(log, contract, critical, as_of, declared_priorities=["4 - Low "])
    assert declared["ticket_id"].to_list() == ["C1", "X1"]
    assert declared.filter(pl.col("unmatched"))["ticket_id"].to_list() == ["X1"]
    # the per-priority objective has no target for it: unmatched either way
    resolution = ticket_timers(
        log, contract, contract.objectives[0], as_of, declared_priorities=["4 - Low"]
    )
    assert resolution.filter(pl.col("unmatched"))["ticket_id"].to_list() == ["L1", "X1"]


def test_a_ticket_with_a_rejected_update_is_incomplete_with_the_same_timer():
    # R1's Resolved update (Mon 16 11:00) was rejected: the timer runs on to Closed
    log = events(
        ("R1", "2026-03-16 09:00", "New", P3),
        ("R1", "2026-03-20 09:00", "Closed", P3),
        ("OK", "2026-03-16 09:00", "New", P3),
        ("OK", "2026-03-16 11:00", "Resolved", P3),
    )
    contract, goal = desk(PER_PRIORITY)
    as_of = berlin("2026-03-25 00:00")
    flagged = ticket_timers(log, contract, goal, as_of, pl.DataFrame({"ticket_id": ["R1"]}))
    plain = ticket_timers(log, contract, goal, as_of)
    assert flagged.select("ticket_id", "incomplete").rows() == [("OK", False), ("R1", True)]
    assert flagged.drop("incomplete").equals(plain.drop("incomplete"))
    # Mon 16 09:00 to Fri 20 09:00 in office hours: 8h + 3 × 9h + 1h
    r1 = flagged.row(1, named=True)
    assert (r1["business_seconds"], r1["breached"]) == (36 * HOUR, True)
    # placed where it counts, at its stop (Closed)
    assert ticket_flags(flagged, as_of).rows() == [
        ("desk", "resolution", berlin("2026-03-20 09:00"), False, True)
    ]


@pytest.fixture(scope="module")
def sample_events() -> pl.DataFrame:
    if not SAMPLE.exists():
        pytest.skip("the incident event log sample is not there")
    day_first = "%d-%m-%Y %H:%M"
    raw = pl.read_csv(SAMPLE, null_values="?", infer_schema=False)
    return raw.select(
        pl.col("number").alias("ticket_id"),
        pl.col("sys_updated_at").str.to_datetime(day_first, time_zone="UTC").alias("ts"),
        pl.col("incident_state").alias("state"),
        "priority",
        pl.col("opened_at").str.to_datetime(day_first, time_zone="UTC"),
        pl.col("reassignment_count").cast(pl.Int64),
        pl.col("reopen_count").cast(pl.Int64),
    ).cast(dict(TICKET_EVENTS_SCHEMA))


def sample_contract(on_reopen: str) -> tuple[Contract, Objective]:
    timer = {"pause": AWAITING, "stop": ["Resolved", "Closed"], "on_reopen": on_reopen}
    contract = Contract.model_validate(
        {
            "id": "sample",
            "title": "Incident log sample",
            "provider": "IT",
            "consumer": "Staff",
            "services": [{"id": "desk"}],
            "objectives": [
                {"id": "resolution", "service": "desk", "target": "90%",
                 "sli": {"kind": "resolution_time", "threshold": "4d", "timer": timer}},
            ],
        }
    )  # fmt: skip
    return contract, contract.objectives[0]


def test_the_real_incident_log_sample(sample_events):
    contract, goal = sample_contract("resume")
    as_of = datetime(2017, 6, 1, tzinfo=UTC)
    frame = ticket_timers(sample_events, contract, goal, as_of)
    assert frame.height == 890
    assert frame.get_column("timer_state").unique().to_list() == ["completed"]
    result = {row["ticket_id"]: row for row in frame.iter_rows(named=True)}
    # INC0000045: opened 29-02-2016 01:16, Resolved 08:53: 7h37m
    inc45 = result["INC0000045"]
    assert (inc45["started_at"], inc45["stopped_at"]) == (
        datetime(2016, 2, 29, 1, 16, tzinfo=UTC),
        datetime(2016, 2, 29, 8, 53, tzinfo=UTC),
    )
    assert inc45["business_seconds"] == 7 * HOUR + 37 * 60
    # INC0000102: opened 29-02 09:06, awaiting user info 20:09 (11h03m) until Active 03-03 17:29,
    # awaiting again 07-03 11:50 (90h21m) until Resolved 14-03 08:13; reopened 17-03 16:27,
    # resolved 16:28 (1m)
    inc102 = result["INC0000102"]
    assert inc102["business_seconds"] == (11 * 60 + 3 + 90 * 60 + 21 + 1) * 60
    assert inc102["paused_seconds"] == (69 * 60 + 20 + 164 * 60 + 23) * 60
    assert inc102["pauses"] == 2
    assert inc102["stopped_at"] == datetime(2016, 3, 17, 16, 28, tzinfo=UTC)
    # the 4 days run out 84h57m into the second running stretch: 07-03 06:26
    assert inc102["breach_at"] == datetime(2016, 3, 7, 6, 26, tzinfo=UTC)
    restarted = ticket_timers(sample_events, *sample_contract("restart"), as_of)
    inc102_again = restarted.filter(pl.col("ticket_id") == "INC0000102").row(0, named=True)
    assert (inc102_again["started_at"], inc102_again["business_seconds"]) == (
        datetime(2016, 3, 17, 16, 27, tzinfo=UTC),
        60.0,
    )
    assert timer_outcomes(frame).height == 890


def test_the_sample_thirty_times_over_is_quick_and_the_same(sample_events):
    contract, goal = sample_contract("resume")
    as_of = datetime(2017, 6, 1, tzinfo=UTC)
    copies = pl.concat(
        sample_events.with_columns(pl.col("ticket_id") + f"-{n:02d}") for n in range(30)
    )
    started = time.perf_counter()
    frame = ticket_timers(copies, contract, goal, as_of)
    assert time.perf_counter() - started < 20  # about half a second on two cores
    assert frame.height == 30 * 890
    per_ticket = frame.group_by(pl.col("ticket_id").str.head(10)).agg(
        pl.col("business_seconds").n_unique()
    )
    assert per_ticket.get_column("business_seconds").max() == 1
    inc102 = frame.filter(pl.col("ticket_id") == "INC0000102-29").row(0, named=True)
    assert inc102["breach_at"] == datetime(2016, 3, 7, 6, 26, tzinfo=UTC)


def test_objectives_on_the_same_terms_share_their_timers_under_their_own_ids(tmp_path, monkeypatch):
    """item_outcomes runs a clock once for objectives whose contracts are equal but for ids
    (customers on a desk's standard terms): the copy's timers are the original's under its own
    ids; a contract on other terms (a 2-hour threshold) gets its own."""
    original, _ = desk(RESOLUTION_4H)
    copy = original.model_copy(update={"id": "desk-copy"})
    stricter, _ = desk({**RESOLUTION_4H, "threshold": "2h"})
    stricter = stricter.model_copy(update={"id": "desk-strict"})
    contracts = [original, copy, stricter]
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        evidence = {kind: query(con, sql) for kind, sql in ITEM_EVIDENCE.items()}
        rejected = query(con, REJECTED_TICKETS_SQL)
    updates = events(
        ("T1", "2026-03-02 09:00", "New", P3),
        ("T1", "2026-03-02 12:00", "Resolved", P3),
    ).with_columns(service=pl.lit("desk"))
    evidence["tickets"] = updates.select(evidence["tickets"].columns)
    as_of = berlin("2026-03-03 09:00")
    clocks = []
    monkeypatch.setattr(
        sla_assets,
        "ticket_timers",
        lambda events, contract, *args: (
            clocks.append(contract.id) or ticket_timers(events, contract, *args)
        ),
    )
    _, timers_frame = item_outcomes(
        contracts, objectives_frame(contracts), evidence, as_of, rejected
    )
    by_contract = timers_frame.partition_by("contract_id", as_dict=True)
    shared = by_contract[("desk",)].drop("contract_id")
    assert by_contract[("desk-copy",)].drop("contract_id").equals(shared)
    assert shared["business_seconds"].to_list() == [3 * HOUR]
    assert shared["breached"].to_list() == [False]
    assert by_contract[("desk-strict",)]["breached"].to_list() == [True]
    assert clocks == ["desk", "desk-strict"]
