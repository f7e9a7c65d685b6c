"""A plain `pledge run` runs only what changed since the last successful run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines.cli import main
from pipelines.ingest.landing import landing_file_days
from pipelines.ops.changes import LANDING_SCHEMA, changed_days, plan_run, record_run
from pipelines.settings import Settings
from pipelines.warehouse import connect, query
from tests.conftest import PLEDGE_VARIABLES

LAST_DAY = date(2026, 11, 2)
CHANGED_DAY = date(2026, 10, 30)
CHANGED_FILE = Path("landing/requests/requests-2026-10-30.csv")


@pytest.fixture
def home(demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the demo home, with no PLEDGE_* variable set."""
    for variable in PLEDGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return Path(shutil.copytree(demo_home, tmp_path / "home"))


def add_errors(home: Path) -> None:
    """Fifty more errors on the first row of :data:`CHANGED_FILE`."""
    path = home / CHANGED_FILE
    header, first, *rest = path.read_text().splitlines()
    timestamp, service, requests, errors = first.split(",")
    first = ",".join([timestamp, service, requests, str(int(errors) + 50)])
    path.write_text("\n".join([header, first, *rest]) + "\n")


def dagster_runs(home: Path) -> int:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return instance.get_runs_count()


def windows(home: Path) -> pl.DataFrame:
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        frame = query(con, "SELECT * FROM sla.windows")
    return frame.sort(frame.columns)


def test_changed_days_are_days_of_new_changed_or_gone_files() -> None:
    day = [date(2026, 10, d) for d in range(1, 5)]
    landing = pl.DataFrame(
        [("a", "1", day[0]), ("b", "2", day[1]), ("c", "3", day[2]), ("new", "4", day[2])],
        schema=LANDING_SCHEMA,
        orient="row",
    )
    recorded = pl.DataFrame(
        {
            "file": ["a", "b", "c", "gone"],
            "sha256": ["1", "changed", "3", "5"],
            "partition_date": [day[0], day[1], day[2], day[3]],
            "settled": [True, True, True, True],
        }
    )
    assert changed_days(landing, recorded) == [day[1], day[2], day[3]]
    assert changed_days(landing.filter(pl.col("file") != "new"), recorded) == [day[1], day[3]]
    unsettled = recorded.with_columns(settled=pl.col("file") != "a")
    assert changed_days(landing.head(1), unsettled.head(1)) == [day[0]]


def test_a_rerun_with_nothing_new_starts_no_run(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = dagster_runs(home)
    assert main(["run", "--home", str(home)]) == 0
    files = len(landing_file_days(Settings.from_env(home)))
    assert f"({files} landing files unchanged); pledge run --all" in capsys.readouterr().out
    assert dagster_runs(home) == runs


@pytest.mark.slow
def test_a_changed_file_reruns_from_its_day_like_a_full_run(
    home: Path, demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_errors(home)
    capsys.readouterr()
    assert main(["run", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert f"changed landing files: running {CHANGED_DAY} .. {LAST_DAY}" in out
    assert f"running the pipeline for {CHANGED_DAY} .. {LAST_DAY}" in out
    assert plan_run(Settings.from_env(home)).days is None

    full = Path(shutil.copytree(demo_home, tmp_path / "full"))
    shutil.copyfile(home / CHANGED_FILE, full / CHANGED_FILE)
    assert main(["run", "--all", "--home", str(full)]) == 0
    assert windows(home).equals(windows(full))


def test_a_changed_contract_reruns_every_day(home: Path) -> None:
    contract = home / "contracts" / "acme-cloud.yaml"
    contract.write_text(contract.read_text().replace("target: 99.95%", "target: 99.9%", 1))
    changes = plan_run(Settings.from_env(home))
    assert changes.reason == "the definitions changed"
    assert changes.days == (date(2026, 10, 20), LAST_DAY)


def test_a_removed_file_reruns_from_its_day(home: Path) -> None:
    (home / CHANGED_FILE).unlink()
    changes = plan_run(Settings.from_env(home))
    assert changes.days == (CHANGED_DAY, LAST_DAY)


@pytest.mark.slow
def test_a_file_that_failed_is_still_named_when_nothing_is_new(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = home / "landing" / "requests" / f"junk-{LAST_DAY}.csv"
    junk.write_bytes(bytes(range(256)) * 4)
    assert main(["run", "--home", str(home)]) == 3  # runs only its day, names it
    capsys.readouterr()
    assert main(["run", "--home", str(home)]) == 3  # nothing new, the failure is still there
    captured = capsys.readouterr()
    assert "nothing new since the last run" in captured.out
    assert f"error: landing file still not loaded: requests/junk-{LAST_DAY}.csv: " in captured.err


def test_a_run_is_not_recorded_while_another_process_holds_the_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    assert record_run(path, LAST_DAY, LAST_DAY, "a")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys; c=duckdb.connect({str(path)!r}); "
            "print('open', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "open\n"
        assert not record_run(path, LAST_DAY, LAST_DAY, "b")
    finally:
        holder.communicate("")
    with connect(path, read_only=True) as con:
        assert query(con, "SELECT definitions_sha256 FROM ops.runs")[
            "definitions_sha256"
        ].to_list() == ["a"]
