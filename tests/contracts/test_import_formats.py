"""`pledge import` of Sloth, Pyrra and slo-generator specs, the PromQL rewriting they share, and
the public spec files of ../shared/datasets/slo-specs (skipped when absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.contracts.imports import import_specs, spec_files
from pipelines.contracts.imports.home import objectives_without_source, write_home
from pipelines.contracts.imports.model import Unsupported
from pipelines.contracts.imports.promql import per_step, split_ratio
from pipelines.contracts.loader import load_contract, load_contracts
from pipelines.contracts.schema import BurnRateRule
from pipelines.contracts.sources import load_sources, read_sources
from pipelines.settings import REPO_ROOT

SPECS = Path(__file__).parent / "specs"
SLO_SPECS = next(
    (
        folder / "shared/datasets/slo-specs"
        for folder in (REPO_ROOT.parent, REPO_ROOT.parent.parent)  # a checkout or a worktree
        if (folder / "shared/datasets/slo-specs").is_dir()
    ),
    REPO_ROOT.parent / "shared/datasets/slo-specs",
)


def test_sloth_pyrra_and_slo_generator_become_contracts_and_sources(tmp_path, capsys):
    code = main(["import", str(SPECS), "--home", str(tmp_path), "--url", "http://prom:9090"])
    out, err = capsys.readouterr()
    assert code == 3
    assert err.splitlines() == [
        f"{SPECS / 'sloth-checkout.yml'}:22: SLO plugin-availability: SLI plugin "
        "sloth-common/kubernetes/apiserver/availability is not supported (its query is Go code "
        "that only Sloth can run)",
        "no evidence source: api/api-cloud: cloud_monitoring good_bad_ratio: filter_good: x; "
        "filter_valid: y",
    ]
    assert out.splitlines()[-2:] == [
        "6 SLO objects found: 5 imported, 1 refused",
        "  refused: 1 × SLI plugin sloth-common/kubernetes/apiserver/availability",
    ]
    contracts = tmp_path / "contracts"
    assert sorted(p.name for p in contracts.iterdir()) == ["api.yaml", "checkout.yaml", "shop.yaml"]

    # Sloth: objective in %, 30-day period, the page alert's two windows (ticket disabled)
    sloth = load_contract(contracts / "checkout.yaml").objective("requests-availability")
    assert (sloth.service, sloth.target, sloth.window.label()) == ("checkout", 0.995, "rolling 30d")
    assert sloth.alerting.burn_rate_rules == [
        BurnRateRule(severity="page", long="1h", short="5m", burn_rate=14.4),
        BurnRateRule(severity="page", long="6h", short="30m", burn_rate=6),
    ]
    assert sloth.tags == {"owner": "payments"}

    # Pyrra: namespace → contract, le of the success bucket → threshold, 2w → rolling 14d
    pyrra = load_contract(contracts / "shop.yaml").objective("checkout-latency")
    assert (pyrra.sli.kind, pyrra.sli.threshold.total_seconds(), pyrra.target) == (
        "latency",
        0.3,
        0.9,
    )
    assert pyrra.window.label() == "rolling 14d"
    # Pyrra's 28-day alert windows restated for 30 days: 1h × 30/28 = 3857 s
    assert pyrra.alerting.burn_rate_rules[0] == BurnRateRule(
        severity="page", long="1h4m17s", short="5m21s", burn_rate=14
    )

    # slo-generator: goal as a share; a Cloud Monitoring SLO imports without a source
    api = load_contract(contracts / "api.yaml")
    assert [(o.id, o.service, o.target) for o in api.objectives] == [
        ("api-availability", "api.api-availability", 0.999),
        ("api-latency", "api", 0.99),
        ("api-cloud", "api.api-cloud", 0.99),
    ]
    assert (
        "  # no evidence source: the SLI reads cloud_monitoring good_bad_ratio"
        in (contracts / "api.yaml").read_text()
    )

    sources = load_sources(tmp_path / "sources.yaml")
    assert sorted(sources) == [
        "api-histogram",
        "api.api-availability-requests",
        "checkout-requests",
        "shop-histogram",
    ]
    assert sources["checkout-requests"].pull.url == "http://prom:9090"
    # what `pledge run` warns about: the objective no source feeds
    contracts_loaded = load_contracts(contracts)[0]
    assert objectives_without_source(contracts_loaded, sources) == [
        "api/api-cloud: no requests source feeds service api.api-cloud"
    ]
    assert sources["checkout-requests"].pull.queries["errors"] == (
        'label_replace(round(sum(sum(increase(http_requests_total{service="checkout",'
        'code=~"5.."}[1m])))), "service", "checkout", "", "")'
    )
    assert sources["shop-histogram"].pull.queries["count"] == (
        "label_replace(label_replace(round(sum(increase(http_request_duration_seconds_bucket"
        '{service="checkout",le="0.3"}[1m]))), "le", "0.3", "", "") or label_replace(round(sum('
        'increase(http_request_duration_seconds_bucket{service="checkout",le="+Inf"}[1m]))), '
        '"le", "+Inf", "", ""), "service", "shop", "", "")'
    )
    assert (
        sources["api-histogram"]
        .pull.queries["count"]
        .startswith(
            "label_replace(label_replace(round(sum(increase(http_request_duration_seconds_bucket"
            '{handler="/read", le="0.25"}[1m]))), "le", "0.25", "", "") or '
        )
    )


def test_a_second_import_replaces_its_own_files_and_keeps_other_sources(tmp_path, capsys):
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  tickets:  # mine\n    kind: tickets\n    path: t/*.csv\n    format: csv\n"
    )
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "api.yaml").write_text("id: api\n")
    for _ in range(2):
        main(["import", str(SPECS), "--home", str(tmp_path)])
    out, err = capsys.readouterr()
    assert (
        f"{tmp_path / 'contracts' / 'api.yaml'}:1: not written: a contract not written by "
        "pledge import" in err
    )
    assert (tmp_path / "contracts" / "api.yaml").read_text() == "id: api\n"
    text = (tmp_path / "sources.yaml").read_text()
    assert text.startswith("sources:\n  tickets:  # mine\n")
    assert sorted(load_sources(tmp_path / "sources.yaml")) == [
        "api-histogram",
        "api.api-availability-requests",
        "checkout-requests",
        "shop-histogram",
        "tickets",
    ]


def test_dry_run_writes_nothing(tmp_path, capsys):
    assert (
        main(["import", str(SPECS / "pyrra-checkout.yaml"), "--home", str(tmp_path), "--dry-run"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith(f"would write {tmp_path / 'contracts' / 'shop.yaml'}:\n# Imported by")
    assert list(tmp_path.iterdir()) == []


def test_unknown_documents_and_bad_yaml_are_lines_not_tracebacks(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: openslo/v9\nkind: SLO\n---\nversion: prometheus/v1\nslos: [\n")
    other = tmp_path / "other.yaml"
    other.write_text(
        "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nspec: {}\n"
        "---\napiVersion: openslo/v9\nkind: SLO\n"
    )
    assert main(["import", str(bad), str(other), "--home", str(tmp_path / "h")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}:6: expected the node content, but found '<stream end>'",
        f"{other}:1: ServiceLevelObjective: metadata.name and spec are required",
        f"{other}:5: unknown apiVersion 'openslo/v9': Pledge imports openslo/v1alpha, openslo/v1, "
        "openslo.com/v2alpha, sloth.slok.dev/v1, pyrra.dev/v1alpha1, sre.google.com/v2, "
        "prometheus/v1",
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sum(rate(a[5m])) / sum(rate(b[5m]))", (False, "sum(rate(a[5m]))", "sum(rate(b[5m]))")),
        ("1 - (sum(a) / sum(b))", (True, "sum(a)", "sum(b)")),
        (
            'increase(a{le="0.25"}[w])\n / ignoring (le)\nincrease(b[w])',
            (False, 'increase(a{le="0.25"}[w])', "increase(b[w])"),
        ),
        ('(sum(a{x="/"}) / (sum(b)))', (False, 'sum(a{x="/"})', "sum(b)")),
    ],
)
def test_ratio_queries_split_into_their_counts(query, expected):
    assert split_ratio(query, "q") == expected


@pytest.mark.parametrize(
    "query", ["sum(a) / sum(b) / sum(c)", "sum(a) / sum(b) * 2", "avg(ratio)", "sum(a) + sum(b)"]
)
def test_what_is_not_one_ratio_is_refused(query):
    with pytest.raises(Unsupported, match="a precomputed ratio"):
        split_ratio(query, "q")


def test_per_step_rewrites_ranges_and_rates():
    assert per_step('sum(rate(x{a="1"}[{{.window}}]))', "1m", "q") == (
        'round(sum(sum(increase(x{a="1"}[1m]))))'
    )
    assert per_step("increase(x[5m]) + increase(y[1h30m])", "2m", "q") == (
        "round(sum(increase(x[2m]) + increase(y[2m])))"
    )
    assert per_step('http_requests_total{code="500"}', "1m", "q") == (
        'round(sum(increase(http_requests_total{code="500"}[1m])))'
    )
    assert per_step('sum(http_requests{code=~"2xx"})', "1m", "q") == (
        'round(sum(increase(http_requests{code=~"2xx"}[1m])))'
    )
    assert per_step("sum_over_time((count(x < 1))[{{.window}}:])", "1m", "q") == (
        "round(sum(sum_over_time((count(x < 1))[1m:])))"
    )
    for query, why in [
        ("sum(irate(x[5m]))", "irate"),
        ("sum(avg_over_time(x[5m]))", "of a gauge"),
        ("sum(rate(x[1h:5m]))", "subquery"),
        ("vector(1)[{{.window}}]", "MetricsQL"),
        ("sum(x) / 2", "no range"),
    ]:
        with pytest.raises(Unsupported, match=why):
            per_step(query, "1m", "q")


@pytest.mark.skipif(not SLO_SPECS.is_dir(), reason="datasets/slo-specs is absent")
def test_every_public_spec_imports_or_says_why(tmp_path):
    """Each file of the dataset imported on its own (each is a separate example): the contracts
    and sources validate, and every SLO left out has its reason."""
    found, imported, reasons = 0, 0, Counter()
    for number, path in enumerate(spec_files([SLO_SPECS])):
        result = import_specs([path], "P", "C")
        found += result.found
        imported += result.written.imported
        reasons.update(refusal.feature for refusal in result.refused)
        assert not result.problems, result.lines
        home = tmp_path / str(number)
        write_home(home / "contracts", home / "sources.yaml", result.written, dry_run=False)
        for contract in (home / "contracts").glob("*.yaml"):
            load_contract(contract)
        if result.written.sources:
            assert read_sources(home / "sources.yaml")[1] == []
    assert (found, imported) == (48, 38)
    assert reasons == {
        "SLI plugin getting_started_availability": 2,
        "sli.events.total_query": 2,  # VictoriaMetrics' vector(1)[window]
        "sli.raw.error_ratio_query": 1,  # sum_over_time of a satisfaction ratio gauge
        "spec.indicator.bool_gauge.grouping": 1,
        "spec.indicator.latencyNative.grouping": 1,
        "spec.indicator.ratio.grouping": 2,
        "spec.timeWindow[0].calendar.duration": 1,  # 1m: one minute
    }
