"""Asset checks: hand-made warehouses for the queries, and the checks run by Dagster on a copy of
the demo home, passing, then failing on a duplicated export (whose objectives are held back) and
a reject-heavy day."""

import shutil
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from pipelines.contracts.sources import Source
from pipelines.definitions import all_assets, all_checks
from pipelines.ingest.summary import read_ingest_records
from pipelines.ops.checks import (
    current_window_per_objective,
    freshness_time,
    max_ages,
    stale_sources,
)
from pipelines.ops.evidence import (
    RejectLimit,
    duplicate_rows,
    max_reject_ratio,
    max_rejected_rows,
    reject_heavy_days,
    reject_heavy_reasons,
    reject_limits,
    run_days,
)
from pipelines.ops.jobs import partition_range_tags
from pipelines.resources import PledgeHome
from pipelines.warehouse import connect, insert_frame

DAY = date(2026, 11, 20)
MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)


def requests_rows(file, minutes):
    return pl.DataFrame(
        {
            "partition_date": [DAY] * len(minutes),
            "ts": [MIDNIGHT + timedelta(minutes=m) for m in minutes],
            "service": ["api"] * len(minutes),
            "total": [10] * len(minutes),
            "errors": [0] * len(minutes),
            "source": ["requests"] * len(minutes),
            "file": [file] * len(minutes),
        }
    )


def survey_rows(file, ids):
    return pl.DataFrame(
        {
            "partition_date": [DAY] * len(ids),
            "service": ["desk"] * len(ids),
            "response_id": ids,
            "ts": [MIDNIGHT] * len(ids),
            "survey": ["csat"] * len(ids),
            "score": [5.0] * len(ids),
            "source": ["surveys"] * len(ids),
            "file": [file] * len(ids),
        }
    )


def ingested(source, day, loaded, rejected, file=None):
    return pl.DataFrame(
        {
            "file": [file or f"{source}/{source}-{day}.csv"],
            "source": [source],
            "partition_date": [day],
            "status": ["loaded"],
            "rows_loaded": [loaded],
            "rows_rejected": [rejected],
            "ingested_at": [MIDNIGHT],
        }
    )


def test_a_minute_sent_by_two_files_is_a_duplicate(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        insert_frame(con, "raw.requests", requests_rows("a.csv", [0, 1, 2]))
        assert duplicate_rows(con, "raw.requests", (DAY, DAY)).is_empty()
        insert_frame(con, "raw.requests", requests_rows("b.csv", [1]))
        duplicates = duplicate_rows(con, "raw.requests", (DAY, DAY))
        assert duplicates.select("ts", "service", "copies").rows() == [
            (MIDNIGHT + timedelta(minutes=1), "api", 2)
        ]
        # the day after still sees it (files may cross midnight); a week later does not
        assert duplicate_rows(con, "raw.requests", (DAY + timedelta(1),) * 2).height == 1
        assert duplicate_rows(con, "raw.requests", (DAY + timedelta(7),) * 2).is_empty()
        assert duplicate_rows(con, "raw.requests", None).height == 1


def test_an_item_is_a_duplicate_within_a_file_not_when_re_exported(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        insert_frame(con, "raw.survey_responses", survey_rows("s1.csv", ["R1", "R2"]))
        insert_frame(con, "raw.survey_responses", survey_rows("s2.csv", ["R1", "R2"]))
        assert duplicate_rows(con, "raw.survey_responses", None).is_empty()
        insert_frame(con, "raw.survey_responses", survey_rows("s2.csv", ["R2"]))
        assert duplicate_rows(con, "raw.survey_responses", None).select(
            "file", "response_id", "copies"
        ).rows() == [("s2.csv", "R2", 2)]


def test_latency_samples_of_a_file_loaded_twice_are_duplicates(tmp_path):
    samples = pl.DataFrame(
        {
            "partition_date": [DAY] * 3,
            "ts": [MIDNIGHT] * 3,  # identical samples are legitimate
            "service": ["web"] * 3,
            "latency_seconds": [0.5] * 3,
            "source": ["rum"] * 3,
            "file": ["rum/rum-2026-11-20.csv"] * 3,
        }
    )
    with connect(tmp_path / "w.duckdb") as con:
        insert_frame(con, "ops.ingested_files", ingested("rum", DAY, 3, 0))
        insert_frame(con, "raw.latency_samples", samples)
        assert duplicate_rows(con, "raw.latency_samples", (DAY, DAY)).is_empty()
        insert_frame(con, "raw.latency_samples", samples)
        assert duplicate_rows(con, "raw.latency_samples", (DAY, DAY)).rows() == [
            ("rum/rum-2026-11-20.csv", 2)
        ]


def test_reject_ratio_above_the_threshold_per_source_and_day(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        for frame in (
            ingested("requests", DAY, 99, 1),  # exactly 1 %: allowed
            ingested("requests", DAY + timedelta(1), 98, 2),  # 2 %
            ingested("probes", DAY, 0, 5),  # another kind's source
        ):
            insert_frame(con, "ops.ingested_files", frame)
        any_count = {"requests": RejectLimit(0.01, max_rows=0)}
        heavy = reject_heavy_days(con, any_count, None)
        assert heavy.rows() == [("requests", DAY + timedelta(1), 98, 2, 0.02)]
        assert reject_heavy_days(con, any_count, (DAY, DAY)).is_empty()
        assert reject_heavy_days(con, {"requests": RejectLimit(0.05, 0)}, None).is_empty()


def test_a_day_is_reject_heavy_only_past_both_the_share_and_the_count(tmp_path):
    """Issue 16: one bad line of a five-line backups file (1 of 5) and three bad lines of a
    283-row ticket export (3 of 286) stopped the run; 11 of 100 rows is worth telling."""
    with connect(tmp_path / "w.duckdb") as con:
        for frame in (
            ingested("backups", DAY, 4, 1),  # 20 %, but 1 row
            ingested("tickets", DAY, 283, 3),  # 1.05 %, 3 rows
            ingested("surveys", DAY, 89, 11),  # 11 %, 11 rows
            ingested("surveys", DAY + timedelta(1), 1989, 11),  # 0.55 %, 11 rows
        ):
            insert_frame(con, "ops.ingested_files", frame)
        defaults = {name: RejectLimit() for name in ("backups", "tickets", "surveys")}
        assert reject_heavy_days(con, defaults, None).rows() == [("surveys", DAY, 89, 11, 0.11)]
        # a source's own limits (sources.yaml) win
        strict = {**defaults, "backups": RejectLimit(0.01, max_rows=0)}
        assert [row[0] for row in reject_heavy_days(con, strict, None).rows()] == [
            "backups",
            "surveys",
        ]


def test_reject_limits_come_from_the_source_then_the_environment_then_the_defaults():
    sources = {
        "plain": Source(kind="backup_runs", path="b/*.csv", format="csv"),
        "own": Source(
            kind="backup_runs",
            path="o/*.csv",
            format="csv",
            max_reject_ratio=0.2,
            max_rejected_rows=0,
        ),
    }
    assert reject_limits(sources, {}) == {
        "plain": RejectLimit(0.01, 10),
        "own": RejectLimit(0.2, 0),
    }
    environment = {"PLEDGE_MAX_REJECT_RATIO": "0.05", "PLEDGE_MAX_REJECTED_ROWS": "3"}
    assert reject_limits(sources, environment)["plain"] == RejectLimit(0.05, 3)
    assert max_rejected_rows("") == 10
    with pytest.raises(ValueError, match="PLEDGE_MAX_REJECTED_ROWS: '-1' is not a count"):
        max_rejected_rows("-1")


def test_a_reject_heavy_day_names_its_files_and_their_top_reasons(tmp_path):
    rejects = pl.DataFrame(
        [
            ("requests/b.csv", 2, "unparseable number"),
            ("requests/b.csv", 3, "missing ts"),
            ("requests/b.csv", 5, "unparseable number"),
            ("requests/c.csv", 7, "missing ts"),
        ],
        schema=["file", "line", "reason"],
        orient="row",
    ).with_columns(source=pl.lit("requests"), partition_date=pl.lit(DAY))
    with connect(tmp_path / "w.duckdb") as con:
        for file, loaded, rejected in (("a.csv", 90, 0), ("b.csv", 0, 3), ("c.csv", 6, 1)):
            insert_frame(
                con, "ops.ingested_files", ingested("requests", DAY, loaded, rejected, file)
            )
        con.execute("UPDATE ops.ingested_files SET file = 'requests/' || file")
        insert_frame(con, "raw.rejects", rejects)
        heavy = reject_heavy_days(con, {"requests": RejectLimit(0.01, 0)}, (DAY, DAY))
        reasons = reject_heavy_reasons(heavy, read_ingest_records(con, (DAY, DAY)))
    assert reasons.drop("reason").equals(heavy)
    assert reasons["reason"].to_list() == [
        "requests 2026-11-20: 4 of 100 rows rejected (4.0%): "
        "requests/b.csv: 2 × unparseable number (first at line 2); "
        "1 × missing ts (first at line 3) | requests/c.csv: 1 × missing ts (first at line 7)"
    ]


def test_the_reject_ratio_setting_is_a_share():
    assert max_reject_ratio(None) == max_reject_ratio("") == 0.01
    assert max_reject_ratio("0.05") == 0.05
    for bad in ("5%", "1.5", "-0.1"):
        with pytest.raises(ValueError, match="PLEDGE_MAX_REJECT_RATIO: .* is not a share"):
            max_reject_ratio(bad)


def test_stale_sources_and_their_thresholds():
    ages = max_ages({"req": "requests", "sec": "security_incidents", "rst": "restore_tests"})
    assert ages == {"req": timedelta(hours=36), "sec": None, "rst": timedelta(days=8)}
    ages = max_ages({"req": "requests", "sec": "security_incidents"}, "req=2, sec=720,other=1")
    assert ages == {"req": timedelta(hours=2), "sec": timedelta(days=30)}
    with pytest.raises(ValueError, match="PLEDGE_FRESHNESS: 'req' is not source=hours"):
        max_ages({"req": "requests"}, "req")

    as_of = datetime(2026, 11, 21, tzinfo=UTC)
    newest = pl.DataFrame(
        {"source": ["req", "sec"], "newest": [as_of - timedelta(hours=3), as_of]},
        schema={"source": pl.String, "newest": pl.Datetime("us", "UTC")},
    )
    limits = {"req": timedelta(hours=2), "sec": timedelta(days=1), "none": timedelta(days=1)}
    stale = stale_sources(newest, limits, as_of)
    assert stale.select("source", "age_hours", "max_age_hours").rows() == [
        ("none", None, 24.0),
        ("req", 3.0, 2.0),
    ]


def test_the_days_and_time_a_check_judges():
    assert run_days(partition_range_tags(DAY, DAY + timedelta(2))) == (DAY, DAY + timedelta(2))
    assert run_days({"dagster/partition": "2026-11-20"}) == (DAY, DAY)
    assert run_days({}) is None
    now = datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert freshness_time((DAY, DAY), now) == datetime(2026, 11, 21, tzinfo=UTC)
    assert freshness_time((DAY, now.date()), now) == now
    assert freshness_time(None, now) == now


@pytest.fixture
def home(demo_home, tmp_path):
    """A writable copy of the demo home (warehouse, sources, contracts, landing files)."""
    copy = tmp_path / "home"
    shutil.copytree(demo_home, copy, ignore=shutil.ignore_patterns("reports", "dagster"))
    return copy


def run(home, selection, first, last):
    return dg.materialize(
        [*all_assets, *all_checks],
        selection=selection,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"pledge": PledgeHome(home=str(home))},
        tags=partition_range_tags(first, last),
        raise_on_error=False,
    )


def evaluations(result):
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def test_every_check_passes_on_the_demo(home, demo_end):
    result = run(home, dg.AssetSelection.all_asset_checks(), demo_end - timedelta(14), demo_end)
    assert result.success
    found = evaluations(result)
    assert len(found) == sum(len(list(checks.check_specs)) for checks in all_checks) == 9 * 3 + 1
    assert all(evaluation.passed for evaluation in found.values()), [
        key for key, evaluation in found.items() if not evaluation.passed
    ]


def day_totals(home, day):
    """(contract_id, objective_id) → total of its slices of ``day``."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT contract_id, objective_id, sum(total) FROM sla.slices "
            "WHERE partition_date = ? GROUP BY ALL",
            [day],
        ).fetchall()
    return {(contract_id, objective_id): total for contract_id, objective_id, total in rows}


def test_a_resent_export_holds_the_slices_of_the_objectives_reading_it(home, demo_end):
    day = demo_end - timedelta(days=1)
    before = day_totals(home, day)
    original = home / "landing" / "requests" / f"requests-{day}.csv"
    lines = original.read_text().splitlines()
    resend = original.with_name(f"requests-{day}-resend.csv")
    resend.write_text("\n".join(lines[:1] + lines[1:4]) + "\n")  # three rows already sent
    selection = dg.AssetSelection.assets(
        ["raw", "requests"], ["ops", "blocked_sources"], ["sla", "slices"]
    )
    result = run(home, selection, day, day)
    assert result.success  # the check blocks no step: sla/slices runs for the other objectives
    check = evaluations(result)[("raw/requests", "no_duplicate_rows")]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert not check.blocking
    assert check.metadata["duplicate_keys"].value == 3
    [slices] = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.path == ["sla", "slices"]
    ]
    held = slices.materialization.metadata["objectives_held"].value
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        [(from_requests,)] = con.execute(
            "SELECT count(*) FROM sla.objectives WHERE sli_method = 'requests'"
        ).fetchall()
    assert held == from_requests > 0  # the demo's one requests source feeds all of them
    assert day_totals(home, day) == before  # their slices not counted twice, the others the same


def test_a_reject_heavy_day_is_an_error_naming_the_file_and_freshness_only_warns(home, demo_end):
    day = demo_end - timedelta(days=1)
    bad = home / "landing" / "surveys" / f"surveys-{day}-late.csv"
    bad.write_text(
        "service,response_id,responded_at,survey,score\n"
        + "".join(f"service-desk,X{n},not a time,csat,5\n" for n in range(50))
    )
    selection = dg.AssetSelection.assets(
        ["raw", "survey_responses"], ["ops", "blocked_sources"], ["sla", "outcomes"]
    )
    result = run(home, selection, day, day)
    assert result.success  # not blocking: the rows that loaded are still counted
    check = evaluations(result)[("raw/survey_responses", "reject_ratio")]
    assert not check.passed and not check.blocking
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["reject_heavy_days"].value == 1
    assert f"surveys/surveys-{day}-late.csv: 50 × " in check.description
    assert "(first at line 2)" in check.description
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "sla/outcomes" in materialized

    # judged as of a week after the demo ends, the surveys are stale: a warning, the run succeeds
    later = demo_end + timedelta(days=7)
    bad.unlink()
    result = run(home, dg.AssetSelection.checks(*all_checks), later, later)
    fresh = evaluations(result)[("raw/requests", "fresh_sources")]
    assert not fresh.passed
    assert fresh.severity == dg.AssetCheckSeverity.WARN
    assert "requests" in fresh.metadata["stale_sources"].value


def test_an_objective_without_a_current_window_fails(home):
    with connect(home / "warehouse.duckdb") as con:
        con.execute(
            "DELETE FROM sla.windows WHERE contract_id = 'acme-cloud' "
            "AND objective_id = 'compute-availability' AND NOT is_complete"
        )
    result = dg.materialize(
        [*all_assets, current_window_per_objective],
        selection=dg.AssetSelection.checks(current_window_per_objective),
        instance=dg.DagsterInstance.ephemeral(),
        resources={"pledge": PledgeHome(home=str(home))},
    )
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["objectives_without_window"].value == 1
    assert "compute-availability" in check.metadata["objectives"].value


def test_pledge_run_names_a_blocked_source_and_exits_3(home, demo_end, monkeypatch, capsys):
    from pipelines.cli import EXIT_EVIDENCE, main

    for variable in ("PLEDGE_HOME", "PLEDGE_LANDING", "PLEDGE_WAREHOUSE", "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    day = (demo_end - timedelta(days=1)).isoformat()
    original = home / "landing" / "requests" / f"requests-{day}.csv"
    lines = original.read_text().splitlines()
    original.with_name(f"requests-{day}-resend.csv").write_text("\n".join(lines[:3]) + "\n")
    assert main(["run", "--home", str(home), "--from", day, "--to", day]) == EXIT_EVIDENCE
    err = capsys.readouterr().err
    assert (
        "error: source requests blocked (no_duplicate_rows): rows of raw.requests there more than "
        f"once: requests/requests-{day}-resend.csv (2 rows), requests/requests-{day}.csv (2 rows); "
        "held back, with the figures of the previous run: acme-cloud/compute-availability, "
    ) in err
    assert "error: the pipeline run failed" not in err
