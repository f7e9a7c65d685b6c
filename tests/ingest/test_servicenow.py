"""The real ServiceNow incident event log (examples/sources/servicenow-incidents.yaml) imports with
every incident accounted for, and the full log's size imports in seconds."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines import warehouse
from pipelines.contracts.sources import load_sources
from pipelines.ingest.load import ingest_partition
from pipelines.settings import REPO_ROOT

SAMPLE = REPO_ROOT.parent / "shared/datasets/incidents-sample/incident_event_log_sample.csv"
FULL_LOG_ROWS = 141_712
DAY = date(2016, 3, 1)

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason=f"{SAMPLE} is absent")


@pytest.fixture
def servicenow():
    return load_sources(REPO_ROOT / "examples/sources/servicenow-incidents.yaml")["servicenow"]


def ingest(tmp_path: Path, servicenow, incident_log: pl.DataFrame | bytes | None = None) -> float:
    """Land the log (the sample unless given, as a frame or bytes) as one day's export and ingest
    it; the seconds."""
    landing = tmp_path / "landing" / "servicenow"
    landing.mkdir(parents=True)
    target = landing / f"incidents-{DAY}.csv"
    if isinstance(incident_log, pl.DataFrame):
        incident_log.write_csv(target)
    else:
        target.write_bytes(SAMPLE.read_bytes() if incident_log is None else incident_log)
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        started = time.perf_counter()
        ingest_partition(con, "servicenow", servicenow, tmp_path / "landing", DAY, {"service-desk"})
        return time.perf_counter() - started


def accounted(tmp_path: Path) -> tuple[int, int, set[str]]:
    """(events loaded, rows rejected, incident numbers found in either)."""
    with warehouse.connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        loaded = warehouse.query(con, "SELECT ticket_id FROM raw.ticket_events")["ticket_id"]
        rejected = warehouse.query(con, "SELECT item_id FROM raw.rejects")["item_id"]
    return loaded.len(), rejected.len(), set(loaded) | set(rejected)


def test_every_incident_of_the_sample_is_loaded_or_rejected(tmp_path: Path, servicenow) -> None:
    ingest(tmp_path, servicenow)

    events, rejects, incidents = accounted(tmp_path)
    assert events + rejects == 5_998
    assert len(incidents) == 890
    with warehouse.connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        # INC0000045's four updates, the first at its creation (sys_updated_at), as in the file
        assert con.execute(
            "SELECT state, strftime(ts, '%Y-%m-%d %H:%M'), priority, reassignment_count"
            " FROM raw.ticket_events WHERE ticket_id = 'INC0000045' ORDER BY ts, seq"
        ).fetchall() == [
            ("New", "2016-02-29 01:23", "3 - Moderate", 0),
            ("Resolved", "2016-02-29 08:53", "3 - Moderate", 0),
            ("Resolved", "2016-02-29 11:29", "3 - Moderate", 0),
            ("Closed", "2016-03-05 12:00", "3 - Moderate", 0),
        ]
        # resolved_at is "?" on 59 rows: null, not a reject
        assert con.execute(
            "SELECT count(*) FROM raw.ticket_events WHERE resolved_at IS NULL"
        ).fetchall() == [(59,)]


def test_the_full_log_size_imports_in_seconds(tmp_path: Path, servicenow) -> None:
    sample = pl.read_csv(SAMPLE, infer_schema=False)
    copies = -(-FULL_LOG_ROWS // sample.height)
    full_log = pl.concat(
        sample.with_columns(number=pl.col("number") + f"-{copy}") for copy in range(copies)
    ).head(FULL_LOG_ROWS)

    seconds = ingest(tmp_path, servicenow, full_log)

    events, rejects, incidents = accounted(tmp_path)
    assert events + rejects == FULL_LOG_ROWS
    assert len(incidents) == full_log["number"].n_unique()
    print(f"{FULL_LOG_ROWS} rows ingested in {seconds:.2f} s")
    assert seconds < 20


def test_a_latin1_byte_in_the_log_rejects_its_line_only(tmp_path: Path, servicenow) -> None:
    lines = SAMPLE.read_bytes().split(b"\n")
    assert lines[99].startswith(b"INC0000") and lines[99].count(b"Caller") == 1
    lines[99] = lines[99].replace(b"Caller", "Callér".encode("latin-1"))
    ingest(tmp_path / "clean", servicenow)

    ingest(tmp_path / "damaged", servicenow, b"\n".join(lines))

    clean_events, clean_rejects, incidents = accounted(tmp_path / "clean")
    assert accounted(tmp_path / "damaged") == (clean_events - 1, clean_rejects + 1, incidents)
    with warehouse.connect(tmp_path / "damaged/warehouse.duckdb", read_only=True) as con:
        assert con.execute(
            "SELECT line, reason, item_id FROM raw.rejects WHERE reason = 'not valid utf-8'"
        ).fetchall() == [(100, "not valid utf-8", lines[99].split(b",")[0].decode())]
        assert con.execute(
            "SELECT rows_in, rows_loaded, rows_rejected FROM ops.ingested_files"
        ).fetchall() == [(5_998, clean_events - 1, clean_rejects + 1)]
