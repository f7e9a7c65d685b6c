"""Credits: the lowest tier reached wins, capped; no data earns nothing."""

from __future__ import annotations

import polars as pl
import pytest
from sla_support import UTC_US, make_contract, utc

from pipelines.sla.credits import credit_forecasts, owed_credits, window_credits
from pipelines.sla.objectives import credit_tiers_frame


def test_tiers_and_cap() -> None:
    credits = {
        "cap": "30%",
        "tiers": [
            {"below": "99.9%", "credit": "10%"},
            {"below": "99%", "credit": "25%"},
            {"below": "95%", "credit": "50%"},
        ],
    }
    contract = make_contract(
        [{"id": "avail", "sli": {"kind": "availability"}, "target": 0.999, "credits": credits}],
        monthly_fee=2000,
        currency="USD",
    )
    attainments = [0.9995, 0.999, 0.995, 0.985, 0.90, None]
    labels = [f"2026-0{n + 1}" for n in range(len(attainments))]
    windows = pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "avail",
            "window_label": labels,
            "window_start": utc(2026, 1, 1),
            "window_end": utc(2026, 2, 1),
            "is_complete": True,
            "attainment": attainments,
        },
        schema_overrides={"window_start": UTC_US, "window_end": UTC_US},
    )
    result = window_credits(windows, credit_tiers_frame([contract]))
    pct = dict(result.select("window_label", "credit_pct").rows())
    assert pct == {
        "2026-01": 0.0,  # meets every tier
        "2026-02": 0.0,  # 99.9% is not below 99.9%
        "2026-03": 0.10,
        "2026-04": 0.25,
        "2026-05": 0.30,  # 50% tier capped at 30%
        "2026-06": 0.0,  # no data
    }
    amounts = dict(result.select("window_label", "credit_amount").rows())
    assert amounts["2026-04"] == pytest.approx(500.0)
    assert amounts["2026-05"] == pytest.approx(600.0)
    assert set(result["currency"]) == {"USD"}
    # Only the 50% tier is cut by the objective's 30% cap.
    assert result.filter(pl.col("capped"))["window_label"].to_list() == ["2026-05"]


def test_contract_cap_scales_every_objective_of_a_contract_month_alike() -> None:
    """Fee 1,000 EUR, credit_cap 20% → at most 200 EUR per contract month (Berlin)."""

    def objective(objective_id: str, window: str, tiers: list[tuple[str, str]]) -> dict:
        return {
            "id": objective_id,
            "sli": {"kind": "availability"},
            "window": window,
            "credits": {"tiers": [{"below": below, "credit": credit} for below, credit in tiers]},
        }

    capped = make_contract(
        [
            objective("avail", "month", [("99.9%", "10%"), ("99%", "25%")]),
            objective("latency", "month", [("99%", "15%")]),
            objective("weekly", "week", [("99%", "10%")]),
        ],
        credit_cap="20%",
    )
    uncapped = make_contract([objective("avail", "month", [("99%", "25%")])], id="other")
    rows = [
        # 2026-02: 10% of 1,000 = 100 ≤ 200, not capped.
        ("acme", "avail", "2026-02", utc(2026, 1, 31, 23), 0.995),
        ("acme", "latency", "2026-02", utc(2026, 1, 31, 23), 0.995),
        ("acme", "weekly", "2026-W09", utc(2026, 2, 22, 23), 0.999),
        # 2026-03 (starts 28 Feb 23:00 UTC): 250 + 150 + 100 (the week from Monday 30 March
        # counts in March) = 500 > 200 → every credit × 0.4.
        ("acme", "avail", "2026-03", utc(2026, 2, 28, 23), 0.985),
        ("acme", "latency", "2026-03", utc(2026, 2, 28, 23), 0.98),
        ("acme", "weekly", "2026-W14", utc(2026, 3, 29, 22), 0.98),
        # Another contract without a cap keeps its 25%.
        ("other", "avail", "2026-03", utc(2026, 2, 28, 23), 0.985),
    ]
    windows = pl.DataFrame(
        rows,
        schema={
            "contract_id": pl.String,
            "objective_id": pl.String,
            "window_label": pl.String,
            "window_start": UTC_US,
            "attainment": pl.Float64,
        },
        orient="row",
    ).with_columns(window_end=pl.col("window_start"), is_complete=pl.lit(True))
    result = window_credits(windows, credit_tiers_frame([capped, uncapped]))
    got = {
        (row["contract_id"], row["window_label"]): (
            row["contract_window"],
            row["tier_credit"],
            row["credit_pct"],
            row["credit_amount"],
            row["capped"],
        )
        for row in result.iter_rows(named=True)
        if row["objective_id"] != "latency"
    }
    assert got == {
        ("acme", "2026-02"): ("2026-02", 0.10, 0.10, 100.0, False),
        ("acme", "2026-W09"): ("2026-02", None, 0.0, 0.0, False),
        ("acme", "2026-03"): ("2026-03", 0.25, pytest.approx(0.10), pytest.approx(100.0), True),
        ("acme", "2026-W14"): ("2026-03", 0.10, pytest.approx(0.04), pytest.approx(40.0), True),
        ("other", "2026-03"): ("2026-03", 0.25, 0.25, 250.0, False),
    }
    latency = result.filter(pl.col("objective_id") == "latency").sort("window_start")
    assert latency["credit_amount"].to_list() == pytest.approx([0.0, 60.0])
    march = result.filter(pl.col("contract_id") == "acme", pl.col("contract_window") == "2026-03")
    assert march["credit_amount"].sum() == pytest.approx(200.0)
    assert result.filter(pl.col("window_label") == "2026-03")["tier_below"].to_list() == [0.99] * 3


ACME_TIERS = {
    "cap": "30%",
    "tiers": [
        {"below": "99.95%", "credit": "10%"},
        {"below": "99.0%", "credit": "25%"},
        {"below": "95.0%", "credit": "30%"},
    ],
}


def acme_credits(current_attainment: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The issue's Acme case: fee 48,000 EUR, November complete and met, December running."""
    contract = make_contract(
        [{"id": "compute", "sli": {"kind": "availability"}, "target": "99.95%",
          "credits": ACME_TIERS}],
        monthly_fee=48_000,
        currency="EUR",
    )  # fmt: skip
    windows = pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "compute",
            "window_label": ["2026-11", "2026-12"],
            "window_start": [utc(2026, 10, 31, 23), utc(2026, 11, 30, 23)],
            "window_end": [utc(2026, 11, 30, 23), utc(2026, 12, 31, 23)],
            "is_complete": [True, False],
            "attainment": [0.9996, current_attainment],
        },
        schema_overrides={"window_start": UTC_US, "window_end": UTC_US},
    )
    tiers = credit_tiers_frame([contract])
    return window_credits(windows, tiers), tiers


def prediction(expected: float, low: float, high: float, p_breach: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "contract_id": ["acme"],
            "objective_id": ["compute"],
            "window_label": ["2026-12"],
            "p_breach": [p_breach],
            "expected_attainment": [expected],
            "attainment_low": [low],
            "attainment_high": [high],
            "target": [0.9995],
        }
    )


def test_a_running_window_owes_nothing_and_is_forecast_apart() -> None:
    # December so far (six days, 98.5%) would earn 25% = 12,000 EUR, but it is not owed: the
    # forecast puts it in the 10% tier (4,800 EUR) with the prediction's 62% breach risk.
    credits, tiers = acme_credits(0.985)
    assert dict(credits.select("window_label", "credit_amount").rows()) == {
        "2026-11": 0.0,
        "2026-12": pytest.approx(12_000.0),
    }
    assert owed_credits(credits)["window_label"].to_list() == ["2026-11"]
    forecast = credit_forecasts(credits, tiers, prediction(0.9993, 0.9985, 0.9998, 0.62))
    assert forecast.select(
        "window_label", "tier_below", "tier_credit", "credit_amount", "currency", "probability"
    ).row(0) == ("2026-12", 0.9995, 0.10, pytest.approx(4_800.0), "EUR", 0.62)


def test_a_deeper_forecast_tier_takes_its_probability_from_the_percentiles() -> None:
    credits, tiers = acme_credits(0.985)
    # expected 98.5%, 10th–90th percentiles 98%–99%: normal with σ = 0.01 / (2 × 1.2816);
    # P(below 99%) = Φ(1.2816) = 90%
    forecast = credit_forecasts(credits, tiers, prediction(0.985, 0.98, 0.99, 0.97)).row(
        0, named=True
    )
    assert (forecast["tier_credit"], forecast["credit_amount"]) == (0.25, pytest.approx(12_000.0))
    assert forecast["probability"] == pytest.approx(0.90)
    # no tier expected: the chance of any credit is the breach risk (top tier = target)
    quiet = credit_forecasts(credits, tiers, prediction(0.9998, 0.9996, 0.9999, 0.04)).row(
        0, named=True
    )
    assert (quiet["tier_below"], quiet["credit_amount"], quiet["probability"]) == (None, 0.0, 0.04)


def test_complete_windows_share_the_contract_cap_without_the_running_one() -> None:
    # fee 1,000, credit_cap 20%: two complete days at 25% each (500 EUR) are scaled to 100 EUR
    # each; the running day does not take a share of what the complete ones owe.
    contract = make_contract(
        [{"id": "avail", "sli": {"kind": "availability"}, "target": 0.999, "window": "day",
          "credits": {"tiers": [{"below": "99%", "credit": "25%"}]}}],
        time_zone="UTC",
        credit_cap="20%",
    )  # fmt: skip
    windows = pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "avail",
            "window_label": ["2026-03-01", "2026-03-02", "2026-03-03"],
            "window_start": [utc(2026, 3, day) for day in (1, 2, 3)],
            "window_end": [utc(2026, 3, day) for day in (2, 3, 4)],
            "is_complete": [True, True, False],
            "attainment": [0.98, 0.98, 0.98],
        },
        schema_overrides={"window_start": UTC_US, "window_end": UTC_US},
    )
    credits = window_credits(windows, credit_tiers_frame([contract]))
    owed = owed_credits(credits)
    assert owed["credit_amount"].to_list() == [pytest.approx(100.0)] * 2
