"""The one CSV writer of every export (credits ledger, monthly summaries, drill-downs): a text cell
a spreadsheet would read as a formula is neutralised, numbers stay numbers.

OWASP's rule for CSV injection: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with ``'``, so that ``=HYPERLINK("http://evil.example/x","Open")`` in
an objective's title or a ticket's text is shown as text, never run. Only text columns are
touched: a number (``-12.5``) is written as itself.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

FORMULA_STARTS = "=+-@\t\r"
"""First characters that make a spreadsheet read a cell as a formula."""
CSV_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""Timestamps (all UTC) in the exports."""


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell starting with one of :data:`FORMULA_STARTS` prefixed by
    ``'``; categorical and enum columns become text; other columns unchanged."""
    texts = [
        name
        for name, dtype in frame.schema.items()
        if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))
    ]
    pattern = "^[" + FORMULA_STARTS.replace("-", r"\-") + "]"
    return frame.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.contains(pattern))
        .then(pl.lit("'") + pl.col(name).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String))
        .alias(name)
        for name in texts
    )


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` as CSV (header row, UTC timestamps as :data:`CSV_TIME_FORMAT`)
    with its text cells :func:`neutralised`; returns ``path``."""
    neutralised(frame).write_csv(path, datetime_format=CSV_TIME_FORMAT)
    return path
