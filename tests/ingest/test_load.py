"""ingest_partition: one (day, source) replaced atomically; failed and duplicate files recorded."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.ingest.load import ingest_partition
from pipelines.spec.sources import Source

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
        "SELECT file, partition_date, status, rows_loaded, rows_rejected, duplicate_of"
        " FROM ops.ingested_files ORDER BY file"
    ).fetchall()


def test_a_corrupt_file_fails_while_the_good_file_of_its_day_loads(
    tmp_path, con, write, requests_source: Source, known_services
) -> None:
    landing = tmp_path / "landing"
    write(landing / "requests/requests-2026-11-20.csv", GOOD_CSV)
    write(
        landing / "requests/requests-2026-11-20-b.csv",
        b"timestamp,service,requests,errors\n\xff\xfe,api,1,0\n",
    )
    write(landing / "requests/requests-latest.csv", GOOD_CSV)

    ingested = ingest_partition(con, "web", requests_source, landing, DAY, known_services)

    assert files(con) == [
        ("requests/requests-2026-11-20-b.csv", DAY, "failed", 0, 0, None),
        ("requests/requests-2026-11-20.csv", DAY, "loaded", 2, 1, None),
        ("requests/requests-latest.csv", None, "failed", 0, 0, None),
    ]
    errors = dict(ingested.select("file", "error").iter_rows())
    assert "invalid utf-8" in errors["requests/requests-2026-11-20-b.csv"]
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
        ("requests/requests-2026-11-20.copy.csv", DAY, "loaded", 2, 1, None),
        (
            "requests/requests-2026-11-20.csv",
            DAY,
            "duplicate",
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
            "requests/requests-2026-11-20.copy.csv",
        ),
        ("requests/requests-undated.csv", None, "failed", 0, 0, None),
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
