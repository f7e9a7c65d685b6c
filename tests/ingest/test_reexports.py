"""Re-exports of the same items across daily files: raw.* keeps every file's rows, the latest_*
views count each ticket event, incident, run, test and response once, from its latest export."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.contracts.sources import Source
from pipelines.ingest.load import ingest_partition

SNAPSHOTS = {
    "2026-11-20": """
        ticket_id,opened_at,resolved_at,priority
        T1,2026-11-20T09:00:00Z,,P1
        T2,2026-11-20T10:00:00Z,,P2
    """,
    "2026-11-21": """
        ticket_id,opened_at,resolved_at,priority
        T1,2026-11-20T09:00:00Z,2026-11-21T08:00:00Z,P2
        T3,2026-11-21T10:00:00Z,,P3
    """,
}


@pytest.fixture
def con(tmp_path: Path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as connection:
        yield connection


def test_a_daily_full_snapshot_loads_once_per_day_and_counts_each_event_once(
    tmp_path: Path, con, write
) -> None:
    landing = tmp_path / "landing"
    snapshot = Source(
        kind="tickets", layout="snapshot", path="tickets/*.csv", format="csv", service="desk"
    )
    for day, text in SNAPSHOTS.items():
        write(landing / f"tickets/tickets-{day}.csv", text)
    for day in (date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 21)):
        ingest_partition(con, "desk", snapshot, landing, day, {"desk"})

    assert con.execute(
        "SELECT partition_date, count(*) FROM raw.ticket_events GROUP BY ALL ORDER BY 1"
    ).fetchall() == [(date(2026, 11, 20), 2), (date(2026, 11, 21), 3)]
    assert con.execute(
        "SELECT ticket_id, ts, state, priority, partition_date FROM raw.latest_ticket_events"
        " ORDER BY ticket_id, ts"
    ).fetchall() == [
        # T1's New event was in both exports: the later one (priority P2 by then) supersedes
        ("T1", datetime(2026, 11, 20, 9, tzinfo=UTC), "New", "P2", date(2026, 11, 21)),
        ("T1", datetime(2026, 11, 21, 8, tzinfo=UTC), "Resolved", "P2", date(2026, 11, 21)),
        # T2 is missing from the second export: its event stays
        ("T2", datetime(2026, 11, 20, 10, tzinfo=UTC), "New", "P2", date(2026, 11, 20)),
        ("T3", datetime(2026, 11, 21, 10, tzinfo=UTC), "New", "P3", date(2026, 11, 21)),
    ]


def test_a_reexported_security_incident_counts_once_with_its_latest_values(
    tmp_path: Path, con, write
) -> None:
    landing = tmp_path / "landing"
    incidents = Source(kind="security_incidents", path="sec/*.csv", format="csv")
    header = "incident_id,service,occurred_at,detected_at,contained_at\n"
    write(
        landing / "sec/sec-2026-11-20.csv",
        header + "S1,api,2026-11-20T08:00:00Z,2026-11-20T09:00:00Z,",
    )
    write(
        landing / "sec/sec-2026-11-21.csv",
        header + "S1,api,2026-11-20T08:00:00Z,2026-11-20T09:00:00Z,2026-11-21T07:00:00Z",
    )
    for day in (date(2026, 11, 20), date(2026, 11, 21)):
        ingest_partition(con, "soc", incidents, landing, day, {"api"})

    assert con.execute("SELECT count(*) FROM raw.security_incidents").fetchall() == [(2,)]
    assert con.execute(
        "SELECT incident_id, contained_at FROM raw.latest_security_incidents"
    ).fetchall() == [("S1", datetime(2026, 11, 21, 7, tzinfo=UTC))]
