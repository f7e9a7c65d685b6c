"""`pledge demo --days 14` in a temporary home, checked against the landing files themselves."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipelines import warehouse
from pipelines.cli import main
from pipelines.demo.ticket_texts import SCRIPTED_DESCRIPTIONS, SHORT_DESCRIPTIONS

TABLES = (
    "raw.requests",
    "raw.latency_buckets",
    "raw.probes",
    "raw.rejects",
    "ops.ingested_files",
    "sla.objectives",
    "sla.slices",
    "sla.windows",
    "sla.burn_rates",
    "sla.alerts",
    "sla.credits",
    "sla.corrections",
    "sla.outcomes",
    "sla.ticket_timers",
    "predict.forecasts",
    "predict.breach_risk",
    "predict.anomalies",
    "predict.root_causes",
    "predict.capacity",
)


@pytest.fixture(scope="module")
def home(demo_home: Path) -> Path:
    return demo_home


def window(home: Path, contract_id: str, objective_id: str, label: str) -> dict:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        frame = con.sql(
            "SELECT * FROM sla.windows WHERE contract_id = ? AND objective_id = ? AND window_label = ?",
            params=[contract_id, objective_id, label],
        ).pl()
    assert frame.height == 1, frame
    return frame.row(0, named=True)


def row_counts(home: Path) -> dict[str, int]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in TABLES
        }


def test_outage_window_is_breached_with_the_attainment_of_the_landing_files(home: Path):
    truth = json.loads((home / "ground_truth.json").read_text())
    outage = next(event for event in truth["events"] if event["kind"] == "hard_outage")
    assert (outage["objective_id"], outage["window_label"]) == ("compute-availability", "2026-10")

    # Recomputed from the CSVs alone: October in the contract's zone, good = requests − errors.
    landing = pl.read_csv(home / "landing" / "requests" / "*.csv")
    october = landing.filter(
        (pl.col("service") == "compute-api")
        & (
            pl.col("timestamp")
            .str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
            .dt.convert_time_zone("Europe/Berlin")
            .dt.strftime("%Y-%m")
            == "2026-10"
        )
    )
    good = (october["requests"] - october["errors"]).sum()
    total = october["requests"].sum()

    measured = window(home, "acme-cloud", "compute-availability", "2026-10")
    assert measured["is_complete"] is True
    assert measured["status"] == "breached"
    assert (measured["good"], measured["total"]) == (good, total)
    assert measured["attainment"] == pytest.approx(good / total, rel=1e-12)
    assert measured["attainment"] < 0.9995
    assert measured["budget_remaining"] == pytest.approx(1 - (total - good) / (0.0005 * total))


def test_the_maintenance_is_excluded_and_the_window_met(home: Path):
    measured = window(home, "acme-cloud", "storage-uptime", "2026-10")
    assert measured["status"] == "met"
    assert measured["excluded_minutes"] == 180
    assert measured["attainment"] == 1.0


def local_month(column: str) -> pl.Expr:
    return (
        pl.col(column)
        .str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
        .dt.convert_time_zone("Europe/Berlin")
        .dt.strftime("%Y-%m")
    )


def test_missed_backup_breaches_rpo_by_the_gap_in_the_landing_files(home: Path):
    runs = pl.read_csv(home / "landing" / "backups" / "*.csv").filter(pl.col("success"))
    finished = runs["finished_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC").sort()
    october_end = datetime(2026, 10, 31, 23, tzinfo=UTC)  # Berlin midnight, 1 November
    # The largest exposure reached in October: gaps between good backups, clipped at its end.
    gaps = [
        (min(later, october_end) - earlier).total_seconds()
        for earlier, later in zip(finished, finished[1:], strict=False)
        if earlier < october_end
    ]
    measured = window(home, "security-and-backup", "orders-rpo", "2026-10")
    assert measured["status"] == "breached" and measured["unit"] == "seconds"
    assert measured["measured"] == max(gaps) > 26 * 3600


def test_current_rpo_exposure_is_the_time_since_the_last_good_backup(home: Path, demo_end: date):
    runs = pl.read_csv(home / "landing" / "backups" / "*.csv").filter(pl.col("success"))
    last_good = runs["finished_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC").max()
    # the last evidence minute's end
    as_of = datetime(demo_end.year, demo_end.month, demo_end.day, tzinfo=UTC)
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    event = instance.get_latest_materialization_event(dg.AssetKey(["sla", "outcomes"]))
    metadata = event.asset_materialization.metadata
    exposure = metadata["rpo_exposure_hours_security-and-backup_orders-rpo"].value
    assert exposure == round((as_of - last_good).total_seconds() / 3600, 2)


def test_slow_containment_breaches_the_mean_of_the_landing_files(home: Path):
    incidents = pl.read_csv(home / "landing" / "security" / "*.csv").filter(
        local_month("contained_at") == "2026-10"
    )
    contain = (
        incidents["contained_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
        - incidents["detected_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
    ).dt.total_seconds()
    measured = window(home, "security-and-backup", "time-to-contain", "2026-10")
    assert measured["status"] == "breached"
    assert measured["total"] == incidents.height
    assert measured["measured"] == pytest.approx(contain.mean(), rel=1e-12)


def test_nps_dip_breaches_with_the_score_of_the_landing_files(home: Path):
    answers = pl.read_csv(home / "landing" / "surveys" / "*.csv").filter(
        (pl.col("survey") == "nps") & (local_month("responded_at") == "2026-10")
    )
    promoters = (answers["score"] >= 9).sum()
    detractors = (answers["score"] <= 6).sum()
    measured = window(home, "service-desk", "nps", "2026-10")
    assert measured["status"] == "breached" and measured["unit"] == "points"
    assert measured["measured"] == pytest.approx(100 * (promoters - detractors) / answers.height)
    assert measured["interval_low"] < measured["measured"] < measured["interval_high"]


def test_every_current_window_has_a_breach_risk(home: Path):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        risks = con.sql(
            "SELECT contract_id, objective_id, window_label, p_breach, method "
            "FROM predict.breach_risk"
        ).pl()
        current = con.sql(
            "SELECT w.contract_id, w.objective_id, w.window_label, "
            "CASE WHEN w.status = 'insufficient_data' THEN 'insufficient_data' "
            "WHEN sli_method IN ('requests', 'probes', 'histogram') THEN 'forecast' "
            "ELSE 'item_simulation' END AS method "
            "FROM sla.windows AS w JOIN sla.objectives USING (contract_id, objective_id) "
            "WHERE NOT w.is_complete"
        ).pl()
        item_series = con.sql(
            "SELECT DISTINCT objective_id, series FROM predict.forecasts "
            "WHERE series IN ('items', 'measured')"
        ).pl()
    assert risks.drop("p_breach").sort(pl.all()).equals(current.sort(pl.all()))
    assert risks["p_breach"].is_between(0, 1).all()
    # one missed backup (a 48 h gap) in the 13 days before: over the 28 days left of November, a
    # 26 h RPO is likely to see another one, so the window turns at_risk
    assert risks.filter(objective_id="orders-rpo")["p_breach"].item() > 0.5
    assert window(home, "security-and-backup", "orders-rpo", "2026-11")["status"] == "at_risk"
    assert set(item_series.filter(objective_id="mttr")["series"]) == {"items", "measured"}
    # Two days into November the NPS has too few responses to be judged: its risk is unknown.
    assert window(home, "service-desk", "nps", "2026-11")["status"] == "insufficient_data"
    assert risks.filter(objective_id="nps").select("p_breach", "method").rows() == [
        (None, "insufficient_data")
    ]


def test_the_database_ranks_first_for_the_payments_burn(home: Path):
    truth = json.loads((home / "ground_truth.json").read_text())
    failure = next(event for event in truth["events"] if event["kind"] == "dependency_failure")
    with warehouse.connect(home / "warehouse.duckdb", read_only=True) as con:
        hints = warehouse.query(
            con,
            "SELECT episode_start, episode_end, member FROM predict.root_causes "
            "WHERE objective_id = 'payments-availability' AND rank = 1",
        )
    start = datetime.fromisoformat(failure["start"])
    during = hints.filter(
        (pl.col("episode_start") <= start + timedelta(hours=1)) & (pl.col("episode_end") >= start)
    )
    assert during["member"].to_list() == ["payments-db"]


def test_credits_owed_for_the_breached_window(home: Path):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        credits = con.execute(
            "SELECT credit_pct, credit_amount, currency FROM sla.credits "
            "WHERE objective_id = 'compute-availability' AND window_label = '2026-10'"
        ).fetchall()
    # 99.0% ≤ attainment < 99.95% → tier 1: 10% of the 48,000 EUR monthly fee.
    assert credits == [(0.10, 4800.0, "EUR")]


def test_reports_are_written_for_every_contract(home: Path):
    reports = home / "reports"
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        objectives = con.execute("SELECT contract_id, objective_id FROM sla.objectives").fetchall()
    assert len(objectives) == 21
    names = {path.name for path in reports.iterdir()}
    assert {name for name in names if name.endswith(".html")} == {
        "index.html",
        "rejects.html",
        "contract-acme-cloud.html",
        "contract-paylane-payments.html",
        "contract-platform-team.html",
        "contract-service-desk.html",
        "contract-security-and-backup.html",
        *(f"objective-{contract}~{objective}.html" for contract, objective in objectives),
    }
    assert {"plotly.min.js", "credits-ledger.csv", ".snapshot.json"} <= names
    assert "Acme Cloud hosting agreement" in (reports / "index.html").read_text()


def test_running_again_over_the_same_landing_folder_changes_no_row_count(
    home: Path, tmp_path: Path
):
    home = shutil.copytree(home, tmp_path / "home")  # the shared demo home stays as built
    before = row_counts(home)
    assert before["raw.rejects"] == 0
    assert before["raw.requests"] == 14 * 1440 * 7  # 6 measured services and payments-db
    assert main(["run", "--all", "--home", str(home)]) == 0
    assert row_counts(home) == before


def test_the_ticket_drill_downs_carry_the_short_descriptions(home: Path):
    """Every ticket listed for the desk's resolution objective has its demo description in the
    items CSV (the ``detail`` column), as the landing files give it."""
    items = pl.read_csv(home / "reports/objective-service-desk~p1-p2-resolution-items.csv")
    texts = {text for texts in SHORT_DESCRIPTIONS.values() for text in texts}
    assert items.height > 0
    assert set(items["detail"]) <= texts | set(SCRIPTED_DESCRIPTIONS.values())
