import csv
import shutil
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from pipelines import warehouse
from pipelines.contracts.loader import load_contracts
from pipelines.contracts.schema import Contract
from pipelines.report.assets import monthly_summary
from pipelines.report.monthly import (
    MONTHLY_COLUMNS,
    MONTHLY_SCHEMA,
    display_rows,
    last_complete_month,
    month_span,
    monthly_corrections,
    monthly_rows,
    monthly_totals,
    write_monthly_summaries,
    write_monthly_summary,
)
from pipelines.resources import PledgeHome

TS = pl.Datetime("us", "UTC")
AS_OF = datetime(2026, 11, 3, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


CONTRACT = Contract.model_validate(
    {
        "id": "acme",
        "title": "Acme <Cloud>",
        "provider": "Acme Cloud GmbH",
        "consumer": "Example Retail",
        "time_zone": "Europe/Berlin",
        "currency": "EUR",
        "monthly_fee": 48000,
        "credit_cap": "30%",
        "services": [{"id": "api"}],
        "objectives": [
            {"id": "availability", "service": "api", "sli": {"kind": "availability"},
             "target": "99.95%"},
        ],
    }
)  # fmt: skip

# (objective, title, judged_on, target, window_kind)
OBJECTIVES = pl.DataFrame(
    [
        ("availability", "Compute API answers", "share", 0.9995, "calendar"),
        ("desk-mttr", None, "duration", 8 * 3600.0, "calendar"),
        ("latency", "Fast <enough>", "share", 0.99, "calendar"),
        ("quarterly", "Quarterly uptime", "share", 0.999, "calendar"),
        ("rolling", "Rolling uptime", "share", 0.999, "rolling"),
    ],
    schema=["objective_id", "title", "judged_on", "target", "window_kind"],
    orient="row",
).with_columns(
    contract_id=pl.lit("acme"), service=pl.lit("api"), currency=pl.lit("EUR"),
    time_zone=pl.lit("Europe/Berlin"), window_anchor=pl.lit(None, pl.Datetime("us")),
)  # fmt: skip

# (objective, label, start, end, complete, attainment, measured, unit, status, error_budget,
#  budget_consumed, corrected_minutes, missing_minutes). October 2026 in Berlin runs from
# 2026-09-30 22:00 UTC to 2026-10-31 23:00 UTC (summer time ends on the 25th).
WINDOWS = pl.DataFrame(
    [
        ("availability", "2026-09", utc(2026, 8, 31, 22), utc(2026, 9, 30, 22), True,
         0.9999, 0.9999, "ratio", "met", 500.0, 100.0, 0.0, 0.0),
        ("availability", "2026-10", utc(2026, 9, 30, 22), utc(2026, 10, 31, 23), True,
         0.9993, 0.9993, "ratio", "breached", 500.0, 700.0, 45.0, 0.0),
        ("availability", "2026-11", utc(2026, 10, 31, 23), utc(2026, 11, 30, 23), False,
         1.0, 1.0, "ratio", "on_track", 20.0, 0.0, 0.0, 0.0),
        ("desk-mttr", "2026-10", utc(2026, 9, 30, 22), utc(2026, 10, 31, 23), True,
         None, 36000.0, "seconds", "breached", None, None, None, None),
        ("latency", "2026-W40", utc(2026, 9, 27, 22), utc(2026, 10, 4, 22), True,
         0.995, 0.995, "ratio", "met", 100.0, 50.0, 0.0, 0.0),
        ("latency", "2026-W43", utc(2026, 10, 18, 22), utc(2026, 10, 25, 23), True,
         0.999, 0.999, "ratio", "met", 100.0, 10.0, 0.0, 30.0),
        ("latency", "2026-W44", utc(2026, 10, 25, 23), utc(2026, 11, 1, 23), False,
         0.999, 0.999, "ratio", "on_track", 100.0, 10.0, 0.0, 0.0),
        ("quarterly", "2026-Q4", utc(2026, 9, 30, 22), utc(2026, 12, 31, 23), False,
         0.9999, 0.9999, "ratio", "on_track", 100.0, 10.0, 0.0, 0.0),
        ("rolling", "rolling 28d to 2026-10-30", utc(2026, 10, 2, 22), utc(2026, 10, 30, 23),
         True, None, None, "ratio", "no_data", 0.0, 0.0, 0.0, 0.0),
        ("rolling", "rolling 28d to 2026-10-31", utc(2026, 10, 3, 22), utc(2026, 10, 31, 23),
         True, None, None, "ratio", "no_data", 0.0, 0.0, 0.0, 0.0),
    ],
    schema={
        "objective_id": pl.String, "window_label": pl.String, "window_start": TS,
        "window_end": TS, "is_complete": pl.Boolean, "attainment": pl.Float64,
        "measured": pl.Float64, "unit": pl.String, "status": pl.String,
        "error_budget": pl.Float64, "budget_consumed": pl.Float64,
        "corrected_minutes": pl.Float64, "missing_minutes": pl.Float64,
    },
    orient="row",
).join(OBJECTIVES.select("objective_id", "target"), on="objective_id").with_columns(
    contract_id=pl.lit("acme"), interval_low=pl.lit(None, pl.Float64),
    interval_high=pl.lit(None, pl.Float64), as_of=pl.lit(AS_OF, TS),
    # week 43 (7 days + 1 hour, 10,140 min) lacks 30 minutes of evidence
    coverage=pl.when(pl.col("missing_minutes") > 0).then(1 - 30 / 10_140)
    .when(pl.col("unit") == "ratio").then(1.0),
)  # fmt: skip

# October's availability breach earns 10 %; week 40 earns 5 %, cut to 5 % by a cap (tier 8 %);
# it counts in September, the month of its Monday, but ends in October, so it is listed.
CREDITS = pl.DataFrame(
    [
        ("availability", "2026-09", "2026-09", 0.0, 0.0, False),
        ("availability", "2026-10", "2026-10", 0.10, 4800.0, False),
        ("latency", "2026-W40", "2026-09", 0.05, 2400.0, True),
        ("latency", "2026-W43", "2026-10", 0.0, 0.0, False),
    ],
    schema=["objective_id", "window_label", "contract_window", "credit_pct", "credit_amount",
            "capped"],
    orient="row",
).with_columns(contract_id=pl.lit("acme"), currency=pl.lit("EUR"), is_complete=True)  # fmt: skip

CORRECTIONS = pl.DataFrame(
    [
        ("availability", 1, "probe misconfigured", utc(2026, 10, 14, 8), utc(2026, 10, 14, 8, 45)),
        ("latency", 2, "load test", utc(2026, 9, 29, 10), utc(2026, 9, 29, 11)),
        ("availability", 3, "September mistake", utc(2026, 9, 3), utc(2026, 9, 3, 1)),
    ],
    schema={"objective_id": pl.String, "correction": pl.Int64, "reason": pl.String,
            "corrected_from": TS, "corrected_until": TS},
    orient="row",
).with_columns(
    contract_id=pl.lit("acme"), author=pl.lit("ops lead"), recorded=pl.lit(date(2026, 11, 2))
)  # fmt: skip

TABLES = {
    "objectives": OBJECTIVES,
    "windows": WINDOWS,
    "credits": CREDITS,
    "corrections": CORRECTIONS,
}


def test_last_complete_month_is_read_in_the_contract_zone():
    assert last_complete_month(AS_OF, "Europe/Berlin") == "2026-10"
    # 2026-10-31 23:30 UTC is already 2026-11-01 00:30 in Berlin: October is complete.
    assert last_complete_month(utc(2026, 10, 31, 23, 30), "Europe/Berlin") == "2026-10"
    assert last_complete_month(utc(2026, 10, 31, 23, 30), "UTC") == "2026-09"
    assert last_complete_month(utc(2027, 1, 15), "UTC") == "2026-12"


def test_month_span_follows_the_zone_across_daylight_saving_time():
    assert month_span("2026-10", "Europe/Berlin") == (utc(2026, 9, 30, 22), utc(2026, 10, 31, 23))
    assert month_span("2026-12", "UTC") == (utc(2026, 12, 1), utc(2027, 1, 1))
    with pytest.raises(ValueError, match="month '2026-13': expected YYYY-MM"):
        month_span("2026-13", "UTC")


def test_monthly_rows_list_every_objective_with_the_windows_ending_in_the_month():
    rows = monthly_rows(OBJECTIVES, WINDOWS, CREDITS, CORRECTIONS, "acme", "2026-10")
    assert rows.schema == pl.Schema(MONTHLY_SCHEMA)
    assert rows.select("objective_id", "window_label", "status").rows() == [
        ("availability", "2026-10", "breached"),
        ("desk-mttr", "2026-10", "breached"),
        ("latency", "2026-W40", "met"),  # starts in September, ends in October
        ("latency", "2026-W43", "met"),  # W44 ends in November
        ("quarterly", None, None),  # Q4 ends in December
        ("rolling", "rolling 28d to 2026-10-31", "no_data"),  # only the one ending the month
    ]
    availability = rows.row(0, named=True)
    assert availability["budget_used"] == pytest.approx(1.4)
    assert (availability["credit_pct"], availability["credit_amount"]) == (0.10, 4800.0)
    assert (availability["corrections_applied"], availability["corrected_minutes"]) == (1, 45.0)
    assert rows["title"].to_list()[:2] == ["Compute API answers", "desk-mttr"]
    assert rows["data_gap"].to_list() == [False, False, False, True, None, True]
    assert rows["corrections_applied"].to_list() == [1, 0, 1, 0, None, 0]


def test_a_month_from_noon_counts_in_the_month_of_its_last_day():
    """Months from the 1st at 12:00 Berlin: October's runs to 1 November 12:00 (11:00 UTC) and
    is October's; September's, ending 1 October 12:00, is not."""
    objectives = OBJECTIVES.with_columns(window_anchor=pl.lit(datetime(2022, 1, 1, 12)))
    windows = WINDOWS.filter(pl.col("objective_id") == "availability").with_columns(
        pl.col("window_start", "window_end") + timedelta(hours=12)
    )
    rows = monthly_rows(objectives, windows, CREDITS, CORRECTIONS, "acme", "2026-10")
    availability = rows.filter(pl.col("objective_id") == "availability")
    assert availability.select("window_label", "window_start", "window_end").rows() == [
        ("2026-10", utc(2026, 10, 1, 10), utc(2026, 11, 1, 11))
    ]


def test_monthly_totals_count_windows_credits_corrections_and_gaps():
    rows = monthly_rows(OBJECTIVES, WINDOWS, CREDITS, CORRECTIONS, "acme", "2026-10")
    corrections = monthly_corrections(CORRECTIONS, rows)
    assert corrections.select("correction", "reason", "objectives").rows() == [
        (1, "probe misconfigured", ["availability"]),
        (2, "load test", ["latency"]),
    ]
    totals = monthly_totals(rows, corrections)
    assert (totals.objectives, totals.windows, totals.met, totals.breached) == (5, 5, 2, 2)
    assert (totals.data_gaps, totals.corrections) == (2, 2)
    assert totals.credits == {"EUR": 7200.0}


def test_a_window_still_running_owes_no_credit_in_the_summary():
    # the same credits with October's availability window still running (as in a summary of
    # the current month): only week 40's 2,400 EUR are owed
    running = CREDITS.with_columns(is_complete=pl.col("window_label") != "2026-10")
    rows = monthly_rows(OBJECTIVES, WINDOWS, running, CORRECTIONS, "acme", "2026-10")
    totals = monthly_totals(rows, monthly_corrections(CORRECTIONS, rows))
    assert totals.credits == {"EUR": 2400.0}


def test_display_rows_show_each_figure_in_its_unit():
    rows = monthly_rows(OBJECTIVES, WINDOWS, CREDITS, CORRECTIONS, "acme", "2026-10")
    cells = [row["cells"] for row in display_rows(rows)]
    assert all(len(row) == len(MONTHLY_COLUMNS) for row in cells)
    assert cells[0] == [
        "Compute API answers", "2026-10", "≥ 99.950%", "99.930%", "✖ Breached", "140.0%",
        "4,800.00 EUR (10.0% of fee)", "1 (45 min)", "none",
    ]  # fmt: skip
    assert cells[1][2:5] == ["≤ 8h", "10h 00m", "✖ Breached"]
    assert cells[2][6] == "2,400.00 EUR (5.0% of fee, capped)"
    assert cells[3][8] == "30 min without evidence (coverage 99.7%)"
    assert cells[4][1:5] == ["no window ends in this month", "≥ 99.900%", "—", "—"]
    assert cells[5][3:5] == ["—", "? No data"] and cells[5][8] == "no data"


class _TableCells(HTMLParser):
    """The cell texts of each body row of the table with the given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.in_body, self.rows = table_id, False, False, []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tbody":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append([])
        elif self.in_body and tag == "td":
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tbody":
            self.inside = self.in_body = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_the_csv_holds_the_rows_the_html_shows(tmp_path: Path):
    summary = write_monthly_summary(tmp_path, CONTRACT, "2026-10", TABLES)
    assert (summary.html.name, summary.csv.name) == ("acme-2026-10.html", "acme-2026-10.csv")
    from_csv = pl.read_csv(summary.csv, schema=MONTHLY_SCHEMA)
    page = summary.html.read_text(encoding="utf-8")
    parser = _TableCells("monthly-summary")
    parser.feed(page)
    assert parser.rows == [row["cells"] for row in display_rows(from_csv)]
    assert len(parser.rows) == 6
    assert "Acme &lt;Cloud&gt;" in page and "Fast &lt;enough&gt;" in page
    assert "7,200.00 EUR" in page and "probe misconfigured" in page
    assert "<script" not in page and "http" not in page  # no JS, nothing from the network
    assert "@media print" in page


def test_the_october_summary_of_the_demo_shows_the_breached_compute_window(
    demo_home: Path, tmp_path: Path
):
    contracts, _ = load_contracts(demo_home / "contracts")
    with warehouse.connect(demo_home / "warehouse.duckdb", read_only=True) as con:
        summaries = write_monthly_summaries(con, tmp_path, contracts)
    acme = next(s for s in summaries if s.contract_id == "acme-cloud")
    assert acme.month == "2026-10"  # as of 2026-11-03: October is the last complete month
    assert acme.html == tmp_path / "monthly" / "acme-cloud-2026-10.html"
    rows = pl.read_csv(acme.csv, schema=MONTHLY_SCHEMA)
    compute = rows.filter(pl.col("objective_id") == "compute-availability").row(0, named=True)
    assert (compute["window_label"], compute["status"]) == ("2026-10", "breached")
    assert (compute["credit_pct"], compute["credit_amount"]) == (0.10, 4800.0)
    assert acme.totals.credits == {"EUR": 4800.0}
    assert "4,800.00 EUR (10.0% of fee)" in acme.html.read_text(encoding="utf-8")


def test_the_monthly_summary_asset_writes_every_contract(
    demo_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    for variable in ("PLEDGE_HOME", "PLEDGE_CONTRACTS", "PLEDGE_WAREHOUSE", "PLEDGE_REPORTS"):
        monkeypatch.delenv(variable, raising=False)
    shutil.copytree(demo_home / "contracts", tmp_path / "contracts")
    shutil.copy(demo_home / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    pledge = PledgeHome(home=str(tmp_path))
    result = dg.materialize(
        [monthly_summary],
        resources={"pledge": pledge},
        run_config={"ops": {"report__monthly_summary": {"config": {"month": "2026-10"}}}},
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == dg.AssetKey(["report", "monthly_summary"])
    metadata = event.materialization.metadata
    html = tmp_path / "reports" / "monthly" / "acme-cloud-2026-10.html"
    assert metadata["acme-cloud_html"] == dg.MetadataValue.path(str(html))
    assert html.exists() and html.with_suffix(".csv").exists()
    assert metadata["months"].value == "2026-10"
    assert metadata["summaries"].value == len(list(html.parent.glob("*.html")))
    assert metadata["credits_EUR"].value == 4800.0


HOSTILE_TITLE = '=HYPERLINK("http://evil.example/x","Open")'


def test_a_hostile_objective_title_is_written_to_the_csv_as_text(tmp_path: Path):
    objectives = OBJECTIVES.with_columns(
        title=pl.when(pl.col("objective_id") == "latency")
        .then(pl.lit(HOSTILE_TITLE))
        .otherwise("title")
    )
    summary = write_monthly_summary(
        tmp_path, CONTRACT, "2026-10", {**TABLES, "objectives": objectives}
    )
    with summary.csv.open(newline="", encoding="utf-8") as file:
        cells = [cell for row in csv.reader(file) for cell in row]
    assert "'" + HOSTILE_TITLE in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]
    # Numbers stay numbers: the attainments read back as floats.
    assert pl.read_csv(summary.csv, schema=MONTHLY_SCHEMA)["attainment"].drop_nulls().len() > 0
