"""Hand-made warehouse frames for the report tests: three contracts.

- paylane (America/New_York): one objective, breaching in 2026-03 (99.850%, budget −50%).
- acme-cloud (Europe/Berlin): compute-availability on track (99.970%), breached 2026-02 (99.940%,
  credit 10% of 48,000 EUR = 4,800.00 EUR); storage-uptime at risk (99.920%, budget 20%), 2026-01
  credit 25% capped by the contract's 15% credit cap to 7,200.00 EUR; one correction of both
  objectives (45 corrected minutes in storage-uptime's 2026-02).
- evil-corp: a title with a script tag, one objective without any window (no data).

DESK (``desk_contract`` / ``desk_tables``, rendered on its own): item-judged objectives of a
service desk (UTC), see DESK_DOCUMENT and the frames below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from pipelines.contracts.schema import Contract
from pipelines.sla.burn import ALERTS_SCHEMA, BURN_RATES_SCHEMA
from pipelines.sla.corrections import corrections_frame
from pipelines.sla.credits import CREDITS_SCHEMA
from pipelines.sla.objectives import objectives_frame
from pipelines.sla.outcomes import OUTCOME_WINDOWS_SCHEMA, OUTCOMES_SCHEMA
from pipelines.sla.slices import SLICES_SCHEMA
from pipelines.sla.tickets import TICKET_TIMERS_SCHEMA

TS = pl.Datetime("us", "UTC")
AS_OF = datetime(2026, 3, 10, 12, tzinfo=UTC)

CONTRACT_DOCUMENTS = [
    {
        "id": "acme-cloud",
        "title": "Acme Cloud hosting",
        "provider": "Acme Cloud GmbH",
        "consumer": "Example Retail",
        "time_zone": "Europe/Berlin",
        "currency": "EUR",
        "monthly_fee": 48000,
        "escalation": [{"level": 1, "contact": "support@acme.example", "after": "30m"}],
        "services": [{"id": "compute-api"}, {"id": "object-storage"}],
        "credit_cap": "15%",
        "corrections": [
            {
                "reason": "probe <misconfigured> after migration",
                "author": "ops lead",
                "recorded": "2026-02-20",
                "start": "2026-02-14T10:00",
                "end": "2026-02-14T10:45",
            }
        ],
        "exclusions": [
            {
                "reason": "weekly patch window",
                "services": ["object-storage"],
                "every": "sunday",
                "at": "03:00",
                "duration": "30m",
            }
        ],
        "objectives": [
            {
                "id": "compute-availability",
                "title": "Compute API answers",
                "service": "compute-api",
                "sli": {"kind": "availability", "evidence": "requests"},
                "target": "99.95%",
                "credits": {"tiers": [{"below": "99.95%", "credit": "10%"}]},
            },
            {
                "id": "storage-uptime",
                "title": "Object storage probes succeed",
                "service": "object-storage",
                "sli": {"kind": "availability", "evidence": "probes"},
                "target": "99.9%",
                "budgeting": {"method": "timeslices", "slice": "5m", "slice_target": "50%"},
                "credits": {"tiers": [{"below": "99.9%", "credit": "25%"}]},
            },
        ],
    },
    {
        "id": "paylane",
        "title": "Paylane payments API",
        "provider": "Paylane Inc.",
        "consumer": "Example Retail",
        "time_zone": "America/New_York",
        "currency": "USD",
        "monthly_fee": 25000,
        "services": [{"id": "payments-api"}],
        "objectives": [
            {
                "id": "payments-availability",
                "service": "payments-api",
                "sli": {"kind": "availability"},
                "target": "99.9%",
            }
        ],
    },
    {
        "id": "evil-corp",
        "title": "Evil <script>alert('x')</script> Corp",
        "provider": "Evil & Sons <b>",
        "consumer": "Example Retail",
        "services": [{"id": "api"}],
        "objectives": [
            {
                "id": "api-availability",
                "service": "api",
                "sli": {"kind": "availability"},
                "target": "99%",
            }
        ],
    },
]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# (contract, objective, label, start, end, complete, good, total, attainment, target,
#  budget, consumed, remaining, status, unit, excluded, missing)
WINDOW_ROWS = [
    (
        "acme-cloud",
        "compute-availability",
        "2026-01",
        utc(2025, 12, 31, 23),
        utc(2026, 1, 31, 23),
        True,
        999_800,
        1_000_000,
        0.9998,
        0.9995,
        500,
        200,
        0.6,
        "met",
        "events",
        0,
        0,
    ),
    (
        "acme-cloud",
        "compute-availability",
        "2026-02",
        utc(2026, 1, 31, 23),
        utc(2026, 2, 28, 23),
        True,
        999_400,
        1_000_000,
        0.9994,
        0.9995,
        500,
        600,
        -0.2,
        "breached",
        "events",
        0,
        12,
    ),
    (
        "acme-cloud",
        "compute-availability",
        "2026-03",
        utc(2026, 2, 28, 23),
        utc(2026, 3, 31, 22),
        False,
        999_700,
        1_000_000,
        0.9997,
        0.9995,
        500,
        300,
        0.4,
        "on_track",
        "events",
        0,
        0,
    ),
    (
        "acme-cloud",
        "storage-uptime",
        "2026-02",
        utc(2026, 1, 31, 23),
        utc(2026, 2, 28, 23),
        True,
        39_980,
        40_000,
        0.9995,
        0.999,
        40,
        20,
        0.5,
        "met",
        "minutes",
        120,
        0,
    ),
    (
        "acme-cloud",
        "storage-uptime",
        "2026-03",
        utc(2026, 2, 28, 23),
        utc(2026, 3, 31, 22),
        False,
        9_992,
        10_000,
        0.9992,
        0.999,
        10,
        8,
        0.2,
        "at_risk",
        "minutes",
        30,
        0,
    ),
    (
        "paylane",
        "payments-availability",
        "2026-02",
        utc(2026, 2, 1, 5),
        utc(2026, 3, 1, 5),
        True,
        299_850,
        300_000,
        0.9995,
        0.999,
        300,
        150,
        0.5,
        "met",
        "events",
        0,
        0,
    ),
    (
        "paylane",
        "payments-availability",
        "2026-03",
        utc(2026, 3, 1, 5),
        utc(2026, 4, 1, 4),
        False,
        199_700,
        200_000,
        0.9985,
        0.999,
        200,
        300,
        -0.5,
        "breaching",
        "events",
        0,
        0,
    ),
]

CURRENT_OBJECTIVES = [
    ("acme-cloud", "compute-availability"),
    ("acme-cloud", "storage-uptime"),
    ("paylane", "payments-availability"),
]


WINDOW_COLUMNS = [
    "contract_id",
    "objective_id",
    "window_label",
    "window_start",
    "window_end",
    "is_complete",
    "good",
    "total",
    "attainment",
    "target",
    "error_budget",
    "budget_consumed",
    "budget_remaining",
    "status",
    "unit",
    "excluded_minutes",
    "missing_minutes",
]


def windows_frame() -> pl.DataFrame:
    """WINDOW_ROWS with as_of, corrected_minutes (45 in storage-uptime's 2026-02) and every other
    column of the sla.windows table null."""
    schema = OUTCOME_WINDOWS_SCHEMA
    rows = pl.DataFrame(
        WINDOW_ROWS, schema={name: schema[name] for name in WINDOW_COLUMNS}, orient="row"
    )
    corrected = (
        pl.when(pl.col("objective_id") == "storage-uptime", pl.col("window_label") == "2026-02")
        .then(45.0)
        .otherwise(0.0)
    )
    return rows.with_columns(
        pl.lit(AS_OF, dtype=TS).alias("as_of"),
        corrected.alias("corrected_minutes"),
        *(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in schema.items()
            if name not in [*WINDOW_COLUMNS, "as_of", "corrected_minutes"]
        ),
    ).select(list(schema))


def burn_rates_frame() -> pl.DataFrame:
    """Every 30 minutes from 2026-03-08 00:00 to the as-of time, burn 0.5 (1h) and 0.4 (6h),
    except a spike of the 1h burn rate to 20 at 2026-03-09 20:30."""
    ts = pl.datetime_range(utc(2026, 3, 8), AS_OF, "30m", time_zone="UTC", eager=True)
    frames = [
        pl.DataFrame({"ts": ts}).with_columns(
            pl.lit(contract_id).alias("contract_id"),
            pl.lit(objective_id).alias("objective_id"),
            pl.when(pl.col("ts") == utc(2026, 3, 9, 20, 30))
            .then(20.0)
            .otherwise(0.5)
            .alias("burn_1h"),
            pl.lit(0.4).alias("burn_6h"),
        )
        for contract_id, objective_id in CURRENT_OBJECTIVES
    ]
    return (
        pl.concat(frames)
        .with_columns(
            pl.lit(1.0).alias(name) for name in ("burn_5m", "burn_30m", "burn_1d", "burn_3d")
        )
        .select(list(BURN_RATES_SCHEMA))
        .cast(BURN_RATES_SCHEMA)
        .with_columns(partition_date=(pl.col("ts") - timedelta(minutes=30)).dt.date())
    )


def alerts_frame() -> pl.DataFrame:
    rows = [
        ("paylane", "payments-availability", "page", utc(2026, 3, 9, 20), None, 18.5),
        ("acme-cloud", "storage-uptime", "ticket", utc(2026, 3, 5), utc(2026, 3, 6, 6, 30), 2.25),
    ]
    return pl.DataFrame(rows, schema=ALERTS_SCHEMA, orient="row")


def credits_frame() -> pl.DataFrame:
    # (contract, objective, label, start, end, contract window, attainment, tier below, tier
    #  credit, credit pct, amount, currency, capped); every window complete.
    rows = [
        (
            "acme-cloud",
            "compute-availability",
            "2026-01",
            utc(2025, 12, 31, 23),
            utc(2026, 1, 31, 23),
            "2026-01",
            0.9998,
            None,
            None,
            0.0,
            0.0,
            "EUR",
            False,
        ),
        (
            "acme-cloud",
            "storage-uptime",
            "2026-01",
            utc(2025, 12, 31, 23),
            utc(2026, 1, 31, 23),
            "2026-01",
            0.9950,
            0.999,
            0.25,
            0.15,
            7200.0,
            "EUR",
            True,
        ),
        (
            "acme-cloud",
            "compute-availability",
            "2026-02",
            utc(2026, 1, 31, 23),
            utc(2026, 2, 28, 23),
            "2026-02",
            0.9994,
            0.9995,
            0.10,
            0.10,
            4800.0,
            "EUR",
            False,
        ),
        (
            "paylane",
            "payments-availability",
            "2026-02",
            utc(2026, 2, 1, 5),
            utc(2026, 3, 1, 5),
            "2026-02",
            0.9995,
            None,
            None,
            0.0,
            0.0,
            "USD",
            False,
        ),
    ]
    columns = [name for name in CREDITS_SCHEMA if name != "is_complete"]
    return (
        pl.DataFrame(rows, schema={name: CREDITS_SCHEMA[name] for name in columns}, orient="row")
        .with_columns(is_complete=pl.lit(True))
        .select(list(CREDITS_SCHEMA))
    )


def slices_frame() -> pl.DataFrame:
    """5-minute slices from each current window's start to the as-of time: 100 events each, one
    bad in every slice starting on the hour."""
    frames = []
    for contract_id, objective_id, _label, start, _end, complete, *_ in WINDOW_ROWS:
        if complete:
            continue
        starts = pl.datetime_range(
            start, AS_OF - timedelta(minutes=5), "5m", time_zone="UTC", eager=True
        )
        frames.append(
            pl.DataFrame({"slice_start": starts}).with_columns(
                pl.col("slice_start").dt.date().alias("partition_date"),
                pl.lit(contract_id).alias("contract_id"),
                pl.lit(objective_id).alias("objective_id"),
                (100.0 - (pl.col("slice_start").dt.minute() == 0).cast(pl.Float64)).alias("good"),
                pl.lit(100.0).alias("total"),
                pl.lit(0.0).alias("excluded_minutes"),
                pl.lit(0.0).alias("corrected_minutes"),
                pl.lit(0.0).alias("missing_minutes"),
            )
        )
    return pl.concat(frames).select(list(SLICES_SCHEMA)).cast(SLICES_SCHEMA)


@pytest.fixture
def contract_documents() -> list[dict]:
    return CONTRACT_DOCUMENTS


@pytest.fixture
def contracts(contract_documents: list[dict]) -> list[Contract]:
    return [Contract.model_validate(document) for document in contract_documents]


@pytest.fixture
def tables(contracts: list[Contract]) -> dict[str, pl.DataFrame]:
    return {
        "objectives": objectives_frame(contracts),
        "windows": windows_frame(),
        "burn_rates": burn_rates_frame(),
        "alerts": alerts_frame(),
        "credits": credits_frame(),
        "slices": slices_frame(),
        "corrections": corrections_frame(contracts),
        "outcomes": pl.DataFrame(schema=OUTCOMES_SCHEMA),
        "ticket_timers": pl.DataFrame(schema=TICKET_TIMERS_SCHEMA),
        "ticket_rejects": pl.DataFrame(
            schema={"contract_id": pl.String, "objective_id": pl.String, "ticket_id": pl.String}
        ),
        "ticket_descriptions": pl.DataFrame(
            schema={
                "contract_id": pl.String,
                "objective_id": pl.String,
                "ticket_id": pl.String,
                "short_description": pl.String,
            }
        ),
        "breach_risk": breach_risk_frame(),
        "forecasts": forecasts_frame(),
        "root_causes": root_causes_frame(),
        "anomalies": anomalies_frame(),
        "capacity": capacity_frame(),
    }


def breach_risk_frame() -> pl.DataFrame:
    """storage-uptime's current window 2026-03: 62% likely to end below 99.9%, its budget
    expected to run out 2026-03-20 14:00 UTC (15:00 in Berlin)."""
    return pl.DataFrame(
        {
            "contract_id": ["acme-cloud"],
            "objective_id": ["storage-uptime"],
            "window_label": ["2026-03"],
            "as_of": [AS_OF],
            "p_breach": [0.62],
            "expected_attainment": [0.99885],
            "attainment_low": [0.9981],
            "attainment_high": [0.9993],
            "predicted_exhaustion_at": [utc(2026, 3, 20, 14)],
            "target": [0.999],
            "window_end": [utc(2026, 3, 31, 22)],
            "method": ["forecast"],
        },
        schema_overrides={"as_of": TS, "predicted_exhaustion_at": TS, "window_end": TS},
    )


def forecasts_frame() -> pl.DataFrame:
    """storage-uptime's forecast for the two hours after the as-of time (2026-03-10 12:00 and
    13:00 UTC, whole hours): 60 minutes of volume and a bad ratio of 1% each. From 8 bad of
    10,000 minutes (budget 10, 20% left) the expected budget left is 1 − 8.6 / 10.06 after the
    first hour and 1 − 9.2 / 10.12 after the second."""
    hours = [utc(2026, 3, 10, 12), utc(2026, 3, 10, 13)]
    return pl.DataFrame(
        {
            "contract_id": "acme-cloud",
            "objective_id": "storage-uptime",
            "series": ["volume", "volume", "bad_ratio", "bad_ratio"],
            "model": "mean",
            "holdout_mae": None,
            "hour": hours * 2,
            "weight": 1.0,
            "mean": [60.0, 60.0, 0.01, 0.01],
            "interval_low": [50.0, 50.0, 0.0, 0.0],
            "interval_high": [70.0, 70.0, 0.03, 0.03],
        },
        schema_overrides={"hour": TS, "holdout_mae": pl.Float64},
    )


def root_causes_frame() -> pl.DataFrame:
    """paylane's payments-availability: the burn episode of 2026-03-09 20:00–21:30 UTC (16:00 EDT)
    with four hints, the first one's evidence holding markup; five older one-hint episodes at
    noon UTC on 2026-03-01 … 2026-03-05 (the one of 2026-03-01 is the sixth latest)."""
    latest = [
        (
            1,
            "payments-db:error_ratio",
            0.91,
            0.005,
            "error_ratio of payments-db: <b>spiked</b> first",
        ),
        (
            2,
            "payments-api:latency_p99",
            0.55,
            0.01,
            "latency_p99 of payments-api: anomalous inside",
        ),
        (3, "webhooks:request_rate", 0.40, 0.04, "request_rate of webhooks: correlated"),
        (4, "compute-api:error_ratio", 0.10, 0.6, "error_ratio of compute-api: never anomalous"),
    ]
    rows = [
        (utc(2026, 3, 9, 20), utc(2026, 3, 9, 21, 30), 20.0, rank, series, score, p_value,
         evidence)
        for rank, series, score, p_value, evidence in latest
    ] + [
        (utc(2026, 3, day, 12), utc(2026, 3, day, 13), 15.0, 1, "refunds-api:error_ratio", 0.7,
         0.5 if day == 3 else 0.005, f"older episode of March {day}")
        for day in range(1, 6)
    ]  # fmt: skip
    columns = ["episode_start", "episode_end", "peak_burn_rate", "rank", "series", "score",
               "p_value", "evidence"]  # fmt: skip
    return (
        pl.DataFrame(
            rows,
            schema={
                "episode_start": TS,
                "episode_end": TS,
                "peak_burn_rate": pl.Float64,
                "rank": pl.Int32,
                "series": pl.String,
                "score": pl.Float64,
                "p_value": pl.Float64,
                "evidence": pl.String,
            },
            orient="row",
        )
        .with_columns(
            pl.lit("paylane").alias("contract_id"),
            pl.lit("payments-availability").alias("objective_id"),
            pl.lit("service").alias("dimension"),
            pl.col("series").str.split(":").list.first().alias("member"),
            pl.col("series").str.split(":").list.last().alias("metric"),
            *(
                pl.lit(None, dtype=pl.Float64).alias(name)
                for name in ("anomaly_inside", "anomaly_before", "lead_minutes", "correlation")
            ),
        )
        .select(
            "contract_id",
            "objective_id",
            *columns[:3],
            "rank",
            "series",
            "dimension",
            "member",
            "metric",
            "score",
            "anomaly_inside",
            "anomaly_before",
            "lead_minutes",
            "correlation",
            "p_value",
            "evidence",
        )  # fmt: skip
        .with_columns(significant=pl.col("p_value") <= 0.05)
    )


def anomalies_frame() -> pl.DataFrame:
    """Points flagged anomalous: payments-api's error ratio at 2026-03-09 20:15 and 20:40 UTC
    (16:15 and 16:40 EDT, inside the burn chart) and at 2026-03-07 12:00 (before the first burn
    rate drawn), object-storage's probe failures at 2026-03-09 10:00."""
    rows = [
        ("payments-api", "error_ratio", utc(2026, 3, 9, 20, 15), 0.05, 0.97),
        ("payments-api", "error_ratio", utc(2026, 3, 9, 20, 40), 0.03, 0.81),
        ("payments-api", "error_ratio", utc(2026, 3, 7, 12), 0.02, 0.75),
        ("object-storage", "probe_failure", utc(2026, 3, 9, 10), 0.5, 0.9),
    ]
    return pl.DataFrame(
        rows,
        schema={
            "member": pl.String,
            "metric": pl.String,
            "ts": TS,
            "value": pl.Float64,
            "score": pl.Float64,
        },
        orient="row",
    ).select(
        (pl.col("member") + ":" + pl.col("metric")).alias("series"),
        pl.lit("service").alias("dimension"),
        "member",
        "metric",
        "ts",
        "value",
        "score",
        pl.lit(True).alias("is_anomaly"),
    )


def capacity_frame() -> pl.DataFrame:
    """payments-api runs out 2026-05-01 (2026-04-10 at the earliest, within 90 days of the as-of
    time); compute-api not within the forecast (2026-07-01 at the earliest, beyond 90 days)."""
    return pl.DataFrame(
        {
            "service": ["payments-api", "compute-api"],
            "capacity": [100.0, 500.0],
            "current_peak": [80.0, 120.0],
            "growth_per_day": [0.005, 0.0012],
            "runs_out_at": [date(2026, 5, 1), None],
            "runs_out_earliest": [date(2026, 4, 10), date(2026, 7, 1)],
            "model": ["ols_linear_trend_weekday"] * 2,
        }
    )


DESK_DOCUMENT = {
    "id": "desk",
    "title": "Service desk",
    "provider": "IT",
    "consumer": "Staff",
    "services": [{"id": "desk"}],
    "objectives": [
        {
            "id": "resolution",
            "service": "desk",
            "sli": {"kind": "resolution_time", "targets": {"P1": "4h", "P2": "8h"}},
            "target": "80%",
        },
        {
            "id": "mttr",
            "service": "desk",
            "sli": {"kind": "resolution_time", "statistic": "mean"},
            "target": "3d",
        },
        {
            "id": "p90",
            "service": "desk",
            "sli": {"kind": "resolution_time", "statistic": "p90"},
            "target": "8h",
        },
        {
            "id": "nps",
            "service": "desk",
            "sli": {"kind": "satisfaction", "measure": "nps"},
            "target": 20,
        },
        {
            "id": "rpo",
            "service": "desk",
            "sli": {"kind": "backup", "measure": "rpo"},
            "target": "26h",
        },
    ],
}

# (objective, label, start, end, complete, total, measured, attainment, target, status, unit,
#  interval_low, interval_high)
DESK_WINDOWS = [
    (
        "mttr",
        "2026-01",
        utc(2026, 1, 1),
        utc(2026, 2, 1),
        True,
        0,
        None,
        None,
        259200.0,
        "no_data",
        "seconds",
        None,
        None,
    ),
    (
        "mttr",
        "2026-02",
        utc(2026, 2, 1),
        utc(2026, 3, 1),
        True,
        4,
        200_000.0,
        None,
        259200.0,
        "met",
        "seconds",
        None,
        None,
    ),
    (
        "mttr",
        "2026-03",
        utc(2026, 3, 1),
        utc(2026, 4, 1),
        False,
        2,
        302_400.0,
        None,
        259200.0,
        "breaching",
        "seconds",
        None,
        None,
    ),
    (
        "p90",
        "2026-03",
        utc(2026, 3, 1),
        utc(2026, 4, 1),
        False,
        2,
        15_840.0,
        None,
        28800.0,
        "on_track",
        "seconds",
        None,
        None,
    ),
    (
        "nps",
        "2026-02",
        utc(2026, 2, 1),
        utc(2026, 3, 1),
        True,
        120,
        24.0,
        None,
        20.0,
        "met",
        "points",
        8.4,
        41.6,
    ),
    (
        "nps",
        "2026-03",
        utc(2026, 3, 1),
        utc(2026, 4, 1),
        False,
        3,
        50.0,
        None,
        20.0,
        "insufficient_data",
        "points",
        None,
        None,
    ),
    (
        "resolution",
        "2026-03",
        utc(2026, 3, 1),
        utc(2026, 4, 1),
        False,
        5,
        0.6,
        0.6,
        0.8,
        "breaching",
        "ratio",
        None,
        None,
    ),
    (
        "rpo",
        "2026-03",
        utc(2026, 3, 1),
        utc(2026, 4, 1),
        False,
        2,
        93_600.0,
        None,
        93_600.0,
        "on_track",
        "seconds",
        None,
        None,
    ),
]

# (ticket, priority, state, business seconds, target seconds, breached). P1 completed: 1h, 2h,
# 5h (breached); P2 completed: 10h (breached), 3h; one P1 still running.
DESK_TIMERS = [
    ("INC1", "P1", "completed", 3600.0, 14400.0, False),
    ("INC2", "P1", "completed", 7200.0, 14400.0, False),
    ("INC3", "P1", "completed", 18000.0, 14400.0, True),
    ("INC4", "P1", "running", 1000.0, 14400.0, False),
    ("INC5", "P2", "completed", 36000.0, 28800.0, True),
    ("INC6", "P2", "completed", 10800.0, 28800.0, False),
]


def desk_windows_frame() -> pl.DataFrame:
    columns = [
        "objective_id", "window_label", "window_start", "window_end", "is_complete", "total",
        "measured", "attainment", "target", "status", "unit", "interval_low", "interval_high",
    ]  # fmt: skip
    rows = pl.DataFrame(
        DESK_WINDOWS,
        schema={name: OUTCOME_WINDOWS_SCHEMA[name] for name in columns},
        orient="row",
    )
    return rows.with_columns(
        pl.lit("desk").alias("contract_id"),
        pl.lit(AS_OF, dtype=TS).alias("as_of"),
        *(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in OUTCOME_WINDOWS_SCHEMA.items()
            if name not in [*columns, "contract_id", "as_of"]
        ),
    ).select(list(OUTCOME_WINDOWS_SCHEMA))


def desk_timers_frame() -> pl.DataFrame:
    """DESK_TIMERS for both resolution (with the priority targets) and mttr (without)."""
    columns = [
        "ticket_id",
        "priority",
        "timer_state",
        "business_seconds",
        "target_seconds",
        "breached",
    ]
    rows = pl.DataFrame(
        DESK_TIMERS, schema={name: TICKET_TIMERS_SCHEMA[name] for name in columns}, orient="row"
    )
    mttr = rows.with_columns(
        pl.lit(None, dtype=pl.Float64).alias("target_seconds"),
        pl.lit(None, dtype=pl.Boolean).alias("breached"),
    )
    return (
        pl.concat(
            [
                rows.with_columns(pl.lit("resolution").alias("objective_id")),
                mttr.with_columns(pl.lit("mttr").alias("objective_id")),
            ]
        )
        .with_columns(
            pl.lit("desk").alias("contract_id"),
            pl.lit(False).alias("unmatched"),
            pl.lit(False).alias("incomplete"),
            *(
                pl.lit(None, dtype=dtype).alias(name)
                for name, dtype in TICKET_TIMERS_SCHEMA.items()
                if name not in [*columns, "contract_id", "objective_id", "unmatched", "incomplete"]
            ),
        )
        .select(list(TICKET_TIMERS_SCHEMA))
    )


def desk_outcomes_frame() -> pl.DataFrame:
    """Two RPO exposure spans: good backups 2026-03-09 00:00 (next one 26h later) and
    2026-03-10 02:00 (open for 10h until the as-of time)."""
    rows = [
        ("desk", "rpo", "b1", utc(2026, 3, 9), 93_600.0, None, None),
        ("desk", "rpo", "b2", utc(2026, 3, 10, 2), 36_000.0, None, None),
    ]
    return pl.DataFrame(rows, schema=OUTCOMES_SCHEMA, orient="row")


@pytest.fixture
def desk_contract() -> Contract:
    return Contract.model_validate(DESK_DOCUMENT)


@pytest.fixture
def desk_tables(
    desk_contract: Contract, tables: dict[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    return {
        **{name: frame.clear() for name, frame in tables.items()},
        "objectives": objectives_frame([desk_contract]),
        "windows": desk_windows_frame(),
        "ticket_timers": desk_timers_frame(),
        "outcomes": desk_outcomes_frame(),
    }
