"""Readers never block the pipeline: a run writes a working copy and publishes it over
``warehouse.duckdb`` by renaming it, so a process holding the warehouse open read-only keeps its
snapshot while the run exits 0, and a new connection sees the run's data. Two runs started
together still take turns and both finish."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.settings import REPO_ROOT
from pipelines.warehouse import connect
from tests.conftest import PLEDGE_VARIABLES

CHANGED_FILE = Path("landing/requests/requests-2026-10-30.csv")
ERRORS_SQL = "SELECT sum(errors) FROM raw.requests WHERE partition_date = DATE '2026-10-30'"
WINDOWS_SQL = "SELECT sum(good), count(*) FROM sla.windows"
RUNS_SQL = "SELECT count(*) FROM ops.runs"

READER = textwrap.dedent(
    """
    import sys
    import duckdb

    con = duckdb.connect(sys.argv[1], read_only=True)
    for line in sys.stdin:  # each line a query; its answer printed on one line
        print(con.execute(line).fetchone(), flush=True)
    """
)
"""An analyst's session: the warehouse open read-only for as long as its stdin stays open."""


@pytest.fixture
def home(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in PLEDGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PLEDGE_POOL_WAIT_SECONDS", "0")  # any wait for the warehouse fails
    return Path(shutil.copytree(demo_home, tmp_path / "home"))


def add_errors(home: Path, errors: int) -> None:
    """``errors`` more errors on the first row of :data:`CHANGED_FILE`."""
    path = home / CHANGED_FILE
    header, first, *rest = path.read_text().splitlines()
    timestamp, service, requests, old = first.split(",")
    first = ",".join([timestamp, service, requests, str(int(old) + errors)])
    path.write_text("\n".join([header, first, *rest]) + "\n")


def open_reader(home: Path) -> subprocess.Popen:
    """An analyst's process holding the home's warehouse open read-only (READER), answering
    each SQL line sent to it with its first row (``ask``)."""
    return subprocess.Popen(
        [sys.executable, "-c", READER, str(home / "warehouse.duckdb")],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def ask(reader: subprocess.Popen, sql: str) -> str:
    reader.stdin.write(sql + "\n")
    reader.stdin.flush()
    return reader.stdout.readline().strip()


def fetch(home: Path, sql: str) -> str:
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        return str(con.execute(sql).fetchone())


@pytest.mark.slow
def test_a_run_exits_0_while_an_analyst_holds_the_warehouse_open_read_only(home: Path):
    before = {sql: fetch(home, sql) for sql in (ERRORS_SQL, WINDOWS_SQL, RUNS_SQL)}
    reader = open_reader(home)
    try:
        assert ask(reader, WINDOWS_SQL) == before[WINDOWS_SQL]
        add_errors(home, 50)

        assert main(["run", "--home", str(home)]) == 0

        # the analyst's session still reads the snapshot it opened; a new connection the run's
        assert ask(reader, WINDOWS_SQL) == before[WINDOWS_SQL]
        assert ask(reader, RUNS_SQL) == before[RUNS_SQL]
        assert reader.poll() is None
    finally:
        reader.stdin.close()
        reader.wait()
    errors_before = int(before[ERRORS_SQL].strip("(),"))
    assert fetch(home, ERRORS_SQL) == f"({errors_before + 50},)"
    assert fetch(home, RUNS_SQL) == f"({int(before[RUNS_SQL].strip('(),')) + 1},)"
    assert fetch(home, WINDOWS_SQL) != before[WINDOWS_SQL]
    assert not list(home.glob(".warehouse.writing*"))  # the working copy became the warehouse


@pytest.mark.slow
def test_two_runs_started_together_take_turns_and_both_finish(home: Path, monkeypatch):
    monkeypatch.setenv("PLEDGE_POOL_WAIT_SECONDS", "600")
    runs_before = int(fetch(home, RUNS_SQL).strip("(),"))
    command = [sys.executable, "-m", "pipelines.cli", "run", "--all", "--home", str(home)]
    runs = [
        subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate()[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0]
    waited = [
        output for output in outputs if "waiting for the warehouse, held by process" in output
    ]
    assert len(waited) == 1, outputs
    assert fetch(home, RUNS_SQL) == f"({runs_before + 2},)"
