"""parse_landing_file and the file helpers: each malformed row lands in rejects with its reason
and line; valid rows come out typed, as UTC instants."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.contracts.sources import Source
from pipelines.ingest.landing import file_sha256, files_by_day, partition_day
from pipelines.ingest.parse import UnreadableFile, parse_landing_file
from pipelines.ingest.rows import REJECT_SCHEMA, ROW_SCHEMAS

REQUESTS_CSV = """
    timestamp,service,requests,errors
    2026-11-20T00:01:00Z,api,100,1
    2026-11-20T00:02:00+01:00,api,50,0
    ,api,10,0
    yesterday,api,10,0
    2026-11-20T00:05:00,api,10,0
    2026-11-20T00:06:00Z,api,ten,0
    2026-11-20T00:07:00Z,api,10,-1
    2026-11-20T00:08:00Z,api,10,11
    2026-11-20T00:09:00Z,ghost,10,0
    2026-11-20T00:10:00Z,,10,0
    2026-11-20T00:11:00Z,api,,0
    2026-11-20T00:01:00Z,api,7,0
    2026-11-20T00:12:00.250Z,db,3,3
"""


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_requests_rows_are_typed_and_each_malformed_row_is_rejected_with_its_line(
    write, known_services, tmp_path: Path, requests_source: Source
) -> None:
    path = write(tmp_path / "requests-2026-11-20.csv", REQUESTS_CSV)
    parsed = parse_landing_file(path, requests_source, known_services, file_name="r.csv")

    assert parsed.rows.schema == pl.Schema(ROW_SCHEMAS["requests"])
    assert parsed.rows.rows() == [
        (utc(2026, 11, 20, 0, 1), "api", 100, 1),
        (utc(2026, 11, 19, 23, 2), "api", 50, 0),  # +01:00 converted
        (utc(2026, 11, 20, 0, 12, 0, 250_000), "db", 3, 3),
    ]
    assert parsed.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert parsed.rejects.select("line", "reason").rows() == [
        (4, "missing timestamp"),
        (5, "unparseable timestamp"),
        (6, "naive timestamp"),
        (7, "unparseable number"),
        (8, "negative counter"),
        (9, "errors greater than total"),
        (10, "unknown service"),
        (11, "missing service"),
        (12, "missing number"),
        (13, "duplicate row"),
    ]
    assert set(parsed.rejects["file"]) == {"r.csv"}
    assert json.loads(parsed.rejects["record"][3]) == {
        "timestamp": "2026-11-20T00:06:00Z",
        "service": "api",
        "requests": "ten",
        "errors": "0",
    }


def test_declared_zone_converts_naive_timestamps_across_both_dst_changes(
    write, known_services, tmp_path: Path
) -> None:
    source = Source(kind="requests", path="*.csv", format="csv", time_zone="Europe/Berlin")
    path = write(
        tmp_path / "berlin-2026-03-29.csv",
        """
        ts,service,total,errors
        2026-03-29T01:30:00,api,1,0
        2026-03-29T02:30:00,api,2,0
        2026-03-29T03:30:00,api,3,0
        2026-10-25T02:30:00,api,4,0
        2026-10-25T02:30:00,api,5,0
        2026-10-25T02:30:00,db,6,0
        2026-07-01T12:00:00+00:00,api,7,0
        """,
    )
    parsed = parse_landing_file(path, source, known_services)

    assert parsed.rows.select("ts", "total").rows() == [
        (utc(2026, 3, 29, 0, 30), 1),  # CET, +01:00
        (utc(2026, 3, 29, 1, 30), 3),  # CEST, +02:00
        (utc(2026, 10, 25, 0, 30), 4),  # first 02:30: still CEST
        (utc(2026, 10, 25, 1, 30), 5),  # its repeat: CET
        (utc(2026, 10, 25, 0, 30), 6),  # another service's first 02:30
        (utc(2026, 7, 1, 12, 0), 7),  # an explicit offset wins over the zone
    ]
    assert parsed.rejects.select("line", "reason").rows() == [(3, "nonexistent local time")]


def test_custom_timestamp_format(write, known_services, tmp_path: Path) -> None:
    source = Source(
        kind="requests",
        path="*.csv",
        format="csv",
        timestamp_format="%d/%m/%Y %H:%M",
        time_zone="UTC",
    )
    path = write(tmp_path / "r-2026-11-20.csv", "ts,service,total,errors\n20/11/2026 08:15,api,5,1")
    assert parse_landing_file(path, source, known_services).rows["ts"].to_list() == [
        utc(2026, 11, 20, 8, 15)
    ]


def test_probes_booleans(write, known_services, tmp_path: Path) -> None:
    source = Source(
        kind="probes", path="*.csv", format="csv", columns={"ts": "timestamp", "up": "success"}
    )
    path = write(
        tmp_path / "probes-2026-11-20.csv",
        """
        timestamp,service,location,success
        2026-11-20T00:00:00Z,api,fra,true
        2026-11-20T00:00:00Z,api,ams,0
        2026-11-20T00:01:00Z,api,fra,FALSE
        2026-11-20T00:01:00Z,api,ams,1
        2026-11-20T00:02:00Z,api,fra,yes
        2026-11-20T00:02:00Z,api,,true
        2026-11-20T00:03:00Z,api,fra,
        """,
    )
    parsed = parse_landing_file(path, source, known_services)

    assert parsed.rows.select("location", "up").rows() == [
        ("fra", True),
        ("ams", False),
        ("fra", False),
        ("ams", True),
    ]
    assert parsed.rejects.select("line", "reason").rows() == [
        (6, "bad boolean"),
        (7, "missing location"),
        (8, "missing boolean"),
    ]


def histogram_source(time_zone: str | None = None) -> Source:
    return Source(kind="histogram", path="latency/*.parquet", format="parquet", time_zone=time_zone)


def test_histogram_parquet_bucket_bounds(write, known_services, tmp_path: Path) -> None:
    minute = utc(2026, 11, 20, 0, 1)
    pl.DataFrame(
        {
            "timestamp": [minute] * 6,
            "service": ["api"] * 6,
            "le": ["0.05", "0.5", "+Inf", None, "fast", "1"],
            "count": [3, 9, 10, 1, 1, -1],
        }
    ).rename({"timestamp": "ts"}).write_parquet(tmp_path / "latency-2026-11-20.parquet")
    parsed = parse_landing_file(
        tmp_path / "latency-2026-11-20.parquet", histogram_source(), known_services
    )

    assert parsed.rows.schema == pl.Schema(ROW_SCHEMAS["histogram"])
    assert parsed.rows.select("le_seconds", "count").rows() == [
        (0.05, 3),
        (0.5, 9),
        (float("inf"), 10),
    ]
    assert parsed.rejects.select("line", "reason").rows() == [
        (4, "missing bucket bound"),
        (5, "unparseable bucket bound"),
        (6, "negative counter"),
    ]


def test_histogram_groups_need_positive_bounds_cumulative_counts_and_an_inf_bucket(
    write, known_services, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "latency-2026-11-20.csv",
        """
        ts,service,le,count
        2026-11-20T00:01:00Z,api,0.1,3
        2026-11-20T00:01:00Z,api,+Inf,9
        2026-11-20T00:01:00Z,api,0.5,7
        2026-11-20T00:02:00Z,api,-inf,0
        2026-11-20T00:02:00Z,api,0.1,2
        2026-11-20T00:02:00Z,api,+Inf,4
        2026-11-20T00:03:00Z,api,0.1,5
        2026-11-20T00:03:00Z,api,0.5,4
        2026-11-20T00:03:00Z,api,+Inf,6
        2026-11-20T00:04:00Z,api,0.1,1
        2026-11-20T00:04:00Z,api,0.5,2
        2026-11-20T00:05:00Z,api,0.1,1
        2026-11-20T00:05:00Z,api,0.5,x
        2026-11-20T00:05:00Z,api,+Inf,3
        2026-11-20T00:05:00Z,db,0,1
        2026-11-20T00:05:00Z,db,+Inf,1
        """,
    )
    source = Source(kind="histogram", path="*.csv", format="csv")
    parsed = parse_landing_file(path, source, known_services)

    # 00:01 loads whatever the order of its buckets; 00:05 api loads without its bad bucket
    assert parsed.rows.select(pl.col("ts").dt.minute(), "le_seconds", "count").rows() == [
        (1, 0.1, 3),
        (1, float("inf"), 9),
        (1, 0.5, 7),
        (5, 0.1, 1),
        (5, float("inf"), 3),
    ]
    assert parsed.rejects.select("line", "reason").rows() == [
        (5, "bucket bound not positive"),
        (6, "bucket bound not positive"),
        (7, "bucket bound not positive"),
        (8, "histogram not cumulative"),
        (9, "histogram not cumulative"),
        (10, "histogram not cumulative"),
        (11, "histogram without +Inf bucket"),
        (12, "histogram without +Inf bucket"),
        (14, "unparseable number"),
        (16, "bucket bound not positive"),
        (17, "bucket bound not positive"),
    ]
    assert (parsed.rows_in, parsed.rows_loaded) == (16, 5)


def test_naive_parquet_datetimes_need_a_declared_zone(
    write, known_services, tmp_path: Path
) -> None:
    path = tmp_path / "latency-2026-07-01.parquet"
    pl.DataFrame(
        {
            "ts": [datetime(2026, 7, 1, 12, 0)] * 2,
            "service": ["api"] * 2,
            "le": ["0.1", "+Inf"],
            "count": [1, 2],
        }
    ).write_parquet(path)

    refused = parse_landing_file(path, histogram_source(), known_services)
    assert refused.rows.is_empty()
    assert refused.rejects["reason"].to_list() == ["naive timestamp"] * 2

    berlin = parse_landing_file(path, histogram_source("Europe/Berlin"), known_services)
    assert berlin.rows["ts"].to_list() == [utc(2026, 7, 1, 10, 0)] * 2


def test_parquet_cast_failures_are_rejects(write, known_services, tmp_path: Path) -> None:
    path = tmp_path / "latency-2026-11-20.parquet"
    pl.DataFrame(
        {
            "ts": ["2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z", "soon"],
            "service": ["api"] * 3,
            "le": [0.1, float("inf"), 0.2],
            "count": [1.0, 2.0, 2.5],
        }
    ).write_parquet(path)
    parsed = parse_landing_file(path, histogram_source(), known_services)
    assert parsed.rows.rows() == [
        (utc(2026, 11, 20), "api", 0.1, 1),
        (utc(2026, 11, 20), "api", float("inf"), 2),
    ]
    assert parsed.rejects.select("line", "reason").rows() == [(3, "unparseable timestamp")]
    assert (parsed.rows_in, parsed.rows_loaded) == (3, 2)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.parquet", b"PAR1 not really parquet", "cannot read as parquet"),
        (
            "random.csv",
            b"\x8f\x00\xd3\x11\n\xfe",
            "the header line is not readable: not valid utf-8",
        ),
        ("empty.csv", b"", r"no header line \(the file is empty\)"),
        ("twice.csv", b"ts,service,ts,total,errors\n", "duplicate column 'ts' in the header"),
        (
            "short.csv",
            b"ts,service,total\n2026-11-20T00:00:00Z,api,1\n",
            r"missing column\(s\) 'errors' \(errors\); the file has \['ts', 'service', 'total'\]",
        ),
    ],
)
def test_unreadable_files_raise(
    write, known_services, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    file_format = "parquet" if name.endswith("parquet") else "csv"
    source = Source(kind="requests", path="*", format=file_format)
    with pytest.raises(UnreadableFile, match=message):
        parse_landing_file(write(tmp_path / name, content), source, known_services)


def test_file_helpers(write, known_services, tmp_path: Path) -> None:
    files = [
        Path("r-2026-11-20.csv"),
        Path("r-20261121.csv"),
        Path("r-latest.csv"),
        Path("r-2026-13-01.csv"),
    ]
    assert partition_day("requests-2026-11-20.csv", r"(\d{4}-\d{2}-\d{2})") == date(2026, 11, 20)
    assert partition_day("r-20261121.csv", r"\d{8}") == date(2026, 11, 21)
    assert files_by_day(files, r"(\d{4}-\d{2}-\d{2})") == {
        date(2026, 11, 20): files[:1],
        None: files[1:],
    }
    assert file_sha256(write(tmp_path / "empty", b"")) == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_header_names_and_text_values_are_trimmed(
    known_services, tmp_path: Path, requests_source: Source
) -> None:
    # an export writing ", " between fields: names and text values lose the space, numbers parse
    path = tmp_path / "requests-2026-11-20.csv"
    path.write_text(
        "timestamp, service, requests, errors\n"
        "2026-11-20T00:01:00Z, api, 100, 1\n"
        "2026-11-20T00:02:00Z, ghost , 5, 0\n"
    )
    parsed = parse_landing_file(path, requests_source, known_services, file_name="r.csv")
    assert parsed.rows.rows() == [(utc(2026, 11, 20, 0, 1), "api", 100, 1)]
    assert parsed.rejects.select("line", "reason").rows() == [(3, "unknown service")]
