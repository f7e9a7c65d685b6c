"""`pledge validate`: valid examples pass; each kind of problem gives one file:line: field line."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.contracts.loader import ContractError, load_contract
from pipelines.contracts.schema import Timeslices
from pipelines.settings import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "contracts"

VALID = """\
id: tiny
title: Tiny
provider: P
consumer: C
time_zone: Europe/Berlin
services:
  - {id: api}
objectives:
  - id: avail
    service: api
    sli: {kind: availability}
    target: 99.9%
"""


def write(tmp_path: Path, text: str, name: str = "contract.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ContractError) as error:
        load_contract(path)
    return [str(problem) for problem in error.value.problems]


def test_an_edited_contract_is_read_again(tmp_path):
    path = write(tmp_path, VALID)
    assert load_contract(path).title == "Tiny"
    assert load_contract(path) is load_contract(path)  # unchanged: parsed once
    path.write_text(VALID.replace("title: Tiny", "title: Tiny, edited"))
    assert load_contract(path).title == "Tiny, edited"


def test_examples_are_valid(capsys):
    assert main(["validate", str(EXAMPLES)]) == 0
    assert "5 contract file(s) valid" in capsys.readouterr().out


def test_example_fields_parse_to_exact_values():
    contract = load_contract(EXAMPLES / "acme-cloud.yaml")
    storage = contract.objective("storage-uptime")
    assert storage.target == 0.999
    assert isinstance(storage.budgeting, Timeslices)
    assert storage.budgeting.slice == timedelta(minutes=5)
    assert contract.objective("compute-latency").sli.threshold == timedelta(milliseconds=500)
    rolling = load_contract(EXAMPLES / "platform-team.yaml").objective("k8s-availability").window
    assert (rolling.kind, rolling.length) == ("rolling", timedelta(days=28))


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        ("title: Tiny", "title: Tiny\ncolour: blue", 3, "colour", "Extra inputs are not permitted"),
        ("target: 99.9%", "target: 120%", 12, "objectives[0].target", "'120%' is out of range"),
        (
            "target: 99.9%",
            "target: 100%",
            12,
            "objectives[0].target",
            "target 100.0000% is out of range",
        ),
        ("Europe/Berlin", "Mars/Olympus", 5, "time_zone", "unknown time zone 'Mars/Olympus'"),
        (
            "target: 99.9%",
            "target: 99.9%\n    window: rolling 5x",
            13,
            "objectives[0].window",
            "bad duration '5x'",
        ),
        (
            "target: 99.9%",
            "target: 99.9%\n    window: fortnight",
            13,
            "objectives[0].window",
            "unknown window 'fortnight'",
        ),
        (
            "kind: availability",
            "kind: magic",
            11,
            "objectives[0].sli.kind",
            "unknown kind 'magic': use one of 'availability', 'latency', 'resolution_time'",
        ),
        (
            "service: api\n    sli",
            "service: web\n    sli",
            10,
            "objectives[0].service",
            "unknown service 'web'",
        ),
    ],
)
def test_each_problem_points_at_its_line(tmp_path, old, new, line, field, message):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line}: {field}: ")
    assert message in problem


def test_duplicate_objectives_and_credit_tiers(tmp_path):
    text = (
        VALID
        + """\
    credits:
      tiers:
        - {below: 99%, credit: 10%}
        - {below: 99.5%, credit: 20%}
        - {below: 99.5%, credit: 5%}
  - id: avail
    service: api
    sli: {kind: availability}
    target: 99%
"""
    )
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}:16: objectives[0].credits.tiers[1].below: tiers must be ordered from the highest "
        "'below' down (99.5000% follows 99.0000%)",
        f"{path}:17: objectives[0].credits.tiers[2].below: overlaps tier 2: both start below 99.5000%",
        f"{path}:17: objectives[0].credits.tiers[2].credit: a lower tier must earn more credit than "
        "the one above it (5.00% after 20.00%)",
        f"{path}:18: objectives[1].id: duplicate objective id 'avail' (first at {path}:9)",
    ]


def test_validate_command_prints_one_line_per_problem_and_exits_1(tmp_path, capsys):
    good = write(tmp_path, VALID, "good.yaml")
    bad = write(
        tmp_path,
        VALID.replace("99.9%", "120%").replace("Europe/Berlin", "Nowhere/City"),
        "bad.yaml",
    )
    assert main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{bad}:5: time_zone: unknown time zone 'Nowhere/City': use an IANA name like Europe/Berlin",
        f"{bad}:12: objectives[0].target: '120%' is out of range: a share lies between 0% and 100%",
    ]


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = write(tmp_path, VALID.replace("provider: P", "provider: [P"))
    (line,) = problems_of(path)
    assert line.startswith(f"{path}:") and "(yaml)" in line


def test_probes_need_timeslices(tmp_path):
    path = write(
        tmp_path, VALID.replace("{kind: availability}", "{kind: availability, evidence: probes}")
    )
    (line,) = problems_of(path)
    assert line.startswith(f"{path}:9: objectives[0]: probes SLIs are judged per slice")


@pytest.mark.parametrize(
    "budgeting",
    [
        "{method: timeslices, slice: 7m, slice_target: 99%}",
        "{method: ratio_timeslices, slice: 7m}",
    ],
)
def test_slices_must_divide_a_day(tmp_path, budgeting):
    path = write(
        tmp_path, VALID.replace("target: 99.9%", f"target: 99.9%\n    budgeting: {budgeting}")
    )
    (line,) = problems_of(path)
    assert line == (
        f"{path}:13: objectives[0].budgeting.slice: slice 7m must be whole minutes that divide a day "
        "(e.g. 1m, 5m, 15m, 1h)"
    )


def test_ratio_timeslices_counts_slices(tmp_path):
    path = write(
        tmp_path,
        VALID.replace("target: 99.9%", "target: 99.9%\n    budgeting: {method: ratio_timeslices}"),
    )
    (objective,) = load_contract(path).objectives
    assert objective.unit == "slices"
    assert objective.slice_length == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            '{period: month, start: "2026-01-31T00:00"}',
            "window start 2026-01-31T00:00:00: a month cannot start on day 31, which some months "
            "lack (use a day from 1 to 28)",
        ),
        (
            '{period: week, start: "2026-01-07T09:00+01:00"}',
            "window start 2026-01-07T09:00:00+01:00 is a wall-clock time in the contract's "
            "zone: drop its UTC offset",
        ),
        (
            '{period: day, start: "2026-01-07T09:05"}',
            "window start 2026-01-07T09:05:00 must be on a quarter hour (:00, :15, :30, :45)",
        ),
        (
            '{kind: rolling, length: 28d, start: "2026-01-07T09:00"}',
            "only a calendar window has a start",
        ),
    ],
)
def test_window_start_problems(tmp_path, window, message):
    path = write(tmp_path, VALID.replace("target: 99.9%", f"target: 99.9%\n    window: {window}"))
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:13: objectives[0].window: ")
    assert problem.endswith(message)


def test_a_window_start_is_labelled_or_dropped_when_it_begins_its_period(tmp_path):
    for window, start, label in [
        ('{period: quarter, start: "2026-04-01T00:00"}', None, "quarter"),
        (
            '{period: quarter, start: "2026-05-01T00:00"}',
            datetime(2026, 5, 1),
            "quarter from 1 May 00:00",
        ),
        ('{period: week, start: "2026-01-05T00:00"}', None, "week"),  # a Monday
        (
            '{period: week, start: "2026-01-07T09:00"}',
            datetime(2026, 1, 7, 9),
            "week from Wednesday 09:00",
        ),
        (
            '{period: month, start: "2026-01-01T12:00"}',
            datetime(2026, 1, 1, 12),
            "month from day 1 12:00",
        ),
        ('{period: day, start: "2026-01-07T06:30"}', datetime(2026, 1, 7, 6, 30), "day from 06:30"),
    ]:
        path = write(
            tmp_path, VALID.replace("target: 99.9%", f"target: 99.9%\n    window: {window}")
        )
        window = load_contract(path).objective("avail").window
        assert (window.start, window.label()) == (start, label)


def test_credits_need_a_calendar_window(tmp_path):
    path = write(
        tmp_path,
        VALID.replace(
            "target: 99.9%",
            "target: 99.9%\n    window: rolling 28d\n    credits: {tiers: [{below: 99.9%, credit: 10%}]}",
        ),
    )
    (line,) = problems_of(path)
    assert line.startswith(f"{path}:9: objectives[0]: credits are owed per calendar window")


SERVICE_DESK = """\
id: desk
title: Service desk
provider: IT
consumer: Staff
time_zone: Europe/Berlin
calendars:
  office: {days: [monday, tuesday, wednesday, thursday, friday], hours: ["08:00", "17:00"], holidays: {country: DE, subdivision: BE}}
services:
  - {id: desk}
objectives:
  - id: p1-resolution
    service: desk
    sli: {kind: resolution_time, targets: {"1 - Critical": 4h, "2 - High": 1d}}
    target: 95%
    calendar: office
  - id: mttr
    service: desk
    sli: {kind: resolution_time, statistic: mean}
    target: 8h
    calendar: office
  - id: nps
    service: desk
    sli: {kind: satisfaction, measure: nps, judge: lower_bound}
    target: 20
  - id: rpo
    service: desk
    sli: {kind: backup, measure: rpo}
    target: 26h
corrections:
  - {reason: probe misconfigured, author: ops lead, recorded: 2026-03-02, start: 2026-03-01T10:00, end: 2026-03-01T12:00, objectives: [p1-resolution]}
"""


def test_targets_take_the_unit_the_sli_is_judged_on(tmp_path):
    contract = load_contract(write(tmp_path, SERVICE_DESK))
    targets = {objective.id: objective.target for objective in contract.objectives}
    assert targets == {"p1-resolution": 0.95, "mttr": 8 * 3600.0, "nps": 20.0, "rpo": 26 * 3600.0}
    assert contract.calendars["office"].holidays.subdivision == "BE"
    assert contract.corrections[0].author == "ops lead"


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        (
            "calendar: office\n  - id: mttr",
            "calendar: shop\n  - id: mttr",
            15,
            "objectives[0].calendar",
            "unknown calendar 'shop'",
        ),
        ("target: 8h", "target: 95%", 19, "objectives[1].target", "bad duration '95%'"),
        (
            "target: 20",
            "target: 120",
            24,
            "objectives[2].target",
            "an NPS target is a number of points from -100 to 100",
        ),
        (
            "statistic: mean}",
            "statistic: mode}",
            18,
            "objectives[1].sli.statistic",
            "unknown statistic 'mode'",
        ),
        (
            "objectives: [p1-resolution]",
            "objectives: [p9]",
            30,
            "corrections[0].objectives[0]",
            "unknown objective 'p9'",
        ),
        (
            "country: DE",
            "country: XX",
            7,
            "calendars.office.holidays",
            "unknown holiday calendar: Country XX not available",
        ),
    ],
)
def test_problems_of_the_newer_sli_kinds(tmp_path, old, new, line, field, message):
    assert old in SERVICE_DESK
    path = write(tmp_path, SERVICE_DESK.replace(old, new, 1))
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line}: {field}: "), problem
    assert message in problem
