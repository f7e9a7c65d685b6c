"""Warehouse access: partitions replaced atomically, nested transactions joining the outer one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from pipelines import warehouse


def requests(day: date, total: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "partition_date": [day],
            "ts": [datetime(day.year, day.month, day.day, tzinfo=UTC)],
            "service": ["api"],
            "total": [total],
            "errors": [0],
            "source": ["requests"],
            "file": [f"requests-{day}.csv"],
        }
    )


def totals(con) -> list[tuple]:
    return con.execute(
        "SELECT partition_date, total FROM raw.requests ORDER BY partition_date"
    ).fetchall()


def test_replacing_a_partition_twice_keeps_one_copy(tmp_path):
    day = date(2026, 3, 1)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        for total in (5, 7):
            warehouse.replace_rows(
                con, [("raw.requests", "partition_date = ?", [day], requests(day, total))]
            )
        assert totals(con) == [(day, 7)]


def rejects(day: date, line: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "partition_date": [day],
            "source": ["requests"],
            "file": [f"requests-{day}.csv"],
            "line": [line],
            "reason": ["total: not a number"],
        }
    )


def reject_lines(con) -> list[tuple]:
    return con.execute(
        "SELECT partition_date, line FROM raw.rejects ORDER BY partition_date"
    ).fetchall()


def test_a_failure_inside_an_outer_transaction_rolls_back_every_partition(tmp_path):
    # a table of the DuckDB file: the lake's partitions are files, each replaced whole at once
    # (tests/test_lake.py)
    first, second = date(2026, 3, 1), date(2026, 3, 2)
    in_partition = "partition_date = ?"
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        with pytest.raises(RuntimeError), warehouse.transaction(con):
            warehouse.replace_rows(con, [("raw.rejects", in_partition, [first], rejects(first, 5))])
            raise RuntimeError("the second day failed")
        assert reject_lines(con) == []
        with warehouse.transaction(con):
            for day in (first, second):
                warehouse.replace_rows(con, [("raw.rejects", in_partition, [day], rejects(day, 3))])
        assert reject_lines(con) == [(first, 3), (second, 3)]
