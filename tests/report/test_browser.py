"""Every report page of the demo in headless Chromium (through Playwright): all charts drawn, no
console error, no request leaving the file system, nothing clipped or overlapping at 1280 and
1600 px; and proof, on broken pages, that the check catches each fault.

Chromium is required, not optional: without it these tests fail and say how to install it."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import plotly.offline
import pytest

from pipelines.report.browser import (
    LAYOUT_WIDTHS,
    VIEWPORT,
    Browser,
    BrowserError,
    chromium_executable,
    report_pages,
)
from pipelines.report.render import render_reports


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        chromium_executable()
    except BrowserError as error:
        pytest.fail(f"{error}. `make test` installs Chromium before running the tests.")
    with Browser(timeout=20) as opened:
        yield opened


def test_every_demo_page_draws_all_charts_without_errors_or_network(
    demo_home: Path, browser: Browser
) -> None:
    reports = demo_home / "reports"
    pages = report_pages(reports)
    contracts = len(list((demo_home / "contracts").glob("*.yaml")))
    assert contracts == 5
    # The portfolio, one page per contract, and whatever else the report writes (in subfolders
    # too): every one is checked.
    assert len(pages) >= contracts + 1
    assert reports / "index.html" in pages

    checks = {page.relative_to(reports).as_posix(): browser.check(page) for page in pages}

    problems = {
        name: (
            f"{c.plots_with_svg}/{c.plot_divs} charts drawn",
            c.console_errors,
            c.external_requests,
            c.layout_problems,
        )
        for name, c in checks.items()
        if not c.ok
    }
    assert problems == {}
    assert checks["index.html"].plot_divs >= 1
    for name, check in checks.items():
        if name.startswith("contract-"):
            assert check.plot_divs >= 1, name


@pytest.fixture
def broken_page(tmp_path: Path) -> Path:
    """Two charts, one drawn; one that a throwing script never draws; a console.error; plotly
    from a CDN; an image from the web; a local script that does not exist."""
    (tmp_path / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    page = tmp_path / "broken.html"
    page.write_text(
        """<!doctype html><html><head><meta charset="utf-8">
<script src="plotly.min.js"></script>
<script src="https://cdn.plot.ly/plotly-3.0.1.min.js"></script>
<script src="missing.js"></script></head><body>
<div id="drawn" class="plotly-graph-div"></div>
<div id="never" class="plotly-graph-div"></div>
<script>
  Plotly.newPlot("drawn", [{y: [1, 3, 2]}]);
  console.error("budget chart failed", 42);
  drawBudget("never");
</script>
<img src="http://example.com/logo.png" alt="">
</body></html>""",
        encoding="utf-8",
    )
    return page


def test_the_check_catches_undrawn_charts_errors_and_external_requests(
    broken_page: Path,
) -> None:
    with Browser(timeout=3) as short:  # the undrawn chart is waited for until the timeout
        check = short.check(broken_page)

    assert (check.plot_divs, check.plots_with_svg) == (2, 1)
    assert check.external_requests == (
        "https://cdn.plot.ly/plotly-3.0.1.min.js",
        "http://example.com/logo.png",
    )
    errors = "\n".join(check.console_errors)
    assert "console.error: budget chart failed 42" in errors
    assert "ReferenceError: drawBudget is not defined" in errors
    assert "ERR_FILE_NOT_FOUND" in errors and "missing.js" in errors
    assert not check.ok


def test_a_clean_page_passes_and_its_screenshot_is_a_png_of_the_viewport_width(
    broken_page: Path, browser: Browser, tmp_path: Path
) -> None:
    page = broken_page.with_name("clean.html")
    page.write_text(
        '<!doctype html><html><head><script src="plotly.min.js"></script></head><body>'
        '<div id="a" class="plotly-graph-div"></div>'
        '<script>Plotly.newPlot("a", [{y: [1, 3, 2]}]);</script></body></html>',
        encoding="utf-8",
    )
    check = browser.check(page)
    assert (check.plot_divs, check.plots_with_svg, check.ok) == (1, 1, True)

    png = browser.screenshot(page, tmp_path / "shots" / "clean.png", max_height=600).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert width == VIEWPORT[0]
    assert 0 < height <= 600


def test_a_missing_chromium_is_an_error_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEDGE_CHROMIUM", "no-such-chromium-binary")
    with pytest.raises(BrowserError, match=r"run `make test` or `make browser`"):
        chromium_executable()


def test_the_layout_check_catches_clipped_cells_overlapping_text_and_a_covered_title(
    broken_page: Path, browser: Browser
) -> None:
    """At each width: a header cut by an ellipsis, a cell whose text overflows a fixed width, a
    table wider than its scrolling box (its last column out of sight at 1280 px, not at 1600),
    two chart labels printed over each other, and a long title under plotly's toolbar."""
    page = broken_page.with_name("layout.html")
    page.write_text(
        """<!doctype html><html><head><script src="plotly.min.js"></script>
<style>table { border-collapse: collapse; } td, th { border: 1px solid #ccc; }</style></head>
<body>
<table><tr>
  <th style="max-width: 60px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis">
    Credits owed</th>
  <td style="width: 50px; max-width: 50px; white-space: nowrap">12,000.00 EUR</td>
</tr></table>
<div style="overflow-x: auto"><table><tr>
  <td style="min-width: 1400px">wide</td><th>Breach risk</th></tr></table></div>
<div id="chart" class="plotly-graph-div" style="width: 600px; height: 300px"></div>
<script>
  Plotly.newPlot("chart", [{y: [1, 3, 2]}], {
    title: {text: "A title long enough to run under the toolbar at the top right"},
    annotations: [
      {x: 1, y: 2, text: "page alert", showarrow: false},
      {x: 1, y: 2, text: "threshold > 14.4", showarrow: false}],
    margin: {t: 30}}, {modeBarButtonsToAdd: []});
</script></body></html>""",
        encoding="utf-8",
    )
    check = browser.check(page)
    assert (check.plot_divs, check.plots_with_svg, check.console_errors) == (1, 1, ())
    assert not check.ok
    for width in LAYOUT_WIDTHS:
        problems = [p for p in check.layout_problems if p.startswith(f"{width} px: ")]
        text = "\n".join(problems)
        assert 'cell "Credits owed" cut by text-overflow' in text
        assert 'cell "12,000.00 EUR" clipped' in text
        assert 'annotation "page alert" overlaps annotation "threshold > 14.4"' in text
        assert 'the toolbar covers gtitle "A title long enough' in text
    wide = [p for p in check.layout_problems if 'cell "Breach risk" cut off' in p]
    assert [p.split(":")[0] for p in wide] == ["1280 px"]


def test_the_portfolio_sorts_and_filters_offline(
    tmp_path: Path, browser: Browser, contracts: list, tables: dict
) -> None:
    """The hand-made portfolio (conftest): trouble first; a text filter; status filters; a click
    on Budget left sorts by it (-50%, 20%, 40%), a second click reverses, objectives without a
    budget stay last."""
    report = render_reports(tmp_path, contracts, tables)
    errors: list[str] = []
    requests: list[str] = []
    with browser.open(report.index, errors, requests) as page:
        rows = page.locator("#portfolio tbody tr")

        def visible(column: int) -> list[str]:
            return [
                row.locator("th, td").nth(column).inner_text().strip()
                for row in rows.all()
                if row.is_visible()
            ]

        assert [row.get_attribute("data-status") for row in rows.all()] == [
            "breaching", "at_risk", "no_data", "on_track",
        ]  # fmt: skip
        assert page.locator("#portfolio-shown").inner_text() == "4 of 4 shown"

        page.fill("#portfolio-filter", "STORAGE")
        assert visible(1) == ["Object storage probes succeed"]
        assert page.locator("#portfolio-shown").inner_text() == "1 of 4 shown"
        page.fill("#portfolio-filter", "")

        page.uncheck("#portfolio-statuses input[value=no_data]")
        page.uncheck("#portfolio-statuses input[value=on_track]")
        assert [s.split("\n")[0] for s in visible(3)] == ["✖ Breaching", "▲ At risk"]
        page.check("#portfolio-statuses input[value=no_data]")
        page.check("#portfolio-statuses input[value=on_track]")

        budget = page.locator("#portfolio thead th", has_text="Budget left").locator("button")
        budget.click()
        assert visible(6) == ["-50.0%", "20.0%", "40.0%", "—"]
        budget.click()
        assert visible(6) == ["40.0%", "20.0%", "-50.0%", "—"]
        assert page.locator("#portfolio thead th[aria-sort]").inner_text() == "Budget left"
    assert (errors, requests) == ([], [])
