"""The landing sensor on an ephemeral instance over a temporary landing folder."""

import json
import os
import time
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
import pytest

from pipelines import warehouse
from pipelines.definitions import defs
from pipelines.ops.jobs import PARTITION_RANGE_END, PARTITION_RANGE_START
from pipelines.ops.sensors import LandingCursor, day_ranges, landing_sensor, pending_files
from pipelines.resources import PledgeHome

SOURCES = """\
sources:
  requests:
    kind: requests
    path: requests/*.csv
    format: csv
  surveys:
    kind: survey_responses
    path: surveys/*.csv
    format: csv
"""


@pytest.fixture
def home(tmp_path):
    (tmp_path / "sources.yaml").write_text(SOURCES)
    (tmp_path / "landing" / "requests").mkdir(parents=True)
    (tmp_path / "landing" / "surveys").mkdir(parents=True)
    return tmp_path


def evaluate(home, cursor=None):
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        definitions=defs,
        resources={"pledge": PledgeHome(home=str(home))},
    ) as context:  # the resource is a context manager (its runs' working copy)
        result = landing_sensor.evaluate_tick(context)
    return result.run_requests or [], result.cursor


def drop(home, name, text="ts,service,total,errors\n"):
    path = home / "landing" / name
    path.write_text(text)
    return path


def test_a_new_file_starts_one_run_for_its_day_and_only_once(home):
    drop(home, "requests/requests-2026-11-20.csv")
    [request], cursor = evaluate(home)
    assert request.partition_key == "2026-11-20"
    assert request.job_name in (None, "ingest_and_windows")
    assert request.run_key.startswith("landing-2026-11-20-2026-11-20-")
    assert json.loads(cursor)["files"].keys() == {"requests/requests-2026-11-20.csv"}

    again, cursor_again = evaluate(home, cursor)
    assert again == []
    assert cursor_again == cursor


def test_a_changed_file_starts_another_run(home):
    path = drop(home, "requests/requests-2026-11-20.csv")
    [first], cursor = evaluate(home)
    path.write_text("ts,service,total,errors\n2026-11-20T00:00:00Z,api,10,0\n")
    [second], _ = evaluate(home, cursor)
    assert second.partition_key == "2026-11-20"
    assert second.run_key != first.run_key


def test_files_of_consecutive_days_start_one_run_per_range(home):
    drop(home, "requests/requests-2026-11-20.csv")
    drop(home, "surveys/surveys-2026-11-21.csv", "service,response_id,ts,survey,score\n")
    drop(home, "requests/requests-2026-11-24.csv")
    drop(home, "requests/notes.csv")  # no date: belongs to no partition
    ranged, single = evaluate(home)[0]
    assert ranged.tags[PARTITION_RANGE_START] == "2026-11-20"
    assert ranged.tags[PARTITION_RANGE_END] == "2026-11-21"
    assert single.partition_key == "2026-11-24"


def test_a_day_outside_the_partitions_is_not_requested(home):
    drop(home, "requests/requests-1999-01-01.csv")
    requests, _ = evaluate(home)
    assert requests == []


def test_missing_landing_folder_or_sources_skip(tmp_path):
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        resources={"pledge": PledgeHome(home=str(tmp_path))},
    ) as context:
        result = landing_sensor.evaluate_tick(context)
    assert result.run_requests == []
    assert "no sources file" in result.skip_message


def record_ingested(home, name, at):
    """The row an ingest writes into ops.ingested_files for a loaded landing file."""
    frame = pl.DataFrame(
        [(name, "requests", "loaded", 0, 0, at)],
        schema={
            "file": pl.String,
            "source": pl.String,
            "status": pl.String,
            "rows_loaded": pl.Int64,
            "rows_rejected": pl.Int64,
            "ingested_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )
    with warehouse.connect(home / "warehouse.duckdb") as con:
        warehouse.insert_frame(con, "ops.ingested_files", frame)


def test_files_already_ingested_are_not_requested_whatever_their_mtime(home):
    ingested = drop(home, "requests/requests-2026-11-01.csv")
    copied = drop(home, "requests/requests-2026-11-02.csv")
    record_ingested(home, "requests/requests-2026-11-01.csv", datetime.now(UTC))
    # copied in later, its old mtime kept (cp -p): still pending, as never ingested
    os.utime(copied, ns=(ingested.stat().st_mtime_ns - 10**12,) * 2)
    [request], cursor = evaluate(home)
    assert request.partition_key == "2026-11-02"
    assert set(LandingCursor.parse(cursor).files) == {"requests/requests-2026-11-02.csv"}
    # once ingested, the cursor forgets it and nothing is requested
    record_ingested(home, "requests/requests-2026-11-02.csv", datetime.now(UTC))
    requests, cursor = evaluate(home, cursor)
    assert requests == []
    assert LandingCursor.parse(cursor).files == {}
    # edited after its ingest: pending again
    ingested.write_text("ts,service,total,errors\n2026-11-01T00:00:00Z,api,10,0\n")
    os.utime(ingested, ns=(time.time_ns() + 10**9,) * 2)
    [request], _ = evaluate(home, cursor)
    assert request.partition_key == "2026-11-01"


def test_pending_files_and_day_ranges():
    at = datetime(2026, 11, 20, tzinfo=UTC)
    ns = int(at.timestamp()) * 10**9
    current = {"a": (ns - 1, 5), "b": (ns + 1, 7), "c": (ns, 9)}
    assert pending_files(current, {"a": at, "b": at}) == {"b": (ns + 1, 7), "c": (ns, 9)}
    cursor = LandingCursor({"b": (ns + 1, 7)})
    assert LandingCursor.parse(cursor.dump()) == cursor
    days = {date(2026, 11, d) for d in (1, 2, 3, 5, 7, 8)}
    assert day_ranges(days) == [
        (date(2026, 11, 1), date(2026, 11, 3)),
        (date(2026, 11, 5), date(2026, 11, 5)),
        (date(2026, 11, 7), date(2026, 11, 8)),
    ]
