"""`pledge import-openslo`: OpenSLO v1 files become contracts that validate; what Pledge cannot
express gives one exact `FILE: kind name: field: message` line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.contracts.loader import load_contract
from pipelines.contracts.openslo import import_openslo
from pipelines.contracts.schema import Occurrences, Timeslices

FIXTURES = Path(__file__).parent / "openslo"
CONTRACT_IDS = ("checkout", "orders", "search")
CONVERTIBLE = ("checkout-availability.yaml", "search-latency.yaml", "slis.yaml", "orders.yaml")

SLO = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api-latency
spec:
  service: api
  indicator:
    metadata:
      name: api-latency
    spec:
      thresholdMetric:
        metricSource:
          type: Prometheus
          spec:
            query: api_latency_seconds
  timeWindow:
    - duration: 1M
      calendar:
        startTime: 2026-04-01 00:00:00
        timeZone: Europe/Paris
  budgetingMethod: Timeslices
  objectives:
    - op: lte
      value: 0.25
      targetPercent: 99.5
      timeSliceTarget: 0.9
      timeSliceWindow: 1
"""


def run(paths: list[Path], capsys, *options: str) -> tuple[int, str, list[str]]:
    code = main(["import-openslo", *map(str, paths), *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def fixtures(*names: str) -> list[Path]:
    return [FIXTURES / name for name in names]


def test_fixtures_become_contracts_that_validate(tmp_path, capsys):
    code, out, err = run(fixtures(*CONVERTIBLE), capsys, "--out", str(tmp_path))
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkout.yaml",
        "orders.yaml",
        "search.yaml",
    ]
    assert out.splitlines() == [f"wrote {tmp_path / name}.yaml" for name in CONTRACT_IDS]
    assert err == [
        f"note: {FIXTURES / 'checkout-availability.yaml'}: AlertPolicy checkout-fast-burn: "
        "skipped: alert policies are not imported: Pledge alerts on burn rates with the "
        "objective's alerting rules",
        f"note: {FIXTURES / 'checkout-availability.yaml'}: SLO checkout-availability: "
        "spec.alertPolicies: skipped: Pledge alerts on burn rates with the objective's "
        "alerting rules",
    ]

    # ratio good/total, Occurrences, rolling 28d; parties from the Service's annotation and label
    checkout = load_contract(tmp_path / "checkout.yaml")
    assert (checkout.provider, checkout.consumer, checkout.time_zone) == (
        "Payments team",
        "Web shop",
        "UTC",
    )
    assert checkout.services[0].title == "Checkout"
    availability = checkout.objective("checkout-availability")
    assert (availability.sli.kind, availability.sli.source_kind) == ("availability", "requests")
    assert availability.target == 0.9995
    assert (availability.window.kind, availability.window.length) == (
        "rolling",
        timedelta(days=28),
    )
    assert isinstance(availability.budgeting, Occurrences)

    # threshold in ms, Timeslices, calendar month in the calendar's zone
    search = load_contract(tmp_path / "search.yaml")
    assert search.time_zone == "Europe/Berlin"
    latency = search.objective("search-latency")
    assert (latency.sli.kind, latency.sli.threshold) == ("latency", timedelta(milliseconds=300))
    assert latency.target == 0.99
    assert (latency.window.kind, latency.window.period) == ("calendar", "month")
    assert latency.budgeting == Timeslices(
        method="timeslices", slice=timedelta(minutes=5), slice_target=0.95
    )

    # indicatorRef resolved in another file (bad/total); two objectives; default parties
    orders = load_contract(tmp_path / "orders.yaml")
    assert (orders.provider, orders.consumer, orders.time_zone) == (
        "Service owner",
        "Service users",
        "America/New_York",
    )
    assert [(o.id, o.target, o.window.period) for o in orders.objectives] == [
        ("orders-availability-1", 0.999, "week"),
        ("orders-availability-2", 0.99, "week"),
    ]


def test_stdout_holds_every_contract_and_cli_options_fill_the_parties(capsys):
    code, out, _ = run(fixtures("orders.yaml", "slis.yaml"), capsys, "--provider", "Acme")
    assert code == 0
    assert out.startswith("# Imported from OpenSLO by pledge import-openslo:\n")
    assert "provider: Acme\nconsumer: Service users\n" in out


def test_unsupported_objects_give_exact_lines_and_no_contract(capsys):
    code, out, err = run(fixtures("slis.yaml", "unsupported.yaml"), capsys)
    file = FIXTURES / "unsupported.yaml"
    assert code == 1
    assert out == ""
    assert err == [
        f"{file}: Dashboard checkout-board: kind: unknown kind 'Dashboard': OpenSLO v1 kinds "
        "are Service, SLI, SLO, AlertPolicy, AlertCondition, AlertNotificationTarget, DataSource",
        f"{file}: SLO checkout-latency: spec.budgetingMethod: RatioTimeslices is not supported "
        "(Pledge budgets by Occurrences or Timeslices)",
        f"{file}: SLO checkout-short: spec.timeWindow[0].duration: 90m is not whole days",
    ]


def test_a_failing_slo_is_left_out_of_its_service_contract():
    result = import_openslo(
        fixtures("checkout-availability.yaml", "slis.yaml", "unsupported.yaml"), "P", "C"
    )
    assert list(result.contracts) == ["checkout"]
    assert "id: checkout-availability\n" in result.contracts["checkout"]
    assert "checkout-short" not in result.contracts["checkout"]
    assert len(result.problems) == 3


def test_missing_indicator_ref_names_the_sli(capsys):
    code, _, err = run(fixtures("orders.yaml"), capsys)
    assert (code, err) == (
        1,
        [
            f"{FIXTURES / 'orders.yaml'}: SLO orders-availability: spec.indicatorRef: no SLI "
            "named 'orders-errors' in the given files"
        ],
    )


def test_threshold_value_in_seconds_and_numeric_slice_in_minutes(tmp_path):
    path = tmp_path / "api.yaml"
    path.write_text(SLO)
    result = import_openslo([path], "P", "C")
    assert result.problems == []
    (tmp_path / "api-contract.yaml").write_text(result.contracts["api"])
    contract = load_contract(tmp_path / "api-contract.yaml")
    objective = contract.objective("api-latency")
    assert contract.time_zone == "Europe/Paris"
    assert (objective.sli.threshold, objective.target) == (timedelta(milliseconds=250), 0.995)
    assert objective.budgeting == Timeslices(
        method="timeslices", slice=timedelta(minutes=1), slice_target=0.9
    )


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        (
            "startTime: 2026-04-01 00:00:00",
            "startTime: 2020-01-21 12:30:00",
            "spec.timeWindow[0].calendar.startTime",
            "2020-01-21 12:30:00 does not begin a month: Pledge months begin at 00:00 on the 1st",
        ),
        (
            "duration: 1M",
            "duration: 1Y",
            "spec.timeWindow[0].duration",
            "calendar window 1Y is not supported: use 1d, 1w, 1M or 1Q",
        ),
        (
            "timeZone: Europe/Paris",
            "timeZone: Mars/Olympus",
            "spec.timeWindow[0].calendar.timeZone",
            "unknown time zone 'Mars/Olympus': use an IANA name",
        ),
        (
            "    - duration: 1M\n      calendar:",
            "    - duration: 1M\n      isRolling: true\n      calendar:",
            "spec.timeWindow[0].duration",
            "1M has no fixed number of days: use e.g. 28d or 30d",
        ),
        (
            "op: lte",
            "op: gte",
            "spec.objectives[0].op",
            "'gte' is not supported: Pledge counts requests at or under a latency threshold "
            "(lte or lt)",
        ),
        (
            "value: 0.25",
            "value: 0.0005",
            "spec.objectives[0].value",
            "0.0005 is not a whole number of milliseconds",
        ),
        (
            "targetPercent: 99.5",
            "targetPercent: 100",
            "spec.objectives[0].targetPercent",
            "target 100.0000% is out of range: it must lie strictly between 0% and 100%",
        ),
        (
            "targetPercent: 99.5",
            "targetPercent: 99.5\n      target: 0.995",
            "spec.objectives[0]",
            "give exactly one of target and targetPercent",
        ),
        (
            "timeSliceWindow: 1",
            "timeSliceWindow: 7m",
            "spec.objectives[0].timeSliceWindow",
            "slice 7m must be whole minutes that divide a day (e.g. 1m, 5m, 15m, 1h)",
        ),
        (
            "      timeSliceTarget: 0.9\n",
            "",
            "spec.objectives[0].timeSliceTarget",
            "None is not a share in (0, 1]: required with budgetingMethod Timeslices",
        ),
        (
            "      thresholdMetric:",
            "      ratioMetric:\n        raw: {}\n      thresholdMetric:",
            "spec.indicator.spec",
            "give exactly one of ratioMetric and thresholdMetric",
        ),
        (
            "service: api",
            "service: Public_API",
            "spec.service",
            "'Public_API' is not a Pledge service id (lowercase letters, digits, '.', '_', '-')",
        ),
    ],
)
def test_what_pledge_cannot_express_names_the_field(tmp_path, old, new, field, message):
    assert old in SLO
    path = tmp_path / "slo.yaml"
    path.write_text(SLO.replace(old, new))
    result = import_openslo([path], "P", "C")
    assert [str(problem) for problem in result.problems] == [
        f"{path}: SLO api-latency: {field}: {message}"
    ]
    assert result.contracts == {}


def test_raw_ratio_is_reported_on_the_sli_and_the_slo_using_it(tmp_path):
    sli = tmp_path / "sli.yaml"
    sli.write_text(
        "apiVersion: openslo/v1\nkind: SLI\nmetadata: {name: api-ratio}\n"
        "spec:\n  ratioMetric:\n    rawType: success\n    raw: {metricSource: {type: X}}\n"
    )
    slo = tmp_path / "slo.yaml"
    before, after = SLO.split("  indicator:\n")[0], SLO.split("  timeWindow:\n")[1]
    slo.write_text(f"{before}  indicatorRef: api-ratio\n  timeWindow:\n{after}")
    result = import_openslo([sli, slo], "P", "C")
    assert [str(problem) for problem in result.problems] == [
        f"{sli}: SLI api-ratio: spec.ratioMetric.raw: a precomputed ratio is not supported: "
        "Pledge counts good (or bad) and total events",
        f"{slo}: SLO api-latency: spec.indicatorRef: SLI api-ratio could not be imported",
    ]


def test_one_contract_has_one_time_zone(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(SLO)
    second.write_text(
        SLO.replace("name: api-latency", "name: api-latency-eu", 1).replace(
            "Europe/Paris", "Asia/Tokyo"
        )
    )
    result = import_openslo([first, second], "P", "C")
    assert [str(problem) for problem in result.problems] == [
        f"{second}: SLO api-latency-eu: spec.timeWindow[0].calendar.timeZone: Asia/Tokyo "
        "differs from Europe/Paris of SLO api-latency: contract api has one time zone"
    ]
    assert "id: api-latency\n" in result.contracts["api"]
    assert "api-latency-eu" not in result.contracts["api"]
