"""Pledge: SLA management for contracts, evidence and reports. ``pledge COMMAND --help`` tells
more about each command.

Longer than 600 lines: every command's arguments and its thin handler live here, so that
``pledge --help`` and the dispatch read from one place; the work is in the stage packages."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.progress import Progress, step, timed_steps
from pipelines.settings import Settings

if TYPE_CHECKING:
    import polars as pl

    from pipelines.contracts.sources import Source
    from pipelines.ingest.prometheus import PullResult


EXIT_RUN_FAILED = 1
EXIT_CONFIGURATION = 2
EXIT_EVIDENCE = 3
EXIT_WAREHOUSE_BUSY = 4
EXIT_CODES = f"""exit codes (when several apply, the smallest):
  0  every step ran, every landing file loaded, no reject ratio exceeded
  {EXIT_RUN_FAILED}  the pipeline run failed (a step raised an error)
  {EXIT_CONFIGURATION}  usage or configuration error: bad arguments, no landing files, a problem
     in sources.yaml or an invalid contract (the valid sources and contracts still run; the
     bad ones are listed as file:line)
  {EXIT_EVIDENCE}  evidence problem: a landing file failed to load, or a source is blocked: it
     rejected more than its max_reject_ratio and max_rejected_rows of a day's rows
     (PLEDGE_MAX_REJECT_RATIO, 0.01; PLEDGE_MAX_REJECTED_ROWS, 10) or has rows twice; the
     files are named on stderr; the objectives reading a blocked source keep their previous
     figures, every other one is computed; the reports are still written, with a banner
     naming the blocked source, and reports/rejects.html
  {EXIT_WAREHOUSE_BUSY}  gave up waiting for the warehouse: a live run or another process held it
     for PLEDGE_POOL_WAIT_SECONDS (600); runs whose process is gone are freed by themselves"""


class _OneLineHelp(argparse.HelpFormatter):
    """``pledge --help`` at 88 columns whatever the terminal: one line per command."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=28, width=88)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):  # commands are listed one level in
            self._action_max_length += self._indent_increment


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pledge",
        description=__doc__.split("\n\n")[0].replace("``", "`"),
        formatter_class=_OneLineHelp,
    )
    commands = parser.add_subparsers(
        dest="command", required=True, title="commands", metavar="COMMAND"
    )

    validate = commands.add_parser(
        "validate",
        help="check contract and sources files",
        description="check contract files; one file:line problem per line",
    )
    validate.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help="contract files or folders of them, or a sources file (a mapping of sources:)",
    )
    validate.add_argument(
        "--online",
        action="store_true",
        help="also ask each prometheus source's server to parse its queries",
    )

    for name in ("import", "import-openslo"):  # import-openslo: the former name, an alias
        spec_import = commands.add_parser(
            name,
            help="import OpenSLO, Sloth, Pyrra, slo-generator SLOs"
            + (" (alias of import)" if name != "import" else ""),
            description="turn OpenSLO, Sloth, Pyrra and slo-generator SLOs into contracts and "
            "Prometheus sources in the home (exit 0 all converted, 3 some refused, 2 none)",
        )
        spec_import.add_argument("paths", nargs="+", type=Path, help="spec files or folders")
        spec_import.add_argument(
            "--home", type=Path, help="Pledge home (default: $PLEDGE_HOME or .pledge)"
        )
        spec_import.add_argument(
            "--provider",
            default="Service owner",
            help="provider of contracts whose source names none (default: %(default)s)",
        )
        spec_import.add_argument(
            "--consumer",
            default="Service users",
            help="consumer of contracts whose source names none (default: %(default)s)",
        )
        spec_import.add_argument(
            "--url",
            default="http://localhost:9090",
            help="Prometheus URL of the sources (default: %(default)s)",
        )
        spec_import.add_argument("--step", default="1m", help="source step (default: 1m)")
        spec_import.add_argument(
            "--dry-run", action="store_true", help="print what would be written"
        )

    export = commands.add_parser(
        "export-openslo",
        help="write contracts as OpenSLO v1",
        description="write OpenSLO v1 (a Service per contract, an SLO per objective it can "
        "express)",
    )
    export.add_argument("contracts", nargs="+", type=Path, help="contract files or folders")
    export.add_argument("--out", type=Path, required=True, help="folder of the OpenSLO files")
    export.add_argument(
        "--sources",
        type=Path,
        help="sources.yaml whose imported Prometheus queries are exported "
        "(default: sources.yaml beside the contracts folder)",
    )

    demo = commands.add_parser(
        "demo",
        help="write the demo scenario into a home and run it",
        description="write the demo scenario into PLEDGE_HOME and run the pipeline",
    )
    demo.add_argument("--home", type=Path, help="Pledge home (default: $PLEDGE_HOME or .pledge)")
    demo.add_argument("--days", type=int, default=90, help="days of evidence (default 90)")
    demo.add_argument(
        "--end",
        type=date.fromisoformat,
        help="evidence runs up to 00:00 UTC of this day, YYYY-MM-DD (default: today)",
    )
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--prometheus",
        action="store_true",
        help="serve the request counters from a real Prometheus server (Debian's prometheus "
        "package) and pull them back: the requests source becomes kind: prometheus; the server "
        "stops when the demo ends, its TSDB stays in PLEDGE_HOME/prometheus",
    )

    run = commands.add_parser(
        "run",
        help="run the pipeline on your contracts and landing files",
        description="run the pipeline on your own contracts and landing folder",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--home", type=Path, help="Pledge home (default: $PLEDGE_HOME or .pledge)")
    run.add_argument(
        "--from",
        dest="first",
        type=date.fromisoformat,
        help="first day to ingest (default: the first changed day, see --all)",
    )
    run.add_argument(
        "--to",
        dest="last",
        type=date.fromisoformat,
        help="last day to ingest (default: last landing day)",
    )
    run.add_argument(
        "--all",
        action="store_true",
        help="run every landing day (default: from the first day whose landing files changed "
        "since the last successful run, or every day when contracts or sources changed)",
    )
    run.add_argument(
        "--executor",
        choices=("in_process", "multiprocess", "celery"),
        default="in_process",
        help="run the per-day stages in this process (default), in --workers processes, or on "
        "Celery workers (broker URL in PLEDGE_CELERY_BROKER); see README: Deployment",
    )
    run.add_argument(
        "--workers", type=int, default=2, help="chunks of days run at once (default: 2)"
    )

    pull = commands.add_parser(
        "pull",
        help="pull prometheus sources into landing files",
        description="pull the kind: prometheus sources into landing files (what is new since the "
        "last pull, or the days asked)",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pull.add_argument("--home", type=Path, help="Pledge home (default: $PLEDGE_HOME or .pledge)")
    pull.add_argument(
        "--source", action="append", help="pull only this source (repeatable; default: all)"
    )
    pull.add_argument(
        "--from", dest="first", type=date.fromisoformat, help="first UTC day to pull, YYYY-MM-DD"
    )
    pull.add_argument(
        "--to", dest="last", type=date.fromisoformat, help="last UTC day to pull (default: now)"
    )

    dev = commands.add_parser(
        "dev",
        help="open the Dagster UI on this code and the home",
        description="open the Dagster UI on this code and the home's instance",
    )
    dev.add_argument("--home", type=Path, help="Pledge home (default: $PLEDGE_HOME or .pledge)")
    dev.add_argument(
        "--port", type=int, default=3000, help="port of the Dagster UI (default: %(default)s)"
    )

    score = commands.add_parser(
        "score-anomalies",
        help="score a timestamp,value CSV for anomalies",
        description="score a timestamp,value CSV; writes timestamp,value,anomaly_score",
    )
    score.add_argument("input", type=Path, help="CSV with timestamp,value (UTC timestamps)")
    score.add_argument("output", type=Path, help="CSV to write")

    nab_eval = commands.add_parser(
        "nab-eval",
        help="score the anomaly detector on a NAB corpus",
        description="cross-validated NAB scores and incident drills of the anomaly detector",
    )
    nab_eval.add_argument("data_dir", type=Path, help="folder of <category>/<name>.csv files")
    nab_eval.add_argument("labels", type=Path, help="combined_windows.json")

    backtest = commands.add_parser(
        "backtest",
        help="replay history and score the predictions",
        description="replay the warehouse's history and score breach risk, burn-rate alerts "
        "and linear extrapolation per complete window",
    )
    backtest.add_argument(
        "--home", type=Path, help="Pledge home (default: $PLEDGE_HOME or .pledge)"
    )
    backtest.add_argument(
        "--every",
        choices=["1h", "1d"],
        default="1d",
        help="how often to predict inside each window (default: %(default)s)",
    )
    backtest.add_argument(
        "--out", type=Path, help="JSON file to write (default: PLEDGE_HOME/backtest.json)"
    )

    monthly = commands.add_parser(
        "monthly",
        help="write each contract's monthly summary",
        description="write each contract's monthly compliance summary (HTML and CSV) to "
        "reports/monthly",
    )
    monthly.add_argument("--home", type=Path, help="Pledge home (default: $PLEDGE_HOME or .pledge)")
    monthly.add_argument(
        "--month", help="YYYY-MM in each contract's zone (default: its last complete month)"
    )

    args = parser.parse_args(argv)
    return {
        "validate": _validate,
        "import": _import_specs,
        "import-openslo": _import_specs,
        "export-openslo": _export_openslo,
        "demo": _demo,
        "run": _run,
        "pull": _pull,
        "dev": _dev,
        "score-anomalies": _score_anomalies,
        "nab-eval": _nab_eval,
        "backtest": _backtest,
        "monthly": _monthly,
    }[args.command](args)


def _validate(args: argparse.Namespace) -> int:
    from pipelines.contracts.loader import ContractError, duplicate_contract_ids, load_contract

    files: list[Path] = []
    for path in args.paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.exists():
            files.append(path)
        else:
            print(f"{path}:1: (file): no such file or folder", file=sys.stderr)
            return 1
    failed = False
    sources_files = [file for file in files if _is_sources_file(file)]
    loaded = []
    for file in files:
        if file in sources_files:
            problems = _source_problems(file, args.online)
            failed = failed or bool(problems)
            for problem in problems:
                print(problem)
            continue
        try:
            loaded.append((file, load_contract(file)))
        except ContractError as error:
            failed = True
            for problem in error.problems:
                print(problem)
    for problem in duplicate_contract_ids(loaded):
        failed = True
        print(problem)
    if not failed:
        print(f"{len(files) - len(sources_files)} contract file(s) valid", end="")
        print(f", {len(sources_files)} sources file(s) valid" if sources_files else "")
    return 1 if failed else 0


def _is_sources_file(path: Path) -> bool:
    """A YAML file whose top level holds ``sources:`` (and no contract ``id``)."""
    from pipelines.contracts.loader import YamlFileError, read_yaml_mapping

    try:
        document = read_yaml_mapping(path, "a YAML file")
    except YamlFileError:
        return False
    return "sources" in document and "id" not in document


def _source_problems(path: Path, online: bool) -> list:
    """The ``file:line`` problems of a sources file; ``online``: also its queries'
    (``query_problems``)."""
    from pipelines.contracts.sources import read_sources

    sources, problems = read_sources(path)
    if online:
        from pipelines.ingest.prometheus import query_problems

        problems += query_problems(path, sources)
    return problems


def _import_specs(args: argparse.Namespace) -> int:
    from pipelines.contracts.imports import import_specs
    from pipelines.contracts.imports.home import write_home

    settings = Settings.from_env(args.home)
    result = import_specs(args.paths, args.provider, args.consumer, url=args.url, step=args.step)
    for line in result.lines:
        print(line, file=sys.stderr)
    lines, problems = write_home(
        settings.contracts_dir, settings.sources_file, result.written, args.dry_run
    )
    for line in (*problems, *(f"no evidence source: {u}" for u in result.written.unresolved)):
        print(line, file=sys.stderr)
    print("\n".join(lines))
    print(result.tally())
    return 3 if problems and result.exit_code == 0 else result.exit_code


def _export_openslo(args: argparse.Namespace) -> int:
    from pipelines.contracts.imports import spec_files
    from pipelines.contracts.imports.openslo_export import export_openslo, write_export
    from pipelines.contracts.loader import ContractError, load_contract
    from pipelines.contracts.sources import read_sources

    try:
        contracts = [load_contract(path) for path in spec_files(args.contracts)]
    except (ContractError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    first = args.contracts[0].resolve()
    folder = first if first.is_dir() else first.parent
    sources_file = args.sources or folder.parent / "sources.yaml"
    sources = read_sources(sources_file)[0] if sources_file.is_file() else {}
    export = export_openslo(contracts, sources)
    for line in export.left_out:
        print(f"left out: {line}", file=sys.stderr)
    for path in write_export(export, args.out):
        print(f"wrote {path}")
    return 0 if export.files else EXIT_CONFIGURATION


def _demo(args: argparse.Namespace) -> int:
    from pipelines.demo import generate_demo

    settings = Settings.from_env(args.home)
    end = args.end or datetime.now(UTC).date()
    started = time.perf_counter()
    print(f"Writing {args.days} days of demo evidence up to {end} 00:00 UTC into {settings.home}")
    truth = generate_demo(
        settings.home, end=end, days=args.days, seed=args.seed, progress=timed_steps(started)
    )
    first = date.fromisoformat(truth["start"][:10])
    if not args.prometheus:
        return _run_and_report(settings, first, end - timedelta(days=1), started)
    from pipelines.demo.prometheus import PrometheusError, serve_demo_requests

    try:
        with serve_demo_requests(settings.home, timed_steps(started)):  # the run pulls from it
            return _run_and_report(settings, first, end - timedelta(days=1), started)
    except PrometheusError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION


def _run(args: argparse.Namespace) -> int:
    from pipelines.contracts.sources import read_sources
    from pipelines.ingest.landing import landing_days
    from pipelines.ops.changes import plan_run
    from pipelines.run import free_dead_runs_of

    settings = Settings.from_env(args.home)
    if not settings.sources_file.exists():
        print(
            f"error: no sources file at {settings.sources_file} (see README: sources.yaml)",
            file=sys.stderr,
        )
        return 2
    sources, problems = read_sources(settings.sources_file)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not sources:
        print(f"error: no valid source in {settings.sources_file}", file=sys.stderr)
        return EXIT_CONFIGURATION
    if problems:
        print(
            f"error: {len(problems)} problem(s) in {settings.sources_file}; "
            f"running the valid sources ({', '.join(sources)})",
            file=sys.stderr,
        )
    invalid = _checked_contracts(settings, sources)
    pulled = {name: source for name, source in sources.items() if source.pull}
    pull_code = _pull_each(settings, pulled, args.first, None) if pulled else 0
    pull_busy = pull_code == EXIT_WAREHOUSE_BUSY
    if pull_busy:  # the run waits for the warehouse and pulls in its asset
        pull_code = 0
    if args.all or args.first or args.last or pull_busy:
        days = landing_days(settings)
        first, last = (
            args.first or (days[0] if days else None),
            args.last or (days[-1] if days else None),
        )
    else:
        changes = plan_run(settings)
        if changes.days is None and changes.files:
            free_dead_runs_of(settings)  # a killed run published nothing: its slot is freed here
            print(
                f"nothing new since the last run at {changes.last_run:%Y-%m-%d %H:%M:%S UTC} "
                f"({changes.files} landing files unchanged); pledge run --all recomputes everything"
            )
            still_failed = _files_not_loaded(settings)
            for file, error in still_failed:
                print(f"error: landing file still not loaded: {file}: {error}", file=sys.stderr)
            if problems or invalid:
                return EXIT_CONFIGURATION
            return EXIT_EVIDENCE if still_failed else pull_code
        first, last = changes.days or (None, None)
        if first is not None:
            step(f"{changes.reason}: running {first} .. {last} (pledge run --all runs every day)")
    if first is None or last is None:
        print(
            f"error: no landing files with a date in their name under {settings.landing_dir}",
            file=sys.stderr,
        )
        return 2
    exit_code = _run_and_report(
        settings, first, last, time.perf_counter(), args.executor, args.workers
    )
    if invalid:
        print(f"Contracts not run: {len(invalid)} invalid (fix them; `pledge validate` checks):")
        print("\n".join(f"  {problem}" for problem in invalid))
    if (problems or invalid) and exit_code != EXIT_RUN_FAILED:
        return EXIT_CONFIGURATION
    return _smallest_failure(exit_code, pull_code)


def _checked_contracts(settings: Settings, sources: dict) -> list:
    """The problems of the contracts that fail validation (the run leaves them out), each
    printed on stderr, after a warning for each valid contract's objective no source feeds."""
    from pipelines.contracts.imports.home import objectives_without_source
    from pipelines.contracts.loader import load_contracts

    contracts, invalid = load_contracts(settings.contracts_dir)
    for line in objectives_without_source(contracts, sources):
        print(f"warning: {line}: it has no evidence (see README: Importing SLOs)", file=sys.stderr)
    for problem in invalid:
        print(f"error: contract not run: {problem}", file=sys.stderr)
    return invalid


def _smallest_failure(*codes: int) -> int:
    """The exit code when several apply: the smallest that is not 0 (EXIT_CODES)."""
    return min((code for code in codes if code), default=0)


def _pull(args: argparse.Namespace) -> int:
    from pipelines.contracts.sources import read_sources

    settings = Settings.from_env(args.home)
    if not settings.sources_file.exists():
        print(f"error: no sources file at {settings.sources_file}", file=sys.stderr)
        return EXIT_CONFIGURATION
    sources, problems = read_sources(settings.sources_file)
    for problem in problems:
        print(problem, file=sys.stderr)
    pulled = {name: source for name, source in sources.items() if source.pull}
    unknown = sorted(set(args.source or ()) - set(pulled))
    if unknown:
        print(
            f"error: no valid prometheus source {', '.join(unknown)} in "
            f"{settings.sources_file} (prometheus sources: {', '.join(pulled) or 'none'})",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION
    if args.first and args.last and args.first > args.last:
        print(f"error: --from {args.first} is after --to {args.last}", file=sys.stderr)
        return EXIT_CONFIGURATION
    if not pulled:
        print(f"error: no valid prometheus source in {settings.sources_file}", file=sys.stderr)
        return EXIT_CONFIGURATION
    chosen = {name: pulled[name] for name in args.source} if args.source else pulled
    code = _pull_each(settings, chosen, args.first, args.last, exact=True)
    return _smallest_failure(code, EXIT_CONFIGURATION if problems else 0)


def _pull_each(
    settings: Settings,
    sources: dict[str, Source],
    first: date | None,
    last: date | None,
    exact: bool = False,
) -> int:
    """Pull each prometheus source, one line per source; a failed one is named on stderr and the
    others still pull. ``exact``: pull the days ``first..last`` (each defaulting to the
    incremental window); else what is new, and from ``first`` when it precedes the pulled span.
    Returns 0, EXIT_EVIDENCE (a pull failed) or EXIT_WAREHOUSE_BUSY."""
    import duckdb

    from pipelines.ingest.prometheus import PullError, pull_each
    from pipelines.warehouse import connect

    code = 0
    try:
        with connect(settings.warehouse_path) as con:
            for _, outcome in pull_each(con, sources, settings.landing_dir, first, last, exact):
                if isinstance(outcome, PullError):
                    print(f"error: {outcome}", file=sys.stderr)
                    code = EXIT_EVIDENCE
                else:
                    step(_pull_summary(outcome))
    except duckdb.IOException as error:
        print(f"error: the warehouse is busy: {error}", file=sys.stderr)
        return EXIT_WAREHOUSE_BUSY
    return code


def _pull_summary(result: PullResult) -> str:
    """One line about a source's pull."""
    if result.first_ts is None:
        return f"{result.source}: nothing new to pull"
    return (
        f"{result.source}: {result.rows} rows pulled for {result.first_ts:%Y-%m-%d %H:%M} .. "
        f"{result.last_ts:%Y-%m-%d %H:%M} UTC in {result.queries} queries, "
        f"{len(result.days_written)} of {len(result.days_pulled)} day file(s) changed"
    )


def _files_not_loaded(settings: Settings) -> list[tuple[str, str]]:
    """(file, error) of every landing file the warehouse records as failed, of any day."""
    from pipelines.ingest.summary import failed_files, read_ingest_records
    from pipelines.warehouse import connect

    with connect(settings.warehouse_path, read_only=True) as con:
        return failed_files(read_ingest_records(con)).select("file", "error").rows()


def _run_and_report(
    settings: Settings,
    first: date,
    last: date,
    started: float,
    executor: str = "in_process",
    workers: int = 2,
) -> int:
    """Run the pipeline for ``first..last``, print the evidence summary of those days and name
    every file that failed or rejected too much and every blocked source (with the objectives it
    held back) on stderr; returns the exit code (EXIT_CODES)."""
    from pipelines.ingest.summary import failed_files, read_ingest_records, summary_text
    from pipelines.ops.changes import definitions_sha256, record_run
    from pipelines.ops.evidence import blocked_line, read_blocked
    from pipelines.run import run_pipeline
    from pipelines.settings import DEFAULT_PARTITION_START, PARTITION_START_VARIABLE
    from pipelines.warehouse import connect
    from pipelines.writing import WarehouseBusy, pool_wait_from_env

    setting = os.environ.get(PARTITION_START_VARIABLE, "").strip()
    try:
        start = date.fromisoformat(setting) if setting else min(first, DEFAULT_PARTITION_START)
    except ValueError:
        print(f"error: {PARTITION_START_VARIABLE}={setting!r}: not a day", file=sys.stderr)
        return EXIT_CONFIGURATION
    if first < start:
        print(
            f"error: {first} lies before the first partition {start}; run as "
            f"`{PARTITION_START_VARIABLE}={first} pledge run` (or leave it unset)",
            file=sys.stderr,
        )
        return EXIT_CONFIGURATION
    if start < DEFAULT_PARTITION_START and not setting:
        os.environ[PARTITION_START_VARIABLE] = start.isoformat()  # read by pipelines.partitions
        step(
            f"partitions start at {start}, the first day run (the landing sensor and `make dev` "
            f"need {PARTITION_START_VARIABLE}={start} too)"
        )
    try:
        wait = pool_wait_from_env()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIGURATION
    step(f"running the pipeline for {first} .. {last} (Dagster instance {settings.dagster_home})")
    definitions = definitions_sha256(settings)  # as the run reads them: an edit meanwhile reruns
    try:
        result = run_pipeline(
            settings,
            first,
            last,
            on_step=timed_steps(started),
            pool_wait_seconds=wait,
            on_success=lambda working: record_run(working, first, last, definitions),
            executor=executor,
            workers=workers,
        )
    except WarehouseBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_WAREHOUSE_BUSY
    failed: list[tuple[str, str]] = []
    blocked: list[str] = []
    if settings.warehouse_path.exists():
        with connect(settings.warehouse_path, read_only=True) as con:
            records = read_ingest_records(con, (first, last))
            blocked = [blocked_line(*row) for row in read_blocked(con).drop("kind").iter_rows()]
        print(f"Evidence of {first} .. {last}, per source:")
        print(summary_text(records))
        failed = failed_files(records).select("file", "error").rows()
    evidence_errors = [
        *(f"landing file not loaded: {file}: {error}" for file, error in failed),
        *(
            f"reject ratio exceeded: {line}"
            for evaluation in result.get_asset_check_evaluations()
            if evaluation.check_name == "reject_ratio" and not evaluation.passed
            for line in (evaluation.description or str(evaluation.asset_key)).splitlines()
        ),
        *blocked,
    ]
    for error in evidence_errors:
        print(f"error: {error}", file=sys.stderr)
    if not result.success:
        print(
            "error: the pipeline run failed; see the Dagster logs above or in `make dev`",
            file=sys.stderr,
        )
        return EXIT_RUN_FAILED
    seconds = time.perf_counter() - started
    step(f"done in {seconds:.1f} s")
    print(f"Warehouse: {settings.warehouse_path}")
    print(f"Report:    {settings.reports_dir / 'index.html'}")
    if evidence_errors:
        print(f"Rejects:   {settings.reports_dir / 'rejects.html'}")
        return EXIT_EVIDENCE
    return 0


def _dev(args: argparse.Namespace) -> int:
    dagster, argv, env = dev_command(args.home, args.port)
    os.execve(dagster, argv, env)


def dev_command(home: Path | None, port: int) -> tuple[Path, list[str], dict[str, str]]:
    """The ``dagster dev`` executable, argv and environment ``pledge dev`` runs: this code's
    workspace, the home's Dagster instance, the UI on ``port``."""
    from pipelines.run import prepare_instance
    from pipelines.settings import REPO_ROOT

    settings = Settings.from_env(home)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(prepare_instance(settings.dagster_home)),
        "PLEDGE_HOME": str(settings.home),
    }
    dagster = Path(sys.executable).with_name("dagster")
    workspace = str(REPO_ROOT / "workspace.yaml")
    return dagster, [str(dagster), "dev", "-w", workspace, "--port", str(port)], env


def _read_series(path: Path) -> pl.DataFrame:
    import polars as pl

    return (
        pl.read_csv(path, columns=["timestamp", "value"])
        .with_columns(
            pl.col("timestamp").str.to_datetime(time_unit="us", time_zone="UTC"),
            pl.col("value").cast(pl.Float64),
        )
        .sort("timestamp")
    )


def _score_anomalies(args: argparse.Namespace) -> int:
    from pipelines.predict.anomaly import score_series

    scored = score_series(_read_series(args.input))
    scored.with_columns(scored["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")).write_csv(args.output)
    print(f"wrote {scored.height} rows to {args.output}")
    return 0


def _nab_eval(args: argparse.Namespace) -> int:
    import json

    from pipelines.predict.anomaly import score_series
    from pipelines.predict.assets import ANOMALY_THRESHOLD
    from pipelines.predict.drills import drill
    from pipelines.predict.nab import (
        PROFILES,
        SAMPLINGS,
        LabelledSeries,
        category,
        cross_validate,
        resample,
        source_file,
        window_rows,
    )

    labels: dict[str, list[list[str]]] = json.loads(args.labels.read_text())
    sources = []
    for name, windows in sorted(labels.items()):
        path = args.data_dir / name
        if not path.exists():
            print(f"error: {path} is labelled but missing", file=sys.stderr)
            return 2
        sources.append((name, _read_series(path), [(start, end) for start, end in windows]))
    started = time.perf_counter()
    corpus = []
    for name, frame, windows in sources:
        file_started = time.perf_counter()
        scored = score_series(frame)
        rows = window_rows(scored["timestamp"], windows)
        corpus.append(LabelledSeries(name, scored["anomaly_score"].to_numpy(), rows))
        seconds = time.perf_counter() - file_started
        step(f"{name}: {scored.height} rows, {len(rows)} window(s), {seconds:.2f} s")
    points = sum(len(series.scores) for series in corpus)
    seconds = time.perf_counter() - started
    per_row = 1e6 * seconds / points
    print(f"{len(corpus)} files, {points} rows in {seconds:.1f} s ({per_row:.1f} µs/row)")
    print("held-out scores, threshold chosen on the other folds (pooled / mean / worst fold):")
    by_category = {profile: cross_validate(corpus, category, profile) for profile in PROFILES}
    for profile, held_out_category in by_category.items():
        by_file = cross_validate(corpus, source_file, profile)
        print(
            f"{profile:<20} leave-one-category-out {held_out_category.pooled:6.2f} / "
            f"{held_out_category.mean:6.2f} / {held_out_category.worst:6.2f}   leave-one-file-out "
            f"{by_file.pooled:6.2f} / {by_file.mean:6.2f} / {by_file.worst:7.2f}"
        )
    for fold in by_category["standard"].folds:
        held_out = "no windows" if fold.normalised is None else f"{fold.normalised:6.2f}"
        print(
            f"  standard, {fold.fold} held out: {held_out} "
            f"(raw {fold.raw:.3f}, {fold.files} files, {fold.windows} windows, "
            f"threshold {fold.threshold:.4f})"
        )
    print("resampled copies of every file, standard profile (pooled / mean / worst fold):")
    every_sampling = list(corpus)
    for sampling in SAMPLINGS[1:]:
        copies = []
        for name, frame, windows in sources:
            for k, copy in enumerate(resample(frame, sampling)):
                scores = score_series(copy)["anomaly_score"].to_numpy()
                rows = window_rows(copy["timestamp"], windows)
                copies.append(LabelledSeries(f"{name}#{sampling}{k}", scores, rows))
        every_sampling += copies
        _print_resampled_cross_validation(sampling, copies)
    _print_resampled_cross_validation("all together", every_sampling)
    print(f"incident drills (5-minute SLI series, alarm at score >= {ANOMALY_THRESHOLD}):")
    drills = drill(
        lambda frame: score_series(frame)["anomaly_score"].to_numpy(), ANOMALY_THRESHOLD, range(5)
    )
    for row in drills.iter_rows(named=True):
        delay = (
            f"median delay {row['median_delay_minutes']:.0f} min, "
            f"max {row['max_delay_minutes']:.0f}"
            if row["detected"]
            else "never within the horizon"
        )
        print(
            f"  {row['kind']:<15} detected {row['detected']}/{row['series']}, {delay}; "
            f"{row['false_alarms_per_day']:.2f} false alarms/day before it"
        )
    return 0


def _print_resampled_cross_validation(label: str, corpus: list) -> None:
    from pipelines.predict.nab import category, cross_validate, source_file

    held_out_category = cross_validate(corpus, category, "standard")
    by_file = cross_validate(corpus, source_file, "standard")
    print(
        f"{label:<20} leave-one-category-out {held_out_category.pooled:6.2f} / "
        f"{held_out_category.mean:6.2f} / {held_out_category.worst:6.2f}   leave-one-file-out "
        f"{by_file.pooled:6.2f} / {by_file.mean:6.2f} / {by_file.worst:7.2f}"
        f"   ({len(corpus)} series, {sum(len(series.scores) for series in corpus)} rows)"
    )


def _monthly(args: argparse.Namespace) -> int:
    from pipelines.contracts.loader import load_contracts
    from pipelines.report.monthly import month_span, write_monthly_summaries
    from pipelines.warehouse import connect

    settings = Settings.from_env(args.home)
    if not settings.warehouse_path.exists():
        print(f"error: no warehouse at {settings.warehouse_path}", file=sys.stderr)
        return 2
    try:
        if args.month:
            month_span(args.month, "UTC")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    contracts, problems = load_contracts(settings.contracts_dir)
    for problem in problems:
        print(f"warning: contract skipped: {problem}", file=sys.stderr)
    with connect(settings.warehouse_path, read_only=True) as con:
        summaries = write_monthly_summaries(con, settings.reports_dir, contracts, args.month)
    for summary in summaries:
        print(f"{summary.contract_id} {summary.month}: {summary.html} {summary.csv}")
    return 0


def _backtest(args: argparse.Namespace) -> int:
    import json
    import warnings

    import polars as pl

    from pipelines.contracts.loader import load_contracts
    from pipelines.predict.backtest import (
        backtest_metrics,
        burn_rate_predictor,
        first_firings,
        forecast_predictor,
        linear_extrapolation_predictor,
        metrics_table,
        replay,
        windows_to_score,
    )
    from pipelines.predict.calibration import (
        brier_scores,
        brier_text,
        recalibrated,
        reliability_table,
        reliability_text,
    )
    from pipelines.report.backtest import write_backtest_page
    from pipelines.sla.objectives import alert_rules_frame
    from pipelines.warehouse import connect, query

    settings = Settings.from_env(args.home)
    if not settings.warehouse_path.exists():
        print(
            f"error: no warehouse at {settings.warehouse_path} (run `pledge run` first)",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    contracts, problems = load_contracts(settings.contracts_dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    with connect(settings.warehouse_path, read_only=True) as con:
        objectives, windows, slices = (
            query(con, sql)
            for sql in (
                "SELECT * FROM sla.objectives",
                "SELECT * FROM sla.windows",
                "SELECT contract_id, objective_id, slice_start, good, total FROM sla.slices",
            )
        )
    every = timedelta(hours=1) if args.every == "1h" else timedelta(days=1)
    # Holt-Winters fits on all-zero bad ratios log(0) in their AIC: harmless, thousands of lines.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")
    print(f"Backtest of {settings.warehouse_path}, predicting every {args.every}")
    scored = windows_to_score(objectives, windows, slices)
    with Progress("replaying", unit="as-of times") as replayed:
        predictions = replay(
            objectives,
            scored,
            slices,
            {
                "breach_risk": forecast_predictor(slices),
                "burn_rate_alerts": burn_rate_predictor(alert_rules_frame(contracts), slices),
                "linear_extrapolation": linear_extrapolation_predictor(),
            },
            every=every,
            progress=replayed,
        )
    predictions = pl.concat([predictions, recalibrated(predictions, "breach_risk")])
    outcomes = first_firings(predictions, objectives, scored)
    metrics = backtest_metrics(outcomes)
    reliability, brier = reliability_table(predictions), brier_scores(predictions)
    print(metrics_table(metrics))
    print(f"\nReliability of p_breach ({predictions.height} predictions):")
    print(reliability_text(reliability))
    print("\nBrier score (lower is better):")
    print(brier_text(brier))
    seconds = time.perf_counter() - started
    out = args.out or settings.home / "backtest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "warehouse": str(settings.warehouse_path),
                "every": args.every,
                "seconds": round(seconds, 1),
                "metrics": metrics.to_dicts(),
                "reliability": reliability.to_dicts(),
                "brier": brier.to_dicts(),
                "windows": outcomes.with_columns(
                    pl.col("window_start", "window_end", "breach_at", "fired_at").dt.to_string(
                        "iso:strict"
                    )
                ).to_dicts(),
            },
            indent=2,
        )
        + "\n"
    )
    predictions_csv = out.with_name(out.stem + "-predictions.csv")
    predictions.write_csv(predictions_csv)
    page = write_backtest_page(
        settings.reports_dir, metrics, reliability, brier, str(settings.warehouse_path), args.every
    )
    windows_scored = outcomes.unique(["contract_id", "objective_id", "window_start"]).height
    print(
        f"{windows_scored} windows scored in {seconds:.1f} s; wrote {out}, {predictions_csv} "
        f"and {page}"
    )
    return 0


def console() -> None:
    """The ``pledge`` command: ``main``, then a quick exit. On the way out the interpreter's
    garbage collector would examine every object of the libraries loaded (Dagster, statsmodels,
    Polars) once more, about 0.7 s after every command; frozen, they are left to the process's
    end (every file and connection is closed by then: atexit handlers still run)."""
    code = main()
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    console()
