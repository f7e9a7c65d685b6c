"""Burn rates and alert firing stored in the lake: which partitions a run recomputes, and that
recomputing only those gives the same tables as recomputing everything."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from sla_support import make_contract, utc

from pipelines import lake as lakes
from pipelines import warehouse
from pipelines.sla.burn import partitions_to_burn, refresh_burn, stored_episodes
from pipelines.sla.objectives import alert_rules_frame, objectives_frame

MONTHLY = make_contract(
    [{"id": "avail", "sli": {"kind": "availability"}, "target": 0.999}], time_zone="UTC"
)
DAYS = [date(2026, 3, 1) + timedelta(days=n) for n in range(8)]


def day_slices(day: date, bad: float) -> pl.DataFrame:
    """A UTC day of 5-minute slices of 10,000 events, ``bad`` of them bad in 01:00–02:00."""
    starts = pl.datetime_range(
        utc(day.year, day.month, day.day),
        utc(day.year, day.month, day.day, 23, 55),
        "5m",
        time_zone="UTC",
        eager=True,
    )
    return pl.DataFrame({"slice_start": starts}).with_columns(
        partition_date=pl.lit(day),
        contract_id=pl.lit("acme"),
        objective_id=pl.lit("avail"),
        good=10_000.0 - pl.when(pl.col("slice_start").dt.hour() == 1).then(bad).otherwise(0.0),
        total=pl.lit(10_000.0),
        excluded_minutes=pl.lit(0.0),
        corrected_minutes=pl.lit(0.0),
        missing_minutes=pl.lit(0.0),
    )


def store_slices(con, slices: pl.DataFrame, first: date, last: date) -> None:
    where = "partition_date BETWEEN ? AND ?"
    warehouse.replace_rows(con, [("sla.slices", where, [first, last], slices)])


def burn_tables(con) -> dict[str, pl.DataFrame]:
    return {
        table: warehouse.query(con, f"SELECT * FROM {table}").sort(pl.all())
        for table in ("sla.burn_rates", "sla.alert_firing")
    }


def test_a_run_recomputes_its_days_and_the_look_back_after_them() -> None:
    stored = set(DAYS)
    assert partitions_to_burn(stored, stored, (DAYS[2], DAYS[2]), 3) == (DAYS[2], DAYS[5])
    assert partitions_to_burn(stored, stored, (DAYS[6], DAYS[7]), 3) == (DAYS[6], DAYS[7])
    assert partitions_to_burn(stored, stored, None, 3) == (DAYS[0], DAYS[7])
    # nothing changed, but day 0 has slices without burn rates and day 9 burn rates without slices
    burned = (stored - {DAYS[0]}) | {DAYS[7] + timedelta(days=2)}
    assert partitions_to_burn(stored, burned, None, 3) == (DAYS[0], DAYS[7] + timedelta(days=2))
    assert partitions_to_burn(stored, stored | {DAYS[0]}, (date(2026, 5, 1),) * 2, 3) is None


@pytest.fixture
def warehouses(tmp_path: Path):
    """Two warehouses with the same 8 days of slices, a page-worthy burst on day 3 (bad 300 of
    10,000 for an hour at target 99.9 %: burn 30), refreshed fully."""
    objectives = objectives_frame([MONTHLY])
    rules = alert_rules_frame([MONTHLY])
    slices = pl.concat([day_slices(day, 300.0 if day == DAYS[3] else 0.0) for day in DAYS])
    paths = [tmp_path / name / "warehouse.duckdb" for name in ("incremental", "full")]
    for path in paths:
        with warehouse.connect(path) as con:
            store_slices(con, slices, DAYS[0], DAYS[-1])
            assert refresh_burn(con, objectives, rules, None) == (DAYS[0], DAYS[-1])
    return paths, objectives, rules


def test_recomputing_the_changed_days_gives_the_tables_of_a_full_recompute(warehouses) -> None:
    (incremental, full), objectives, rules = warehouses
    calmer = day_slices(DAYS[3], 160.0)  # burn 16: still pages, 1 h and 5 m above 14.4
    with warehouse.connect(incremental) as con:
        store_slices(con, calmer, DAYS[3], DAYS[3])
        # two days per statement: days 3–4 and 5–6, each reading the 3 days before it
        changed = (DAYS[3], DAYS[3])
        assert refresh_burn(con, objectives, rules, changed, 2) == (DAYS[3], DAYS[6])
        files = lakes.partition_files(warehouse.lake_of(con), "sla.burn_rates")
        assert files.height == 8  # one file a day: the recomputed days replaced, not added
        incremental_tables = burn_tables(con)
        episodes = stored_episodes(con, objectives)
    with warehouse.connect(full) as con:
        store_slices(con, calmer, DAYS[3], DAYS[3])
        refresh_burn(con, objectives, rules, None)
        full_tables = burn_tables(con)
    for table, rows in full_tables.items():
        assert incremental_tables[table].equals(rows), table
    assert full_tables["sla.burn_rates"].height == 8 * 288
    # the page fires at the 11th bad slice end (1 h burn 16 · 11/12 = 14.7) and the 12th
    pages = full_tables["sla.alert_firing"].filter(pl.col("severity") == "page")
    assert pages["ts"].to_list() == [utc(2026, 3, 4, 1, 55), utc(2026, 3, 4, 2, 0)]
    assert pages["burn"].max() == pytest.approx(16.0)
    assert episodes.filter(pl.col("severity") == "page").select(
        "started_at", "ended_at"
    ).rows() == [(utc(2026, 3, 4, 1, 55), utc(2026, 3, 4, 2, 5))]


def test_a_day_losing_its_slices_loses_its_burn_rates(warehouses) -> None:
    (incremental, _), objectives, rules = warehouses
    with warehouse.connect(incremental) as con:
        store_slices(con, day_slices(DAYS[7], 0.0).clear(), DAYS[7], DAYS[7])
        assert refresh_burn(con, objectives, rules, None) == (DAYS[0], DAYS[7])
        days = warehouse.query(con, "SELECT DISTINCT partition_date FROM sla.burn_rates")
    assert sorted(days["partition_date"]) == DAYS[:7]
