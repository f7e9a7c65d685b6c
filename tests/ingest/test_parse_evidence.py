"""parse_landing_file for the item evidence kinds: tickets (event logs and snapshots), security
incidents, backup runs, restore tests, survey responses and latency samples."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.contracts.sources import Source
from pipelines.ingest.parse import parse_landing_file
from pipelines.ingest.rows import ROW_SCHEMAS


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def source(kind: str, **options) -> Source:
    return Source(kind=kind, path="*.csv", format="csv", **options)


TICKET_LOG = """
    number,state,updated,priority,opened,resolved,closed,reassigned,reopened,group,category,svc
    INC1,New,20-11-2026 09:00,2 - High,20-11-2026 09:00,?,?,0,0,G1,C1,desk
    INC1,Active,20/11/2026 09:30,2 - High,20-11-2026 09:00,?,?,1,0,G1,C1,desk
    INC1,Active,20/11/2026 09:30,2 - High,20-11-2026 09:00,?,?,1,0,G2,C1,desk
    INC1,Resolved,20-11-2026 11:00,2 - High,20-11-2026 09:00,20-11-2026 11:00,?,1,0,G2,C1,desk
    INC1,Resolved,20-11-2026 11:00,2 - High,20-11-2026 09:00,20-11-2026 11:00,?,1,0,G2,C1,desk
    ,New,20-11-2026 10:00,3 - Moderate,20-11-2026 10:00,?,?,0,0,G1,C1,desk
    INC2,New,2026-11-20 10:00,3 - Moderate,20-11-2026 10:00,?,?,0,0,G1,C1,desk
    INC3,New,20-11-2026 10:00,3 - Moderate,20-11-2026 10:00,19-11-2026 10:00,?,0,0,G1,C1,desk
    INC4,?,20-11-2026 10:00,3 - Moderate,20-11-2026 10:00,?,?,0,0,G1,C1,desk
    INC5,New,20-11-2026 10:00,?,soon,?,?,0,0,G1,C1,desk
    INC6,New,20-11-2026 10:00,?,?,?,?,two,0,G1,C1,desk
    INC7,New,20-11-2026 10:00,?,?,?,?,?,?,?,?,shop
    INC8,New,20-11-2026 10:00,?,?,?,?,?,?,?,?,desk
"""
TICKET_COLUMNS = {
    "ticket_id": "number",
    "ts": "updated",
    "opened_at": "opened",
    "resolved_at": "resolved",
    "closed_at": "closed",
    "reassignment_count": "reassigned",
    "reopen_count": "reopened",
    "assignment_group": "group",
    "service": "svc",
}


def test_a_ticket_log_loads_one_event_per_update_and_rejects_with_reasons(
    write, tmp_path: Path
) -> None:
    tickets = source(
        "tickets",
        columns=TICKET_COLUMNS,
        timestamp_format=["%d-%m-%Y %H:%M", "%d/%m/%Y %H:%M"],
        missing="?",
        time_zone="Europe/Berlin",
    )
    parsed = parse_landing_file(write(tmp_path / "t-2026-11-20.csv", TICKET_LOG), tickets, {"desk"})

    assert parsed.rows.schema == pl.Schema(ROW_SCHEMAS["tickets"])
    assert parsed.rows.select(
        "ticket_id",
        "ts",
        "seq",
        "state",
        "priority",
        "resolved_at",
        "reassignment_count",
        "assignment_group",
    ).rows() == [
        ("INC1", utc(2026, 11, 20, 8), 0, "New", "2 - High", None, 0, "G1"),
        ("INC1", utc(2026, 11, 20, 8, 30), 0, "Active", "2 - High", None, 1, "G1"),
        ("INC1", utc(2026, 11, 20, 8, 30), 1, "Active", "2 - High", None, 1, "G2"),
        ("INC1", utc(2026, 11, 20, 10), 0, "Resolved", "2 - High", utc(2026, 11, 20, 10), 1, "G2"),
        ("INC8", utc(2026, 11, 20, 9), 0, "New", None, None, None, None),
    ]
    assert parsed.rows["opened_at"][0] == utc(2026, 11, 20, 8)
    assert parsed.rows["category"].to_list() == ["C1"] * 4 + [None]
    assert parsed.rejects.select("line", "reason").rows() == [
        (6, "duplicate row"),
        (7, "missing ticket id"),
        (8, "unparseable timestamp"),
        (9, "resolved before opened"),
        (10, "missing state"),
        (11, "unparseable opened_at"),
        (12, "unparseable number"),
        (13, "unknown service"),
    ]


def test_a_ticket_snapshot_becomes_new_resolved_closed_events(write, tmp_path: Path) -> None:
    snapshot = source(
        "tickets",
        layout="snapshot",
        service="desk",
        missing="?",
        columns={"ticket_id": "id", "opened_at": "opened", "resolved_at": "resolved"},
    )
    path = write(
        tmp_path / "snap-2026-11-20.csv",
        """
        id,opened,resolved,closed_at,priority
        T1,2026-11-20T09:00:00Z,2026-11-20T12:00:00Z,2026-11-20T12:00:00Z,P1
        T2,2026-11-20T10:00:00Z,?,,P2
        T3,?,2026-11-20T12:00:00Z,,P2
        T4,2026-11-20T10:00:00Z,2026-11-20T09:00:00Z,,P2
        """,
    )
    parsed = parse_landing_file(path, snapshot, {"desk"})

    assert parsed.rows.select("ticket_id", "ts", "seq", "state", "priority", "service").rows() == [
        ("T1", utc(2026, 11, 20, 9), 0, "New", "P1", "desk"),
        ("T1", utc(2026, 11, 20, 12), 0, "Resolved", "P1", "desk"),
        ("T1", utc(2026, 11, 20, 12), 1, "Closed", "P1", "desk"),
        ("T2", utc(2026, 11, 20, 10), 0, "New", "P2", "desk"),
    ]
    assert parsed.rejects.select("line", "reason").rows() == [
        (4, "missing opened_at"),
        (5, "resolved before opened"),
    ]


def test_a_snapshot_needs_no_ts_or_state_column_but_a_log_does(write, tmp_path: Path) -> None:
    path = write(tmp_path / "snap-2026-11-20.csv", "ticket_id,opened_at\nT1,2026-11-20T09:00:00Z")
    snapshot = source("tickets", layout="snapshot", service="desk")
    assert parse_landing_file(path, snapshot, {"desk"}).rows.height == 1
    with pytest.raises(ValueError, match=r"missing column\(s\) 'ts' \(ts\), 'state' \(state\)"):
        parse_landing_file(path, source("tickets", service="desk"), {"desk"})


def test_security_incidents(write, tmp_path: Path) -> None:
    path = write(
        tmp_path / "sec-2026-11-20.csv",
        """
        incident_id,service,severity,occurred_at,detected_at,contained_at
        S1,api,high,2026-11-20T08:00:00Z,2026-11-20T08:30:00Z,2026-11-20T10:00:00Z
        S2,api,,2026-11-20T08:00:00Z,2026-11-20T09:00:00Z,
        S3,api,low,2026-11-20T08:00:00Z,2026-11-20T07:00:00Z,
        S4,api,low,2026-11-20T08:00:00Z,2026-11-20T09:00:00Z,2026-11-20T08:59:00Z
        S5,api,low,2026-11-20T08:00:00Z,,
        S1,api,low,2026-11-20T08:00:00Z,2026-11-20T09:00:00Z,
        """,
    )
    parsed = parse_landing_file(path, source("security_incidents"), {"api"})

    assert parsed.rows.rows() == [
        (
            "S1",
            "api",
            "high",
            utc(2026, 11, 20, 8),
            utc(2026, 11, 20, 8, 30),
            utc(2026, 11, 20, 10),
        ),
        ("S2", "api", None, utc(2026, 11, 20, 8), utc(2026, 11, 20, 9), None),
    ]
    assert parsed.rejects.select("line", "reason").rows() == [
        (4, "detected before occurred"),
        (5, "contained before detected"),
        (6, "missing detected_at"),
        (7, "duplicate row"),
    ]


@pytest.mark.parametrize(
    ("kind", "identity"), [("backup_runs", "run_id"), ("restore_tests", "test_id")]
)
def test_backup_runs_and_restore_tests(write, tmp_path: Path, kind: str, identity: str) -> None:
    path = write(
        tmp_path / "b-2026-11-20.csv",
        f"""
        service,{identity},started_at,finished_at,success
        db,1,2026-11-20T01:00:00Z,2026-11-20T01:20:00Z,true
        db,2,2026-11-20T02:00:00Z,2026-11-20T02:05:00Z,0
        db,3,2026-11-20T03:00:00Z,2026-11-20T02:59:00Z,true
        db,4,2026-11-20T03:00:00Z,2026-11-20T03:10:00Z,maybe
        db,,2026-11-20T03:00:00Z,2026-11-20T03:10:00Z,true
        """,
    )
    parsed = parse_landing_file(path, source(kind), {"db"})

    assert parsed.rows.schema == pl.Schema(ROW_SCHEMAS[kind])
    assert parsed.rows.select(identity, "finished_at", "success").rows() == [
        ("1", utc(2026, 11, 20, 1, 20), True),
        ("2", utc(2026, 11, 20, 2, 5), False),
    ]
    assert parsed.rejects.select("line", "reason").rows() == [
        (4, "finished before started"),
        (5, "bad boolean"),
        (6, f"missing {identity.replace('_', ' ')}"),
    ]


def test_survey_responses_are_checked_against_their_scale(write, tmp_path: Path) -> None:
    path = write(
        tmp_path / "s-2026-11-20.csv",
        """
        service,response_id,ts,survey,score
        desk,r1,2026-11-20T10:00:00Z,CSAT,5
        desk,r2,2026-11-20T10:00:00Z,nps,0
        desk,r3,2026-11-20T10:00:00Z,nps,10
        desk,r4,2026-11-20T10:00:00Z,csat,0
        desk,r5,2026-11-20T10:00:00Z,nps,11
        desk,r6,2026-11-20T10:00:00Z,csat,3.5
        desk,r7,2026-11-20T10:00:00Z,ces,3
        desk,r8,2026-11-20T10:00:00Z,csat,
        desk,r1,2026-11-20T11:00:00Z,csat,4
        """,
    )
    parsed = parse_landing_file(path, source("survey_responses"), {"desk"})

    assert parsed.rows.select("response_id", "survey", "score").rows() == [
        ("r1", "csat", 5.0),
        ("r2", "nps", 0.0),
        ("r3", "nps", 10.0),
    ]
    assert parsed.rejects.select("line", "reason").rows() == [
        (5, "score out of range"),
        (6, "score out of range"),
        (7, "score out of range"),
        (8, "unknown survey"),
        (9, "missing number"),
        (10, "duplicate row"),
    ]


def test_latency_samples_keep_repeats(write, tmp_path: Path) -> None:
    path = write(
        tmp_path / "l-2026-11-20.csv",
        """
        ts,service,seconds
        2026-11-20T10:00:00Z,web,1.5
        2026-11-20T10:00:00Z,web,1.5
        2026-11-20T10:00:01Z,web,-0.1
        2026-11-20T10:00:02Z,web,inf
        2026-11-20T10:00:03Z,web,slow
        """,
    )
    samples = source("latency_samples", columns={"latency_seconds": "seconds"})
    parsed = parse_landing_file(path, samples, {"web"})

    assert parsed.rows.rows() == [(utc(2026, 11, 20, 10), "web", 1.5)] * 2
    assert parsed.rejects.select("line", "reason").rows() == [
        (4, "negative latency"),
        (5, "unparseable number"),
        (6, "unparseable number"),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": "requests", "layout": "log"}, "layout applies to tickets sources only"),
        (
            {"kind": "tickets", "service": "desk", "columns": {"service": "svc"}},
            "either fixed",
        ),
        ({"kind": "tickets", "columns": {"number": "id"}}, r"unknown field\(s\) \['number'\]"),
    ],
)
def test_source_declarations_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Source(path="*.csv", format="csv", **options)


def test_ticket_text_is_trimmed_and_a_declared_priority_vocabulary_is_enforced(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tickets-2026-11-20.csv"
    path.write_bytes(
        b"number,ts,state,priority,assignment_group\n"
        b" INC1 ,2026-11-20T09:00:00Z, New ,3 - Moderate , Network\n"
        b"INC2,2026-11-20T09:00:00Z,New,P1,Desk\n"
        b"INC3,2026-11-20T09:00:00Z,New,   ,Desk\n"
        b"INC4,2026-11-20T09:00:00Z,New,2 - High,Desk,extra\n"
        b"  ,2026-11-20T09:00:00Z,New,1 - Critical,Desk\n"
        b"INC5,soon,New,1 - Critical,Desk\n"
    )
    tickets = source(
        "tickets",
        service="desk",
        columns={"ticket_id": "number"},
        priorities=["1 - Critical", "2 - High", "3 - Moderate", "4 - Low"],
    )
    parsed = parse_landing_file(path, tickets, {"desk"})

    assert parsed.rows.select("ticket_id", "state", "priority", "assignment_group").rows() == [
        ("INC1", "New", "3 - Moderate", "Network"),
        ("INC3", "New", None, "Desk"),
    ]
    assert parsed.rejects.select("line", "reason", "item_id").rows() == [
        (3, "unknown priority", "INC2"),
        (5, "6 fields where the header has 5", "INC4"),
        (6, "missing ticket id", None),
        (7, "unparseable timestamp", "INC5"),
    ]
    assert (parsed.rows_in, parsed.rows_loaded) == (6, 2)


def test_priorities_apply_to_tickets_sources_only() -> None:
    with pytest.raises(ValueError, match="priorities applies to tickets sources only"):
        source("probes", priorities=["P1"])
