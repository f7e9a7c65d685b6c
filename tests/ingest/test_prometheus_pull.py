"""The Prometheus pull's pure parts (window, chunks, time convention, merge) and the HTTP edge
cases a real server does not produce (redirects, 5xx, oversized bodies, foreign origins).

The pull against a real Prometheus server is tested in the server tests."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

from pipelines import warehouse
from pipelines.contracts.sources import read_sources
from pipelines.ingest.landing import file_sha256
from pipelines.ingest.prometheus import (
    PullError,
    Watermark,
    advanced_watermark,
    evidence_rows,
    get_json,
    matrix_rows,
    prometheus_client,
    pull_source,
    pull_window,
    range_chunks,
    read_watermark,
)

MINUTE = timedelta(minutes=1)
SETTLE = timedelta(minutes=5)
NOW = datetime(2026, 11, 3, 10, 0, 30, tzinfo=UTC)


def at(hour: int, minute: int, day: int = 3) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def unix(instant: datetime) -> float:
    return instant.timestamp()


# --- the window and its pieces -----------------------------------------------------------------


def test_first_pull_reaches_one_day_back_to_the_last_complete_minute():
    # 10:00:30: the minute (09:59, 10:00] is the last complete one, stored as ts 09:59
    assert pull_window(NOW, MINUTE, SETTLE, None) == (at(10, 0, day=2), at(9, 59))


def test_next_pull_starts_settle_before_the_watermark():
    watermark = Watermark(at(0, 0, day=1), at(9, 50))
    assert pull_window(NOW, MINUTE, SETTLE, watermark) == (at(9, 45), at(9, 59))


def test_asked_days_are_whole_utc_days_capped_at_now():
    assert pull_window(NOW, MINUTE, SETTLE, None, date(2026, 11, 1), date(2026, 11, 1)) == (
        at(0, 0, day=1),
        at(23, 59, day=1),
    )
    assert pull_window(NOW, MINUTE, SETTLE, None, date(2026, 11, 2), date(2026, 11, 9)) == (
        at(0, 0, day=2),
        at(9, 59),
    )


def test_settle_reaches_back_to_whole_steps_and_a_future_day_has_nothing_to_pull():
    watermark = Watermark(at(0, 0), at(10, 0))
    assert pull_window(NOW, MINUTE, timedelta(seconds=30), watermark) == (at(9, 59), at(9, 59))
    assert pull_window(NOW, MINUTE, SETTLE, watermark, date(2026, 11, 4)) is None


def test_watermark_widens_only_over_a_contiguous_pull():
    watermark = Watermark(at(0, 0), at(9, 50))
    assert advanced_watermark(watermark, at(9, 45), at(9, 59), MINUTE) == Watermark(
        at(0, 0), at(10, 0)
    )
    assert advanced_watermark(watermark, at(0, 0, day=1), at(23, 59, day=1), MINUTE) == Watermark(
        at(0, 0, day=1), at(9, 50)
    )
    # a later range leaving a gap after 09:50 does not move it
    assert advanced_watermark(watermark, at(9, 51), at(9, 59), MINUTE) == watermark
    assert advanced_watermark(None, at(9, 0), at(9, 59), MINUTE) == Watermark(at(9, 0), at(10, 0))


def test_ranges_are_cut_at_11000_points():
    first = at(0, 0, day=1)
    assert range_chunks(first, first + 10_999 * MINUTE, MINUTE) == [
        (first, first + 10_999 * MINUTE)
    ]
    assert range_chunks(first, first + 22_000 * MINUTE, MINUTE) == [
        (first, first + 10_999 * MINUTE),
        (first + 11_000 * MINUTE, first + 21_999 * MINUTE),
        (first + 22_000 * MINUTE, first + 22_000 * MINUTE),
    ]


# --- matrices into rows ------------------------------------------------------------------------


def series(labels: dict[str, str], points: list[tuple[datetime, str]]) -> dict:
    return {"metric": labels, "values": [[unix(t), v] for t, v in points]}


def test_a_value_at_t_is_the_row_of_the_interval_starting_a_step_earlier():
    result = [series({"service": "api", "job": "x"}, [(at(10, 1), "7"), (at(10, 2), "3")])]
    rows = matrix_rows(result, "total", {"service": "service"}, MINUTE)
    assert rows.to_dicts() == [
        {"ts": at(10, 0), "service": "api", "total": 7.0},
        {"ts": at(10, 1), "service": "api", "total": 3.0},
    ]
    assert rows.schema["ts"] == pl.Datetime("us", "UTC")


def test_requests_join_total_and_errors_and_missing_errors_are_zero():
    total = matrix_rows(
        [
            series({"service": "api"}, [(at(10, 1), "10"), (at(10, 2), "4.0000000000001")]),
            series({"service": "web"}, [(at(10, 1), "5")]),
        ],
        "total",
        {"service": "service"},
        MINUTE,
    )
    errors = matrix_rows(
        [series({"service": "api"}, [(at(10, 2), "1"), (at(10, 3), "2")])],
        "errors",
        {"service": "service"},
        MINUTE,
    )
    rows = evidence_rows("requests", {"total": total, "errors": errors})
    assert rows.schema["total"] == rows.schema["errors"] == pl.Int64
    assert sorted(rows.rows(), key=lambda row: (row[0], row[1])) == [
        (at(10, 0), "api", 10, 0),
        (at(10, 0), "web", 5, 0),
        (at(10, 1), "api", 4, 1),
        (at(10, 2), "api", None, 2),  # errors without a total: kept, rejected by the ingest
    ]


def test_fractional_counts_stay_float_for_the_ingest_to_reject():
    count = matrix_rows(
        [
            series({"service": "api", "le": "0.5"}, [(at(10, 1), "2.5")]),
            series({"service": "api", "le": "+Inf"}, [(at(10, 1), "4")]),
        ],
        "count",
        {"service": "service", "le": "le"},
        MINUTE,
    )
    rows = evidence_rows("histogram", {"count": count})
    assert rows.schema["count"] == pl.Float64
    assert rows.select("le", "count").rows() == [("0.5", 2.5), ("+Inf", 4.0)]


# --- the pull over HTTP (a scripted server: the edge cases) -------------------------------------


SOURCES = """\
sources:
  web-requests:
    kind: prometheus
    evidence: requests
    url: http://prometheus.test:9090
    auth: {bearer_token_env: PLEDGE_TEST_TOKEN}
    queries:
      total: sum by (service) (increase(http_requests_total[1m]))
      errors: sum by (service) (increase(http_requests_total{code=~"5.."}[1m]))
"""


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PLEDGE_TEST_TOKEN", "s3cret")
    (tmp_path / "sources.yaml").write_text(SOURCES)
    sources, problems = read_sources(tmp_path / "sources.yaml")
    assert problems == []
    return sources["web-requests"]


def scripted_server(counts: dict[datetime, int]):
    """A query_range handler answering ``counts`` (ts → total of service api, no errors) for the
    evaluation times asked; records every request."""
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        params = request.url.params
        start, end = float(params["start"]), float(params["end"])
        query = params["query"]
        values = [
            [unix(ts + MINUTE), str(total)]
            for ts, total in sorted(counts.items())
            if start <= unix(ts + MINUTE) <= end
        ]
        result = [] if "5.." in query or not values else [series({"service": "api"}, [])]
        if result:
            result[0]["values"] = values
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return httpx.Response(200, json=body)

    return handle, requests


def test_pull_writes_day_files_and_a_no_op_pull_keeps_their_sha256(tmp_path, source):
    counts = {at(23, 58, day=2): 1, at(23, 59, day=2): 2, at(0, 0): 3, at(9, 57): 4}
    handle, requests = scripted_server(counts)
    landing = tmp_path / "landing"
    with (
        warehouse.connect(tmp_path / "w.duckdb") as con,
        httpx.Client(transport=httpx.MockTransport(handle), base_url=source.pull.url) as client,
    ):
        first = pull_source(con, "web-requests", source, landing, NOW, client=client)
        assert (first.first_ts, first.last_ts, first.rows) == (at(10, 0, day=2), at(9, 59), 4)
        assert first.days_written == [date(2026, 11, 2), date(2026, 11, 3)]
        files = sorted((landing / "web-requests").iterdir())
        assert [f.name for f in files] == [
            "web-requests-2026-11-02.parquet",
            "web-requests-2026-11-03.parquet",
        ]
        assert pl.read_parquet(files[1]).rows() == [
            (at(0, 0), "api", 3, 0),
            (at(9, 57), "api", 4, 0),
        ]
        sha = [file_sha256(f) for f in files]
        assert read_watermark(con, "web-requests") == Watermark(at(10, 0, day=2), at(10, 0))

        again = pull_source(con, "web-requests", source, landing, NOW, client=client)
        assert (again.first_ts, again.last_ts, again.days_written) == (at(9, 55), at(9, 59), [])
        assert [file_sha256(f) for f in files] == sha

        counts[at(9, 58)] = 5  # a late sample inside the settle window
        later = pull_source(con, "web-requests", source, landing, NOW + MINUTE, client=client)
        assert later.days_written == [date(2026, 11, 3)]
        assert pl.read_parquet(files[1])["total"].to_list() == [3, 4, 5]
        assert file_sha256(files[0]) == sha[0]
    assert len(requests) == 6  # 3 pulls of one piece each, 2 queries each


def fake_client(handle, base: str = "http://prometheus.test:9090") -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handle), base_url=base)


def no_wait(_: float) -> None:
    pass


def test_5xx_and_429_are_retried_then_reported_with_the_server_text():
    statuses = iter([503, 429, 200])

    def handle(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        if status == 200:
            return httpx.Response(200, json={"status": "success", "data": {"x": 1}})
        return httpx.Response(status, text="busy")

    with fake_client(handle) as client:
        assert get_json(client, "web", "api/v1/query", {}, 30, sleep=no_wait) == {"x": 1}

    def failing(request: httpx.Request) -> httpx.Response:
        body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 12"}
        return httpx.Response(400, json=body)

    calls = []

    def bad_gateway(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(502, text="upstream down")

    with fake_client(failing) as client, pytest.raises(PullError) as error:
        get_json(client, "web", "api/v1/query", {}, 30, sleep=no_wait)
    assert str(error.value) == (
        "web: HTTP 400 from http://prometheus.test:9090: parse error at char 12"
    )
    with (
        fake_client(bad_gateway) as client,
        pytest.raises(PullError, match="HTTP 502 .*: upstream"),
    ):
        get_json(client, "web", "api/v1/query", {}, 30, sleep=no_wait)
    assert len(calls) == 3


def test_connection_errors_are_retried_three_times_and_name_the_server():
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("Connection refused", request=request)

    waits: list[float] = []
    with fake_client(refuse) as client, pytest.raises(PullError) as error:
        get_json(client, "web", "api/v1/query", {}, 30, sleep=waits.append)
    assert str(error.value) == "web: cannot reach http://prometheus.test:9090: Connection refused"
    assert (len(calls), waits) == (3, [0.5, 1.0])


def test_a_redirect_is_not_followed_and_names_where_it_leads():
    calls = []

    def redirect(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(302, headers={"Location": "https://elsewhere.test/login"})

    with fake_client(redirect) as client, pytest.raises(PullError) as error:
        get_json(client, "web", "api/v1/query", {}, 30, sleep=no_wait)
    assert "HTTP 302 from http://prometheus.test:9090: redirect to https://elsewhere.test" in str(
        error.value
    )
    assert len(calls) == 1


def test_an_oversized_response_is_refused():
    body = json.dumps({"status": "success", "data": {"result": "x" * 5000}}).encode()

    def big(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    with fake_client(big) as client, pytest.raises(PullError, match="over 4096 bytes refused"):
        get_json(client, "web", "api/v1/query", {}, 30, max_bytes=4096, sleep=no_wait)
    with fake_client(big) as client:
        assert get_json(client, "web", "api/v1/query", {}, 30, max_bytes=len(body))


def test_credentials_go_to_the_configured_origin_only(source):
    seen: dict[str, str | None] = {}

    def record(request: httpx.Request) -> httpx.Response:
        seen[str(request.url.host)] = request.headers.get("Authorization")
        return httpx.Response(200, json={"status": "success", "data": {}})

    with prometheus_client(source.pull, "web-requests", httpx.MockTransport(record)) as client:
        client.get("api/v1/query")
        client.get("http://other.test:9090/api/v1/query")
    assert seen == {"prometheus.test": "Bearer s3cret", "other.test": None}


def test_a_missing_credential_variable_is_named(source, monkeypatch):
    monkeypatch.delenv("PLEDGE_TEST_TOKEN")
    with pytest.raises(PullError, match="web-requests: environment variable PLEDGE_TEST_TOKEN"):
        prometheus_client(source.pull, "web-requests")


# --- the declaration ---------------------------------------------------------------------------


def test_declaration_problems_name_their_line(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        """\
sources:
  lat:
    kind: prometheus
    evidence: histogram
    url: ftp://prometheus:9090
    auth: {bearer_token: abc}
    queries:
      total: sum(x)
    colour: red
  probes:
    kind: prometheus
    evidence: probes
    url: http://user:pw@prometheus:9090
    auth: {bearer_token_env: eyJhbGciOi}
    queries: {up: probe_success}
    labels: {location: instance, le: le}
"""
    )
    sources, problems = read_sources(path)
    assert sources == {}
    assert [(p.line, p.field, p.message) for p in problems] == [
        (
            5,
            "sources.lat.url",
            "bad url 'ftp://prometheus:9090': want http(s)://host[:port][/path]",
        ),
        (
            6,
            "sources.lat.auth",
            "a secret is never written in sources.yaml: name the environment variable holding "
            "it (bearer_token_env: PROM_TOKEN, or username_env and password_env)",
        ),
        (
            7,
            "sources.lat.queries",
            "no field 'total' in histogram evidence (queries: count); missing query for count",
        ),
        (9, "sources.lat.colour", "Extra inputs are not permitted"),
        (13, "sources.probes.url", "credentials in the url: declare them under auth (*_env)"),
        (
            14,
            "sources.probes.auth.bearer_token_env",
            "'eyJhbGciOi' is not an environment variable name (upper-case letters, digits, _): "
            "name the variable holding the secret, never the secret itself",
        ),
        (
            16,
            "sources.probes.labels",
            "no label field 'le' in probes evidence (label fields: service, location)",
        ),
    ]


def test_a_label_field_given_a_query_is_pointed_to_labels(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n  lat:\n    kind: prometheus\n    evidence: histogram\n"
        "    url: http://prometheus:9090/\n    queries: {count: x, le: y}\n"
    )
    _, problems = read_sources(path)
    assert [str(p) for p in problems] == [
        f"{path}:6: sources.lat.queries: le comes from a series label (labels), not a query"
    ]


def test_a_declaration_becomes_a_parquet_source_of_its_evidence_kind(source):
    assert (source.kind, source.format, source.path) == (
        "requests",
        "parquet",
        "web-requests/*.parquet",
    )
    assert (source.pull.step, source.pull.settle, source.pull.timeout) == (
        MINUTE,
        SETTLE,
        timedelta(seconds=30),
    )
    assert source.pull.label_of == {"service": "service"}


def test_pledge_validate_checks_a_sources_file(tmp_path, capsys):
    from pipelines.cli import main

    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == "0 contract file(s) valid, 1 sources file(s) valid\n"
    path.write_text(SOURCES.replace("PLEDGE_TEST_TOKEN", "s3cret-token"))
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.startswith(
        f"{path}:6: sources.web-requests.auth.bearer_token_env: 's3cret-token' is not an "
    )


def test_the_pull_asset_does_nothing_without_a_prometheus_source(tmp_path, monkeypatch):
    import dagster as dg

    from pipelines.ingest.assets import pull_prometheus
    from pipelines.resources import PledgeHome

    monkeypatch.delenv("PLEDGE_SOURCES", raising=False)
    result = dg.materialize(
        [pull_prometheus],
        partition_key="2026-11-02",
        resources={"pledge": PledgeHome(home=str(tmp_path))},
    )
    (materialization,) = result.asset_materializations_for_node("pull__prometheus")
    assert materialization.metadata["sources"].value == ""
    assert not (tmp_path / "landing").exists()
