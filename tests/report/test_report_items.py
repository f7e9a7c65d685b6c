"""Per-item drill-downs (tickets, incidents, backups) and the one CSV writer of every export."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipelines.contracts.schema import Contract
from pipelines.report.exports import neutralised, write_csv
from pipelines.report.items import outcome_items, ticket_items
from pipelines.report.render import render_reports
from pipelines.sla.outcomes import OUTCOMES_SCHEMA
from pipelines.sla.tickets import TICKET_TIMERS_SCHEMA

HOSTILE_TITLE = '=HYPERLINK("http://evil.example/x","Open")'


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


MARCH = (utc(2026, 3, 1), utc(2026, 4, 1))

# (ticket, priority, state, started, stopped, business s, paused s, target s, breach at,
#  breached, incomplete)
TIMERS = [
    ("INC1", "P1", "completed", utc(2026, 3, 2, 9), utc(2026, 3, 2, 10), 3600.0, 0.0, 14400.0,
     utc(2026, 3, 2, 13), False, False),
    ("INC2", "P1", "completed", utc(2026, 3, 3, 9), utc(2026, 3, 3, 15), 21600.0, 1800.0,
     14400.0, utc(2026, 3, 3, 13, 30), True, True),
    ("INC3", "P2", "running", utc(2026, 3, 9, 9), None, 7200.0, 0.0, 28800.0,
     utc(2026, 3, 9, 17), False, False),
    ("INC4", "P2", "running", utc(2026, 3, 4, 9), None, 36000.0, 0.0, 28800.0,
     utc(2026, 3, 5, 9), True, False),
    ("INC5", "P1", "completed", utc(2026, 2, 27, 9), utc(2026, 2, 27, 10), 3600.0, 0.0,
     14400.0, utc(2026, 2, 27, 13), False, False),  # counted in February
    ("INC6", "P1", "cancelled", utc(2026, 3, 6, 9), utc(2026, 3, 6, 9, 5), 300.0, 0.0,
     14400.0, utc(2026, 3, 6, 13), False, False),  # cancelled: not counted
]  # fmt: skip
TIMER_COLUMNS = [
    "ticket_id", "priority", "timer_state", "started_at", "stopped_at", "business_seconds",
    "paused_seconds", "target_seconds", "breach_at", "breached", "incomplete",
]  # fmt: skip


def timers_frame(rows: list[tuple] = TIMERS) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows, schema={name: TICKET_TIMERS_SCHEMA[name] for name in TIMER_COLUMNS}, orient="row"
    )
    return frame.with_columns(
        pl.lit(False).alias("unmatched"),
        pl.lit("desk").alias("contract_id"),
        pl.lit("resolution").alias("objective_id"),
        *(
            pl.lit(None, dtype).alias(name)
            for name, dtype in TICKET_TIMERS_SCHEMA.items()
            if name not in [*TIMER_COLUMNS, "unmatched", "contract_id", "objective_id"]
        ),
    ).select(list(TICKET_TIMERS_SCHEMA))


def test_the_window_tickets_are_listed_breached_first_with_their_times():
    items = ticket_items(timers_frame(), *MARCH)
    # INC2 breached (completed late), INC4 breached while running (counted at its breach),
    # INC3 open within its target, INC1 met; INC5 belongs to February, INC6 was cancelled.
    assert items.select("item", "result", "business_hours", "paused_hours", "target_hours",
                        "incomplete").rows() == [
        ("INC2", "breached", 6.0, 0.5, 4.0, True),
        ("INC4", "breached", 10.0, 0.0, 8.0, False),
        ("INC3", "open", 2.0, 0.0, 8.0, False),
        ("INC1", "met", 1.0, 0.0, 4.0, False),
    ]  # fmt: skip
    assert items["stopped_at"].to_list()[:2] == [utc(2026, 3, 3, 15), None]


def test_incidents_and_backups_are_listed_breached_first_with_what_was_measured():
    outcomes = pl.DataFrame(
        [
            ("sec", "contain", "SIR1", utc(2026, 3, 2), 3600.0, True, "high, contain 1.0 h"),
            ("sec", "contain", "SIR2", utc(2026, 3, 5), 18000.0, False, "high, contain 5.0 h"),
            ("sec", "contain", "SIR0", utc(2026, 2, 20), 60.0, False, "February"),
        ],
        schema=OUTCOMES_SCHEMA,
        orient="row",
    )
    items = outcome_items(outcomes, *MARCH)
    assert items.select("item", "result", "value_hours", "detail").rows() == [
        ("SIR2", "breached", 5.0, "high, contain 5.0 h"),
        ("SIR1", "met", 1.0, "high, contain 1.0 h"),
    ]


def test_text_cells_that_start_a_formula_are_neutralised_and_numbers_stay_numbers(tmp_path: Path):
    frame = pl.DataFrame(
        {
            "text": ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "a=b", "plain", None],
            "amount": [-12.5, 1.0, -3.0, 0.0, 1.0, 2.0, 3.0, 4.0, None],
        }
    )
    assert neutralised(frame)["text"].to_list() == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "a=b", "plain", None,
    ]  # fmt: skip
    path = write_csv(frame, tmp_path / "out.csv")
    back = pl.read_csv(path)
    assert back["amount"].dtype == pl.Float64
    assert back["amount"].to_list()[:3] == [-12.5, 1.0, -3.0]


def test_the_objective_page_lists_its_tickets_and_links_a_safe_csv(
    tmp_path: Path, desk_contract: Contract, desk_tables: dict[str, pl.DataFrame]
):
    """Ticket text is typed by anyone who can open a ticket: a hostile ticket number and priority
    reach the page escaped and the CSV as text."""
    hostile = [(HOSTILE_TITLE, "@cmd|' /C calc'!A0", *TIMERS[1][2:])]
    timers = pl.concat([timers_frame(hostile), timers_frame()])
    report = render_reports(tmp_path, [desk_contract], {**desk_tables, "ticket_timers": timers})
    page = report.objective_pages[("desk", "resolution")].read_text(encoding="utf-8")
    link = "objective-desk~resolution-items.csv"
    assert f'href="{link}"' in page and "5 ticket(s), breached first" in page
    assert "=HYPERLINK(&#34;http://evil.example/x&#34;,&#34;Open&#34;)" in page
    with (tmp_path / link).open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert [row[0] for row in rows[1:]] == ["'" + HOSTILE_TITLE, "INC2", "INC4", "INC3", "INC1"]
    assert rows[1][1] == "'@cmd|' /C calc'!A0"
    assert not [cell for row in rows for cell in row if cell[:1] in ("=", "+", "@", "\t", "\r")]
    # Objectives judged on no single item have no items section.
    nps = report.objective_pages[("desk", "nps")].read_text(encoding="utf-8")
    assert 'id="items"' not in nps
