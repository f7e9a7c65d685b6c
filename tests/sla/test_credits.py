"""Credits: the lowest tier reached wins, capped; no data earns nothing."""

from __future__ import annotations

import polars as pl
import pytest
from sla_support import UTC_US, make_contract, utc

from pipelines.sla.credits import window_credits
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
