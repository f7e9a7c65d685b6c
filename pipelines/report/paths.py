"""The names of report pages: a small shared fact, used by the pages and by notifications' links."""

from __future__ import annotations

CREDITS_LEDGER = "credits-ledger.csv"
"""The CSV of every contract × objective × window of ``sla.credits``, beside the pages."""
BACKTEST_PAGE = "backtest.html"
"""The backtest page, written by ``pledge backtest``; the portfolio links to it once it exists."""


def objective_page_name(contract_id: str, objective_id: str) -> str:
    """The file of an objective's drill-down page. ``~`` cannot occur in an id, so no two
    objectives share a file."""
    return f"objective-{contract_id}~{objective_id}.html"


def objective_items_name(contract_id: str, objective_id: str) -> str:
    """The CSV of the items (tickets, incidents, backups, restore tests) of an objective's current
    window, written beside its page."""
    return objective_page_name(contract_id, objective_id).removesuffix(".html") + "-items.csv"
