from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest
from ruamel.yaml import YAML

from pipelines import warehouse
from pipelines.report.assets import read_report_tables, report_html
from pipelines.report.render import REPORT_TABLES
from pipelines.resources import PledgeHome

PREDICT_TABLES = ("breach_risk", "forecasts", "root_causes", "anomalies", "capacity")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, contract_documents, tables) -> PledgeHome:
    """A Pledge home holding the three contracts and a warehouse filled with the fixture frames."""
    for variable in ("PLEDGE_HOME", "PLEDGE_CONTRACTS", "PLEDGE_WAREHOUSE", "PLEDGE_REPORTS"):
        monkeypatch.delenv(variable, raising=False)
    pledge = PledgeHome(home=str(tmp_path))
    settings = pledge.settings
    settings.contracts_dir.mkdir(parents=True)
    for document in contract_documents:
        YAML(typ="safe").dump(document, settings.contracts_dir / f"{document['id']}.yaml")
    with warehouse.connect(settings.warehouse_path) as con:
        for name, frame in tables.items():
            schema = "predict" if name in PREDICT_TABLES else "sla"
            warehouse.insert_frame(con, f"{schema}.{name}", frame)
    return pledge


def test_report_asset_renders_the_warehouse_read_only(home: PledgeHome):
    result = dg.materialize([report_html], resources={"pledge": home})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == dg.AssetKey(["report", "html"])
    metadata = event.materialization.metadata
    index = home.settings.reports_dir / "index.html"
    assert metadata["index"] == dg.MetadataValue.path(str(index))
    assert index.exists() and (index.parent / "plotly.min.js").exists()
    ledger = index.parent / "credits-ledger.csv"
    assert metadata["credits_ledger"] == dg.MetadataValue.path(str(ledger))
    rejects = index.parent / "rejects.html"
    assert metadata["rejects_page"] == dg.MetadataValue.path(str(rejects))
    assert "No line was rejected." in rejects.read_text(encoding="utf-8")
    paths = ("index", "credits_ledger", "rejects_page")
    kpis = {key: metadata[key].value for key in metadata if key not in paths}
    assert kpis == {
        "contracts": 3,
        "objectives": 4,
        "objective_pages": 4,
        "changes_since_last_report": 0,
        "breached_windows": 1,
        "objectives_at_risk": 1,
        "objectives_breaching": 1,
        "credits_total_EUR": 12000.0,
        "credits_total_USD": 0.0,
    }
    page = (index.parent / "contract-paylane.html").read_text(encoding="utf-8")
    assert "99.850%" in page
    objective = index.parent / "objective-paylane~payments-availability.html"
    assert 'id="payments-availability-burn"' in objective.read_text(encoding="utf-8")
    storage = index.parent / "objective-acme-cloud~storage-uptime.html"
    assert '"name":"forecast (expected)"' in storage.read_text(encoding="utf-8")


def test_only_the_current_windows_slices_and_the_last_14_days_of_burn_rates_are_read(
    home: PledgeHome, tables
):
    with warehouse.connect(home.settings.warehouse_path) as con:
        # A February slice (a complete window) and a burn rate 20 days before the last one.
        warehouse.insert_frame(
            con, "sla.slices", tables["slices"].head(1).with_columns(slice_start=utc(2026, 2, 10))
        )
        warehouse.insert_frame(
            con, "sla.burn_rates", tables["burn_rates"].head(1).with_columns(ts=utc(2026, 2, 18))
        )
    with home.connect(read_only=True) as con:
        read = read_report_tables(con)
    assert sorted(read) == sorted(REPORT_TABLES)
    assert read["slices"].height == tables["slices"].height
    assert read["slices"]["slice_start"].min() == utc(2026, 2, 28, 23)
    assert read["burn_rates"].height == tables["burn_rates"].height
    assert (
        read["windows"]
        .select(tables["windows"].columns)
        .sort("contract_id", "objective_id", "window_start")
        .equals(tables["windows"].sort("contract_id", "objective_id", "window_start"))
    )


def test_only_the_points_flagged_anomalous_of_the_last_14_days_are_read(home: PledgeHome, tables):
    anomalies = tables["anomalies"]
    with warehouse.connect(home.settings.warehouse_path) as con:
        # A point not flagged, and a flagged one 15 days before the last scored point.
        warehouse.insert_frame(
            con, "predict.anomalies", anomalies.head(1).with_columns(is_anomaly=False)
        )
        warehouse.insert_frame(
            con, "predict.anomalies", anomalies.head(1).with_columns(ts=utc(2026, 2, 22, 20, 40))
        )
    with home.connect(read_only=True) as con:
        read = read_report_tables(con)
    assert read["anomalies"].sort("ts").select("member", "metric", "ts", "score").rows() == (
        anomalies.sort("ts").select("member", "metric", "ts", "score").rows()
    )
    assert read["root_causes"].height == tables["root_causes"].height
    assert read["capacity"]["runs_out_at"].to_list() == [date(2026, 5, 1), None]
