from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from pipelines.sla.objectives import UTC_US, utc_literal


def test_utc_literal_compares_as_polars_own_literal_to_the_microsecond():
    """Aware datetimes of any zone (Polars' own literal of a Berlin time cannot even be compared
    with a UTC column), a microsecond either side of a row: the rows pl.lit of the UTC time
    gives, and a UTC_US value equal to the instant."""
    instant = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)  # Berlin's clocks go forward
    rows = pl.DataFrame(
        {"ts": [instant - timedelta(microseconds=1), instant, instant + timedelta(microseconds=1)]},
        schema={"ts": UTC_US},
    )
    for moment in (instant, instant.astimezone(ZoneInfo("Europe/Berlin"))):
        for compare in (pl.Expr.__lt__, pl.Expr.__le__, pl.Expr.__eq__, pl.Expr.__ge__):
            ours = rows.filter(compare(pl.col("ts"), utc_literal(moment)))
            assert ours.equals(rows.filter(compare(pl.col("ts"), pl.lit(instant))))
        value = pl.select(utc_literal(moment)).item()
        assert value == instant and value.tzinfo is not None
    assert pl.select(utc_literal(instant)).dtypes == [UTC_US]


def test_utc_literal_refuses_a_naive_datetime():
    with pytest.raises(TypeError):
        utc_literal(datetime(2026, 3, 29))
