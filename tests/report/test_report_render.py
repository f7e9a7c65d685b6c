import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines import workers
from pipelines.report.paths import objective_page_name
from pipelines.report.render import CHARTS_DRAWN, ReportSet, render_reports

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


@pytest.fixture
def report(tmp_path: Path, contracts, tables) -> ReportSet:
    return render_reports(tmp_path / "reports", contracts, tables)


def _pages(report: ReportSet) -> dict[str, str]:
    paths = [report.index, *report.contract_pages.values(), *report.objective_pages.values()]
    return {path.name: path.read_text(encoding="utf-8") for path in paths}


def _objective_page(report: ReportSet, contract_id: str, objective_id: str) -> str:
    return report.objective_pages[(contract_id, objective_id)].read_text(encoding="utf-8")


def test_writes_the_index_a_page_per_contract_and_objective_and_plotly_js_once(report):
    folder = report.index.parent
    assert sorted(path.name for path in folder.iterdir()) == [
        ".charts",
        ".snapshot.json",
        "contract-acme-cloud.html",
        "contract-evil-corp.html",
        "contract-paylane.html",
        "credits-ledger.csv",
        "index.html",
        "objective-acme-cloud~compute-availability.html",
        "objective-acme-cloud~storage-uptime.html",
        "objective-evil-corp~api-availability.html",
        "objective-paylane~payments-availability.html",
        "plotly.min.js",
    ]
    assert objective_page_name("acme-cloud", "storage-uptime") == (
        "objective-acme-cloud~storage-uptime.html"
    )
    assert report.plotly_js.stat().st_size > 1_000_000
    assert "Plotly" in report.plotly_js.read_text(encoding="utf-8")[:20_000]


def test_index_lists_every_contract_most_urgent_first_with_the_attainment_fed_in(report):
    index = report.index.read_text(encoding="utf-8")
    order = [index.index(f'data-contract="{c}"') for c in ("paylane", "acme-cloud", "evil-corp")]
    assert order == sorted(order)
    for text in ("99.850%", "99.920%", "99.970%", "-50.0%", "20.0%", "40.0%"):
        assert f">{text}<" in index
    # Inside acme-cloud the at-risk objective comes before the one on track.
    assert index.index("Object storage probes succeed") < index.index("Compute API answers")
    assert "12,000.00 EUR" in index  # 4,800 + 7,200 (capped) over acme-cloud's windows
    assert 'href="contract-paylane.html"' in index
    assert 'href="objective-paylane~payments-availability.html"' in index


def test_every_link_from_the_portfolio_resolves_to_a_written_page(report: ReportSet):
    folder = report.index.parent
    seen, queue = set(), ["index.html"]
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        html = (folder / name).read_text(encoding="utf-8")
        for reference in REFERENCE.findall(html):
            target = reference.split("#")[0]
            if not target:
                continue
            assert (folder / target).is_file(), (name, reference)
            if target.endswith(".html"):
                queue.append(target)
    pages = {path.name for path in _pages_written(report)}
    assert seen == pages  # every page is reachable from the portfolio


def _pages_written(report: ReportSet) -> list[Path]:
    return [report.index, *report.contract_pages.values(), *report.objective_pages.values()]


def test_kpis_count_from_the_tables(report: ReportSet):
    assert (report.contracts, report.objectives) == (3, 4)
    assert len(report.objective_pages) == 4
    assert report.breached_windows == 1
    assert (report.objectives_at_risk, report.objectives_breaching) == (1, 1)
    assert report.credits_total == {"EUR": 12000.0, "USD": 0.0}


def test_contract_page_shows_the_breached_windows_credit_in_the_contract_currency(report):
    page = report.contract_pages["acme-cloud"].read_text(encoding="utf-8")
    credits = page.split('id="credits"')[1]
    row = re.search(r"<th scope=\"row\">2026-02</th>.*?</tr>", credits, re.DOTALL)
    assert row is not None
    assert "Compute API answers" in row.group(0)
    assert "99.940%" in row.group(0) and "10.00%" in row.group(0)
    assert "4,800.00 EUR" in row.group(0)
    assert "48,000.00 EUR" in page  # the monthly fee in the header
    assert "Acme Cloud GmbH" in page and "Europe/Berlin" in page


def test_contract_page_shows_alerts_gaps_and_exclusions_in_the_contract_zone(report):
    paylane = report.contract_pages["paylane"].read_text(encoding="utf-8")
    assert "2026-03-09 16:00 EDT" in paylane  # the page alert started 20:00 UTC
    assert "still firing" in paylane
    assert "18.50×" in paylane
    acme = report.contract_pages["acme-cloud"].read_text(encoding="utf-8")
    assert "2026-03-05 01:00 CET" in acme and "1d 6h 30m" in acme  # the ticket episode
    gaps = acme.split('id="data-gaps"')[1]
    assert ">120<" in gaps and ">12<" in gaps and ">30<" in gaps
    assert "weekly patch window — object-storage: every sunday at 03:00 for 30m" in gaps


def test_text_from_contracts_is_escaped(report: ReportSet):
    for name, html in _pages(report).items():
        assert "<script>alert" not in html, name
        assert "Sons <b>" not in html, name
    evil = report.contract_pages["evil-corp"].read_text(encoding="utf-8")
    assert "Evil &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Corp" in evil
    assert "Evil &amp; Sons &lt;b&gt;" in report.index.read_text(encoding="utf-8")


def test_pages_refer_to_nothing_on_the_network(report: ReportSet):
    for name, html in _pages(report).items():
        assert not EXTERNAL.search(html), name
        assert "@import" not in html and "@font-face" not in html, name
        for reference in REFERENCE.findall(html):
            assert not reference.startswith(("http:", "https:", "//")), (name, reference)


def test_every_chart_is_on_its_objective_page_drawn_by_the_local_plotly(report: ReportSet):
    drawn = ["windows", "budget", "burn"]
    expected = {  # compute-availability has no event in its timeline's period
        ("acme-cloud", "compute-availability"): drawn,
        ("acme-cloud", "storage-uptime"): [*drawn, "timeline"],
        ("paylane", "payments-availability"): [*drawn, "timeline"],
    }
    for (contract_id, objective_id), charts in expected.items():
        contract_page = report.contract_pages[contract_id].read_text(encoding="utf-8")
        # The contract page draws only the budget left per objective.
        assert contract_page.count('class="plotly-graph-div"') == 1
        assert f'<div id="{contract_id}-budget" class="plotly-graph-div"' in contract_page
        page = _objective_page(report, contract_id, objective_id)
        assert '<script src="plotly.min.js"></script>' in page
        assert f'href="{objective_page_name(contract_id, objective_id)}"' in contract_page
        assert page.count('class="plotly-graph-div"') == len(charts)
        for chart in charts:
            assert f'<div id="{objective_id}-{chart}" class="plotly-graph-div"' in page
            assert f'Plotly.newPlot("{objective_id}-{chart}"' in page
        assert len(page.encode()) < 2_000_000
    index = report.index.read_text(encoding="utf-8")
    assert '<script src="plotly.min.js"></script>' in index
    assert index.count('class="plotly-graph-div"') == 1
    assert '<div id="portfolio-budget" class="plotly-graph-div"' in index
    evil = _objective_page(report, "evil-corp", "api-availability")
    assert 'class="plotly-graph-div"' not in evil
    assert evil.count("No data yet for this chart.") == 1  # no budget or burn placeholders


def test_rows_of_other_contracts_are_left_out(tmp_path: Path, contracts, tables):
    report = render_reports(tmp_path, contracts[:1], tables)
    assert list(report.contract_pages) == ["acme-cloud"]
    assert report.credits_total == {"EUR": 12000.0}
    assert "Paylane" not in report.index.read_text(encoding="utf-8")


def test_empty_tables_render_every_contract_as_no_data(tmp_path: Path, contracts, tables):
    empty = {name: frame.clear() for name, frame in tables.items()}
    report = render_reports(tmp_path, contracts, empty)
    assert (report.objectives, report.breached_windows, report.credits_total) == (0, 0, {})
    index = report.index.read_text(encoding="utf-8")
    assert index.count("No objectives computed yet") == 3


def test_credits_ledger_csv_has_a_line_per_credited_window_and_is_linked(report: ReportSet):
    assert report.credits_ledger == report.index.parent / "credits-ledger.csv"
    lines = report.credits_ledger.read_text(encoding="utf-8").splitlines()
    assert lines[0] == (
        "contract_id,objective_id,window_label,contract_window,window_start,window_end,"
        "is_complete,attainment,tier_below,tier_credit,credit_pct,credit_amount,currency,capped"
    )
    assert lines[1:] == [
        "acme-cloud,compute-availability,2026-01,2026-01,2025-12-31T23:00:00Z,"
        "2026-01-31T23:00:00Z,true,0.9998,,,0.0,0.0,EUR,false",
        "acme-cloud,storage-uptime,2026-01,2026-01,2025-12-31T23:00:00Z,"
        "2026-01-31T23:00:00Z,true,0.995,0.999,0.25,0.15,7200.0,EUR,true",
        "acme-cloud,compute-availability,2026-02,2026-02,2026-01-31T23:00:00Z,"
        "2026-02-28T23:00:00Z,true,0.9994,0.9995,0.1,0.1,4800.0,EUR,false",
        "paylane,payments-availability,2026-02,2026-02,2026-02-01T05:00:00Z,"
        "2026-03-01T05:00:00Z,true,0.9995,,,0.0,0.0,USD,false",
    ]
    assert 'href="credits-ledger.csv"' in report.index.read_text(encoding="utf-8")
    page = report.contract_pages["acme-cloud"].read_text(encoding="utf-8")
    credits = page.split('id="credits"')[1].split('id="alerts"')[0]
    assert 'href="credits-ledger.csv"' in credits
    assert '15.00% <span class="muted">(capped from 25.00%)</span>' in credits
    assert "capped at 15.00% of the monthly fee" in credits


def test_contract_page_lists_every_correction_applied(report: ReportSet):
    page = report.contract_pages["acme-cloud"].read_text(encoding="utf-8")
    corrections = page.split('id="corrections"')[1]
    row = re.search(r"<tr>\s*<th scope=\"row\">.*?</tr>", corrections, re.DOTALL)
    assert row is not None
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(0), re.DOTALL)
    assert cells == [
        "probe &lt;misconfigured&gt; after migration",
        "ops lead",
        "2026-02-20",
        "2026-02-14 10:00 CET → 2026-02-14 10:45 CET",
        "Compute API answers, Object storage probes succeed",
    ]
    gaps = page.split('id="data-gaps"')[1].split('id="corrections"')[0]
    assert re.search(
        r"<td>2026-02</td>\s*<td class=\"num\">120</td>\s*<td class=\"num\">45</td>", gaps
    )
    paylane = report.contract_pages["paylane"].read_text(encoding="utf-8")
    assert "No corrections recorded for this contract." in paylane


def test_breach_risk_is_shown_where_predicted(tmp_path, contracts, tables):
    report = render_reports(tmp_path, contracts, tables)
    index = report.index.read_text(encoding="utf-8")
    assert (
        '<span class="negative" title="probability that the window ends below target">62%</span>'
        in index
    )
    page = _objective_page(report, "acme-cloud", "storage-uptime")
    assert "Breach risk 62%: expected to end at 99.885%" in page
    assert "(99.810% … 99.930%)." in page
    # the budget sentence, from the budget's state, says when it is expected to run out
    assert "of the error budget left, expected to run out 2026-03-20 15:00 CET." in page


def test_objective_page_shows_the_latest_root_cause_hints_escaped_in_the_contract_zone(report):
    page = _objective_page(report, "paylane", "payments-availability")
    hints = page.split('class="root-causes"')[1].split("</table>")[0]
    assert "2026-03-09 16:00 EDT → 2026-03-09 17:30 EDT" in hints
    first = re.search(r'<td class="num">1</td>\s*<td>([^<]*)</td>\s*<td class="num">([^<]*)</td>'
                      r'\s*<td class="num">([^<]*)</td>\s*<td>([^<]*)</td>', hints)  # fmt: skip
    assert first is not None
    assert first.groups() == (
        "payments-db:error_ratio",
        "0.91",
        "0.005",
        "error_ratio of payments-db: &lt;b&gt;spiked&lt;/b&gt; first",
    )
    # The episode of March 3 (p 0.5) shows no hint, only that nothing beat chance.
    assert hints.count("No series lines up with this burn") == 1
    assert "older episode of March 3" not in hints and "older episode of March 4" in hints
    assert "the best, refunds-api:error_ratio, does no better than" in hints
    assert "webhooks:request_rate" in hints and "compute-api:error_ratio" not in hints
    assert "older episode of March 2" in hints and "older episode of March 1<" not in hints
    for objective_id in ("compute-availability", "storage-uptime"):
        page = _objective_page(report, "acme-cloud", objective_id)
        assert 'class="root-causes"' not in page
        assert "No burn episode with root-cause hints." in page


def test_burn_rate_chart_marks_the_anomalies_of_the_objectives_own_service(report):
    paylane = _objective_page(report, "paylane", "payments-availability")
    chart = paylane.split('id="payments-availability-burn"')[1].split("</script>")[0]
    assert '"name":"anomaly: error_ratio"' in chart
    assert '"x":["2026-03-09T16:15:00","2026-03-09T16:40:00"]' in chart
    assert "probe_failure" not in paylane  # object-storage's anomaly is not paylane's
    storage = _objective_page(report, "acme-cloud", "storage-uptime")
    assert '"name":"anomaly: probe_failure"' in storage.split('id="storage-uptime-burn"')[1]
    compute = _objective_page(report, "acme-cloud", "compute-availability")
    assert "anomaly: error_ratio" not in storage + compute
    assert "probe_failure" not in compute


def test_capacity_of_the_contracts_services_and_the_portfolios_services_running_out(report):
    def capacity_rows(html: str) -> list[tuple[str, ...]]:
        section = html.split('id="capacity"')[1].split("</table>")[0]
        return [
            tuple(re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row))
            for row in re.findall(r"<tr>.*?</tr>", section.split("<tbody>")[1], re.DOTALL)
        ]

    paylane = report.contract_pages["paylane"].read_text(encoding="utf-8")
    assert capacity_rows(paylane) == [
        ("payments-api", "100", "80", "0.50%/day", "2026-05-01", "2026-04-10")
    ]
    acme = report.contract_pages["acme-cloud"].read_text(encoding="utf-8")
    assert capacity_rows(acme) == [
        ("compute-api", "500", "120", "0.12%/day", "not within the forecast", "2026-07-01")
    ]
    evil = report.contract_pages["evil-corp"].read_text(encoding="utf-8")
    assert "No declared capacity for this contract" in evil
    index = report.index.read_text(encoding="utf-8")
    assert capacity_rows(index) == [
        ("payments-api", "100", "80", "0.50%/day", "2026-05-01", "2026-04-10")
    ]


def test_the_running_window_is_forecast_apart_and_low_coverage_warned(tmp_path, contracts, tables):
    # storage-uptime's 2026-03 is running: its credit so far is listed as not owed, and the
    # prediction (expected 99.885% < 99.9%, p_breach 62%) puts it in the 25% tier of 48,000 EUR,
    # cut to 15% (7,200 EUR) by the contract's credit_cap
    running = tables["credits"].filter(pl.col("objective_id") == "storage-uptime").head(1)
    running = running.with_columns(
        window_label=pl.lit("2026-03"), is_complete=pl.lit(False), credit_amount=pl.lit(0.0)
    )
    windows = tables["windows"].with_columns(
        coverage=pl.when(
            pl.col("objective_id") == "storage-uptime", pl.col("window_label") == "2026-03"
        ).then(0.25)
    )
    report = render_reports(
        tmp_path,
        contracts,
        {**tables, "credits": pl.concat([tables["credits"], running]), "windows": windows},
    )
    forecast = (
        "Forecast, not owed: 25% tier expected (below 99.900%), 7,200.00 EUR (capped to 15% of "
        "the fee); 62% chance of this tier or a worse one."
    )
    contract = report.contract_pages["acme-cloud"].read_text(encoding="utf-8")
    assert f"Object storage probes succeed, 2026-03: {forecast}" in contract
    assert "2026-03 (current: so far, not owed)" in contract
    assert "⚠ coverage 25.0%" in contract
    page = _objective_page(report, "acme-cloud", "storage-uptime")
    assert forecast in page
    assert "⚠ Only 25.0% of this window&#39;s time has evidence" in page


def _budget_chart(page: str) -> str:
    return page.split('<div id="storage-uptime-budget"')[1].split("</script>")[0]


def test_charts_are_redrawn_only_for_objectives_whose_inputs_changed(tmp_path, contracts, tables):
    """A report keeps each objective page's charts with a digest of their inputs: the next
    report takes them as they were (here a marker put in their place), except those of an
    objective whose rows changed, which are drawn again; an objective no longer reported is
    forgotten."""
    out = tmp_path / "reports"
    first = render_reports(out, contracts, tables)
    compute = objective_page_name("acme-cloud", "compute-availability")
    storage = objective_page_name("acme-cloud", "storage-uptime")
    for page in (compute, storage):
        kept_path = out / CHARTS_DRAWN / f"{page}.json"
        kept = json.loads(kept_path.read_text(encoding="utf-8"))
        assert sorted(kept["charts"]) == sorted(
            ["windows", "budget", "burn"] + (["timeline"] if page == storage else [])
        )
        kept["charts"]["windows"] = '<div id="kept-windows-chart"></div>'
        kept_path.write_text(json.dumps(kept), encoding="utf-8")
    first_budget = _budget_chart(_objective_page(first, "acme-cloud", "storage-uptime"))
    slices = tables["slices"]
    one_slice_worse = (pl.col("objective_id") == "storage-uptime") & (
        pl.col("slice_start") == slices["slice_start"].max()
    )
    changed = tables | {
        "slices": slices.with_columns(good=pl.when(one_slice_worse).then(0.0).otherwise("good"))
    }
    second = render_reports(out, contracts[:1], changed)
    assert 'id="kept-windows-chart"' in _objective_page(
        second, "acme-cloud", "compute-availability"
    )
    redrawn = _objective_page(second, "acme-cloud", "storage-uptime")
    assert 'id="kept-windows-chart"' not in redrawn
    assert '<div id="storage-uptime-windows" class="plotly-graph-div"' in redrawn
    assert _budget_chart(redrawn) != first_budget
    assert sorted(path.name for path in (out / CHARTS_DRAWN).iterdir()) == sorted(
        [
            f"{compute}.json",
            f"{storage}.json",
            "contract-acme-cloud.html.json",  # its budget overview
            "index.html.json",
        ]
    )


def test_a_change_to_one_objective_of_a_contract_redraws_only_that_objectives_charts(
    tmp_path, contracts, tables
):
    out = tmp_path / "reports"
    render_reports(out, contracts, tables)
    pages = {
        objective_id: objective_page_name("acme-cloud", objective_id)
        for objective_id in ("compute-availability", "storage-uptime")
    }
    for objective_id, page in pages.items():
        kept_path = out / CHARTS_DRAWN / f"{page}.json"
        kept = json.loads(kept_path.read_text(encoding="utf-8"))
        kept["charts"]["burn"] = f'<div id="kept-{objective_id}-burn"></div>'
        kept_path.write_text(json.dumps(kept), encoding="utf-8")
    (acme,) = [contract for contract in contracts if contract.id == "acme-cloud"]
    storage = acme.objective("storage-uptime")
    page_rule = storage.alerting.burn_rate_rules[0].model_copy(update={"burn_rate": 20.0})
    stricter = storage.model_copy(
        update={"alerting": storage.alerting.model_copy(update={"burn_rate_rules": [page_rule]})}
    )
    changed = acme.model_copy(
        update={"objectives": [stricter if o.id == stricter.id else o for o in acme.objectives]}
    )
    second = render_reports(out, [changed if c is acme else c for c in contracts], tables)
    compute = _objective_page(second, "acme-cloud", "compute-availability")
    assert 'id="kept-compute-availability-burn"' in compute
    redrawn = _objective_page(second, "acme-cloud", "storage-uptime")
    assert 'id="kept-storage-uptime-burn"' not in redrawn
    assert "threshold page: 1h & 5m \\u003e 20" in redrawn  # drawn with the new rule


def test_budget_overviews_are_kept_while_their_objectives_rows_are_the_same(
    tmp_path, contracts, tables
):
    out = tmp_path / "reports"
    first = render_reports(out, contracts, tables)
    kept_path = out / CHARTS_DRAWN / "contract-acme-cloud.html.json"
    kept = json.loads(kept_path.read_text(encoding="utf-8"))
    assert list(kept["charts"]) == ["overview"]
    assert kept["charts"]["overview"] in first.contract_pages["acme-cloud"].read_text("utf-8")
    kept["charts"]["overview"] = '<div id="kept-overview"></div>'
    kept_path.write_text(json.dumps(kept), encoding="utf-8")
    second = render_reports(out, contracts, tables)
    assert 'id="kept-overview"' in second.contract_pages["acme-cloud"].read_text("utf-8")


def test_pages_shared_with_a_worker_process_are_the_pages_written_alone(
    tmp_path: Path, contracts, tables, monkeypatch
):
    """Objective pages written by this process and a spawned one (one page per batch, shared
    from the first page on) are byte for byte those written by this process alone."""
    when = datetime(2026, 3, 1, tzinfo=UTC)
    alone = render_reports(tmp_path / "alone", contracts, tables, generated_at=when)
    monkeypatch.setattr(workers, "BATCH", 1)
    monkeypatch.setattr(workers, "MIN_SHARED", 1)
    shared = render_reports(tmp_path / "shared", contracts, tables, generated_at=when, workers=2)
    assert len(shared.objective_pages) == len(alone.objective_pages) > 1
    for key, path in alone.objective_pages.items():
        assert shared.objective_pages[key].read_bytes() == path.read_bytes()
