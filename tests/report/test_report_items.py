"""Per-item drill-downs (tickets, incidents, backups) and the one CSV writer of every export."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import polars as pl

from pipelines import warehouse
from pipelines.contracts.schema import Contract
from pipelines.contracts.sources import Source
from pipelines.ingest.load import ingest_partition
from pipelines.report.assets import read_report_tables
from pipelines.report.exports import neutralised, write_csv
from pipelines.report.items import outcome_items, ticket_items
from pipelines.report.render import render_reports
from pipelines.sla.objectives import objectives_frame
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
    descriptions = pl.DataFrame(
        {"ticket_id": ["INC1", "INC2", "INC5"], "short_description": ["VPN", "Printer", "Feb"]}
    )
    items = ticket_items(timers_frame(), descriptions, *MARCH)
    # INC2 breached (completed late), INC4 breached while running (counted at its breach),
    # INC3 open within its target, INC1 met; INC5 belongs to February, INC6 was cancelled.
    assert items.select("item", "result", "business_hours", "paused_hours", "target_hours",
                        "incomplete", "detail").rows() == [
        ("INC2", "breached", 6.0, 0.5, 4.0, True, "Printer"),
        ("INC4", "breached", 10.0, 0.0, 8.0, False, None),
        ("INC3", "open", 2.0, 0.0, 8.0, False, None),
        ("INC1", "met", 1.0, 0.0, 4.0, False, "VPN"),
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


HOSTILE_DESCRIPTIONS = [
    HOSTILE_TITLE,
    "+SUM(1,2)",
    "-2+3",
    "@SUM(A1)",
    "\tleading tab",
    "\rleading carriage return",
]
SCRIPT = '<script>alert("owned")</script>'


class _Scripts(HTMLParser):
    """The text inside each script element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.texts = False, []

    def handle_starttag(self, tag, attrs) -> None:
        self.inside = self.inside or tag == "script"

    def handle_endtag(self, tag) -> None:
        self.inside = self.inside and tag != "script"

    def handle_data(self, data) -> None:
        if self.inside:
            self.texts.append(data)


def test_hostile_short_descriptions_reach_the_csv_as_text_and_the_page_escaped(
    tmp_path: Path, desk_contract: Contract, desk_tables: dict[str, pl.DataFrame]
):
    """A ticket's short description is typed by anyone who can open a ticket."""
    descriptions = [*HOSTILE_DESCRIPTIONS, SCRIPT]
    tickets = [f"T{n}" for n in range(1, len(descriptions) + 1)]
    timers = timers_frame([(ticket, *TIMERS[0][1:]) for ticket in tickets])
    report = render_reports(
        tmp_path,
        [desk_contract],
        {
            **desk_tables,
            "ticket_timers": timers,
            "ticket_descriptions": timers.select(
                "contract_id",
                "objective_id",
                "ticket_id",
                short_description=pl.Series(descriptions),
            ),
        },
    )

    with (tmp_path / "objective-desk~resolution-items.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(row["item"], row["detail"]) for row in rows] == list(
        zip(tickets, ["'" + text for text in HOSTILE_DESCRIPTIONS] + [SCRIPT], strict=True)
    )
    page = report.objective_pages[("desk", "resolution")].read_text(encoding="utf-8")
    assert (
        '<td class="text">=HYPERLINK(&#34;http://evil.example/x&#34;,&#34;Open&#34;)</td>' in page
    )
    assert '<td class="text">&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;</td>' in page
    scripts = _Scripts()
    scripts.feed(page)
    assert scripts.texts and not [text for text in scripts.texts if "owned" in text]


def test_the_report_reads_each_counted_tickets_latest_non_empty_description(
    tmp_path: Path, desk_contract: Contract
):
    source = Source(kind="tickets", path="desk/*.csv", format="csv")
    landing = tmp_path / "landing" / "desk"
    landing.mkdir(parents=True)
    # T1's later update has no description: its earlier one stays; T2's changes; T3 never has
    # one; T4 is not counted (unmatched); the other service's T1 is another ticket.
    (landing / "desk-2026-03-02.csv").write_text(
        "ticket_id,ts,state,service,short_description\n"
        "T1,2026-03-02T09:00:00Z,New,desk,Printer jams\n"
        "T2,2026-03-02T09:00:00Z,New,desk,VPN slow\n"
        "T3,2026-03-02T09:00:00Z,New,desk,\n"
        "T4,2026-03-02T09:00:00Z,New,desk,Not counted\n"
    )
    (landing / "desk-2026-03-03.csv").write_text(
        "ticket_id,ts,state,service,short_description\n"
        "T1,2026-03-03T09:00:00Z,Active,desk,\n"
        "T2,2026-03-03T09:00:00Z,Active,desk,VPN down for everyone\n"
        "T2,2026-03-03T08:00:00Z,Active,desk,VPN flaky\n"
        "T1,2026-03-04T09:00:00Z,Active,shop,Another shop's ticket\n"
    )
    timers = timers_frame([(ticket, *TIMERS[0][1:]) for ticket in ("T1", "T2", "T3", "T4")])
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        for day in (date(2026, 3, 2), date(2026, 3, 3)):
            ingest_partition(con, "desk", source, tmp_path / "landing", day, {"desk", "shop"})
        warehouse.insert_frame(con, "sla.objectives", objectives_frame([desk_contract]))
        warehouse.insert_frame(
            con, "sla.ticket_timers", timers.with_columns(unmatched=pl.col("ticket_id") == "T4")
        )
        read = read_report_tables(con)["ticket_descriptions"]
    assert read.sort("ticket_id").rows() == [
        ("desk", "resolution", "T1", "Printer jams"),
        ("desk", "resolution", "T2", "VPN down for everyone"),
    ]
