"""``pledge --help`` names every command on one line each; ``pledge dev --port`` serves the
Dagster UI on that port (a real ``dagster dev``)."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.cli import dev_command

COMMANDS = [
    "validate",
    "import",
    "import-openslo",
    "export-openslo",
    "demo",
    "run",
    "pull",
    "dev",
    "score-anomalies",
    "nab-eval",
    "backtest",
    "monthly",
]
PLEDGE = Path(sys.executable).with_name("pledge")


def test_help_lists_every_command_with_one_line_each():
    # a narrow terminal must not wrap the command lines either
    env = {**os.environ, "COLUMNS": "60"}
    shown = subprocess.run(
        [str(PLEDGE), "--help"], capture_output=True, text=True, check=True, env=env
    ).stdout
    listed = shown.split("commands:\n")[1].splitlines()
    lines = [re.fullmatch(r" {4}(\S+) {2,}(\S.*)", line) for line in listed[1:]]
    assert all(lines), listed
    assert [line.group(1) for line in lines if line] == COMMANDS
    for command in COMMANDS:  # each command's own help still works
        subprocess.run([str(PLEDGE), command, "--help"], capture_output=True, check=True)


def test_the_command_exits_with_mains_code(tmp_path: Path):
    """``pledge`` (the console entry, which freezes the heap before its quick exit) exits with
    the code main returns: 0 for a valid contract, 1 for an invalid one."""
    example = Path(__file__).parents[1] / "examples" / "contracts" / "acme-cloud.yaml"
    for name, text in (("good", example.read_text(encoding="utf-8")), ("bad", "id: [open\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "contract.yaml").write_text(text, encoding="utf-8")
    codes = [
        subprocess.run([str(PLEDGE), "validate", str(tmp_path / name)], capture_output=True)
        for name in ("good", "bad")
    ]
    assert [code.returncode for code in codes] == [0, 1], [code.stderr for code in codes]


def test_dev_runs_dagster_dev_on_the_port_asked(tmp_path: Path):
    dagster, argv, env = dev_command(tmp_path / "home", 3456)
    assert argv[0] == str(dagster) and argv[1] == "dev"
    assert argv[-2:] == ["--port", "3456"]
    assert env["PLEDGE_HOME"] == str(tmp_path / "home")
    assert env["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_pledge_dev_serves_the_ui_on_the_port_asked(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    process = subprocess.Popen(
        [str(PLEDGE), "dev", "--home", str(tmp_path / "home"), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        answer = None
        while answer is None and time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as r:
                    answer = r.status, r.read()
            except OSError:
                time.sleep(1)
        assert answer is not None, "the Dagster UI never answered on the port asked"
        assert answer[0] == 200 and b"dagster_webserver_version" in answer[1]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
