"""The SLA assets on a tmp warehouse: objectives, a day of slices, windows and credits."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
from sla_support import requests, utc

from pipelines import warehouse
from pipelines.resources import PledgeHome
from pipelines.sla.assets import sla_objectives, sla_slices, sla_windows

CONTRACT = """
id: shop
title: Shop API
provider: Vendor
consumer: Us
time_zone: UTC
monthly_fee: 1000
services: [{id: api}]
objectives:
  - id: avail
    service: api
    sli: {kind: availability, evidence: requests}
    target: 99%
    window: day
    credits:
      tiers: [{below: 99%, credit: 10%}]
"""

BROKEN = """
id: broken
title: Broken
provider: V
consumer: U
services: [{id: api}]
objectives:
  - {id: x, service: nowhere, sli: {kind: availability}, target: 99%}
"""


def test_assets_materialize_on_a_tmp_warehouse(tmp_path: Path) -> None:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "shop.yaml").write_text(CONTRACT)
    (tmp_path / "contracts" / "broken.yaml").write_text(BROKEN)
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  web: {kind: requests, path: web/*.csv, format: xlsx}\n"
    )
    home = PledgeHome(home=str(tmp_path))
    raw = pl.concat(
        [
            requests(utc(2026, 3, 1, 0, 0), 1440, total=10, errors=0),
            requests(utc(2026, 3, 2, 0, 0), 60, total=10, errors=1),
        ]
    ).with_columns(
        partition_date=pl.col("ts").dt.date(), source=pl.lit("test"), file=pl.lit("t.csv")
    )
    with home.connect() as con:
        warehouse.insert_frame(con, "raw.requests", raw)

    objectives = dg.materialize([sla_objectives], resources={"pledge": home})
    assert objectives.success
    metadata = objectives.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["objectives"].value == 1
    assert "broken.yaml" in metadata["invalid_contract_problems"].value
    assert "sources.yaml:2: sources.web.format:" in metadata["invalid_source_problems"].value

    for day in ("2026-03-01", "2026-03-02"):
        assert dg.materialize([sla_slices], partition_key=day, resources={"pledge": home}).success
    # A rerun of a partition replaces it.
    assert dg.materialize(
        [sla_slices], partition_key="2026-03-02", resources={"pledge": home}
    ).success
    windows_run = dg.materialize([sla_windows], resources={"pledge": home})
    assert windows_run.success
    metadata = windows_run.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["status_met"].value == 1 and metadata["status_breaching"].value == 1

    with home.connect(read_only=True) as con:
        slices = warehouse.query(
            con, "SELECT partition_date, count(*) AS n, sum(total) AS total FROM sla.slices "
            "GROUP BY ALL ORDER BY 1"
        )  # fmt: skip
        windows = warehouse.query(con, "SELECT * FROM sla.windows ORDER BY window_start")
        credits = warehouse.query(con, "SELECT * FROM sla.credits ORDER BY window_start")
        objectives_rows = warehouse.query(con, "SELECT * FROM sla.objectives")
    assert slices.rows() == [(date(2026, 3, 1), 288, 14400.0), (date(2026, 3, 2), 12, 600.0)]
    assert windows.select("window_label", "good", "total", "status", "as_of").rows() == [
        ("2026-03-01", 14400.0, 14400.0, "met", utc(2026, 3, 2, 1)),
        ("2026-03-02", 540.0, 600.0, "breaching", utc(2026, 3, 2, 1)),
    ]
    assert credits.select("window_label", "credit_amount", "is_complete").rows() == [
        ("2026-03-01", 0.0, True),
        ("2026-03-02", 100.0, False),
    ]
    assert objectives_rows.select("contract_id", "objective_id", "unit").rows() == [
        ("shop", "avail", "events")
    ]


def test_a_day_from_noon_goes_through_the_warehouse(tmp_path: Path) -> None:
    """``window: {period: day, start: ...12:00}``: sla.objectives keeps the anchor and the days
    run from 12:00 UTC; credits count each in the month of its start."""
    (tmp_path / "contracts").mkdir()
    noon = CONTRACT.replace("window: day", 'window: {period: day, start: "2026-01-01T12:00"}')
    (tmp_path / "contracts" / "shop.yaml").write_text(noon)
    home = PledgeHome(home=str(tmp_path))
    raw = pl.concat(
        [
            requests(utc(2026, 3, 1, 0, 0), 1440, total=10, errors=0),
            requests(utc(2026, 3, 2, 0, 0), 60, total=10, errors=1),
        ]
    ).with_columns(partition_date=pl.col("ts").dt.date(), source=pl.lit("t"), file=pl.lit("t"))
    with home.connect() as con:
        warehouse.insert_frame(con, "raw.requests", raw)
    assert dg.materialize([sla_objectives], resources={"pledge": home}).success
    for day in ("2026-03-01", "2026-03-02"):
        assert dg.materialize([sla_slices], partition_key=day, resources={"pledge": home}).success
    assert dg.materialize([sla_windows], resources={"pledge": home}).success
    with home.connect(read_only=True) as con:
        anchor = warehouse.query(con, "SELECT window_anchor FROM sla.objectives")
        windows = warehouse.query(con, "SELECT * FROM sla.windows ORDER BY window_start")
        credits = warehouse.query(con, "SELECT * FROM sla.credits ORDER BY window_start")
    assert anchor.item() == datetime(2026, 1, 1, 12)
    assert windows.select("window_label", "window_start", "good", "total").rows() == [
        ("2026-02-28", utc(2026, 2, 28, 12), 7200.0, 7200.0),
        ("2026-03-01", utc(2026, 3, 1, 12), 7740.0, 7800.0),
    ]
    assert credits["contract_window"].to_list() == ["2026-02", "2026-03"]
