"""The report stage: self-contained HTML reports (portfolio and one page per contract)."""
