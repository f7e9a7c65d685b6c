"""Progress of long command-line work (``pledge demo``, ``pledge backtest``, ``make bench``).

``step`` prints ``  · message`` on stdout: one line per step done, the log of the run
(``timed_steps`` adds the time since the start).
``Progress`` counts the units of one long step on stderr —
``  · replaying as-of times: 120/365, 12.3 s, ETA 25.1 s`` — rewriting a single line in place
when stderr is a terminal (at most every REDRAW_SECONDS) and otherwise (CI logs, files) printing a
line only for the first unit (the first rate) and at each tenth of the total, so that logs stay
short. ``close`` prints the total time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Self, TextIO

REDRAW_SECONDS = 0.2
CLEAR_LINE = "\r\033[K"


def step(message: str) -> None:
    """One line ``  · message`` on stdout."""
    print(f"  · {message}", flush=True)


def timed_steps(started: float) -> Callable[[str], None]:
    """``step`` with the time since ``started`` (a ``time.perf_counter`` value) appended:
    ``  · message (at 3.2 s)``."""

    def timed_step(message: str) -> None:
        step(f"{message} (at {format_duration(time.perf_counter() - started)})")

    return timed_step


def format_duration(seconds: float) -> str:
    """``9.6 s`` below 100 seconds, else ``4m 05s``, ``1h 02m``."""
    if seconds < 100:
        return f"{seconds:.1f} s"
    minutes, whole = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {whole:02d}s"


class Progress:
    """``done`` of ``total`` units (``unit``: a plural noun, or empty) of the task ``label``,
    with the elapsed time and, while unfinished, the time left at the rate so far. ``total`` may
    be set after construction, by the code that counts. Use as a context manager, or call
    ``close`` at the end."""

    def __init__(
        self,
        label: str,
        total: int = 0,
        unit: str = "",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._terminal = self._stream.isatty()
        self._clock = clock
        self._started = clock()
        self._drawn_at = float("-inf")
        self._printed = -1  # the tenth of the total last printed (not on a terminal)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def line(self) -> str:
        """``label: done/total unit, elapsed, ETA left`` while unfinished (no ETA before the first
        unit), ``label: done/total unit in elapsed`` once done."""
        elapsed = self._clock() - self._started
        unit = f" {self.unit}" if self.unit else ""
        text = f"  · {self.label}: {self.done:,}/{self.total:,}{unit}"
        if self.done >= self.total:
            return f"{text} in {format_duration(elapsed)}"
        text += f", {format_duration(elapsed)}"
        if self.done:
            text += f", ETA {format_duration(elapsed / self.done * (self.total - self.done))}"
        return text

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more units done and show the line if it is time to."""
        self.done += count
        if self._terminal:
            now = self._clock()
            if now - self._drawn_at >= REDRAW_SECONDS:
                self._drawn_at = now
                self._stream.write(CLEAR_LINE + self.line())
                self._stream.flush()
        else:
            tenth = self.done * 10 // self.total if self.total else 10
            if tenth > self._printed:
                self._printed = tenth
                print(self.line(), file=self._stream, flush=True)

    def note(self, message: str) -> None:
        """``step(message)`` without garbling the counter line on a terminal."""
        if self._terminal:
            self._stream.write(CLEAR_LINE)
            self._stream.flush()
        step(message)
        if self._terminal:
            self._stream.write(self.line())
            self._stream.flush()

    def close(self) -> None:
        """Print the line a last time (with the total time once done), unless it was just
        printed; on a terminal, end it."""
        if self._terminal:
            self._stream.write(CLEAR_LINE + self.line() + "\n")
        elif self._printed < 10:
            print(self.line(), file=self._stream)
        self._stream.flush()
