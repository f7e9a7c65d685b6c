"""Runs of the definitions (schedules, sensors, the UI) write a working copy and publish it too:
an analyst holding ``warehouse.duckdb`` open read-only never blocks them, and a run with a failed
step publishes nothing."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from pipelines.ops.jobs import partition_range_tags
from pipelines.resources import PledgeHome
from pipelines.run import prepare_instance
from pipelines.warehouse import connect
from tests.conftest import PLEDGE_VARIABLES
from tests.test_readers import ERRORS_SQL, add_errors, ask, fetch, open_reader


@pytest.fixture
def home(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the demo home, the home of the definitions' ``PledgeHome()``."""
    for variable in PLEDGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    home = Path(shutil.copytree(demo_home, tmp_path / "home"))
    monkeypatch.setenv("PLEDGE_HOME", str(home))
    monkeypatch.setenv("PLEDGE_POOL_WAIT_SECONDS", "0")  # any wait for the warehouse fails
    return home


def instance_of(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(prepare_instance(home / "dagster")))


@pytest.mark.slow
def test_a_scheduled_run_succeeds_while_an_analyst_holds_the_warehouse_open(home: Path):
    from pipelines.definitions import defs

    errors_before = int(fetch(home, ERRORS_SQL).strip("(),"))
    add_errors(home, 50)
    reader = open_reader(home)
    try:
        assert ask(reader, ERRORS_SQL) == f"({errors_before},)"
        day = date(2026, 10, 30)
        with instance_of(home) as instance:
            # what the ingest_often schedule asks for: the job over a range of days, one run
            result = defs.resolve_job_def("ingest_and_windows").execute_in_process(
                instance=instance, tags=partition_range_tags(day, day), raise_on_error=False
            )
        assert result.success
        assert ask(reader, ERRORS_SQL) == f"({errors_before},)"  # its snapshot
        assert reader.poll() is None
    finally:
        reader.stdin.close()
        reader.wait()
    assert fetch(home, ERRORS_SQL) == f"({errors_before + 50},)"
    assert not list(home.glob(".warehouse.writing*"))  # the working copy became the warehouse


def run_writing(home: Path, fail: bool) -> dg.ExecuteInProcessResult:
    """A run of one asset that writes ``main.marker`` through the resource, then fails if told."""

    @dg.asset
    def marker(pledge: PledgeHome) -> None:
        with pledge.connect() as con:
            con.execute("CREATE OR REPLACE TABLE main.marker AS SELECT 7 AS value")
        if fail:
            raise RuntimeError("the step fails after writing")

    with instance_of(home) as instance:
        return dg.materialize(
            [marker], instance=instance, resources={"pledge": PledgeHome()}, raise_on_error=False
        )


def marker_tables(home: Path) -> list[tuple]:
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return con.sql(
            "SELECT table_name FROM duckdb_tables() WHERE table_name = 'marker'"
        ).fetchall()


def test_a_run_with_a_failed_step_publishes_nothing_and_the_next_run_publishes(home: Path):
    assert not run_writing(home, fail=True).success
    assert marker_tables(home) == []

    assert run_writing(home, fail=False).success  # the lock was released: no wait (0 s allowed)
    assert marker_tables(home) == [("marker",)]
    assert not list(home.glob(".warehouse.writing*"))
