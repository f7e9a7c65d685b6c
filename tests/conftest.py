"""Fixtures shared by every stage's tests: one short demo home, built once per test session."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import polars.selectors as cs
import pytest

from pipelines.cli import main
from pipelines.lake import TABLES as LAKE_TABLES
from pipelines.lake import Lake, partition_files

DEMO_END = date(2026, 11, 3)
"""Evidence up to 2026-11-03 00:00 UTC: the demo's outage (4 days earlier) falls in October, which
is complete by then, so its window must come out ``breached``."""

DEMO_DAYS = 14

PLEDGE_VARIABLES = (
    "PLEDGE_HOME",
    "PLEDGE_CONTRACTS",
    "PLEDGE_SOURCES",
    "PLEDGE_LANDING",
    "PLEDGE_WAREHOUSE",
    "PLEDGE_REPORTS",
    "DAGSTER_HOME",
)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pledge demo --days 14 --end 2026-11-03` in a temporary home (warehouse, reports, landing
    files, ground_truth.json). Shared: tests must only read it (copy it to write)."""
    home = tmp_path_factory.mktemp("demo") / "home"
    with pytest.MonkeyPatch.context() as env:
        for variable in PLEDGE_VARIABLES:
            env.delenv(variable, raising=False)
        args = [
            "demo",
            "--home",
            str(home),
            "--days",
            str(DEMO_DAYS),
            "--end",
            DEMO_END.isoformat(),
        ]
        assert main(args) == 0
    return home


@pytest.fixture(scope="session")
def demo_end() -> date:
    """The exclusive end of :func:`demo_home`'s evidence."""
    return DEMO_END


def warehouse_tables(home: Path) -> dict[str, pl.DataFrame]:
    """Every warehouse table and lake table of ``home``, rows sorted, floats rounded to 9 places
    (sums in another order differ in the last digit), without the load time of
    ``ops.ingested_files`` and the log of successful runs ``ops.runs``."""
    lake = Lake.at(home / "lake")
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        names = [
            f"{s}.{t}"
            for s, t in con.sql("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        ]
        frames = {name: con.sql(f"SELECT * FROM {name}").pl() for name in names}
        for (
            table
        ) in LAKE_TABLES:  # the home's own files (a copied home's views read the original's)
            frames[table] = (
                con.sql(
                    f"SELECT * FROM read_parquet('{lake.glob_url(table)}', hive_partitioning = true)"
                ).pl()
                if partition_files(lake, table).height
                else pl.DataFrame()
            )
    return {
        name: frame.drop("ingested_at", strict=False)
        .with_columns(cs.float().round(9))
        .sort(pl.all(), nulls_last=True)
        for name, frame in frames.items()
        if name != "ops.runs"
    }
