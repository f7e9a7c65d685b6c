"""Progress output: one line per tenth in logs, one rewritten line on a terminal, and the demo
generator's step lines with counts and times."""

from __future__ import annotations

import io
import re
import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from pipelines.demo import generate_demo
from pipelines.progress import CLEAR_LINE, Progress, format_duration, timed_steps
from pipelines.run import RUN_TAG, steps_reported


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_a_line_is_printed_per_tenth_with_elapsed_time_and_eta() -> None:
    log, clock = io.StringIO(), Clock()
    with Progress("replaying", 20, "as-of times", stream=log, clock=clock) as progress:
        for _ in range(20):
            clock.now += 0.5
            progress.advance()

    lines = log.getvalue().splitlines()
    assert len(lines) == 11  # at 1 (the first rate), 2, 4, …, 20 done; close adds nothing
    # 1 done in 0.5 s: 19 to go at 0.5 s each.
    assert lines[0] == "  · replaying: 1/20 as-of times, 0.5 s, ETA 9.5 s"
    assert lines[1] == "  · replaying: 2/20 as-of times, 1.0 s, ETA 9.0 s"
    assert lines[5] == "  · replaying: 10/20 as-of times, 5.0 s, ETA 5.0 s"
    assert lines[-1] == "  · replaying: 20/20 as-of times in 10.0 s"


def test_an_unfinished_count_still_gets_a_last_line() -> None:
    log, clock = io.StringIO(), Clock()
    with Progress("ingesting", 100, "days", stream=log, clock=clock) as progress:
        clock.now += 3
        progress.advance(5)  # the first rate
        clock.now += 3
        progress.advance(4)  # no new tenth: nothing printed
        assert log.getvalue() == "  · ingesting: 5/100 days, 3.0 s, ETA 57.0 s\n"
    assert log.getvalue().splitlines()[-1] == "  · ingesting: 9/100 days, 6.0 s, ETA 60.7 s"


def test_on_a_terminal_one_line_is_rewritten_at_most_every_fifth_of_a_second(
    capsys: pytest.CaptureFixture[str],
) -> None:
    terminal, clock = Terminal(), Clock()
    with Progress("writing landing files", 10, "days", stream=terminal, clock=clock) as progress:
        for done in range(1, 11):
            clock.now += 0.1
            progress.advance()
            if done == 5:
                progress.note("wrote requests")

    drawn = terminal.getvalue()
    assert drawn.count("\n") == 1 and drawn.endswith("\n")
    frames = [frame for frame in drawn.rstrip("\n").split(CLEAR_LINE) if frame]
    # Redrawn at 1, 3, 5, 7, 9 done (0.2 s apart), around the note at 5, and closed at 10.
    assert [re.search(r"(\d+)/10", frame).group(1) for frame in frames] == [
        "1",
        "3",
        "5",
        "5",
        "7",
        "9",
        "10",
    ]
    assert frames[-1] == "  · writing landing files: 10/10 days in 1.0 s"
    assert capsys.readouterr().out == "  · wrote requests\n"


def test_durations_read_in_seconds_then_minutes_then_hours() -> None:
    assert format_duration(9.64) == "9.6 s"
    assert format_duration(99.94) == "99.9 s"
    assert format_duration(245) == "4m 05s"
    assert format_duration(3720) == "1h 02m"


def test_demo_generation_prints_each_step_with_its_counts_and_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate_demo(
        tmp_path / "home",
        end=date(2026, 11, 3),
        days=8,
        progress=timed_steps(time.perf_counter()),
    )
    lines = capsys.readouterr().out.splitlines()
    assert all(re.fullmatch(r"  · .+ \(at \d+\.\d s\)", line) for line in lines), lines
    requests = next(line for line in lines if line.startswith("  · wrote requests:"))
    assert re.match(r"  · wrote requests: [\d,]+ rows, 8 days × \d+ services \(at", requests)
    assert any(line.startswith("  · wrote probes:") and "8 days ×" in line for line in lines)
    assert lines[-1].startswith("  · wrote ground_truth.json (at ")


def test_run_pipeline_tells_each_step_success_once_in_order() -> None:
    @dg.asset
    def upstream() -> int:
        return 1

    @dg.asset
    def downstream(upstream: int) -> int:
        return upstream + 1

    told: list[str] = []
    instance = dg.DagsterInstance.ephemeral()
    with steps_reported(instance, "one-run", told.append):
        dg.materialize([upstream, downstream], instance=instance, tags={RUN_TAG: "one-run"})
    assert told == ["upstream done", "downstream done"]
