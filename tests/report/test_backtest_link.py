"""The portfolio links the backtest page once ``pledge backtest`` has written it."""

from pipelines.report.paths import BACKTEST_PAGE
from pipelines.report.render import render_reports


def test_the_portfolio_links_the_backtest_page_only_when_it_exists(tmp_path, contracts, tables):
    link = f'<a href="{BACKTEST_PAGE}">backtest</a>'
    assert link not in render_reports(tmp_path, contracts, tables).index.read_text()
    (tmp_path / BACKTEST_PAGE).write_text("<html></html>")
    assert link in render_reports(tmp_path, contracts, tables).index.read_text()
