"""A ticket's short description: free text typed by anyone who can open a ticket, loaded bounded
(control characters removed, cut to 500 characters), never a reason to reject a row, kept from a
ServiceNow export and added to a warehouse created before the column existed."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import warehouse
from pipelines.contracts.sources import Source, load_sources
from pipelines.ingest.load import ingest_partition
from pipelines.ingest.parse import parse_landing_file
from pipelines.ingest.rows import FREE_TEXT_LIMIT
from pipelines.settings import REPO_ROOT

HOSTILE = '=HYPERLINK("http://evil.example/x","Open")'
DAY = date(2026, 11, 20)
TICKETS = Source(kind="tickets", path="desk/*.csv", format="csv", service="desk", missing="?")


def ticket_log(descriptions: list[str]) -> bytes:
    """A log of one New update per description (tickets T1, T2, ...), written by a CSV writer
    (quoted where needed, so line breaks and tabs stay inside their field)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["ticket_id", "ts", "state", "short_description"])
    for number, description in enumerate(descriptions, start=1):
        writer.writerow([f"T{number}", "2026-11-20T09:00:00Z", "New", description])
    return text.getvalue().encode()


def test_a_description_is_bounded_and_never_rejects_its_row(tmp_path: Path) -> None:
    path = tmp_path / "desk-2026-11-20.csv"
    path.write_bytes(
        ticket_log(
            [
                "  Printer on floor 2 jams  ",
                HOSTILE,
                "x" * 10_000,
                "VPN drops\r\nevery few minutes\tfrom home",
                "\x1b[31mred\x07 alert\x7f",
                "\x1b\x07",
                "?",
                "",
                "é" * 600,
                "invoice \u202efdp.exe\u202c due",
            ]
        )
    )

    parsed = parse_landing_file(path, TICKETS, {"desk"})

    assert parsed.rejects.height == 0 and parsed.rows_loaded == parsed.rows_in == 10
    descriptions = parsed.rows["short_description"].to_list()
    assert descriptions[:2] == ["Printer on floor 2 jams", HOSTILE]  # stored as typed
    assert descriptions[2] == "x" * 500 and FREE_TEXT_LIMIT == 500
    assert descriptions[3:8] == [
        "VPN drops every few minutes from home",
        "[31mred alert",
        None,  # nothing left once the control characters are gone: no text, still a ticket
        None,  # the source's missing marker
        None,
    ]
    assert descriptions[8] == "é" * 500  # characters, not bytes
    assert descriptions[9] == "invoice fdp.exe due"  # no right-to-left override to disguise it


def test_a_file_without_the_column_loads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "desk-2026-11-20.csv"
    path.write_text("ticket_id,ts,state\nT1,2026-11-20T09:00:00Z,New\n")
    parsed = parse_landing_file(path, TICKETS, {"desk"})
    assert parsed.rows.select("ticket_id", "short_description").rows() == [("T1", None)]


def test_a_parquet_description_is_bounded_too(tmp_path: Path) -> None:
    path = tmp_path / "desk-2026-11-20.parquet"
    pl.DataFrame(
        {
            "ticket_id": ["T1", "T2"],
            "ts": ["2026-11-20T09:00:00Z"] * 2,
            "state": ["New"] * 2,
            "short_description": ["a\tb" + "c" * 600, None],
        }
    ).write_parquet(path)
    source = Source(kind="tickets", path="desk/*.parquet", format="parquet", service="desk")
    parsed = parse_landing_file(path, source, {"desk"})
    assert parsed.rows["short_description"].to_list() == ["a b" + "c" * 497, None]


OLD_TICKET_EVENTS = """
    CREATE SCHEMA raw;
    CREATE TABLE raw.ticket_events (
        partition_date DATE NOT NULL, ticket_id VARCHAR NOT NULL, ts TIMESTAMPTZ NOT NULL,
        seq BIGINT NOT NULL, state VARCHAR NOT NULL, priority VARCHAR, opened_at TIMESTAMPTZ,
        resolved_at TIMESTAMPTZ, closed_at TIMESTAMPTZ, reassignment_count BIGINT,
        reopen_count BIGINT, assignment_group VARCHAR, category VARCHAR,
        service VARCHAR NOT NULL, source VARCHAR NOT NULL, file VARCHAR NOT NULL
    );
    INSERT INTO raw.ticket_events VALUES ('2026-11-19', 'T0', '2026-11-19 09:00:00+00', 0,
        'New', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'desk', 'desk', 'old.csv');
"""
"""raw.ticket_events as warehouses created before short_description had it, with one event."""


def test_a_warehouse_from_before_the_column_gets_it_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(OLD_TICKET_EVENTS)
    landing = tmp_path / "landing" / "desk"
    landing.mkdir(parents=True)
    (landing / "desk-2026-11-20.csv").write_bytes(ticket_log([HOSTILE]))

    with warehouse.connect(path) as con:
        ingest_partition(con, "desk", TICKETS, tmp_path / "landing", DAY, {"desk"})
        rows = con.execute(
            "SELECT ticket_id, short_description FROM raw.latest_ticket_events ORDER BY ts"
        ).fetchall()
    assert rows == [("T0", None), ("T1", HOSTILE)]


SAMPLE = REPO_ROOT.parent / "shared/datasets/incidents-sample/incident_event_log_sample.csv"


def ingest_export(home: Path, export: pl.DataFrame) -> pl.DataFrame:
    """Ingest ``export`` as one day's ServiceNow export (the example source) into ``home``;
    the ``ops.ingested_files`` row."""
    servicenow = load_sources(REPO_ROOT / "examples/sources/servicenow-incidents.yaml")
    landing = home / "landing" / "servicenow"
    landing.mkdir(parents=True)
    export.write_csv(landing / "incidents-2016-03-01.csv")
    with warehouse.connect(home / "warehouse.duckdb") as con:
        return ingest_partition(
            con,
            "servicenow",
            servicenow["servicenow"],
            home / "landing",
            date(2016, 3, 1),
            {"service-desk"},
        )


@pytest.mark.skipif(not SAMPLE.exists(), reason=f"{SAMPLE} is absent")
def test_the_servicenow_import_keeps_the_short_description(tmp_path: Path) -> None:
    """The shared sample has no short_description column (the enriched log dropped it); a
    ServiceNow export has one under that name, which the example source reads unmapped."""
    sample = pl.read_csv(SAMPLE, infer_schema=False)
    export = sample.with_columns(
        short_description=pl.when(pl.col("number") == "INC0000045")
        .then(pl.lit(HOSTILE))
        .otherwise(pl.format("Cannot print from {}", pl.col("location")))
    )

    without = ingest_export(tmp_path / "without", sample)
    described = ingest_export(tmp_path / "with", export)

    counts = ["rows_in", "rows_loaded", "rows_rejected"]
    assert described.select(counts).rows() == without.select(counts).rows()
    assert described["rows_in"].to_list() == [5_998]
    with warehouse.connect(tmp_path / "with/warehouse.duckdb", read_only=True) as con:
        assert con.execute(
            "SELECT ticket_id, short_description, count(*) FROM raw.ticket_events"
            " WHERE ticket_id IN ('INC0000045', 'INC0000047') GROUP BY ALL ORDER BY 1"
        ).fetchall() == [
            ("INC0000045", HOSTILE, 4),
            ("INC0000047", "Cannot print from Location 165", 9),
        ]
        assert con.execute(
            "SELECT count(*) FROM raw.ticket_events WHERE short_description IS NULL"
        ).fetchall() == [(0,)]
