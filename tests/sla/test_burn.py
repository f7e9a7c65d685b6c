"""Burn rates and multi-window alerts on hand-built slices."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sla_support import UTC_US, make_contract, utc

from pipelines.sla.burn import (
    alert_episodes,
    burn_ledger,
    burn_rates,
    firing_at_end,
    trailing_sums_sql,
)
from pipelines.sla.objectives import alert_rules_frame, objectives_frame

START = utc(2026, 3, 1)


def slice_series(bad: list[float], total: float, minutes: int) -> pl.DataFrame:
    """Slices of ``minutes`` from START with the given bad counts and a constant total."""
    return pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "avail",
            "slice_start": [START + timedelta(minutes=minutes * n) for n in range(len(bad))],
            "good": [total - b for b in bad],
            "total": float(total),
        },
        schema_overrides={"slice_start": UTC_US},
    )


def alerts_for(contract, slices: pl.DataFrame) -> pl.DataFrame:
    ledger = burn_ledger(objectives_frame([contract]), slices)
    return alert_episodes(ledger, alert_rules_frame([contract]))


MONTHLY = make_contract(
    [{"id": "avail", "sli": {"kind": "availability"}, "target": 0.999}], time_zone="UTC"
)


@pytest.mark.parametrize(("bad", "pages"), [(145, True), (143, False)])
def test_page_when_1h_and_5m_burn_exceed_14_4(bad: float, pages: bool) -> None:
    # A day of clean 5-minute slices, then 12 slices (1 h) at bad/10000 → burn 14.5 or 14.3,
    # then one clean slice.
    slices = slice_series([0] * 288 + [bad] * 12 + [0], total=10_000, minutes=5)
    alerts = alerts_for(MONTHLY, slices)
    pages_raised = alerts.filter(pl.col("severity") == "page")
    if not pages:
        assert pages_raised.is_empty()
        return
    # Fires once the 1 h look-back is full of bad slices (end of the 12th), stops at the clean one.
    assert pages_raised.select("started_at", "ended_at").rows() == [
        (START + timedelta(minutes=5 * 300), START + timedelta(minutes=5 * 301))
    ]
    assert pages_raised["peak_burn_rate"].item() == pytest.approx(14.5)
    assert alerts.filter(pl.col("severity") == "ticket").is_empty()  # 3d burn 0.58


def test_burn_rate_columns() -> None:
    slices = slice_series([0] * 288 + [145] * 12, total=10_000, minutes=5)
    rates = burn_rates(burn_ledger(objectives_frame([MONTHLY]), slices))
    last = rates.row(-1, named=True)
    assert last["ts"] == START + timedelta(minutes=5 * 300)
    assert last["burn_5m"] == pytest.approx(14.5)
    assert last["burn_1h"] == pytest.approx(14.5)
    assert last["burn_6h"] == pytest.approx(14.5 * 12 / 72)
    assert last["burn_1d"] == pytest.approx(14.5 * 12 / 288)
    assert last["burn_3d"] == pytest.approx(14.5 * 12 / 300)  # only 300 slices exist
    assert rates.row(0, named=True)["burn_1h"] == 0.0


def test_ticket_on_slow_burn_still_firing() -> None:
    # Four days at burn 1.5 (bad 15 of 10000): ticket (3d and 6h > 1), no page (< 6).
    slices = slice_series([15] * 288 * 4, total=10_000, minutes=5)
    alerts = alerts_for(MONTHLY, slices)
    assert alerts.select("severity", "started_at", "ended_at").rows() == [
        ("ticket", START + timedelta(minutes=5), None)
    ]
    assert alerts["peak_burn_rate"].item() == pytest.approx(1.5)
    assert firing_at_end(alerts).rows() == [("acme", "avail")]
    calm = alerts_for(MONTHLY, slice_series([9] * 288 * 4, total=10_000, minutes=5))
    assert calm.is_empty()


def test_look_backs_scale_with_a_weekly_window() -> None:
    # 1-minute slices at target 95% (max burn 20): a day clean, then 20 bad minutes.
    # Week window: page look-backs 1h·7/30 = 14 min and 5m·7/30 = 70 s; 14-minute burn after k bad
    # minutes = 20·k/14, above 14.4 from k = 11. Month window: 1 h burn 20·20/60 = 6.7, no page.
    def contract(window: str):
        return make_contract(
            [
                {
                    "id": "avail",
                    "sli": {"kind": "availability", "evidence": "probes"},
                    "target": 0.95,
                    "window": window,
                    "budgeting": {"method": "timeslices", "slice": "1m", "slice_target": 1},
                }
            ],
            time_zone="UTC",
        )

    slices = slice_series([0] * 1440 + [1] * 20, total=1, minutes=1)
    weekly = alerts_for(contract("week"), slices)
    assert weekly.select("severity", "started_at", "ended_at").rows() == [
        ("page", START + timedelta(minutes=1440 + 11), None)
    ]
    assert weekly["peak_burn_rate"].item() == pytest.approx(20.0)
    assert alerts_for(contract("month"), slices).is_empty()
    rules = alert_rules_frame([contract("week")])
    assert rules.filter(pl.col("rule") == 0).select("long_seconds", "short_seconds").row(0) == (
        pytest.approx(840),
        pytest.approx(70),
    )


def test_no_sliced_objective_means_no_alerts() -> None:
    # Only item-judged objectives (no slices at all): an empty ledger gives empty episodes.
    alerts = alerts_for(MONTHLY, slice_series([0.0], 100.0, 5).clear())
    assert alerts.is_empty()
    assert firing_at_end(alerts).is_empty()


@st.composite
def objective_slices(draw: st.DrawFn) -> tuple[int, list[int], set[int], bool]:
    """Slice seconds, bad per slice, the slices left out (gaps, never the first) and whether
    the counts are fractional."""
    bad = draw(st.lists(st.integers(0, 40), min_size=1, max_size=120))
    gaps = draw(st.sets(st.integers(1, len(bad)), max_size=3))
    return draw(st.sampled_from([60, 300])), bad, gaps, draw(st.booleans())


@settings(max_examples=100, deadline=None)
@given(objectives=st.lists(objective_slices(), min_size=1, max_size=3))
def test_running_totals_give_the_sums_of_the_range_windows_exactly(objectives) -> None:
    # Integral objectives without gaps take their look-back sums from running totals, the others
    # from RANGE windows: forcing the windows on every objective (no slice length given to the
    # running totals) must give the same doubles. 5000 s is no multiple of either slice length.
    frames, slices = [], []
    for n, (seconds, bad, gaps, fractional) in enumerate(objectives):
        objective_id = f"o{n}"
        frames.append((objective_id, 0.999, seconds))
        kept = [index for index in range(len(bad)) if index not in gaps]
        slices.append(
            pl.DataFrame(
                {
                    "contract_id": "acme",
                    "objective_id": objective_id,
                    "slice_start": [START + timedelta(seconds=seconds * i) for i in kept],
                    "good": [100.0 - bad[i] / (3 if fractional else 1) for i in kept],
                    "total": 100.0,
                },
                schema_overrides={"slice_start": UTC_US},
            )
        )
    frame = pl.DataFrame(
        frames, schema=["objective_id", "target", "slice_seconds"], orient="row"
    ).with_columns(contract_id=pl.lit("acme"))
    ledger = burn_ledger(frame, pl.concat(slices))
    lookbacks = [300, 1800, 5000, 86_400]
    with duckdb.connect() as con:
        con.register("ledger", ledger)

        def sums(slice_lengths: list[int]) -> pl.DataFrame:
            sql = trailing_sums_sql("ledger", lookbacks, slice_lengths)
            return con.sql(sql).pl().sort("objective_index", "ts")

        assert sums([60, 300]).equals(sums([]))
