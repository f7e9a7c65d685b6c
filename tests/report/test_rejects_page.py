"""The rejects page and the portfolio's data-quality banner: hand-made ingest records with a
failed file and rejected lines whose text is hostile (a script, a spreadsheet formula)."""

from datetime import date

import polars as pl

from pipelines.ingest.summary import (
    FILE_COLUMNS,
    REASON_SCHEMA,
    REJECT_LISTING_SCHEMA,
    IngestRecords,
)
from pipelines.report.browser import check_pages
from pipelines.report.render import REJECTS_PER_FILE, render_reports, write_rejects_page

DAY = date(2026, 11, 2)
SCRIPT = '<script>console.error("injected")</script>'
FORMULA = '=HYPERLINK("http://evil.example","x"),api,1,0'
OVERFLOW = REJECTS_PER_FILE + 5
"""Rejects of the big file: five more than the page lists."""


def evidence() -> IngestRecords:
    files = pl.DataFrame(
        [
            ("requests", "requests/r.csv", DAY, "loaded", 10, 2, None),
            ("requests", "requests/big.csv", DAY, "loaded", 0, OVERFLOW, None),
            ("requests", "requests/<b>.csv", DAY, "failed", 0, 0, "requests/<b>.csv: not <CSV>"),
            ("surveys", "surveys/s.csv", DAY, "loaded", 3, 0, None),
        ],
        schema=list(FILE_COLUMNS),
        orient="row",
    )
    reasons = pl.DataFrame(
        [
            ("requests", "requests/big.csv", "unparseable number", OVERFLOW, 2, "x"),
            ("requests", "requests/r.csv", "missing ts", 1, 4, FORMULA),
            ("requests", "requests/r.csv", "unparseable <number>", 1, 3, SCRIPT),
        ],
        schema=REASON_SCHEMA,
        orient="row",
    )
    return IngestRecords(files, reasons)


def listing() -> pl.DataFrame:
    return pl.DataFrame(
        [
            ("requests", "requests/r.csv", 3, "unparseable <number>", SCRIPT),
            ("requests", "requests/r.csv", 4, "missing ts", FORMULA),
            *(
                ("requests", "requests/big.csv", line, "unparseable number", f"row {line}")
                for line in range(2, OVERFLOW + 2)
            ),
        ],
        schema=REJECT_LISTING_SCHEMA,
        orient="row",
    )


def test_the_rejects_page_lists_escaped_lines_and_failed_files(tmp_path):
    page = write_rejects_page(tmp_path, evidence(), listing())
    html = page.read_text()
    assert page.name == "rejects.html"
    assert SCRIPT not in html and "<b>" not in html and "<CSV>" not in html
    assert "&lt;script&gt;console.error(&#34;injected&#34;)&lt;/script&gt;" in html
    assert "unparseable &lt;number&gt;" in html
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;),api,1,0" in html
    assert 'requests/&lt;b&gt;.csv</td><td class="record">not &lt;CSV&gt;' in html
    # the big file: the first REJECTS_PER_FILE lines, then how many more
    assert f'<td class="num">{REJECTS_PER_FILE + 1}</td>' in html
    assert f'<td class="num">{REJECTS_PER_FILE + 2}</td>' not in html
    assert "… and 5 more rejects of this file" in html
    assert html.count("more rejects of this file") == 1

    [check] = check_pages([page])
    assert check.ok, (check.console_errors, check.external_requests)


def test_the_portfolio_banner_says_what_was_not_loaded(tmp_path, contracts, tables):
    report = render_reports(tmp_path, contracts, tables, evidence=evidence())
    html = report.index.read_text()
    assert 'id="data-quality"' in html
    assert f"1 landing file(s) failed to load and {OVERFLOW + 2} row(s) were rejected" in html
    assert '<a href="rejects.html">' in html
    assert (
        f"<strong>requests</strong>: 1 file(s) failed, {OVERFLOW + 2} of {OVERFLOW + 12} row(s) "
        f"rejected; most often unparseable number ({OVERFLOW}, e.g. <code>requests/big.csv:2"
        "</code>); missing ts (1, e.g. <code>requests/r.csv:4</code>); unparseable &lt;number"
        "&gt; (1, e.g. <code>requests/r.csv:3</code>)." in html
    )
    assert "<strong>surveys</strong>" not in html  # nothing wrong there


def test_no_banner_when_everything_loaded(tmp_path, contracts, tables):
    clean = evidence().files.filter(pl.col("source") == "surveys")
    report = render_reports(
        tmp_path, contracts, tables, evidence=IngestRecords(clean, evidence().reasons.clear())
    )
    assert 'id="data-quality"' not in report.index.read_text()
    assert 'id="data-quality"' not in render_reports(tmp_path, contracts, tables).index.read_text()


def test_the_banner_leaves_out_what_did_not_happen(tmp_path, contracts, tables):
    rejects_only = evidence().files.filter(pl.col("status") != "failed")
    report = render_reports(
        tmp_path, contracts, tables, evidence=IngestRecords(rejects_only, evidence().reasons)
    )
    html = report.index.read_text()
    assert f"<p>{OVERFLOW + 2} row(s) were rejected: the figures below" in html
    assert "failed to load" not in html
