"""The data-quality summary on a hand-made warehouse: two sources, a loaded file with five rejects,
a failed, a duplicate and an undated file, and an older file outside the days asked for."""

from datetime import UTC, date, datetime

import polars as pl
import pytest

from pipelines.ingest.summary import (
    failed_files,
    read_ingest_records,
    read_rejects,
    shorten,
    source_summary,
    summary_text,
    top_reasons,
)
from pipelines.warehouse import connect, insert_frame

OLD, DAY1, DAY2 = date(2026, 10, 1), date(2026, 11, 1), date(2026, 11, 2)

FILES = [  # source, file, partition_date, status, rows_loaded, rows_rejected, error
    ("requests", "requests/old.csv", OLD, "loaded", 5, 1, None),
    ("requests", "requests/r-1.csv", DAY1, "loaded", 7, 5, None),
    ("requests", "requests/r-2.csv", DAY2, "failed", 0, 0, "requests/r-2.csv: missing column 'ts'"),
    ("requests", "requests/r-2-again.csv", DAY2, "duplicate", 0, 0, None),
    ("requests", "requests/undated.csv", None, "failed", 0, 0, "no date in the file name"),
    ("surveys", "surveys/s-1.csv", DAY1, "loaded", 4, 0, None),
]

REJECTS = [  # file, partition_date, line, reason, record
    ("requests/old.csv", OLD, 9, "missing ts", ",api,1,0"),
    ("requests/r-1.csv", DAY1, 2, "unparseable number", "<script>alert(1)</script>"),
    ("requests/r-1.csv", DAY1, 3, "missing ts", ",api,2,0"),
    ("requests/r-1.csv", DAY1, 5, "unparseable number", "2026-11-01T00:05:00Z,api,x,0"),
    ("requests/r-1.csv", DAY1, 6, "errors above total", "2026-11-01T00:06:00Z,api,1,2"),
    ("requests/r-1.csv", DAY1, 8, "ts without zone", "2026-11-01 00:08,api,1,0"),
]


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    columns = ["source", "file", "partition_date", "status", "rows_loaded", "rows_rejected"]
    with connect(path) as con:
        insert_frame(
            con,
            "ops.ingested_files",
            pl.DataFrame(FILES, schema=[*columns, "error"], orient="row").with_columns(
                ingested_at=pl.lit(datetime(2026, 11, 3, tzinfo=UTC))
            ),
        )
        insert_frame(
            con,
            "raw.rejects",
            pl.DataFrame(
                REJECTS, schema=["file", "partition_date", "line", "reason", "record"], orient="row"
            ).with_columns(source=pl.lit("requests")),
        )
    return path


def records_of(warehouse, days):
    with connect(warehouse, read_only=True) as con:
        return read_ingest_records(con, days)


def test_per_source_counts_of_the_days_asked_for_and_of_undated_files(warehouse):
    summary = source_summary(records_of(warehouse, (DAY1, DAY2)))
    assert summary.rows() == [
        ("requests", 1, 1, 2, 7, 5),
        ("surveys", 1, 0, 0, 4, 0),
    ]
    assert summary.columns == [
        "source",
        "files_loaded",
        "files_duplicate",
        "files_failed",
        "rows_loaded",
        "rows_rejected",
    ]
    everything = source_summary(records_of(warehouse, None))
    assert everything.row(0) == ("requests", 2, 1, 2, 12, 6)


def test_the_top_three_reasons_with_the_first_line_as_example(warehouse):
    reasons = top_reasons(records_of(warehouse, (DAY1, DAY2)))
    assert reasons.select("source", "reason", "rejects", "file", "line").rows() == [
        ("requests", "unparseable number", 2, "requests/r-1.csv", 2),
        ("requests", "errors above total", 1, "requests/r-1.csv", 6),  # ties: by reason
        ("requests", "missing ts", 1, "requests/r-1.csv", 3),
    ]
    # with the older file, "missing ts" ties "unparseable number" and its example is the first file
    reasons = top_reasons(records_of(warehouse, None))
    assert reasons.select("reason", "rejects", "file", "line", "record").rows()[:2] == [
        ("missing ts", 2, "requests/old.csv", 9, ",api,1,0"),
        ("unparseable number", 2, "requests/r-1.csv", 2, "<script>alert(1)</script>"),
    ]


def test_failed_files_with_their_error_without_the_file_name_twice(warehouse):
    assert failed_files(records_of(warehouse, (DAY1, DAY2))).rows() == [
        ("requests", "requests/r-2.csv", "missing column 'ts'"),
        ("requests", "requests/undated.csv", "no date in the file name"),
    ]


def test_the_summary_text(warehouse):
    records = records_of(warehouse, (DAY1, DAY2))
    assert records.has_problems
    assert summary_text(records) == "\n".join(
        [
            "requests: files 1 loaded, 1 duplicate, 2 failed; rows 7 loaded, 5 rejected",
            "  failed: requests/r-2.csv: missing column 'ts'",
            "  failed: requests/undated.csv: no date in the file name",
            "  rejected 2 × unparseable number, e.g. requests/r-1.csv:2: <script>alert(1)</script>",
            "  rejected 1 × errors above total, e.g. requests/r-1.csv:6: "
            "2026-11-01T00:06:00Z,api,1,2",
            "  rejected 1 × missing ts, e.g. requests/r-1.csv:3: ,api,2,0",
            "surveys: files 1 loaded, 0 duplicate, 0 failed; rows 4 loaded, 0 rejected",
        ]
    )


def test_a_clean_day_has_no_problems(warehouse):
    with connect(warehouse) as con:
        con.execute("DELETE FROM ops.ingested_files WHERE source = 'requests'")
    records = records_of(warehouse, (DAY1, DAY2))
    assert not records.has_problems
    assert summary_text(records) == (
        "surveys: files 1 loaded, 0 duplicate, 0 failed; rows 4 loaded, 0 rejected"
    )


def test_the_rejects_listed_are_the_first_lines_of_each_file(warehouse):
    with connect(warehouse, read_only=True) as con:
        listing = read_rejects(con, per_file=2)
    assert listing.select("file", "line").rows() == [
        ("requests/old.csv", 9),
        ("requests/r-1.csv", 2),
        ("requests/r-1.csv", 3),
    ]


def test_examples_are_cut_to_one_short_line():
    assert shorten("a,b\nc", width=10) == "a,b c"
    assert shorten("x" * 12, width=10) == "x" * 9 + "…"
