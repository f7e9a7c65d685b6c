"""What changed since the last report: the snapshot diff and the pages that show it."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.report.changes import (
    SNAPSHOT_SCHEMA,
    changes_since,
    read_snapshot,
    snapshot_document,
    snapshot_rows,
)
from pipelines.report.render import render_reports
from pipelines.report.summary import objective_summary

FIRST = datetime(2026, 3, 9, 12, tzinfo=UTC)
SECOND = datetime(2026, 3, 10, 12, tzinfo=UTC)


def snapshot(*rows: tuple) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SNAPSHOT_SCHEMA, orient="row")


# (contract, objective, title, window, status, attainment, p_breach, budget left, breached
#  windows, credits, currency)
BEFORE = snapshot(
    ("c", "fell", "Fell", "2026-03", "on_track", 0.9996, 0.20, 0.6, 0, 0.0, "EUR"),
    ("c", "closed", "Closed", "2026-03", "at_risk", 0.9990, 0.60, 0.1, 1, 100.0, "EUR"),
    ("c", "calm", "Calm", "2026-03", "on_track", 0.9999, 0.05, 0.9, 0, 0.0, "EUR"),
    ("c", "rolled", "Rolled", "2026-02", "on_track", 0.9999, 0.05, 0.9, 0, 0.0, "EUR"),
    ("c", "dropped", "Dropped", "2026-03", "on_track", 0.9999, None, 0.9, 0, 0.0, "EUR"),
)
AFTER = snapshot(
    ("c", "fell", "Fell", "2026-03", "breaching", 0.9980, 0.95, -0.5, 0, 0.0, "EUR"),
    # A window closed breached (credits 100 → 300) and the risk fell 60% → 45%.
    ("c", "closed", "Closed", "2026-04", "at_risk", 0.9990, 0.45, 0.1, 2, 300.0, "EUR"),
    # 9 points up: not reported.
    ("c", "calm", "Calm", "2026-03", "on_track", 0.9998, 0.14, 0.8, 0, 0.0, "EUR"),
    # A new window: its risk is not compared with the old window's.
    ("c", "rolled", "Rolled", "2026-03", "on_track", 0.9999, 0.50, 0.9, 0, 0.0, "EUR"),
    ("c", "added", "Added", "2026-03", "at_risk", 0.9990, 0.70, 0.2, 0, 0.0, "EUR"),
)


def test_changes_since_name_each_kind_of_change_once_per_objective():
    changes = changes_since(BEFORE, AFTER)
    assert changes.select("objective_id", "change").rows() == [
        ("added", "new_objective"),
        ("closed", "new_breach"),
        ("closed", "new_credit"),
        ("dropped", "removed_objective"),
        ("fell", "new_breach"),  # on track → breaching: a new breach, not a mere status change
        ("fell", "risk_up"),
    ]
    fell = changes.filter(pl.col("objective_id") == "fell").row(0, named=True)
    assert (fell["status_before"], fell["status_after"]) == ("on_track", "breaching")
    closed = changes.filter(pl.col("change") == "new_credit").row(0, named=True)
    assert (closed["credits_before"], closed["credits_after"]) == (100.0, 300.0)
    # Risk moves within the same window, in both directions.
    down = changes_since(AFTER, BEFORE.with_columns(window_label=pl.lit("2026-03")))
    assert ("fell", "risk_down") in down.select("objective_id", "change").rows()
    assert ("fell", "status") in down.select("objective_id", "change").rows()


def test_no_changes_between_equal_snapshots_and_everything_is_new_the_first_time():
    assert changes_since(AFTER, AFTER).is_empty()
    first = changes_since(AFTER.clear(), AFTER)
    assert first["change"].to_list() == ["new_objective"] * AFTER.height


def test_a_snapshot_survives_its_json_and_bad_ones_are_refused(tables):
    summary = objective_summary(tables["objectives"], tables["windows"], tables["breach_risk"])
    rows = snapshot_rows(summary, tables["credits"])
    storage = rows.filter(pl.col("objective_id") == "storage-uptime").row(0, named=True)
    assert storage["p_breach"] == 0.62 and storage["credits"] == 7200.0
    assert storage["attainment"] == 0.9992 and storage["status"] == "at_risk"
    document = json.loads(json.dumps(snapshot_document(rows, FIRST, None)))
    read, generated_at = read_snapshot(document)
    assert generated_at == FIRST and read.equals(rows)
    for bad in ([], {"objectives": []}, {"generated_at": "yesterday", "objectives": []}):
        with pytest.raises(ValueError, match="snapshot"):
            read_snapshot(bad)


def _changes_list(html: str) -> list[str]:
    section = html.split('<section class="changes"')[1].split("</section>")[0]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item)).strip()
        for item in re.findall(r"<li[^>]*>(.*?)</li>", section, re.S)
    ]


def test_the_first_report_says_so_and_the_next_one_lists_what_changed(
    tmp_path: Path, contracts, tables
):
    first = render_reports(tmp_path, contracts, tables, generated_at=FIRST)
    assert first.changes == 0
    for page in (first.index, first.contract_pages["acme-cloud"]):
        assert "This is the first report" in page.read_text(encoding="utf-8")
    assert json.loads(first.snapshot.read_text())["generated_at"] == FIRST.isoformat()

    # Next day: compute-availability falls below target, storage-uptime's risk climbs to 80%.
    windows = tables["windows"].with_columns(
        status=pl.when(pl.col("objective_id") == "compute-availability", ~pl.col("is_complete"))
        .then(pl.lit("breaching"))
        .otherwise("status")
    )
    risk = tables["breach_risk"].with_columns(p_breach=pl.lit(0.8))
    second = render_reports(
        tmp_path, contracts, {**tables, "windows": windows, "breach_risk": risk}, SECOND
    )
    assert second.changes == 2
    index = second.index.read_text(encoding="utf-8")
    assert "Compared with the report of 2026-03-09 12:00 UTC." in index
    assert _changes_list(index) == [
        "✖ New breach Compute API answers (acme-cloud): On track → Breaching",
        "▲ Risk up Object storage probes succeed (acme-cloud): breach risk 62% → 80%",
    ]
    assert 'href="objective-acme-cloud~compute-availability.html"' in index
    acme = second.contract_pages["acme-cloud"].read_text(encoding="utf-8")
    assert len(_changes_list(acme)) == 2
    paylane = second.contract_pages["paylane"].read_text(encoding="utf-8")
    assert "No changes for this contract since the report of 2026-03-09 12:00 UTC." in paylane
    storage = second.objective_pages[("acme-cloud", "storage-uptime")].read_text(encoding="utf-8")
    assert _changes_list(storage) == [
        "▲ Risk up Object storage probes succeed (acme-cloud): breach risk 62% → 80%"
    ]
    assert json.loads(second.snapshot.read_text())["generated_at"] == SECOND.isoformat()


def test_an_unreadable_snapshot_is_reported_and_replaced(tmp_path: Path, contracts, tables):
    tmp_path.joinpath(".snapshot.json").write_text("{not json", encoding="utf-8")
    report = render_reports(tmp_path, contracts, tables, generated_at=FIRST)
    index = report.index.read_text(encoding="utf-8")
    assert ".snapshot.json could not be read" in index
    assert "changes cannot be shown this time" in index
    assert json.loads(report.snapshot.read_text())["generated_at"] == FIRST.isoformat()
