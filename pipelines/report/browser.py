"""Report pages in a real browser: headless Chromium, driven by Playwright.

``Browser.check`` opens a page and tells whether every plotly chart drew (an ``svg.main-svg`` in
each ``div.plotly-graph-div``), which console errors it logged, which requests it sent outside
the file system and, at each width of :data:`LAYOUT_WIDTHS`, what is wrong with its layout (see
:data:`LAYOUT_PROBLEMS`); ``Browser.screenshot`` writes a PNG of it.

Playwright drives the system's Chromium (Debian's ``chromium``, or the executable named by
``PLEDGE_CHROMIUM``): no browser is downloaded. http(s) requests are aborted (and still
reported), so a check never waits on the network.

``python -m pipelines.report.browser check REPORTS_DIR`` checks every page under a folder;
``python -m pipelines.report.browser screenshots REPORTS_DIR OUT_DIR`` writes ``portfolio.png``,
``contract.png`` and ``objective.png``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
"""Requests to these schemes stay inside the page's files; any other is an external request."""
NETWORK = re.compile(r"^https?://")
NAVIGATION_TIMEOUT = 60.0
"""Seconds a page may take to load (at least; a busy machine parses plotly.js slowly)."""

PLOT_STATE = """() => {
  const plots = Array.from(document.querySelectorAll("div.plotly-graph-div"));
  const drawn = plots.filter((div) => div.querySelector("svg.main-svg"));
  return {
    plots: plots.length,
    drawn: drawn.length,
    ready: document.readyState === "complete",
    sized: drawn.every((div) =>
      Math.abs(div.querySelector("svg.main-svg").getAttribute("width") - div.clientWidth) <= 1),
  };
}"""
"""A page's charts: plot divs, those holding plotly's main SVG, whether the page has loaded and
whether every drawn chart fits its div's current width (plotly redraws on a resize)."""

LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const words = (el) => {
    const text = (el.textContent || "").trim().replace(/\\s+/g, " ");
    return text.length > 40 ? text.slice(0, 39) + "…" : text;
  };
  const shown = (el) =>
    el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const viewport = document.documentElement.clientWidth;
  // Table cells: content wider than the cell, an ellipsis, or beyond a scroll box's visible edge.
  for (const table of document.querySelectorAll("table")) {
    if (!shown(table)) continue;
    let edge = viewport;
    for (let box = table.parentElement; box; box = box.parentElement) {
      if (getComputedStyle(box).overflowX !== "visible") {
        edge = Math.min(edge, box.getBoundingClientRect().right);
      }
    }
    for (const cell of table.querySelectorAll("th, td")) {
      if (!shown(cell)) continue;
      const right = cell.getBoundingClientRect().right;
      if (right > edge + 1) {
        problems.push(`cell "${words(cell)}" cut off: ends at ${Math.round(right)} px, ` +
                      `the table is visible to ${Math.round(edge)} px`);
      } else if (cell.scrollWidth > cell.clientWidth + 1) {
        problems.push(`cell "${words(cell)}" clipped: ${cell.scrollWidth} px of content ` +
                      `in ${cell.clientWidth} px`);
      }
      for (const el of [cell, ...cell.querySelectorAll("*")]) {
        if (getComputedStyle(el).textOverflow !== "clip" && el.scrollWidth > el.clientWidth + 1) {
          problems.push(`cell "${words(cell)}" cut by text-overflow`);
        }
      }
    }
  }
  // Charts: text boxes that overlap, a toolbar over a title.
  const TICKS = ".xtick > text, .ytick > text, .x2tick > text, .y2tick > text";
  const TEXT = ".gtitle, .g-xtitle, .g-ytitle, .g-x2title, .g-y2title, .annotation, .legend, " +
               ".textpoint, .xtick > text, .ytick > text, .x2tick > text, .y2tick > text";
  const TITLES = ".gtitle, .g-xtitle, .g-ytitle, .g-x2title, .g-y2title";
  const overlap = (a, b) =>
    Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
    Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const label = (el) => {
    const kind = el.classList.contains("legend") ? "legend" : (el.getAttribute("class") || "text");
    return `${kind.split(" ")[0]} "${words(el)}"`;
  };
  for (const plot of document.querySelectorAll("div.plotly-graph-div")) {
    const texts = Array.from(plot.querySelectorAll(TEXT))
      .filter((el) => shown(el) && (el.textContent || "").trim())
      .map((el) => [el, el.getBoundingClientRect()])
      .filter(([, box]) => box.width > 0 && box.height > 0);
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const [a, boxA] = texts[i], [b, boxB] = texts[j];
        if (a.contains(b) || b.contains(a) || !overlap(boxA, boxB)) continue;
        // Tick labels among themselves are plotly's to space (a turned label's box overlaps).
        if (a.matches(TICKS) && b.matches(TICKS)) continue;
        problems.push(`chart #${plot.id}: ${label(a)} overlaps ${label(b)}`);
      }
    }
    const bar = plot.querySelector(".modebar");
    if (!bar) continue;
    const barBox = bar.getBoundingClientRect();
    for (const title of plot.querySelectorAll(TITLES)) {
      if (shown(title) && overlap(barBox, title.getBoundingClientRect())) {
        problems.push(`chart #${plot.id}: the toolbar covers ${label(title)}`);
      }
    }
  }
  return Array.from(new Set(problems));
}"""
"""Layout faults of the page as laid out now: table cells (and headers) whose content is clipped
(``scrollWidth`` over ``clientWidth``, or cut by ``text-overflow``) or that lie beyond the visible
edge of a scrolling box or the window; text of a chart (titles, axis titles and tick labels,
annotations, the legend, text points) overlapping other text of that chart; plotly's toolbar
over a chart or axis title."""

VIEWPORT = (1280, 900)
"""CSS pixels (width, height) of the window pages are opened and screenshot in."""
LAYOUT_WIDTHS = (1280, 1600)
"""Window widths, in CSS pixels, at which every page's layout is checked."""


class BrowserError(RuntimeError):
    """Chromium is missing, exited, or did not answer in time."""


@dataclass(frozen=True)
class PageCheck:
    """What one page did in the browser: ``plot_divs`` charts on it, ``plots_with_svg`` of them
    drawn, ``console_errors`` (console.error calls, uncaught exceptions, local files that failed
    to load), ``external_requests`` (URLs of requests not to file:, data:, blob: or about:) and
    ``layout_problems`` (:data:`LAYOUT_PROBLEMS` at each of :data:`LAYOUT_WIDTHS`, each prefixed
    with the width)."""

    page: Path
    plot_divs: int
    plots_with_svg: int
    console_errors: tuple[str, ...]
    external_requests: tuple[str, ...]
    layout_problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Every chart drew, nothing was logged as an error, nothing left the file system and the
        layout is sound."""
        return (
            self.plots_with_svg == self.plot_divs
            and not self.console_errors
            and not self.external_requests
            and not self.layout_problems
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
    """One headless Chromium (through Playwright), closed when the ``with`` block ends, also on
    errors. ``timeout``: seconds a page's charts may take to draw once it loaded."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._playwright = _start_driver()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=executable or chromium_executable(),
                args=list(CHROMIUM_FLAGS),
                timeout=timeout * 1000,
            )
        except BaseException as error:
            _stop_driver()
            if isinstance(error, PlaywrightError):
                raise BrowserError(f"Chromium did not start: {error.message}") from error
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close Chromium and stop Playwright's driver."""
        try:
            self._browser.close()
        finally:
            _stop_driver()

    def check(self, page: Path, widths: Sequence[int] = LAYOUT_WIDTHS) -> PageCheck:
        """Open ``page``, wait until every chart drew (or ``timeout``), check its layout at each
        of ``widths`` and report what happened."""
        errors: list[str] = []
        requests: list[str] = []
        with self.open(page, errors, requests) as tab:
            state = self._wait_for_plots(tab)
            problems = []
            for width in widths:
                tab.set_viewport_size({"width": width, "height": VIEWPORT[1]})
                self._wait_for_plots(tab)
                problems += [f"{width} px: {problem}" for problem in tab.evaluate(LAYOUT_PROBLEMS)]
        return PageCheck(
            page=page,
            plot_divs=state["plots"],
            plots_with_svg=state["drawn"],
            console_errors=tuple(errors),
            external_requests=tuple(requests),
            layout_problems=tuple(problems),
        )

    def screenshot(self, page: Path, out: Path, max_height: int = 1600) -> Path:
        """A PNG of ``page`` at VIEWPORT's width, as tall as the page up to ``max_height`` CSS
        pixels, once its charts drew; written to ``out``."""
        with self.open(page) as tab:
            self._wait_for_plots(tab)
            height = tab.evaluate("document.documentElement.scrollHeight")
            tab.set_viewport_size({"width": VIEWPORT[0], "height": min(int(height), max_height)})
            self._wait_for_plots(tab)
            out.parent.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=out)
        return out

    @contextmanager
    def open(
        self, page: Path, errors: list[str] | None = None, requests: list[str] | None = None
    ) -> Iterator[Page]:
        """A new Playwright page opened on ``page`` (to click and type in), collecting its console
        errors, uncaught exceptions and failed local loads into ``errors`` and its requests off
        the file system into ``requests``; closed on exit."""
        errors = [] if errors is None else errors
        requests = [] if requests is None else requests
        context = self._browser.new_context(
            viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]}, device_scale_factor=1
        )
        context.set_default_timeout(self.timeout * 1000)
        context.set_default_navigation_timeout(max(self.timeout, NAVIGATION_TIMEOUT) * 1000)
        context.route(NETWORK, lambda route: route.abort())
        tab = context.new_page()
        tab.on(
            "console",
            lambda message: (
                errors.append(f"console.error: {message.text}")
                if message.type in ("error", "assert") and not message.text.startswith("Failed to")
                else None
            ),
        )
        tab.on(
            "pageerror", lambda error: errors.append(f"exception: {error.name}: {error.message}")
        )
        tab.on("request", lambda r: r.url.startswith(LOCAL_SCHEMES) or requests.append(r.url))
        tab.on(
            "requestfailed",
            lambda r: (
                errors.append(f"network: {r.failure} ({r.url})")
                if r.url.startswith(LOCAL_SCHEMES)
                else None
            ),
        )
        try:
            tab.goto(page.resolve().as_uri(), wait_until="load")
            yield tab
        except PlaywrightError as error:
            raise BrowserError(f"{page}: {error.message}") from error
        finally:
            context.close()

    def _wait_for_plots(self, tab: Page) -> dict[str, Any]:
        """PLOT_STATE once every plot div holds its SVG sized to the div, or as it is when the
        timeout ends."""
        with suppress(PlaywrightTimeout):
            tab.wait_for_function(
                f"(() => {{ const s = ({PLOT_STATE})(); "
                "return s.ready && s.drawn === s.plots && s.sized; })()",
                polling=100,
            )
        return tab.evaluate(PLOT_STATE)


_DRIVER: list[Any] = []
"""Playwright's driver and how many browsers use it: its sync API starts once per thread, so
every Browser of the process shares it."""


def _start_driver() -> Any:
    if not _DRIVER:
        _DRIVER.extend([sync_playwright().start(), 0])
    _DRIVER[1] += 1
    return _DRIVER[0]


def _stop_driver() -> None:
    _DRIVER[1] -= 1
    if _DRIVER[1] == 0:
        _DRIVER.pop(0).stop()
        _DRIVER.clear()


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
        for problem in (*result.console_errors, *result.external_requests, *result.layout_problems):
            print(f"     {problem}")
    print(f"{len(checks)} page(s), {sum(not c.ok for c in checks)} failed")
    return 0 if checks and all(c.ok for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
