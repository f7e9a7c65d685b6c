"""ingest_partition(s): (day, source) partitions replaced atomically; failed and duplicate files
recorded."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines import warehouse
from pipelines.contracts.sources import Source
from pipelines.ingest import load
from pipelines.ingest.load import ingest_partition, ingest_partitions

DAY = date(2026, 11, 20)
GOOD_CSV = """
    timestamp,service,requests,errors
    2026-11-20T00:00:00Z,api,100,1
    2026-11-20T00:01:00Z,api,90,0
    2026-11-20T00:02:00Z,api,-5,0
"""


@pytest.fixture
def con(tmp_path: Path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as connection:
        yield connection


def counts(con) -> dict[str, int]:
    tables = ("raw.requests", "raw.rejects", "ops.ingested_files")
    return {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in tables
    }


def files(con) -> list[tuple]:
    return con.execute(
        "SELECT file, partition_date, status, rows_in, rows_loaded, rows_rejected, duplicate_of"
        " FROM ops.ingested_files ORDER BY file"
    ).fetchall()


def test_a_corrupt_file_fails_while_the_good_file_of_its_day_loads(
    tmp_path, con, write, requests_source: Source, known_services
) -> None:
    landing = tmp_path / "landing"
    write(landing / "requests/requests-2026-11-20.csv", GOOD_CSV)
    write(
        landing / "requests/requests-2026-11-20-b.csv",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10",
    )
    write(landing / "requests/requests-latest.csv", GOOD_CSV)

    ingested = ingest_partition(con, "web", requests_source, landing, DAY, known_services)

    assert files(con) == [
        ("requests/requests-2026-11-20-b.csv", DAY, "failed", 0, 0, 0, None),
        ("requests/requests-2026-11-20.csv", DAY, "loaded", 3, 2, 1, None),
        ("requests/requests-latest.csv", None, "failed", 0, 0, 0, None),
    ]
    errors = dict(ingested.select("file", "error").iter_rows())
    assert errors["requests/requests-2026-11-20-b.csv"] == (
        "requests/requests-2026-11-20-b.csv: the header line is not readable: not valid utf-8"
        " (is the file in another encoding than the source's utf-8?)"
    )
    assert "no date matching" in errors["requests/requests-latest.csv"]
    assert con.execute(
        "SELECT partition_date, source, file, line, reason FROM raw.rejects"
    ).fetchall() == [(DAY, "web", "requests/requests-2026-11-20.csv", 4, "negative counter")]
    assert con.execute(
        "SELECT partition_date, source, file, service, sum(total), sum(errors) FROM raw.requests"
        " GROUP BY ALL"
    ).fetchall() == [(DAY, "web", "requests/requests-2026-11-20.csv", "api", 190, 1)]


def test_a_copied_file_loads_once_and_reruns_change_no_counts(
    tmp_path, con, write, requests_source: Source, known_services
) -> None:
    landing = tmp_path / "landing"
    original = write(landing / "requests/requests-2026-11-20.csv", GOOD_CSV)
    shutil.copy(original, landing / "requests/requests-2026-11-20.copy.csv")
    shutil.copy(original, landing / "requests/requests-2026-11-21.csv")
    write(landing / "requests/requests-undated.csv", GOOD_CSV)
    next_day = date(2026, 11, 21)

    ingest_partition(con, "web", requests_source, landing, DAY, known_services)
    ingest_partition(con, "web", requests_source, landing, next_day, known_services)
    first = counts(con)
    assert first == {"raw.requests": 2, "raw.rejects": 1, "ops.ingested_files": 4}
    assert files(con) == [
        ("requests/requests-2026-11-20.copy.csv", DAY, "loaded", 3, 2, 1, None),
        (
            "requests/requests-2026-11-20.csv",
            DAY,
            "duplicate",
            0,
            0,
            0,
            "requests/requests-2026-11-20.copy.csv",
        ),
        (
            "requests/requests-2026-11-21.csv",
            next_day,
            "duplicate",
            0,
            0,
            0,
            "requests/requests-2026-11-20.copy.csv",
        ),
        ("requests/requests-undated.csv", None, "failed", 0, 0, 0, None),
    ]

    ingest_partition(con, "web", requests_source, landing, DAY, known_services)
    ingest_partition(con, "web", requests_source, landing, next_day, known_services)
    assert counts(con) == first


def test_a_partition_is_replaced_by_what_its_files_hold_now(
    tmp_path, con, write, requests_source: Source, known_services
) -> None:
    landing = tmp_path / "landing"
    path = write(landing / "requests/requests-2026-11-20.csv", GOOD_CSV)
    ingest_partition(con, "web", requests_source, landing, DAY, known_services)
    ingest_partition(con, "other", requests_source, landing, DAY, known_services)
    write(path, "timestamp,service,requests,errors\n2026-11-20T00:00:00Z,db,7,0")

    ingest_partition(con, "web", requests_source, landing, DAY, known_services)

    assert con.execute(
        "SELECT source, service, total FROM raw.requests ORDER BY source, total"
    ).fetchall() == [("other", "api", 90), ("other", "api", 100), ("web", "db", 7)]
    assert con.execute("SELECT source, count(*) FROM raw.rejects GROUP BY ALL").fetchall() == [
        ("other", 1)
    ]


def test_a_bad_byte_and_a_ragged_line_are_rejected_and_every_other_line_loads(
    tmp_path, con, write, requests_source: Source, known_services
) -> None:
    landing = tmp_path / "landing"
    write(
        landing / "requests/requests-2026-11-20.csv",
        b"timestamp,service,requests,errors\n"
        b"2026-11-20T00:00:00Z,api,100,1\n"
        b"2026-11-20T00:01:00Z,\xe4pi,90,0\n"
        b"2026-11-20T00:02:00Z,api,80,0\n"
        b"2026-11-20T00:03:00Z,api,70,0,7\n"
        b"2026-11-20T00:04:00Z,db,60,2\n",
    )

    ingest_partition(con, "web", requests_source, landing, DAY, known_services)

    assert files(con) == [("requests/requests-2026-11-20.csv", DAY, "loaded", 5, 3, 2, None)]
    assert con.execute("SELECT line, reason, record, item_id FROM raw.rejects").fetchall() == [
        (3, "not valid utf-8", "2026-11-20T00:01:00Z,\\xe4pi,90,0", None),
        (5, "5 fields where the header has 4", "2026-11-20T00:03:00Z,api,70,0,7", None),
    ]
    assert con.execute(
        "SELECT strftime(ts, '%H:%M'), service, total FROM raw.requests ORDER BY ts"
    ).fetchall() == [("00:00", "api", 100), ("00:02", "api", 80), ("00:04", "db", 60)]


def test_ticket_files_count_rows_not_events(tmp_path, con, write) -> None:
    landing = tmp_path / "landing"
    write(
        landing / "tickets/tickets-2026-11-20.csv",
        """
        ticket_id,opened_at,resolved_at,closed_at
        T1,2026-11-20T09:00:00Z,2026-11-20T10:00:00Z,2026-11-20T11:00:00Z
        T2,2026-11-20T09:30:00Z,,
        T3,later,,
        """,
    )
    snapshot = Source(
        kind="tickets", path="tickets/*.csv", format="csv", layout="snapshot", service="desk"
    )

    ingest_partition(con, "desk", snapshot, landing, DAY, {"desk"})

    assert files(con) == [("tickets/tickets-2026-11-20.csv", DAY, "loaded", 3, 2, 1, None)]
    assert con.execute("SELECT count(*) FROM raw.ticket_events").fetchall() == [(4,)]
    assert con.execute("SELECT line, reason, item_id FROM raw.rejects").fetchall() == [
        (4, "unparseable opened_at", "T3")
    ]


def test_a_run_over_days_settles_copies_in_day_order(
    tmp_path, con, write, requests_source: Source, known_services
) -> None:
    """One call over two days: the first copy loads, a later one is its duplicate; a file
    unreadable as a whole and its copy each fail under their own name."""
    landing = tmp_path / "landing"
    write(landing / "requests/requests-2026-11-21.csv", GOOD_CSV)
    write(landing / "requests/requests-2026-11-20.csv", GOOD_CSV)
    write(landing / "requests/requests-2026-11-20-b.csv", GOOD_CSV)
    for name in ("requests-2026-11-20-x.csv", "requests-2026-11-20-y.csv"):
        write(landing / "requests" / name, "timestamp,service\n2026-11-20T00:00:00Z,api")
    next_day = date(2026, 11, 21)

    ingested = ingest_partitions(
        con, "web", requests_source, landing, [next_day, DAY], known_services
    )

    assert files(con) == [
        ("requests/requests-2026-11-20-b.csv", DAY, "loaded", 3, 2, 1, None),
        (
            "requests/requests-2026-11-20-x.csv",
            DAY,
            "failed",
            0,
            0,
            0,
            None,
        ),
        (
            "requests/requests-2026-11-20-y.csv",
            DAY,
            "failed",
            0,
            0,
            0,
            None,
        ),
        (
            "requests/requests-2026-11-20.csv",
            DAY,
            "duplicate",
            0,
            0,
            0,
            "requests/requests-2026-11-20-b.csv",
        ),
        (
            "requests/requests-2026-11-21.csv",
            next_day,
            "duplicate",
            0,
            0,
            0,
            "requests/requests-2026-11-20-b.csv",
        ),
    ]
    errors = dict(ingested.filter(pl.col("status") == "failed").select("file", "error").rows())
    assert all(error.startswith(f"{file}: missing column(s)") for file, error in errors.items())
    assert counts(con) == {"raw.requests": 2, "raw.rejects": 1, "ops.ingested_files": 5}


def test_a_copy_never_points_at_a_file_being_replaced(
    tmp_path, con, write, requests_source: Source, known_services
) -> None:
    """A file whose bytes were loaded under another name on a day of the run, since changed,
    loads: what that day held before the run is no original."""
    landing = tmp_path / "landing"
    later = write(landing / "requests/requests-2026-11-21.csv", GOOD_CSV)
    next_day = date(2026, 11, 21)
    ingest_partition(con, "web", requests_source, landing, next_day, known_services)
    write(landing / "requests/requests-2026-11-20.csv", GOOD_CSV)
    write(later, "timestamp,service,requests,errors\n2026-11-21T00:00:00Z,db,7,0")

    ingest_partitions(con, "web", requests_source, landing, [DAY, next_day], known_services)

    assert [row[:3] for row in files(con)] == [
        ("requests/requests-2026-11-20.csv", DAY, "loaded"),
        ("requests/requests-2026-11-21.csv", next_day, "loaded"),
    ]
    assert counts(con)["raw.requests"] == 3


def test_rows_are_written_a_few_days_at_a_time(
    tmp_path, con, write, requests_source: Source, known_services, monkeypatch
) -> None:
    """Memory follows ``FLUSH_ROWS``: each flush replaces its own days, every day once."""
    monkeypatch.setattr(load, "FLUSH_ROWS", 2)
    landing = tmp_path / "landing"
    days = [date(2026, 11, day) for day in (20, 21, 22)]
    for day in days:
        write(
            landing / f"requests/requests-{day}.csv",
            f"timestamp,service,requests,errors\n{day}T00:00:00Z,api,{day.day},0\n"
            f"{day}T00:01:00Z,db,1,0",
        )
    ingest_partitions(con, "web", requests_source, landing, days, known_services)
    ingest_partitions(con, "web", requests_source, landing, days, known_services)

    assert con.execute(
        "SELECT partition_date, count(*) FROM raw.requests GROUP BY ALL ORDER BY 1"
    ).fetchall() == [(day, 2) for day in days]
