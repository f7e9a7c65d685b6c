"""A backfill spread over chunks of days gives exactly the warehouse of a serial run: on two
processes of Dagster's multiprocess executor, and on two Celery workers fed by a real Redis broker
on loopback (started here; Debian's redis-server)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.demo import generate_demo
from pipelines.ops.backfill import day_chunks
from pipelines.settings import REPO_ROOT
from tests.conftest import DEMO_END, PLEDGE_VARIABLES
from tests.conftest import warehouse_tables as tables

DAYS = 30


def test_days_are_cut_into_even_chunks_of_consecutive_days():
    assert day_chunks(date(2026, 10, 1), date(2026, 10, 30), 2) == [
        (date(2026, 10, 1), date(2026, 10, 15)),
        (date(2026, 10, 16), date(2026, 10, 30)),
    ]
    assert day_chunks(date(2026, 10, 1), date(2026, 10, 5), 3) == [
        (date(2026, 10, 1), date(2026, 10, 2)),
        (date(2026, 10, 3), date(2026, 10, 4)),
        (date(2026, 10, 5), date(2026, 10, 5)),
    ]
    assert day_chunks(date(2026, 10, 1), date(2026, 10, 1), 4) == [
        (date(2026, 10, 1), date(2026, 10, 1))
    ]


@pytest.fixture(scope="module")
def landing_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 days of demo evidence (contracts, sources, landing files), not yet run."""
    home = tmp_path_factory.mktemp("backfill") / "landing"
    generate_demo(home, end=DEMO_END, days=DAYS, seed=7)
    return home


@pytest.fixture(scope="module")
def serial(landing_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tables of a serial (in-process) run of every day."""
    home = copy_home(landing_home, tmp_path_factory.mktemp("serial"))
    with pytest.MonkeyPatch.context() as env:
        for variable in PLEDGE_VARIABLES:
            env.delenv(variable, raising=False)
        assert main(["run", "--all", "--home", str(home)]) == 0
    return tables(home)


def copy_home(landing_home: Path, folder: Path) -> Path:
    return Path(shutil.copytree(landing_home, folder / "home"))


def assert_same_tables(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    assert expected["sla.slices"].height > 0 and expected["raw.requests"].height > 0
    for name, frame in expected.items():
        assert actual[name].equals(frame), name


@pytest.fixture
def no_pledge_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in PLEDGE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.slow
def test_a_backfill_on_two_processes_gives_the_tables_of_a_serial_run(
    landing_home, serial, tmp_path, no_pledge_variables
):
    home = copy_home(landing_home, tmp_path)
    args = ["run", "--all", "--home", str(home), "--executor", "multiprocess", "--workers", "2"]

    assert main(args) == 0

    assert_same_tables(serial, tables(home))
    assert not list(home.glob("*.shard-*"))  # every shard merged and removed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis server on loopback for the test (Debian's redis-server; `make test` installs it)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: `make test-packages` installs Debian's package")
    port = free_port()
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16) == b"+PONG\r\n":
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


@pytest.fixture
def celery_workers(redis_url: str, tmp_path: Path) -> Iterator[str]:
    """Two Celery workers of one process each, started with `dagster-celery worker start`, on the
    broker ``redis_url`` (yielded)."""
    config = tmp_path / "celery.yaml"
    config.write_text(
        f"execution:\n  config:\n    broker: '{redis_url}'\n    backend: '{redis_url}'\n"
    )
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "worker-instance"),
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # celery, as installed
    }
    (tmp_path / "worker-instance").mkdir()
    command = [str(bin_dir / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
    workers = [
        subprocess.Popen(
            [*command, "-y", str(config), "-n", f"pledge-{index}", "--", "--concurrency=1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the worker and its pool processes, ended together
        )
        for index in (1, 2)
    ]
    try:
        yield redis_url
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            with contextlib.suppress(ProcessLookupError):  # a pool process left behind
                os.killpg(worker.pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_backfill_on_two_celery_workers_gives_the_tables_of_a_serial_run(
    landing_home, serial, tmp_path, no_pledge_variables, celery_workers, monkeypatch
):
    home = copy_home(landing_home, tmp_path)
    monkeypatch.setenv("PLEDGE_CELERY_BROKER", celery_workers)
    args = ["run", "--all", "--home", str(home), "--executor", "celery", "--workers", "2"]

    assert main(args) == 0

    assert_same_tables(serial, tables(home))
