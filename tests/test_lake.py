"""The lake: per-day tables as Hive-partitioned Parquet read through warehouse views, each
partition file replaced atomically, on a local folder, a ``file://`` URL or fsspec's memory."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines import lake, warehouse
from pipelines.lake import Lake

DAY, NEXT = date(2026, 3, 1), date(2026, 3, 2)


def requests(day: date, source: str, totals: list[int]) -> pl.DataFrame:
    """raw.requests rows of one (day, source), one minute each from midnight."""
    return pl.DataFrame(
        {
            "partition_date": [day] * len(totals),
            "ts": [
                datetime(day.year, day.month, day.day, 0, m, tzinfo=UTC) for m in range(len(totals))
            ],
            "service": ["api"] * len(totals),
            "total": totals,
            "errors": [0] * len(totals),
            "source": [source] * len(totals),
            "file": [f"{source}/requests-{day}.csv"] * len(totals),
        }
    )


def replace(con: duckdb.DuckDBPyConnection, day: date, source: str, totals: list[int]) -> None:
    """Replace the (day, source) partition of raw.requests, as ingest does."""
    where = "source = ? AND partition_date = ?"
    frame = requests(day, source, totals)
    warehouse.replace_rows(con, [("raw.requests", where, [source, day], frame)])


def rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT partition_date, source, total FROM raw.requests ORDER BY ALL"
    ).fetchall()


@pytest.fixture(params=["folder", "file-url", "memory"])
def lake_root(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    if request.param == "folder":
        return Lake.at(tmp_path / "lake")
    if request.param == "file-url":
        return Lake.at(f"file://{tmp_path}/lake")
    return Lake.at(f"memory://pledge-{uuid.uuid4().hex}/lake")


def test_partitions_are_replaced_whole_and_read_back_through_the_view(tmp_path, lake_root):
    with warehouse.connect(tmp_path / "w.duckdb", lake=lake_root) as con:
        assert rows(con) == []  # a typed view before the first file
        replace(con, DAY, "edge", [5, 6])
        replace(con, DAY, "core", [7])
        replace(con, NEXT, "edge", [8])
        replace(con, DAY, "edge", [9])  # the rerun of a partition replaces it
        assert rows(con) == [(DAY, "core", 7), (DAY, "edge", 9), (NEXT, "edge", 8)]
        replace(con, NEXT, "edge", [])  # a partition with no rows left has no file
        assert rows(con) == [(DAY, "core", 7), (DAY, "edge", 9)]
        assert lake.partition_files(lake_root, "raw.requests").rows() == [
            (DAY, "core"),
            (DAY, "edge"),
        ]
    with warehouse.connect(tmp_path / "w.duckdb", lake=lake_root, read_only=True) as con:
        assert rows(con) == [(DAY, "core", 7), (DAY, "edge", 9)]


def test_the_files_are_hive_partitions_and_the_view_has_the_declared_types(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        replace(con, DAY, "edge/eu", [5])
        types = con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = 'raw' AND table_name = 'requests'"
        ).fetchall()
    assert types == [
        ("partition_date", "DATE"),
        ("ts", "TIMESTAMP WITH TIME ZONE"),
        ("service", "VARCHAR"),
        ("total", "BIGINT"),
        ("errors", "BIGINT"),
        ("source", "VARCHAR"),
        ("file", "VARCHAR"),
    ]
    (only,) = (path for path in (tmp_path / "lake").rglob("*") if path.is_file())
    assert only.relative_to(tmp_path / "lake").as_posix() == (
        "raw/requests/partition_date=2026-03-01/edge%2Feu.parquet"
    )
    assert pl.read_parquet(only).columns == ["ts", "service", "total", "errors", "source", "file"]


def test_a_temporary_file_left_by_a_killed_writer_is_never_read(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        replace(con, DAY, "edge", [5])
    partition = tmp_path / "lake/raw/requests/partition_date=2026-03-01"
    (partition / ".edge.parquet.0123.tmp").write_bytes(b"PAR1 half a file")
    with warehouse.connect(tmp_path / "w.duckdb", read_only=True) as con:
        assert rows(con) == [(DAY, "edge", 5)]


def test_a_condition_on_other_columns_than_the_partition_is_refused(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        replace(con, DAY, "edge", [5])
        with pytest.raises(ValueError, match="may name only partition_date and source"):
            warehouse.replace_rows(
                con, [("raw.requests", "service = ?", ["api"], requests(DAY, "edge", [1]))]
            )
        assert rows(con) == [(DAY, "edge", 5)]


def test_appending_rewrites_a_partition_with_its_old_and_new_rows(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        replace(con, DAY, "edge", [5])
        assert warehouse.insert_frame(con, "raw.requests", requests(DAY, "edge", [6, 7])) == 2
        assert rows(con) == [(DAY, "edge", 5), (DAY, "edge", 6), (DAY, "edge", 7)]


def test_rows_for_a_partition_not_being_replaced_are_refused(tmp_path):
    stray = requests(NEXT, "edge", [1])
    with pytest.raises(ValueError, match=r"raw.requests: rows for partitions not being replaced"):
        lake.replace_partitions(Lake.at(tmp_path / "lake"), "raw.requests", stray, [(DAY, "edge")])
    assert not (tmp_path / "lake").exists()


def test_a_warehouse_from_before_the_lake_has_its_rows_moved_there(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(
            "CREATE TABLE raw.requests (partition_date DATE, ts TIMESTAMPTZ, service VARCHAR, "
            "total BIGINT, errors BIGINT, source VARCHAR, file VARCHAR)"
        )
        con.execute(
            "INSERT INTO raw.requests VALUES ('2026-03-01', '2026-03-01 00:00Z', 'api', 5, 0, "
            "'edge', 'f'), ('2026-03-02', '2026-03-02 00:00Z', 'api', 8, 0, 'edge', 'g')"
        )
    with warehouse.connect(path) as con:
        assert rows(con) == [(DAY, "edge", 5), (NEXT, "edge", 8)]
        kind = con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'requests'"
        ).fetchall()
    assert kind == [("VIEW",)]
    assert lake.partition_files(Lake.at(tmp_path / "lake"), "raw.requests").height == 2


def test_whole_day_tables_have_one_file_per_day(tmp_path):
    slices = pl.DataFrame(
        {
            "partition_date": [DAY, DAY],
            "contract_id": ["c", "c"],
            "objective_id": ["a", "b"],
            "slice_start": [datetime(2026, 3, 1, tzinfo=UTC)] * 2,
            "good": [1.0, 0.0],
            "total": [1.0, 1.0],
            "excluded_minutes": [0.0, 0.0],
            "corrected_minutes": [0.0, 0.0],
            "missing_minutes": [0.0, 0.0],
        }
    )
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.replace_rows(con, [("sla.slices", "partition_date = ?", [DAY], slices)])
        total = con.execute("SELECT sum(good), count(*) FROM sla.slices").fetchone()
    assert total == (1.0, 2)
    assert [p.name for p in (tmp_path / "lake/sla/slices").rglob("*.parquet")] == ["part.parquet"]


def test_a_rolled_back_transaction_keeps_the_partitions_already_replaced_whole(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(RuntimeError), warehouse.transaction(con):
            replace(con, DAY, "edge", [5])
            raise RuntimeError("the second day failed")
        assert rows(con) == [(DAY, "edge", 5)]  # ops.ingested_files, rolled back, reloads it
    with warehouse.connect(tmp_path / "w.duckdb", read_only=True) as con:
        assert rows(con) == [(DAY, "edge", 5)]


def burn_rates_sql(days: list[date], rows_per_day: int) -> str:
    """A query of sla.burn_rates rows: ``rows_per_day`` per day of ``days``, burn_1h = the day."""
    values = ", ".join(f"(DATE '{day}', {day.day})" for day in days)
    return (
        "SELECT d.partition_date, 'acme' AS contract_id, 'avail' AS objective_id, "
        "d.partition_date + INTERVAL (i) MINUTE AS ts, 0.0 AS burn_5m, 0.0 AS burn_30m, "
        "d.n * 1.0 AS burn_1h, 0.0 AS burn_6h, 0.0 AS burn_1d, 0.0 AS burn_3d "
        f"FROM (VALUES {values}) AS d(partition_date, n), range({rows_per_day}) AS r(i)"
    )


def test_duckdb_writes_whole_day_partitions_renamed_into_place(tmp_path, lake_root):
    third = date(2026, 3, 3)
    where = "partition_date BETWEEN ? AND ?"
    with warehouse.connect(tmp_path / "w.duckdb", lake=lake_root) as con:
        warehouse.replace_with_query(
            con, "sla.burn_rates", where, [DAY, third], burn_rates_sql([DAY, NEXT, third], 3)
        )
        # the first two days again: NEXT gets no rows (its file goes), DAY four, third is kept
        warehouse.replace_with_query(
            con, "sla.burn_rates", where, [DAY, NEXT], burn_rates_sql([DAY], 4)
        )
        with pytest.raises(ValueError, match="not being replaced"):
            warehouse.replace_with_query(
                con, "sla.burn_rates", "partition_date = ?", [DAY], burn_rates_sql([NEXT], 1)
            )
        read = con.sql(
            "SELECT partition_date, count(*), max(burn_1h) FROM sla.burn_rates GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert read == [(DAY, 4, 1.0), (third, 3, 3.0)]
    assert lake.partition_files(lake_root, "sla.burn_rates")["partition_date"].to_list() == [
        DAY,
        third,
    ]
    leftovers = lake_root.fs.find(lake_root.table_dir("sla.burn_rates"), withdirs=True)
    assert not [path for path in leftovers if ".writing-" in path]
