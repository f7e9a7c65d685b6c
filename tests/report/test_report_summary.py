from datetime import UTC, date, datetime

import polars as pl

from pipelines.report.summary import (
    capacity_running_out,
    contract_order,
    credits_owed,
    objective_summary,
    root_cause_hints,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_objective_summary_puts_breaching_then_at_risk_then_no_data_then_on_track(tables):
    summary = objective_summary(tables["objectives"], tables["windows"])
    assert summary.select("objective_id", "status", "urgency").rows() == [
        ("payments-availability", "breaching", 0),
        ("storage-uptime", "at_risk", 1),
        ("api-availability", "no_data", 2),
        ("compute-availability", "on_track", 3),
    ]


def test_objective_summary_carries_the_current_and_the_last_complete_window(tables):
    summary = objective_summary(tables["objectives"], tables["windows"])
    compute = summary.filter(pl.col("objective_id") == "compute-availability").row(0, named=True)
    assert compute["window_label"] == "2026-03"
    assert compute["attainment"] == 0.9997
    assert compute["budget_remaining"] == 0.4
    assert compute["target"] == 0.9995
    assert (compute["last_window_label"], compute["last_status"]) == ("2026-02", "breached")
    assert compute["last_attainment"] == 0.9994
    assert compute["breached_windows"] == 1
    empty = summary.filter(pl.col("objective_id") == "api-availability").row(0, named=True)
    assert empty["window_label"] is None and empty["attainment"] is None
    assert empty["target"] == 0.99
    assert empty["breached_windows"] == 0


def test_equal_urgency_sorts_by_least_budget_left(tables):
    windows = tables["windows"].with_columns(
        pl.when(pl.col("is_complete")).then("status").otherwise(pl.lit("at_risk")).alias("status")
    )
    summary = objective_summary(tables["objectives"], windows)
    assert summary["objective_id"].head(3).to_list() == [
        "payments-availability",  # -50% left
        "storage-uptime",  # 20% left
        "compute-availability",  # 40% left
    ]


def test_contracts_sort_by_their_most_urgent_objective(tables):
    summary = objective_summary(tables["objectives"], tables["windows"])
    order = contract_order(["acme-cloud", "evil-corp", "paylane", "new-contract"], summary)
    assert order == ["paylane", "acme-cloud", "evil-corp", "new-contract"]


def test_credits_owed_sum_every_window_per_contract_and_currency(tables):
    owed = credits_owed(tables["credits"])
    assert owed.rows() == [("acme-cloud", "EUR", 12000.0, 2), ("paylane", "USD", 0.0, 0)]


def test_root_cause_hints_keep_the_latest_five_episodes_and_their_three_best_hints(tables):
    hints = root_cause_hints(tables["root_causes"])
    assert hints.select("episode_start", "rank", "series").rows() == [
        (utc(2026, 3, 9, 20), 1, "payments-db:error_ratio"),
        (utc(2026, 3, 9, 20), 2, "payments-api:latency_p99"),
        (utc(2026, 3, 9, 20), 3, "webhooks:request_rate"),
        *((utc(2026, 3, day, 12), 1, "refunds-api:error_ratio") for day in (5, 4, 3, 2)),
    ]


def test_capacity_running_out_lists_the_services_whose_earliest_day_is_within_90_days(tables):
    as_of = utc(2026, 3, 10, 12)
    running_out = capacity_running_out(tables["capacity"], as_of)
    assert running_out.select("service", "runs_out_at", "runs_out_earliest").rows() == [
        ("payments-api", date(2026, 5, 1), date(2026, 4, 10))
    ]
    # compute-api's earliest day, 2026-07-01, is 113 days on.
    assert capacity_running_out(tables["capacity"], as_of, days=113)["service"].to_list() == [
        "payments-api",
        "compute-api",
    ]
