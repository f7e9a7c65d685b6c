"""``pledge run``'s summary, exit codes and error lines on copies of the demo home: a landing file
of random bytes and a file whose every row is rejected (exit 3, both named), a bad source in
sources.yaml (exit 2, the valid sources still load), a sources.yaml that is not YAML (exit 2, no
run)."""

import random
import shutil
from datetime import timedelta

import pytest

from pipelines.cli import EXIT_CONFIGURATION, EXIT_EVIDENCE, main
from pipelines.warehouse import connect


@pytest.fixture
def home(demo_home, tmp_path, monkeypatch):
    """A writable copy of the demo home, with no PLEDGE_* setting from the environment."""
    for variable in ("PLEDGE_HOME", "PLEDGE_SOURCES", "PLEDGE_LANDING", "PLEDGE_WAREHOUSE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    copy = tmp_path / "home"
    shutil.copytree(demo_home, copy, ignore=shutil.ignore_patterns("reports", "dagster"))
    return copy


def run_day(home, day):
    return main(["run", "--home", str(home), "--from", str(day), "--to", str(day)])


def test_a_failed_file_and_a_reject_heavy_file_exit_3_naming_them(home, demo_end, capsys):
    day = demo_end - timedelta(days=1)
    garbage = home / "landing" / "requests" / f"requests-{day}.csv"
    garbage.write_bytes(random.Random(9).randbytes(4096))
    rejected = home / "landing" / "surveys" / f"surveys-{day}-late.csv"
    rejected.write_text(
        "service,response_id,responded_at,survey,score\n"
        + "".join(f"service-desk,L{n},not a time,csat,5\n" for n in range(40))
    )

    assert run_day(home, day) == EXIT_EVIDENCE

    out, err = capsys.readouterr()
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        [(reason, lines)] = con.execute(
            "SELECT reason, count(*) FROM raw.rejects WHERE file = ? GROUP BY reason",
            [f"surveys/{rejected.name}"],
        ).fetchall()
    assert lines == 40
    assert f"error: landing file not loaded: requests/{garbage.name}: " in err
    assert f"error: reject ratio exceeded: surveys {day}: 40 of " in err
    assert f"surveys/{rejected.name}: 40 × {reason} (first at line 2)" in err
    assert "requests: files 0 loaded, 0 duplicate, 1 failed; rows 0 loaded, 0 rejected" in out
    assert f"  failed: requests/{garbage.name}: " in out
    assert f"  rejected 40 × {reason}, e.g. surveys/{rejected.name}:2: " in out
    # the reports are still written, and say so
    index = (home / "reports" / "index.html").read_text()
    assert 'id="data-quality"' in index
    rejects_page = (home / "reports" / "rejects.html").read_text()
    assert f"requests/{garbage.name}" in rejects_page
    assert f"surveys/{rejected.name}" in rejects_page


def test_a_bad_source_is_reported_with_its_line_and_the_others_still_load(home, demo_end, capsys):
    sources = home / "sources.yaml"
    text = sources.read_text()
    sources.write_text(text + "  web:\n    kind: requests\n    path: web/*.csv\n    format: xlsx\n")
    line = text.count("\n") + 4
    day = demo_end - timedelta(days=1)

    assert run_day(home, day) == EXIT_CONFIGURATION

    err = capsys.readouterr().err
    assert f"{sources}:{line}: sources.web.format: Input should be 'csv' or 'parquet'" in err
    assert "Traceback" not in err
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        [(loaded,)] = con.execute(
            "SELECT count(*) FROM ops.ingested_files WHERE source = 'requests' "
            "AND partition_date = ? AND status = 'loaded'",
            [day],
        ).fetchall()
    assert loaded == 1


def test_a_sources_file_that_is_not_yaml_stops_before_the_run(home, demo_end, capsys):
    sources = home / "sources.yaml"
    sources.write_text("sources:\n  requests: {kind: requests\n  probes: {}\n")

    assert run_day(home, demo_end - timedelta(days=1)) == EXIT_CONFIGURATION

    err = capsys.readouterr().err
    assert err.startswith(f"{sources}:3: (yaml): ")
    assert f"error: no valid source in {sources}" in err
    assert not (home / "dagster").exists()  # no run was started
