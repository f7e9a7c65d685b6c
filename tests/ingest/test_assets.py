"""The ingest assets materialised with Dagster on a tiny home in tmp_path."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines import warehouse
from pipelines.ingest.assets import ingest_assets
from pipelines.resources import PledgeHome

CONTRACT = """
id: tiny
title: Tiny agreement
provider: Vendor
consumer: Us
services:
  - {id: api}
objectives:
  - id: api-availability
    service: api
    sli: {kind: availability, evidence: requests}
    target: 99.9%
"""

SOURCES = """
sources:
  web:
    kind: requests
    path: requests/*.csv
    format: csv
    columns: {ts: timestamp, total: requests}
  latency:
    kind: histogram
    path: latency/*.parquet
    format: parquet
    columns: {ts: timestamp}
  checks:
    kind: probes
    path: probes/*.csv
    format: csv
    columns: {ts: timestamp, up: success}
  desk:
    kind: tickets
    layout: snapshot
    path: tickets/*.csv
    format: csv
    service: api
    missing: "?"
  surveys:
    kind: survey_responses
    path: surveys/*.csv
    format: csv
"""


@pytest.fixture
def home(tmp_path: Path, write) -> Path:
    write(tmp_path / "contracts/tiny.yaml", CONTRACT.encode())
    write(tmp_path / "sources.yaml", SOURCES.encode())
    landing = tmp_path / "landing"
    for day in ("2026-11-20", "2026-11-21"):
        write(
            landing / f"requests/requests-{day}.csv",
            f"""
            timestamp,service,requests,errors
            {day}T00:00:00Z,api,100,1
            {day}T00:01:00+01:00,api,50,0
            {day}T00:02:00Z,mystery,10,0
            """,
        )
        write(
            landing / f"probes/probes-{day}.csv",
            f"timestamp,service,location,success\n{day}T00:00:00Z,api,fra,true",
        )
        write(
            landing / f"tickets/tickets-{day}.csv",
            f"ticket_id,opened_at,resolved_at\nT1,2026-11-20T09:00:00Z,?\nT2,{day}T10:00:00Z,?",
        )
        write(
            landing / f"surveys/surveys-{day}.csv",
            f"service,response_id,ts,survey,score\napi,{day},{day}T10:00:00Z,nps,9",
        )
        minute = datetime.fromisoformat(f"{day}T00:00:00+00:00")
        (landing / "latency").mkdir(exist_ok=True)
        pl.DataFrame(
            {
                "timestamp": [minute] * 2,
                "service": ["api"] * 2,
                "le": ["0.5", "+Inf"],
                "count": [8, 10],
            }
        ).write_parquet(landing / f"latency/latency-{day}.parquet")
    return tmp_path


def materialize(home: Path, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(ingest_assets, resources={"pledge": PledgeHome(home=str(home))}, **kwargs)


def table(home: Path, sql: str) -> list[tuple]:
    with warehouse.connect(home / "warehouse.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def test_one_partition(home: Path) -> None:
    result = materialize(home, partition_key="2026-11-20")

    assert result.success
    assert table(home, "SELECT ts, service, total, errors FROM raw.requests ORDER BY ts") == [
        (datetime(2026, 11, 19, 23, 1, tzinfo=UTC), "api", 50, 0),
        (datetime(2026, 11, 20, 0, 0, tzinfo=UTC), "api", 100, 1),
    ]
    assert table(home, "SELECT le_seconds, count FROM raw.latency_buckets ORDER BY le_seconds") == [
        (0.5, 8),
        (float("inf"), 10),
    ]
    assert table(home, "SELECT service, location, up FROM raw.probes") == [("api", "fra", True)]
    assert table(home, "SELECT source, line, reason FROM raw.rejects") == [
        ("web", 4, "unknown service")
    ]
    metadata = {
        node: result.asset_materializations_for_node(f"raw__{node}")[0].metadata
        for node in ("requests", "latency_buckets")
    }
    assert metadata["requests"]["rows_loaded"].value == 2
    assert metadata["requests"]["rows_rejected"].value == 1
    assert metadata["requests"]["files_loaded"].value == 1
    assert metadata["requests"]["files_failed"].value == 0
    assert metadata["latency_buckets"]["rows_loaded"].value == 2


def test_a_single_run_over_two_days(home: Path) -> None:
    result = materialize(
        home,
        tags={
            "dagster/asset_partition_range_start": "2026-11-20",
            "dagster/asset_partition_range_end": "2026-11-21",
        },
    )

    assert result.success
    assert table(
        home, "SELECT partition_date, count(*) FROM raw.requests GROUP BY ALL ORDER BY 1"
    ) == [
        (date(2026, 11, 20), 2),
        (date(2026, 11, 21), 2),
    ]
    assert table(home, "SELECT count(*) FROM ops.ingested_files WHERE status = 'loaded'") == [(10,)]

    materialize(home, partition_key="2026-11-21")
    assert table(home, "SELECT count(*) FROM raw.requests") == [(4,)]


def test_every_evidence_kind_has_a_daily_raw_asset(home: Path) -> None:
    assert sorted(key.to_user_string() for a in ingest_assets for key in a.keys) == [
        "raw/backup_runs",
        "raw/latency_buckets",
        "raw/latency_samples",
        "raw/probes",
        "raw/requests",
        "raw/restore_tests",
        "raw/security_incidents",
        "raw/survey_responses",
        "raw/ticket_events",
    ]
    result = materialize(
        home,
        tags={
            "dagster/asset_partition_range_start": "2026-11-20",
            "dagster/asset_partition_range_end": "2026-11-21",
        },
    )

    assert result.success
    assert table(home, "SELECT count(*) FROM raw.ticket_events") == [(4,)]
    assert table(
        home, "SELECT ticket_id, partition_date FROM raw.latest_ticket_events ORDER BY 1, 2"
    ) == [("T1", date(2026, 11, 21)), ("T2", date(2026, 11, 20)), ("T2", date(2026, 11, 21))]
    assert table(home, "SELECT response_id, score FROM raw.survey_responses ORDER BY 1") == [
        ("2026-11-20", 9.0),
        ("2026-11-21", 9.0),
    ]
    metadata = result.asset_materializations_for_node("raw__ticket_events")[0].metadata
    assert metadata["rows_loaded"].value == 4
    assert metadata["files_loaded"].value == 2
