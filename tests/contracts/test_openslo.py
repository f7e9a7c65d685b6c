"""`pledge import` of OpenSLO v1 files: contracts that validate, Prometheus sources with per-step
queries; what Pledge cannot express gives one exact `file:line: SLO name: feature is not
supported (why)` line while the file's other SLOs still import."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.contracts.imports import import_specs
from pipelines.contracts.loader import load_contract
from pipelines.contracts.schema import BurnRateRule, Occurrences, RatioTimeslices, Timeslices
from pipelines.contracts.sources import load_sources

FIXTURES = Path(__file__).parent / "openslo"
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
            query: histogram_quantile(0.99, sum by (le) (rate(api_seconds_bucket[5m])))
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


def run(paths: list[Path], home: Path, capsys) -> tuple[int, str, list[str]]:
    code = main(["import", *map(str, paths), "--home", str(home)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def test_fixtures_become_contracts_and_sources_that_validate(tmp_path, capsys):
    code, out, err = run([FIXTURES / name for name in CONVERTIBLE], tmp_path, capsys)
    assert (code, err) == (0, [])
    assert out.splitlines()[:3] == [
        f"wrote {tmp_path / 'contracts' / name}.yaml" for name in ("checkout", "orders", "search")
    ]
    assert out.splitlines()[-1] == "3 SLO objects found: 3 imported, 0 refused"

    # ratio good/total, Occurrences, rolling 28d; parties from the Service; the alert condition
    # (burn rate 14 over 1h on a 28-day window) restated for the 30 days Pledge scales from
    checkout = load_contract(tmp_path / "contracts" / "checkout.yaml")
    assert (checkout.provider, checkout.consumer, checkout.time_zone, checkout.title) == (
        "Payments team",
        "Web shop",
        "UTC",
        "Checkout",
    )
    availability = checkout.objective("checkout-availability")
    assert (availability.service, availability.sli.source_kind) == ("checkout", "requests")
    assert availability.target == 0.9995
    assert (availability.window.kind, availability.window.length) == ("rolling", timedelta(28))
    assert isinstance(availability.budgeting, Occurrences)
    assert availability.alerting.burn_rate_rules == [
        BurnRateRule(severity="page", long="1h4m17s", short="1h4m17s", burn_rate=14)
    ]

    # histogram_quantile(0.99, ...) in ms (annotation): a p99 per 1m slice from the buckets
    search = load_contract(tmp_path / "contracts" / "search.yaml")
    latency = search.objective("search-latency")
    assert search.time_zone == "Europe/Berlin"
    assert (latency.sli.kind, latency.sli.threshold, latency.sli.percentile) == (
        "latency",
        timedelta(milliseconds=300),
        99.0,
    )
    assert (latency.window.period, latency.target) == ("month", 0.99)
    assert latency.budgeting == Timeslices(
        method="timeslices", slice=timedelta(minutes=1), slice_target=0.95
    )

    # indicatorRef resolved in another file (bad/total); two objectives; default parties
    orders = load_contract(tmp_path / "contracts" / "orders.yaml")
    assert (orders.provider, orders.consumer, orders.time_zone) == (
        "Service owner",
        "Service users",
        "America/New_York",
    )
    assert [(o.id, o.target, o.window.period) for o in orders.objectives] == [
        ("orders-availability-1", 0.999, "week"),
        ("orders-availability-2", 0.99, "week"),
    ]

    sources = load_sources(tmp_path / "sources.yaml")
    assert sorted(sources) == ["checkout-requests", "orders-requests", "search-histogram"]
    assert sources["orders-requests"].pull.queries == {
        "total": 'label_replace(round(sum(sum(increase(http_requests_total{service="orders"}'
        '[1m])))), "service", "orders", "", "")',
        "errors": 'label_replace(round(sum(sum(increase(http_requests_total{service="orders",'
        'code=~"5.."}[1m])))), "service", "orders", "", "")',
    }
    assert sources["search-histogram"].pull.queries == {
        "count": "label_replace(round(sum by (le) (sum(increase(search_duration_seconds_bucket"
        '[1m])) by (le))), "service", "search", "", "")'
    }
    assert sources["checkout-requests"].pull.queries["errors"] == (
        'label_replace(round(sum(sum(increase(http_requests_total{service="checkout"}[1m]))))'
        ' - round(sum(sum(increase(http_requests_total{service="checkout",code!~"5.."}[1m])))),'
        ' "service", "checkout", "", "")'
    )


def test_refused_slos_give_exact_lines_and_the_others_import(tmp_path, capsys):
    file = FIXTURES / "unsupported.yaml"
    code, out, err = run([FIXTURES / "slis.yaml", file], tmp_path, capsys)
    assert code == 3
    assert err == [
        f"{file}:2: SLO checkout-latency: a percentile threshold with RatioTimeslices is not "
        "supported (each 1m point is judged on its own: use Timeslices with timeSliceWindow 1m)",
        f"{file}:27: SLO checkout-short: spec.timeWindow[0].duration is not supported (a rolling "
        "window of 1h30m is not whole days)",
        f"{file}:41: unknown kind 'Dashboard' for openslo/v1: use SLO, SLI, Service, DataSource, "
        "AlertPolicy, AlertCondition",
    ]
    assert out.splitlines()[-3:] == [
        "3 SLO objects found: 1 imported, 2 refused, 1 document problems",
        "  refused: 1 × a percentile threshold with RatioTimeslices",
        "  refused: 1 × spec.timeWindow[].duration",
    ]
    assert load_contract(tmp_path / "contracts" / "checkout.yaml").objective("checkout-ok")


def test_nothing_usable_exits_2(tmp_path, capsys):
    code, _, err = run([FIXTURES / "orders.yaml"], tmp_path, capsys)
    assert code == 2
    assert err == [
        f"{FIXTURES / 'orders.yaml'}:2: SLO orders-availability: spec.indicatorRef is not "
        "supported (no SLI named 'orders-errors' in the given files)"
    ]


def one(tmp_path: Path, text: str):
    path = tmp_path / "slo.yaml"
    path.write_text(text)
    return path, import_specs([path], "P", "C")


def test_percentile_threshold_and_calendar_month(tmp_path):
    _, result = one(tmp_path, SLO)
    assert result.lines == []
    objective = result.written.contracts["api"]
    assert "percentile: 99.0\n" in objective and "threshold: 250ms\n" in objective
    assert result.written.sources["api-histogram"]["queries"]["count"] == (
        "label_replace(round(sum by (le) (sum by (le) (increase(api_seconds_bucket[1m])))), "
        '"service", "api", "", "")'
    )


def test_calendar_start_becomes_the_window_start_and_exports_back(tmp_path, capsys):
    """A month from the 21st at 12:30 Paris time imports as that window and round-trips; a start
    that begins a natural month (1 April 00:00) stays the plain ``month``."""
    path = tmp_path / "slo.yaml"
    path.write_text(SLO.replace("2026-04-01 00:00:00", "2020-01-21 12:30:00"))
    assert main(["import", str(path), "--home", str(tmp_path / "first")]) == 0
    contract = tmp_path / "first" / "contracts" / "api.yaml"
    window = load_contract(contract).objective("api-latency").window
    assert (window.period, window.start) == ("month", datetime(2020, 1, 21, 12, 30))
    assert load_contract(contract).time_zone == "Europe/Paris"
    out = tmp_path / "openslo"
    assert main(["export-openslo", str(contract), "--out", str(out)]) == 0
    assert "startTime: '2020-01-21 12:30:00'" in (out / "api.openslo.yaml").read_text()
    assert main(["import", str(out), "--home", str(tmp_path / "again")]) == 0
    capsys.readouterr()
    again = load_contract(tmp_path / "again" / "contracts" / "api.yaml")
    assert again.objective("api-latency").window == window
    _, natural = one(tmp_path, SLO)
    assert "window: month\n" in natural.written.contracts["api"]


@pytest.mark.parametrize(
    ("old", "new", "feature", "why"),
    [
        (
            "startTime: 2026-04-01 00:00:00",
            "startTime: 2020-01-31 12:30:00",
            "spec.timeWindow[0].calendar.startTime",
            "window start 2020-01-31T12:30:00: a month cannot start on day 31, which some months "
            "lack (use a day from 1 to 28)",
        ),
        (
            "startTime: 2026-04-01 00:00:00",
            "startTime: 2020-01-21 12:10:00",
            "spec.timeWindow[0].calendar.startTime",
            "window start 2020-01-21T12:10:00 must be on a quarter hour (:00, :15, :30, :45)",
        ),
        (
            "duration: 1M",
            "duration: 1Y",
            "spec.timeWindow[0].calendar.duration",
            "a calendar window of 1Y has no Pledge period: use 1d, 1w, 1M or 1Q",
        ),
        (
            "op: lte",
            "op: eq",
            "spec.objectives[0].op",
            "'eq' is not one of lte, lt, gte, gt",
        ),
        (
            "budgetingMethod: Timeslices",
            "budgetingMethod: Occurrences",
            "a percentile threshold with Occurrences",
            "each 1m point is judged on its own: use Timeslices with timeSliceWindow 1m",
        ),
        (
            "targetPercent: 99.5",
            "targetPercent: 100",
            "spec.objectives[0].targetPercent",
            "target 100% is not strictly between 0% and 100%",
        ),
        (
            "timeSliceWindow: 1",
            "timeSliceWindow: 5",
            "a percentile threshold with slices",
            "each 1m point is judged on its own: use Timeslices with timeSliceWindow 1m",
        ),
    ],
)
def test_what_pledge_cannot_express_names_the_feature(tmp_path, old, new, feature, why):
    assert old in SLO
    path, result = one(tmp_path, SLO.replace(old, new))
    assert result.lines == [f"{path}:1: SLO api-latency: {feature} is not supported ({why})"]
    assert result.written.contracts == {}
    assert result.exit_code == 2


def test_a_threshold_above_a_value_or_on_a_gauge_becomes_probe_checks(tmp_path):
    """OpenSLO judges each point ``value op threshold``: with Timeslices of one step, a point per
    slice, exactly a probe check per series; ``gt`` on another data source is refused."""
    above = SLO.replace("op: lte", "op: gt").replace("value: 0.25", "value: 0.5")
    _, result = one(tmp_path, above)
    assert result.lines == []
    contract = result.written.contracts["api"]
    assert "sli:\n      kind: availability\n      evidence: probes\n" in contract
    assert result.written.sources["api-probes"]["queries"] == {
        "up": "label_replace(label_replace((histogram_quantile(0.99, sum by (le) "
        '(rate(api_seconds_bucket[5m])))) > bool 0.5, "instance", "all", "instance", ""), '
        '"service", "api", "", "")'
    }
    gauge = SLO.replace(
        "histogram_quantile(0.99, sum by (le) (rate(api_seconds_bucket[5m])))",
        "avg(api_latency_seconds)",
    )
    _, result = one(tmp_path, gauge)
    assert result.written.sources["api-probes"]["queries"]["up"].startswith(
        'label_replace(label_replace((avg(api_latency_seconds)) <= bool 0.25, "instance"'
    )
    path, result = one(tmp_path, above.replace("type: Prometheus", "type: Datadog"))
    assert result.lines == [
        f"{path}:1: SLO api-latency: spec.objectives[0].op gt is not supported (a point above "
        "the value is good: Pledge reads such a threshold as probes of a Prometheus query, and "
        "this one is Datadog)"
    ]


def test_raw_ratio_is_split_into_its_counts(tmp_path):
    raw = SLO.replace(
        "      thresholdMetric:\n        metricSource:\n          type: Prometheus\n"
        "          spec:\n            query: histogram_quantile(0.99, sum by (le) "
        "(rate(api_seconds_bucket[5m])))\n",
        "      ratioMetric:\n        rawType: failure\n        raw:\n          metricSource:\n"
        "            type: Prometheus\n            spec:\n              query: "
        "sum(rate(errors_total[5m])) / sum(rate(requests_total[5m]))\n",
    ).replace("      op: lte\n      value: 0.25\n", "")
    _, result = one(tmp_path, raw)
    assert result.lines == []
    assert result.written.sources["api-requests"]["queries"] == {
        "total": 'label_replace(round(sum(sum(increase(requests_total[1m])))), "service", '
        '"api", "", "")',
        "errors": 'label_replace(round(sum(sum(increase(errors_total[1m])))), "service", '
        '"api", "", "")',
    }


RATIO_SLO = """\
apiVersion: {version}
kind: SLO
metadata:
  name: api-availability
spec:
  service: api
  indicator:
    metadata:
      name: api-availability
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource: {{type: Prometheus, spec: {{query: 'sum(rate(ok_total[5m]))'}}}}
        total:
          metricSource: {{type: Prometheus, spec: {{query: 'sum(rate(all_total[5m]))'}}}}
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: RatioTimeslices
  objectives:
    - target: 0.99
      timeSliceWindow: {slice}
"""


@pytest.mark.parametrize("version", ["openslo/v1", "openslo.com/v2alpha"])
def test_ratio_timeslices_import_as_the_mean_of_slice_ratios_and_export_back(
    tmp_path, capsys, version
):
    path = tmp_path / "slo.yaml"
    path.write_text(RATIO_SLO.format(version=version, slice=15))
    assert main(["import", str(path), "--home", str(tmp_path / "first")]) == 0
    contract = tmp_path / "first" / "contracts" / "api.yaml"
    objective = load_contract(contract).objective("api-availability")
    assert objective.budgeting == RatioTimeslices(
        method="ratio_timeslices", slice=timedelta(minutes=15)
    )
    assert (objective.unit, objective.missing_data) == ("slices", "excluded")
    out = tmp_path / "openslo"
    assert main(["export-openslo", str(contract), "--out", str(out)]) == 0
    exported = (out / "api.openslo.yaml").read_text()
    assert "budgetingMethod: RatioTimeslices\n" in exported
    assert "timeSliceWindow: 15m\n" in exported and "timeSliceTarget" not in exported
    assert main(["import", str(out), "--home", str(tmp_path / "again")]) == 0
    capsys.readouterr()
    again = load_contract(tmp_path / "again" / "contracts" / "api.yaml")
    assert again.objective("api-availability").budgeting == objective.budgeting


@pytest.mark.parametrize(
    ("version", "slice", "feature", "why"),
    [
        (
            "openslo/v1",
            "7m",
            "timeSliceWindow",
            "slice 7m must be whole minutes that divide a day (e.g. 1m, 5m, 15m, 1h)",
        ),
        (
            "openslo/v1",
            "null",
            "spec.objectives[0].timeSliceWindow",
            "RatioTimeslices needs a time slice",
        ),
        (
            "openslo/v1alpha",
            "1m",
            "spec.budgetingMethod",
            "'RatioTimeslices' is not a budgeting method of openslo/v1alpha",
        ),
    ],
)
def test_ratio_timeslices_without_a_valid_slice_are_refused(tmp_path, version, slice, feature, why):
    text = RATIO_SLO.format(version=version, slice=slice)
    if version == "openslo/v1alpha":  # v1alpha has timeWindows; RatioTimeslices came with v1
        text = text.replace(
            "timeWindow:\n    - duration: 28d\n      isRolling: true",
            "timeWindows:\n    - {count: 28, unit: Day, isRolling: true}",
        )
    path, result = one(tmp_path, text)
    assert result.lines == [f"{path}:1: SLO api-availability: {feature} is not supported ({why})"]


def test_a_threshold_metric_with_ratio_timeslices_is_the_share_of_good_points(tmp_path):
    """Each step's point is a probe check: a slice's ratio is its good checks over its checks,
    whatever the slice's length."""
    above = (
        SLO.replace("op: lte", "op: gt")
        .replace("budgetingMethod: Timeslices", "budgetingMethod: RatioTimeslices")
        .replace("timeSliceWindow: 1", "timeSliceWindow: 5m")
    )
    _, result = one(tmp_path, above)
    assert result.lines == []
    contract = result.written.contracts["api"]
    assert "evidence: probes\n" in contract
    assert "budgeting:\n      method: ratio_timeslices\n      slice: 5m\n" in contract


def test_v1alpha_and_v2alpha(tmp_path):
    path = tmp_path / "specs.yaml"
    path.write_text(
        """\
apiVersion: openslo/v1alpha
kind: SLO
metadata: {name: web-availability}
spec:
  service: web
  budgetingMethod: Occurrences
  objectives:
    - ratioMetrics:
        good: {source: prometheus, queryType: promql, query: 'sum(rate(ok_total[{{.window}}]))'}
        total: {source: prometheus, queryType: promql, query: 'sum(rate(all_total[{{.window}}]))'}
      target: 0.999
  timeWindows:
    - {count: 30, unit: Day}
---
apiVersion: openslo.com/v2alpha
kind: SLO
metadata: {name: shop-errors}
spec:
  service: shop
  sliRef: shop-errors
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.98}]
---
apiVersion: openslo.com/v2alpha
kind: SLI
metadata: {name: shop-errors}
spec:
  ratioMetric:
    counter: true
    good: {dataSourceRef: dd, spec: {query: 'sum:hits{status:200}.as_count()'}}
    total: {dataSourceRef: dd, spec: {query: 'sum:hits{*}.as_count()'}}
---
apiVersion: openslo.com/v2alpha
kind: DataSource
metadata: {name: dd}
spec: {type: Datadog, connectionDetails: {site: eu}}
"""
    )
    result = import_specs([path], "P", "C")
    assert result.lines == []
    assert result.written.unresolved == [
        "shop/shop-errors: good: Datadog: sum:hits{status:200}.as_count(); "
        "total: Datadog: sum:hits{*}.as_count()"
    ]
    assert list(result.written.sources) == ["web-requests"]
    assert result.written.sources["web-requests"]["queries"]["total"] == (
        'label_replace(round(sum(sum(increase(all_total[1m])))), "service", "web", "", "")'
    )
    assert (
        "  # no evidence source: the SLI reads good: Datadog:" in result.written.contracts["shop"]
    )
    (tmp_path / "shop.yaml").write_text(result.written.contracts["shop"])
    assert load_contract(tmp_path / "shop.yaml").objective("shop-errors").target == 0.98


def test_export_then_import_gives_the_same_objectives(tmp_path, capsys):
    """OpenSLO fixtures, Sloth, Pyrra and slo-generator specs imported, exported to OpenSLO v1
    and imported again: every objective the export can express comes back the same (burn-rate
    rules are not exported: the reimport has Pledge's default rules)."""
    specs = Path(__file__).parent / "specs"
    first, second = tmp_path / "first", tmp_path / "second"
    main(
        [
            "import",
            *(str(FIXTURES / name) for name in CONVERTIBLE),
            str(specs),
            "--home",
            str(first),
        ]
    )
    out = tmp_path / "openslo"
    assert main(["export-openslo", str(first / "contracts"), "--out", str(out)]) == 0
    assert main(["import", str(out), "--home", str(second)]) == 0
    capsys.readouterr()

    def objectives(home: Path) -> dict[str, list[dict]]:
        return {
            path.stem: [
                o.model_dump(exclude={"service", "alerting"})
                for o in load_contract(path).objectives
            ]
            for path in sorted((home / "contracts").glob("*.yaml"))
        }

    before, after = objectives(first), objectives(second)
    assert sorted(after) == ["api", "checkout", "orders", "search", "shop"]
    assert after == before
    checkout = load_contract(second / "contracts" / "checkout.yaml")
    assert (checkout.provider, checkout.consumer) == ("Payments team", "Web shop")
    # the Prometheus queries came back (the shop and api latency, the Cloud Monitoring SLO
    # and the Datadog-free rest had none or a bucket share, exported as a Pledge source)
    assert sorted(load_sources(second / "sources.yaml")) == [
        "api.api-availability-sli-requests",
        "checkout.checkout-availability-sli-requests",
        "checkout.requests-availability-sli-requests",
        "orders-requests",
        "search-histogram",
    ]
