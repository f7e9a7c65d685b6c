"""Report pages in a real browser: headless Chromium, driven over the DevTools protocol.

``Browser.check`` opens a page and tells whether every plotly chart drew (an ``svg.main-svg`` in
each ``div.plotly-graph-div``), which console errors it logged and which requests it sent outside
the file system; ``Browser.screenshot`` writes a PNG of it.

Chromium (Debian's ``chromium``, or the executable named by ``PLEDGE_CHROMIUM``) runs with
``--remote-debugging-pipe``: protocol messages are JSON, each ended by a NUL byte, read by
Chromium from its file descriptor 3 and answered on descriptor 4, so no port is opened. Every page
gets its own target; http(s) requests are blocked (and still reported), so a check never waits on
the network.

``python -m pipelines.report.browser check REPORTS_DIR`` checks every page under a folder;
``python -m pipelines.report.browser screenshots REPORTS_DIR OUT_DIR`` writes ``portfolio.png`` and
``contract.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from base64 import b64decode
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--hide-scrollbars",
)
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
"""Requests to these schemes stay inside the page's files; any other is an external request."""

PLOT_STATE = """(() => {
  const plots = Array.from(document.querySelectorAll("div.plotly-graph-div"));
  return JSON.stringify({
    plots: plots.length,
    drawn: plots.filter((div) => div.querySelector("svg.main-svg")).length,
    ready: document.readyState === "complete",
  });
})()"""
"""A page's charts: plot divs, those holding plotly's main SVG, whether the page has loaded."""

VIEWPORT = (1280, 900)
"""CSS pixels (width, height) of the window pages are laid out in."""


class BrowserError(RuntimeError):
    """Chromium is missing, exited, or did not answer in time."""


@dataclass(frozen=True)
class PageCheck:
    """What one page did in the browser: ``plot_divs`` charts on it, ``plots_with_svg`` of them
    drawn, ``console_errors`` (console.error calls, uncaught exceptions, browser errors such as a
    file that failed to load) and ``external_requests`` (URLs of requests not to file:, data:,
    blob: or about:)."""

    page: Path
    plot_divs: int
    plots_with_svg: int
    console_errors: tuple[str, ...]
    external_requests: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Every chart drew, nothing was logged as an error and nothing left the file system."""
        return (
            self.plots_with_svg == self.plot_divs
            and not self.console_errors
            and not self.external_requests
        )


def chromium_executable() -> str:
    """``PLEDGE_CHROMIUM`` or ``chromium`` on the PATH; BrowserError naming the fix when absent."""
    named = os.environ.get("PLEDGE_CHROMIUM") or "chromium"
    found = shutil.which(named)
    if found is None:
        raise BrowserError(
            f"Chromium not found ({named!r}): run `make test` or `make browser`, which install "
            "Debian's `chromium` package, or set PLEDGE_CHROMIUM to a Chromium executable"
        )
    return found


class Browser:
    """One headless Chromium with a temporary profile, closed (process group killed, profile
    removed) when the ``with`` block ends, also on errors."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = Path(tempfile.mkdtemp(prefix="pledge-chromium-"))
        self._log = (self._profile / "chromium.log").open("wb")
        commands_read, self._commands = _pipe()
        self._answers, answers_write = _pipe()

        def child_descriptors() -> None:
            os.dup2(commands_read, 3)
            os.dup2(answers_write, 4)

        try:
            self._process = subprocess.Popen(
                [
                    executable or chromium_executable(),
                    *CHROMIUM_FLAGS,
                    "--remote-debugging-pipe",
                    f"--user-data-dir={self._profile}",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                close_fds=False,  # only descriptors 3 and 4 are inheritable (PEP 446)
                preexec_fn=child_descriptors,
                start_new_session=True,
            )
        except BaseException:
            self._remove_profile()
            raise
        finally:
            os.close(commands_read)
            os.close(answers_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask Chromium to quit, kill its process group if it has not after 5 s, remove the
        profile."""
        if self._process.poll() is None:
            try:
                self._write({"id": -1, "method": "Browser.close"})
                self._process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        else:  # helpers left behind by the browser process
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        for descriptor in (self._commands, self._answers):
            with contextlib.suppress(OSError):
                os.close(descriptor)
        self._remove_profile()

    def _remove_profile(self) -> None:
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def check(self, page: Path) -> PageCheck:
        """Open ``page``, wait until every chart drew (or ``timeout``) and report what happened."""
        with self._tab(page) as tab:
            state = tab.wait_for_plots()
            events = tab.events()
        return PageCheck(
            page=page,
            plot_divs=state["plots"],
            plots_with_svg=state["drawn"],
            console_errors=tuple(
                message for event in events if (message := _error_message(event)) is not None
            ),
            external_requests=tuple(
                url
                for event in events
                if event["method"] == "Network.requestWillBeSent"
                and not (url := event["params"]["request"]["url"]).startswith(LOCAL_SCHEMES)
            ),
        )

    def screenshot(self, page: Path, out: Path, max_height: int = 1600) -> Path:
        """A PNG of ``page`` at VIEWPORT's width, as tall as the page up to ``max_height`` CSS
        pixels, once its charts drew; written to ``out``."""
        with self._tab(page) as tab:
            tab.wait_for_plots()
            height = self._call("Page.getLayoutMetrics", session=tab.session)["cssContentSize"][
                "height"
            ]
            tab.set_viewport(VIEWPORT[0], min(int(height), max_height))
            time.sleep(0.5)  # plotly redraws responsive charts after the window's resize event
            tab.wait_for_plots()
            shot = self._call("Page.captureScreenshot", {"format": "png"}, session=tab.session)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b64decode(shot["data"]))
        return out

    def _tab(self, page: Path) -> _Tab:
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        return _Tab(self, target, session, page.resolve())

    def _call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command and return its result; events read meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._write(message)
        answer = self._read_until(lambda m: m.get("id") == message["id"], method)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    def _wait_event(self, method: str, session: str) -> dict[str, Any]:
        for event in self._events:
            if event["method"] == method and event.get("sessionId") == session:
                return event
        return self._read_until(
            lambda m: m.get("method") == method and m.get("sessionId") == session, method
        )

    def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._commands, data) :]

    def _read_until(self, wanted: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self._events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer {what} within {self.timeout:g} s")
            readable, _, _ = select.select([self._answers], [], [], left)
            chunk = os.read(self._answers, 1 << 20) if readable else None
            if chunk == b"":
                raise BrowserError(f"Chromium exited while waiting for {what}: {self._log_tail()}")
            if chunk:
                self._buffer += chunk

    def _log_tail(self) -> str:
        self._log.flush()
        lines = (self._profile / "chromium.log").read_text(errors="replace").splitlines()
        return " | ".join(lines[-5:]) or "(no output)"


@dataclass
class _Tab:
    """One page target of the browser, attached in flat session mode, closed on exit."""

    browser: Browser
    target: str
    session: str
    page: Path

    def __enter__(self) -> _Tab:
        for domain in ("Runtime", "Log", "Network", "Page"):
            self._call(f"{domain}.enable")
        self._call("Network.setBlockedURLs", {"urls": ["http://*", "https://*"]})
        self.set_viewport(*VIEWPORT)
        navigated = self._call("Page.navigate", {"url": self.page.as_uri()})
        if navigated.get("errorText"):
            raise BrowserError(f"{self.page}: {navigated['errorText']}")
        self.browser._wait_event("Page.loadEventFired", self.session)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.browser._process.poll() is None:
            self.browser._call("Target.closeTarget", {"targetId": self.target})
        self.browser._events = [
            e for e in self.browser._events if e.get("sessionId") != self.session
        ]

    def _call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser._call(method, params, session=self.session)

    def set_viewport(self, width: int, height: int) -> None:
        self._call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def wait_for_plots(self, poll: float = 0.1) -> dict[str, Any]:
        """PLOT_STATE once every plot div holds its SVG, or as it is when the timeout ends."""
        deadline = time.monotonic() + self.browser.timeout
        while True:
            evaluated = self._call(
                "Runtime.evaluate", {"expression": PLOT_STATE, "returnByValue": True}
            )
            state = json.loads(evaluated["result"]["value"])
            if (state["ready"] and state["drawn"] == state["plots"]) or (
                time.monotonic() > deadline
            ):
                return state
            time.sleep(poll)

    def events(self) -> list[dict[str, Any]]:
        """The events of this page so far (after one more round trip, so none is in flight)."""
        self._call("Runtime.evaluate", {"expression": "0"})
        return [e for e in self.browser._events if e.get("sessionId") == self.session]


def _error_message(event: dict[str, Any]) -> str | None:
    """The text of a console error event (console.error, uncaught exception, browser log entry of
    level error); None for other events."""
    method, params = event["method"], event["params"]
    if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
        return "console.error: " + " ".join(
            str(arg.get("value", arg.get("description", ""))) for arg in params["args"]
        )
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return "exception: " + details.get("exception", {}).get("description", details["text"])
    if method == "Log.entryAdded" and params["entry"]["level"] == "error":
        entry = params["entry"]
        return f"{entry['source']}: {entry['text']}" + (
            f" ({entry['url']})" if "url" in entry else ""
        )
    return None


def _pipe() -> tuple[int, int]:
    """A pipe whose ends are numbered 5 or higher, so that moving them to 3 and 4 in the child
    never overwrites the other end; not inheritable."""
    ends = []
    for end in os.pipe():
        ends.append(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 5))
        os.close(end)
    return ends[0], ends[1]


def report_pages(reports_dir: Path) -> list[Path]:
    """Every HTML page under ``reports_dir``, in any subfolder, sorted."""
    return sorted(reports_dir.rglob("*.html"))


def check_pages(pages: Sequence[Path], timeout: float = 30.0) -> list[PageCheck]:
    """PageCheck of every page, in one browser."""
    with Browser(timeout=timeout) as browser:
        return [browser.check(page) for page in pages]


def write_screenshots(reports_dir: Path, out_dir: Path) -> list[Path]:
    """``portfolio.png`` (index.html, its first 1,600 pixels), ``contract.png`` (the first
    contract page in name order, its first 2,400 pixels) and ``objective.png`` (that contract's
    first objective page, its first 3,000 pixels: the burn-down with its cone and the timeline)
    of ``reports_dir``, written to ``out_dir``."""
    contracts = sorted(reports_dir.glob("contract-*.html"))
    if not (reports_dir / "index.html").exists() or not contracts:
        raise BrowserError(f"no report pages in {reports_dir} (run `make demo` first)")
    contract_id = contracts[0].stem.removeprefix("contract-")
    objectives = sorted(reports_dir.glob(f"objective-{contract_id}~*.html"))
    with Browser() as browser:
        return [
            browser.screenshot(reports_dir / "index.html", out_dir / "portfolio.png"),
            browser.screenshot(contracts[0], out_dir / "contract.png", max_height=2400),
            *(
                browser.screenshot(page, out_dir / "objective.png", max_height=3000)
                for page in objectives[:1]
            ),
        ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.report.browser", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="open every page of a reports folder")
    check.add_argument("reports", type=Path)
    shots = commands.add_parser(
        "screenshots", help="write portfolio.png, contract.png and objective.png"
    )
    shots.add_argument("reports", type=Path)
    shots.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "screenshots":
            for path in write_screenshots(args.reports, args.out):
                print(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KB)")
            return 0
        checks = check_pages(report_pages(args.reports))
    except BrowserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for result in checks:
        print(
            f"{'ok  ' if result.ok else 'FAIL'} {result.page}: "
            f"{result.plots_with_svg}/{result.plot_divs} charts drawn"
        )
        for problem in (*result.console_errors, *result.external_requests):
            print(f"     {problem}")
    print(f"{len(checks)} page(s), {sum(not c.ok for c in checks)} failed")
    return 0 if checks and all(c.ok for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
