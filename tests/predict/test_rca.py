"""Root-cause hints: burn episodes, candidate series, and the ranking on the demo's dependency
failure."""

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from pipelines.demo import generate_demo
from pipelines.predict.rca import (
    ONSET_SCORE,
    ROOT_CAUSES_SCHEMA,
    _Shifted,
    burn_episodes,
    latency_series,
    probe_series,
    request_series,
    root_causes,
    scored_series,
)
from pipelines.sla.burn import burn_ledger, burn_rates


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_episodes_merge_runs_of_1h_burn_and_trim_to_the_5m_burn() -> None:
    ts = [_utc(2026, 3, 1, 10, m) for m in (5, 10, 15, 20)] + [
        _utc(2026, 3, 1, 11, 0),  # 40 min after the last: same episode
        _utc(2026, 3, 1, 14, 0),  # 3 h later: a new one, its 5m look-back never above 1
    ]
    burn = pl.DataFrame(
        {
            "contract_id": "c",
            "objective_id": "o",
            "ts": ts,
            "burn_5m": [0.5, 20.0, 30.0, 0.2, 0.1, 0.9],
            "burn_1h": [0.9, 2.0, 4.5, 4.5, 3.0, 1.5],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    episodes = burn_episodes(burn)
    assert episodes.select("episode_start", "episode_end", "peak_burn_rate").rows() == [
        (_utc(2026, 3, 1, 10, 5), _utc(2026, 3, 1, 10, 15), 4.5),
        (_utc(2026, 3, 1, 13, 0), _utc(2026, 3, 1, 14, 0), 1.5),
    ]


def test_series_are_five_minute_ratios_rates_and_histogram_latencies() -> None:
    minutes = [_utc(2026, 3, 1, 10, m) for m in range(5)]
    requests = pl.DataFrame(
        {"ts": minutes, "service": "api", "total": [100] * 5, "errors": [0, 1, 0, 4, 0]}
    )
    assert request_series(requests).select("series", "dimension", "member", "value").rows() == [
        ("api:error_ratio", "service", "api", 0.01),
        ("api:request_rate", "service", "api", 500 / 300),
    ]
    # One minute, cumulative buckets: 90 under 0.1 s, 8 more under 0.5 s, 2 above.
    buckets = pl.DataFrame(
        {
            "ts": minutes[0],
            "service": "api",
            "le_seconds": [0.1, 0.5, float("inf")],
            "count": [90, 98, 100],
        }
    )
    latency = dict(latency_series(buckets).select("metric", "value").iter_rows())
    assert latency["latency_mean"] == pytest.approx((90 * 0.05 + 8 * 0.3 + 2 * 0.5) / 100)
    # p99 = the 99th request: 1 of the 2 above 0.5 s, in +Inf, so the largest finite bound.
    assert latency["latency_p99"] == 0.5
    buckets = buckets.with_columns(count=pl.Series([180, 199, 200]))
    # The 198th of 200 requests lies 18 of 19 into the 0.1-0.5 s bucket.
    p99 = latency_series(buckets).filter(pl.col("metric") == "latency_p99")["value"].item()
    assert p99 == pytest.approx(0.1 + 0.4 * 18 / 19)
    probes = pl.DataFrame(
        {"ts": minutes[:2], "service": "dns", "location": "eu", "up": [True, False]}
    )
    assert probe_series(probes).select("series", "value").rows() == [("dns:probe_failure", 0.5)]


OBJECTIVES = pl.DataFrame(
    {
        "contract_id": ["paylane-payments", "acme-cloud"],
        "objective_id": ["payments-availability", "compute-availability"],
        "service": ["payments-api", "compute-api"],
        "sli_kind": ["availability", "availability"],
        "target": [0.9995, 0.9995],
        "slice_seconds": [60, 60],
    }
)


@pytest.fixture(scope="module")
def demo_hints(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], pl.DataFrame]:
    """The demo's scripted events and the hints for the burns of payments-api's and
    compute-api's availability over 14 days."""
    home = tmp_path_factory.mktemp("demo")
    truth = generate_demo(home, end=date(2026, 12, 3), days=14)
    stamp = pl.col("timestamp").str.to_datetime(
        "%Y-%m-%dT%H:%M:%SZ", time_unit="us", time_zone="UTC"
    )
    text = {"timestamp": pl.String}
    requests = (
        pl.scan_csv(home / "landing/requests/*.csv", schema_overrides=text)
        .select(stamp.alias("ts"), "service", total="requests", errors="errors")
        .collect()
    )
    latency = (
        pl.scan_parquet(home / "landing/latency/*.parquet")
        .select(
            pl.col("timestamp").alias("ts"),
            "service",
            le_seconds=pl.col("le").cast(pl.Float64),
            count="count",
        )
        .collect()
    )
    probes = (
        pl.scan_csv(home / "landing/probes/*.csv", schema_overrides=text)
        .select(stamp.alias("ts"), "service", "location", up="success")
        .collect()
    )
    slices = requests.join(
        OBJECTIVES.select("contract_id", "objective_id", "service"), on="service"
    ).select(
        "contract_id",
        "objective_id",
        slice_start="ts",
        good=(pl.col("total") - pl.col("errors")).cast(pl.Float64),
        total=pl.col("total").cast(pl.Float64),
    )
    burn = burn_rates(
        burn_ledger(OBJECTIVES, slices.sort("contract_id", "objective_id", "slice_start"))
    )
    series = pl.concat([request_series(requests), latency_series(latency), probe_series(probes)])
    return truth["events"], root_causes(
        burn_episodes(burn), burn, scored_series(series), OBJECTIVES
    )


def test_the_database_latency_ranks_first_for_the_payments_burn(
    demo_hints: tuple[list[dict], pl.DataFrame],
) -> None:
    events, hints = demo_hints
    event = next(e for e in events if e["kind"] == "dependency_failure")
    hints = hints.filter(pl.col("objective_id") == "payments-availability")
    assert hints.schema == pl.Schema(ROOT_CAUSES_SCHEMA)
    # One episode: the hour payments-api failed (from 16:03), to the last burning 5 minutes.
    assert hints.select("episode_start", "episode_end").unique().rows() == [
        (_utc(2026, 11, 26, 16), _utc(2026, 11, 26, 17, 7))
    ]
    assert event["start"] == "2026-11-26T16:00:00Z"
    top = hints.sort("rank").head(3)
    assert top["series"].head(2).sort().to_list() == [
        "payments-db:latency_mean",
        "payments-db:latency_p99",
    ]
    first = top.row(0, named=True)
    assert first["member"] == "payments-db" and first["metric"].startswith("latency")
    # Well clear of the best unrelated series, anomalous from the burn's start, in step with it.
    assert first["score"] > top["score"][2] + 0.2
    assert first["lead_minutes"] >= 0 and first["correlation"] > 0.8
    assert first["evidence"].startswith(f"{first['metric']} of payments-db: anomaly score")
    # The objective's own series (payments-api's error ratio) is the burn, not a hint.
    assert "payments-api:error_ratio" not in hints["series"].to_list()
    assert hints["rank"].to_list() == list(range(1, 11))
    # Only the two payments-db series beat chance: p = 1 / 200, no shift of any series did as
    # well; the third best (another service's error ratio) lines up no better than chance.
    assert hints.filter("significant")["series"].sort().to_list() == [
        "payments-db:latency_mean",
        "payments-db:latency_p99",
    ]
    assert hints["p_value"].head(2).to_list() == [0.005, 0.005]


def test_no_series_lines_up_with_a_burn_without_a_scripted_cause(
    demo_hints: tuple[list[dict], pl.DataFrame],
) -> None:
    events, hints = demo_hints
    outage = next(e for e in events if e["kind"] == "hard_outage")
    assert outage["service"] == "compute-api" and outage["start"] == "2026-11-29T12:30:00Z"
    compute = hints.filter(pl.col("objective_id") == "compute-availability")
    # One episode, the outage (the 1-hour burn starts 4 minutes before it, as 5-minute slices
    # end), and none of the other services' series beats chance: the best scores 0.15, p 0.93.
    assert compute.select("episode_start", "episode_end").unique().rows() == [
        (_utc(2026, 11, 29, 12, 26), _utc(2026, 11, 29, 13, 19))
    ]
    assert compute["p_value"].min() > 0.5
    assert compute.filter("significant").is_empty()


def test_shifted_window_terms_equal_those_of_each_shifted_copy() -> None:
    """Means, onsets and correlations under circular shifts (from running sums, next-onset
    look-ups and one gathered block) equal the same computed directly on each shifted copy:
    with missing points, wrapping around the grid's end, and ranges partly or wholly off it."""
    size = 40
    generator = np.random.default_rng(1)
    # bucket × series
    anomaly, value = generator.random((size, 4)), generator.normal(10.0, 2.0, (size, 4))
    anomaly[5:9, 0] = value[5:9, 0] = np.nan
    anomaly[:, 1] = 0.2  # never anomalous
    value[:, 1] = 0.1  # constant: no correlation
    value[30:, 2] = value[:3, 2] = np.nan
    burn = generator.exponential(2.0, size)
    shifts = np.array([0, 1, 7, 25, 39])
    shifted = _Shifted(anomaly, value)
    for buckets in [(-3, 12), (5, 9), (28, 45), (10, 10), (45, 50)]:
        on_grid = slice(max(buckets[0], 0), min(buckets[1], size))
        mean, onset, correlation = (np.zeros((len(shifts), 4)) for _ in range(3))
        for row, shift in enumerate(shifts):
            # bucket i takes bucket i − shift
            a, v = np.roll(anomaly, shift, axis=0)[on_grid], np.roll(value, shift, axis=0)[on_grid]
            for column in range(4):
                scores = a[:, column][~np.isnan(a[:, column])]
                mean[row, column] = scores.mean() if scores.size else 0.0
                hits = np.flatnonzero(a[:, column] >= ONSET_SCORE)
                onset[row, column] = on_grid.start + hits[0] if hits.size else np.nan
                points = ~np.isnan(v[:, column])
                x, b = v[points, column], burn[on_grid][points]
                defined = x.size > 1 and np.ptp(x) > 0 and np.ptp(b) > 0
                correlation[row, column] = np.corrcoef(x, b)[0, 1] if defined else 0.0
        np.testing.assert_allclose(shifted.mean(shifts, buckets), mean, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(shifted.onset(shifts, buckets), onset)
        np.testing.assert_allclose(
            shifted.correlation(shifts, buckets, burn), correlation, rtol=0, atol=1e-12
        )
