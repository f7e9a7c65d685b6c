"""A failing check on one source stops only what reads it. End to end, through a real
``pledge run`` on a tiny home: contract ``shop`` reads source ``web`` (requests of service web),
``partner`` reads ``api`` (requests of service api), ``desk`` reads the ticket export ``desk``.
Day 1 is clean; on day 2 one source is damaged. The others' windows and pages take day 2; the
damaged source's objectives keep day 1's figures; the run's summary and the banners name the
source and file, and the run exits 3 (EXIT_EVIDENCE). Then the pure functions on a hand-made
warehouse."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import EXIT_EVIDENCE, main
from pipelines.contracts.sources import read_sources
from pipelines.ops.evidence import find_evidence, held_objectives, reject_limits, with_held
from pipelines.report.paths import objective_page_name
from pipelines.warehouse import connect, insert_frame, query
from tests.conftest import PLEDGE_VARIABLES

DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)

SOURCES = """sources:
  web: {kind: requests, path: "web/*.csv", format: csv}
  api: {kind: requests, path: "api/*.csv", format: csv}
  desk: {kind: tickets, layout: snapshot, path: "desk/*.csv", format: csv, service: desk}
"""


def contract(contract_id: str, service: str, sli: str) -> str:
    return f"""id: {contract_id}
title: {contract_id} agreement
provider: Vendor
consumer: Us
time_zone: UTC
services: [{{id: {service}}}]
objectives:
  - id: {service}-objective
    service: {service}
    sli: {sli}
    target: 90%
"""


def requests_file(day: date, service: str, failed: int) -> str:
    """Three minutes of 100 requests each, ``failed`` of the first minute failed."""
    return "ts,service,total,errors\n" + "".join(
        f"{day}T10:0{minute}:00Z,{service},100,{failed if minute == 0 else 0}\n"
        for minute in range(3)
    )


def tickets_file(day: date) -> str:
    """Two tickets opened on ``day``: one resolved in 1 h, one in 6 h (target 4 h)."""
    return (
        "ticket_id,opened_at,resolved_at\n"
        f"T{day:%d}a,{day}T08:00:00Z,{day}T09:00:00Z\n"
        f"T{day:%d}b,{day}T08:00:00Z,{day}T14:00:00Z\n"
    )


@pytest.fixture(scope="module")
def day_one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny home, run once on day 1 (shared: tests copy it)."""
    home = tmp_path_factory.mktemp("blocked") / "home"
    (home / "contracts").mkdir(parents=True)
    (home / "sources.yaml").write_text(SOURCES)
    for contract_id, service, sli in [
        ("shop", "web", "{kind: availability, evidence: requests}"),
        ("partner", "api", "{kind: availability, evidence: requests}"),
        ("desk", "desk", "{kind: resolution_time, threshold: 4h}"),
    ]:
        (home / "contracts" / f"{contract_id}.yaml").write_text(contract(contract_id, service, sli))
    for day in (DAY1, DAY2):
        for service in ("web", "api", "desk"):
            folder = home / "landing" / service
            folder.mkdir(parents=True, exist_ok=True)
            text = tickets_file(day) if service == "desk" else requests_file(day, service, 10)
            (folder / f"{service}-{day}.csv").write_text(text)
    with pytest.MonkeyPatch.context() as env:
        for variable in PLEDGE_VARIABLES:
            env.delenv(variable, raising=False)
        assert run(home, DAY1) == 0
    return home


@pytest.fixture
def home(day_one: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the home run on day 1."""
    for variable in PLEDGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return Path(shutil.copytree(day_one, tmp_path / "home"))


def run(home: Path, day: date) -> int:
    return main(["run", "--home", str(home), "--from", str(day), "--to", str(day)])


def windows(home: Path) -> dict[str, tuple[float, float]]:
    """good, total of each contract's one window (a month)."""
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        rows = query(con, "SELECT contract_id, good, total FROM sla.windows ORDER BY contract_id")
    return {contract_id: (good, total) for contract_id, good, total in rows.iter_rows()}


def page(home: Path, contract_id: str, objective_id: str) -> str:
    return (home / "reports" / objective_page_name(contract_id, objective_id)).read_text()


def test_day_one_is_counted(day_one: Path) -> None:
    assert windows(day_one) == {
        "desk": (1.0, 2.0),
        "partner": (290.0, 300.0),
        "shop": (290.0, 300.0),
    }


def test_a_duplicated_row_holds_back_only_the_contract_reading_its_source(home, capsys):
    original = home / "landing" / "web" / f"web-{DAY2}.csv"
    resent = original.with_name(f"web-{DAY2}-resent.csv")
    resent.write_text("".join(original.read_text().splitlines(keepends=True)[:2]))  # 10:00 again

    assert run(home, DAY2) == EXIT_EVIDENCE

    # the other contracts count day 2; shop keeps day 1's figures (not 580 + 100 twice)
    assert windows(home) == {
        "desk": (2.0, 4.0),
        "partner": (580.0, 600.0),
        "shop": (290.0, 300.0),
    }
    err = capsys.readouterr().err
    reason = (
        f"rows of raw.requests there more than once: web/web-{DAY2}-resent.csv (1 row), "
        f"web/web-{DAY2}.csv (1 row)"
    )
    assert (
        f"error: source web blocked (no_duplicate_rows): {reason}; held back, with the figures "
        "of the previous run: shop/web-objective\n" in err
    )
    index = (home / "reports" / "index.html").read_text()
    assert 'id="blocked-sources"' in index
    assert f"web/web-{DAY2}-resent.csv" in index
    assert "Source web blocked" in page(home, "shop", "web-objective")
    assert "blocked" not in page(home, "partner", "api-objective")
    with connect(home / "warehouse.duckdb", read_only=True) as con:
        assert con.execute("SELECT * FROM ops.held_objectives").fetchall() == [
            ("shop", "web-objective", "web")
        ]


def test_a_reject_heavy_ticket_export_holds_back_only_the_ticket_contract(home, capsys):
    damaged = home / "landing" / "desk" / f"desk-{DAY2}.csv"
    garbage = "".join(f"X{n},not a time,?\n" for n in range(11))
    damaged.write_text(damaged.read_text() + garbage)  # 11 of 13 rows: past 1 % and 10 rows

    assert run(home, DAY2) == EXIT_EVIDENCE

    assert windows(home) == {
        "desk": (1.0, 2.0),
        "partner": (580.0, 600.0),
        "shop": (580.0, 600.0),
    }
    err = capsys.readouterr().err
    assert f"error: source desk blocked (reject_ratio): desk {DAY2}: 11 of 13 rows rejected" in err
    assert f"desk/desk-{DAY2}.csv: 11 × " in err
    assert "held back, with the figures of the previous run: desk/desk-objective\n" in err
    index = (home / "reports" / "index.html").read_text()
    assert f"desk/desk-{DAY2}.csv: 11 × " in index
    assert "Source desk blocked" in page(home, "desk", "desk-objective")


def test_blank_lines_block_nothing(home, capsys):
    """The issue's cases in small: a blank line inside a short file, three trailing blank lines
    in a ticket export (they are skipped, not rejected)."""
    web = home / "landing" / "web" / f"web-{DAY2}.csv"
    lines = web.read_text().splitlines(keepends=True)
    web.write_text("".join([*lines[:2], "\n", *lines[2:]]))
    desk = home / "landing" / "desk" / f"desk-{DAY2}.csv"
    desk.write_text(desk.read_text() + "\n\n\n")

    assert run(home, DAY2) == 0

    assert windows(home) == {
        "desk": (2.0, 4.0),
        "partner": (580.0, 600.0),
        "shop": (580.0, 600.0),
    }
    assert "blocked" not in capsys.readouterr().err
    assert 'id="blocked-sources"' not in (home / "reports" / "index.html").read_text()


def test_the_objectives_a_blocked_source_holds(tmp_path: Path) -> None:
    """Hand-made warehouse: source web sent 10:00 of service web in two files; source api (kind
    requests) is blocked with no row loaded, first without then with a declared service."""
    minute = datetime(2026, 11, 21, 10, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "partition_date": [DAY2] * 3,
            "ts": [minute, minute, minute + timedelta(minutes=1)],
            "service": ["web"] * 3,
            "total": [100] * 3,
            "errors": [0] * 3,
            "source": ["web"] * 3,
            "file": ["web/a.csv", "web/b.csv", "web/b.csv"],
        }
    )
    objectives = pl.DataFrame(
        [
            ("shop", "availability", "web", "requests"),
            ("shop", "latency", "web", "histogram"),
            ("partner", "availability", "api", "requests"),
            ("other", "availability", "other", "requests"),
        ],
        schema=["contract_id", "objective_id", "service", "sli_method"],
        orient="row",
    )
    sources, _ = read_sources_text(tmp_path, SOURCES)
    with connect(tmp_path / "warehouse.duckdb") as con:
        insert_frame(con, "raw.requests", rows)
        blocked = find_evidence(con, sources, reject_limits(sources, {}), (DAY2, DAY2)).blocked
        assert blocked.rows() == [
            (
                "web",
                "requests",
                "no_duplicate_rows",
                "rows of raw.requests there more than once: web/a.csv (1 row), web/b.csv (1 row)",
            )
        ]
        held = held_objectives(con, objectives, blocked, sources, (DAY2, DAY2))
        assert held.rows() == [("shop", "availability", "web")]  # not its histogram objective

        no_rows = pl.DataFrame(
            [("api", "requests", "reject_ratio", "…")], schema=blocked.schema, orient="row"
        )
        every = held_objectives(con, objectives, no_rows, sources, (DAY2, DAY2))
        assert every["objective_id"].to_list() == ["availability"] * 3  # api names no service
        declared = {**sources, "api": sources["api"].model_copy(update={"service": "api"})}
        assert held_objectives(con, objectives, no_rows, declared, (DAY2, DAY2)).rows() == [
            ("partner", "availability", "api")
        ]


def read_sources_text(folder: Path, text: str):
    (folder / "sources.yaml").write_text(text)
    return read_sources(folder / "sources.yaml")


def test_held_objectives_keep_their_stored_rows() -> None:
    computed = pl.DataFrame({"contract_id": ["a", "b"], "objective_id": ["x", "x"], "good": [2, 2]})
    stored = pl.DataFrame(
        {"good": [1.0, 1.0], "contract_id": ["a", "b"], "objective_id": ["x", "x"], "more": [0, 0]}
    )
    held = pl.DataFrame({"contract_id": ["b"], "objective_id": ["x"], "source": ["web"]})
    assert with_held(computed, stored, held).rows() == [("a", "x", 2), ("b", "x", 1)]
