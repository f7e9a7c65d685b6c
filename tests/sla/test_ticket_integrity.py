"""Unmatched and incomplete tickets through the warehouse: the SLA assets on raw rows written
directly, then the report pages. UTC contract, 24x7 calendar."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
from sla_support import utc

from pipelines import warehouse
from pipelines.report.assets import read_report_tables
from pipelines.report.paths import objective_page_name
from pipelines.report.render import render_reports
from pipelines.resources import PledgeHome
from pipelines.sla.assets import sla_objectives, sla_outcomes, sla_windows

CONTRACT = """
id: desk
title: Service desk
provider: IT
consumer: Staff
time_zone: UTC
services: [{id: desk}]
objectives:
  - id: resolution
    service: desk
    sli: {kind: resolution_time, targets: {"1 - Critical": 4h, "3 - Moderate": 8h}}
    target: 90%
  - id: critical
    service: desk
    sli: {kind: resolution_time, threshold: 1h, priorities: ["1 - Critical"]}
    target: 90%
"""

TICKETS = [  # ticket, priority, opened, resolved (None: still open)
    ("C1", "1 - Critical", utc(2026, 3, 9, 10), utc(2026, 3, 9, 12)),
    ("M1", "3 - Moderate", utc(2026, 3, 10, 10), utc(2026, 3, 10, 13)),
    ("X1", "P1", utc(2026, 3, 11, 10), utc(2026, 3, 11, 11)),
    ("X2", "P1", utc(2026, 3, 11, 10), utc(2026, 3, 11, 11)),
    ("U1", "9 - Unknown", utc(2026, 3, 12, 10), utc(2026, 3, 12, 11)),
    # its Resolved update (03-16 11:00, line 3) was rejected: Closed four days later stops it
    ("R1", "3 - Moderate", utc(2026, 3, 16, 9), utc(2026, 3, 20, 9)),
    ("X3", "P1", utc(2026, 4, 1, 10), None),
]


def raw_rows() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """raw.ticket_events (one file), raw.rejects (R1's Resolved line) and raw.requests (one
    minute: as_of is 2026-04-02 12:01)."""
    updates = [
        (ticket, priority, ts, state)
        for ticket, priority, opened, resolved in TICKETS
        for ts, state in [(opened, "New"), (resolved, "Closed" if ticket == "R1" else "Resolved")]
        if ts is not None
    ]
    events = pl.DataFrame(
        updates, schema=["ticket_id", "priority", "ts", "state"], orient="row"
    ).with_columns(
        partition_date=pl.col("ts").dt.date(),
        seq=pl.int_range(pl.len(), dtype=pl.Int64),
        opened_at=pl.col("ts").min().over("ticket_id"),
        service=pl.lit("desk"),
        source=pl.lit("desk-tickets"),
        file=pl.lit("tickets/2026-03-09.csv"),
    )
    rejects = pl.DataFrame(
        {
            "source": ["desk-tickets"],
            "file": ["tickets/2026-03-16.csv"],
            "line": [3],
            "reason": ["sys_updated_on: not a timestamp: '2026-03-16 11:0'"],
            "record": ["R1,Resolved,3 - Moderate,2026-03-16 11:0"],
            "item_id": ["R1"],
        }
    )
    requests = pl.DataFrame(
        {"ts": [utc(2026, 4, 2, 12)], "service": "desk", "total": 1, "errors": 0}
    ).with_columns(
        partition_date=pl.col("ts").dt.date(), source=pl.lit("api"), file=pl.lit("r.csv")
    )
    return events, rejects, requests


def test_unmatched_and_incomplete_tickets_are_counted_and_reported(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "desk.yaml").write_text(CONTRACT)
    home = PledgeHome(home=str(tmp_path))
    events, rejects, requests = raw_rows()
    with home.connect() as con:
        warehouse.insert_frame(con, "raw.ticket_events", events)
        warehouse.insert_frame(con, "raw.rejects", rejects)
        warehouse.insert_frame(con, "raw.requests", requests)
    assert dg.materialize(
        [sla_objectives, sla_outcomes, sla_windows], resources={"pledge": home}
    ).success

    with home.connect(read_only=True) as con:
        timers = warehouse.query(
            con,
            "SELECT objective_id, ticket_id, unmatched, incomplete, business_seconds, breached "
            "FROM sla.ticket_timers ORDER BY objective_id, ticket_id",
        )
        windows = warehouse.query(
            con,
            "SELECT objective_id, window_label, total, good, unmatched, incomplete "
            "FROM sla.windows ORDER BY objective_id, window_start",
        )
        tables = read_report_tables(con)
    flagged = timers.filter(pl.col("objective_id") == "resolution")
    assert flagged.filter(pl.col("unmatched"))["ticket_id"].to_list() == ["U1", "X1", "X2", "X3"]
    # R1 ran on to Closed: 96h against 8h, flagged
    assert flagged.filter(pl.col("incomplete")).rows() == [
        ("resolution", "R1", False, True, 96 * 3600.0, True)
    ]
    # M1 and R1 ("3 - Moderate", named by the contract) are out of the critical one's scope
    assert timers.filter(pl.col("objective_id") == "critical")["ticket_id"].to_list() == [
        "C1",
        "U1",
        "X1",
        "X2",
        "X3",
    ]
    assert windows.rows() == [
        ("critical", "2026-03", 1.0, 0.0, 3, 0),
        ("critical", "2026-04", 0.0, 0.0, 1, 0),  # X3, still open at as_of
        ("resolution", "2026-03", 3.0, 2.0, 3, 1),
        ("resolution", "2026-04", 0.0, 0.0, 1, 0),
    ]

    contracts, problems = home.contracts()
    assert not problems
    report = render_reports(tmp_path / "reports", contracts, tables)
    page = (tmp_path / "reports" / objective_page_name("desk", "resolution")).read_text()
    assert (
        "4 tickets with a priority this objective has no target for: P1 (3), 9 - Unknown (1)."
        in page
    )
    incomplete = page[page.index('<table class="incomplete">') :]
    incomplete = incomplete[: incomplete.index("</table>")]
    assert '<th scope="row">R1</th>' in incomplete
    assert "tickets/2026-03-16.csv:3" in incomplete
    assert "sys_updated_on: not a timestamp: &#39;2026-03-16 11:0&#39;" in incomplete
    assert incomplete.count("<tr>") == 2  # the header and R1
    assert "1 unmatched ticket this window" in report.index.read_text()
