from datetime import UTC, date, datetime

import polars as pl

from pipelines.report.summary import (
    LOW_BUDGET,
    budget_exhausted_since,
    by_urgency,
    capacity_running_out,
    contract_order,
    credits_owed,
    objective_summary,
    root_cause_hints,
    urgency,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_objective_summary_puts_breaching_then_at_risk_then_no_data_then_on_track(tables):
    summary = objective_summary(tables["objectives"], tables["windows"])
    assert summary.select("objective_id", "status", "urgency").rows() == [
        ("payments-availability", "breaching", 0),
        ("storage-uptime", "at_risk", 1),
        ("api-availability", "no_data", 3),
        ("compute-availability", "on_track", 4),
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


def test_credits_owed_leave_out_the_running_window(tables):
    # the case: a running window's credit (storage-uptime 2026-01 here, 7,200 EUR) is
    # not owed until the window is complete
    running = tables["credits"].with_columns(
        is_complete=(pl.col("objective_id") != "storage-uptime")
    )
    assert credits_owed(running).rows() == [
        ("acme-cloud", "EUR", 4800.0, 1),
        ("paylane", "USD", 0.0, 0),
    ]


def test_the_budget_is_exhausted_since_the_start_of_its_last_stretch_below_zero():
    hours = [utc(2026, 12, 1, hour) for hour in range(1, 6)]
    burndown = pl.DataFrame({"ts": hours, "budget_remaining": [0.5, -0.1, 0.2, -0.3, -0.8]})
    assert budget_exhausted_since(burndown) == utc(2026, 12, 1, 4)
    assert budget_exhausted_since(burndown.head(3)) is None
    assert budget_exhausted_since(burndown.tail(2)) == utc(2026, 12, 1, 4)


def test_root_cause_hints_keep_the_latest_five_episodes_and_their_three_best_hints(tables):
    hints = root_cause_hints(tables["root_causes"])
    assert hints.select("episode_start", "rank", "series").rows() == [
        (utc(2026, 3, 9, 20), 1, "payments-db:error_ratio"),
        (utc(2026, 3, 9, 20), 2, "payments-api:latency_p99"),
        (utc(2026, 3, 9, 20), 3, "webhooks:request_rate"),
        *((utc(2026, 3, day, 12), 1, "refunds-api:error_ratio") for day in (5, 4, 3, 2)),
    ]
    # The episode of March 3 (p 0.5) keeps its best series, not significant, for the page to say
    # that nothing lines up.
    assert hints["significant"].to_list() == [True] * 5 + [False, True]


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


URGENCY_CASES = pl.DataFrame(
    [
        # (objective, status, p_breach, risk_threshold, budget_remaining, expected rank)
        ("breaching", "breaching", None, 0.5, -0.5, 0),
        ("likely", "on_track", 0.7, 0.5, 0.6, 1),  # p_breach ≥ the threshold
        ("at-threshold", "on_track", 0.5, 0.5, 0.6, 1),
        ("alerting", "at_risk", 0.1, 0.5, 0.6, 1),
        ("low-budget", "on_track", 0.2, 0.5, 0.1, 2),
        ("no-data", "no_data", None, 0.5, None, 3),
        ("few-responses", "insufficient_data", None, 0.5, None, 3),
        ("fine", "on_track", 0.49, 0.5, 0.9, 4),
        ("unpredicted", "on_track", None, 0.5, None, 4),
        ("just-enough", "on_track", None, 0.5, LOW_BUDGET, 4),
    ],
    schema={
        "objective_id": pl.String,
        "status": pl.String,
        "p_breach": pl.Float64,
        "risk_threshold": pl.Float64,
        "budget_remaining": pl.Float64,
        "expected": pl.Int64,
    },
    orient="row",
).with_columns(contract_id=pl.lit("c"))


def test_urgency_ranks_breaching_then_at_risk_or_likely_then_low_budget_then_no_data():
    ranks = URGENCY_CASES.select(
        "objective_id",
        urgency(
            pl.col("status"), pl.col("p_breach"), pl.col("risk_threshold"),
            pl.col("budget_remaining"),
        ),
    )  # fmt: skip
    assert ranks.to_series(1).to_list() == URGENCY_CASES["expected"].to_list()


def test_within_a_rank_the_highest_breach_risk_then_the_least_budget_comes_first():
    ordered = by_urgency(URGENCY_CASES)
    assert ordered["objective_id"].to_list() == [
        "breaching",
        "likely",  # 70%
        "at-threshold",  # 50%
        "alerting",  # 10%
        "low-budget",
        "few-responses",  # no prediction, no budget: by id
        "no-data",
        "fine",  # 49%, then the ones without a prediction
        "just-enough",  # 25% left
        "unpredicted",
    ]
    assert ordered["urgency"].to_list() == sorted(URGENCY_CASES["expected"].to_list())


def test_a_likely_breach_puts_its_contract_before_one_with_little_budget_left(tables):
    windows = tables["windows"].with_columns(
        pl.when(pl.col("is_complete")).then("status").otherwise(pl.lit("on_track")).alias("status")
    )
    # storage-uptime (acme-cloud) 20% left and 62% likely to breach; payments (paylane) -50%.
    summary = objective_summary(tables["objectives"], windows, tables["breach_risk"])
    assert summary.select("objective_id", "urgency").rows()[:2] == [
        ("storage-uptime", 1),
        ("payments-availability", 2),
    ]
    assert contract_order(["paylane", "acme-cloud", "evil-corp"], summary) == [
        "acme-cloud",
        "paylane",
        "evil-corp",
    ]
