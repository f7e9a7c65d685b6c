"""Hostile and clashing contract files (issue 16, item 3): an alias bomb, a document nested
100,000 deep and duplicate ids each give ``file:line: problem`` at once, never a traceback; in a
run they are reported (summary, portfolio banner, exit code 2) and every other contract runs."""

from __future__ import annotations

import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.cli import EXIT_CONFIGURATION, main
from pipelines.contracts.imports import import_specs
from pipelines.contracts.loader import MAX_YAML_ALIAS_NODES, MAX_YAML_DEPTH
from pipelines.settings import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "contracts"


def alias_bomb() -> str:
    """2,993 bytes: 14 levels of 20 aliases of the level before, 20**14 strings expanded."""
    lines = ["id: bomb", "title: Alias bomb", f"level00: &level00 [{', '.join(['lol'] * 20)}]"]
    lines += [
        f"level{i:02d}: &level{i:02d} [{', '.join([f'*level{i - 1:02d}'] * 20)}]"
        for i in range(1, 14)
    ]
    return "\n".join(lines) + "\n"


DEEP = "id: deep\nnested: " + "[" * 100_000 + "]" * 100_000 + "\n"

BOMB_PROBLEM = f"6: (yaml): aliases expand to more than {MAX_YAML_ALIAS_NODES:,} nodes"
"""level01 adds 420 nodes, level02 8,420: level03 (line 6) passes the bound."""
DEEP_PROBLEM = f"2: (yaml): nested deeper than {MAX_YAML_DEPTH} levels"


def validate(capsys, *paths: Path) -> tuple[int, list[str], float]:
    started = time.monotonic()
    code = main(["validate", *map(str, paths)])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), elapsed


@pytest.mark.parametrize(
    ("text", "problem"), [(alias_bomb(), BOMB_PROBLEM), (DEEP, DEEP_PROBLEM)], ids=["bomb", "deep"]
)
def test_a_hostile_file_is_one_problem_at_its_line(tmp_path, capsys, text, problem):
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    code, out, elapsed = validate(capsys, path)
    assert (code, out) == (1, [f"{path}:{problem}"])
    assert elapsed < 5  # was 82 s and a MemoryError (bomb), a RecursionError (deep)


def test_an_import_of_specs_is_bounded_alike(tmp_path):
    bomb, deep = tmp_path / "bomb.yaml", tmp_path / "deep.yaml"
    bomb.write_text(alias_bomb())
    deep.write_text(DEEP)
    imported = import_specs([bomb, deep], provider="P", consumer="C")
    assert [str(problem) for problem in imported.problems] == [
        f"{bomb}:6: aliases expand to more than {MAX_YAML_ALIAS_NODES:,} nodes",
        f"{deep}:2: nested deeper than {MAX_YAML_DEPTH} levels",
    ]


def test_duplicate_contract_ids_name_both_files(tmp_path, capsys):
    first = tmp_path / "acme-cloud.yaml"
    second = tmp_path / "acme-cloud-copy.yaml"
    shutil.copy(EXAMPLES / "acme-cloud.yaml", first)
    second.write_text("# the same contract, edited by someone else\n" + first.read_text())
    line = next(n for n, text in enumerate(first.read_text().splitlines(), 1) if text[:3] == "id:")
    code, out, _ = validate(capsys, tmp_path)
    assert code == 1
    unique = "ids must be unique across the contracts folder"
    assert out == [
        f"{second}:{line + 1}: id: contract id 'acme-cloud' is also the id of "
        f"{first}:{line}: {unique}",
        f"{first}:{line}: id: contract id 'acme-cloud' is also the id of "
        f"{second}:{line + 1}: {unique}",
    ]


def test_a_run_leaves_out_the_hostile_contracts_and_runs_the_others(
    demo_home, demo_end, tmp_path, monkeypatch, capsys
):
    for variable in ("PLEDGE_HOME", "PLEDGE_SOURCES", "PLEDGE_LANDING", "PLEDGE_WAREHOUSE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "home"
    shutil.copytree(demo_home, home, ignore=shutil.ignore_patterns("reports", "dagster"))
    (home / "contracts" / "bomb.yaml").write_text(alias_bomb())
    (home / "contracts" / "deep.yaml").write_text(DEEP)
    day = str(demo_end - timedelta(days=1))

    code = main(["run", "--home", str(home), "--from", day, "--to", day])

    out, err = capsys.readouterr()
    bomb, deep = home / "contracts" / "bomb.yaml", home / "contracts" / "deep.yaml"
    assert code == EXIT_CONFIGURATION
    assert "Traceback" not in out + err
    assert f"error: contract not run: {bomb}:{BOMB_PROBLEM}" in err.splitlines()
    assert f"error: contract not run: {deep}:{DEEP_PROBLEM}" in err.splitlines()
    summary = out[out.index("Contracts not run:") :].splitlines()
    assert summary == [
        "Contracts not run: 2 invalid (fix them; `pledge validate` checks):",
        f"  {bomb}:{BOMB_PROBLEM}",
        f"  {deep}:{DEEP_PROBLEM}",
    ]
    reports = home / "reports"
    demo_contracts = sorted(path.stem for path in (demo_home / "contracts").glob("*.yaml"))
    assert sorted(page.stem[len("contract-") :] for page in reports.glob("contract-*.html")) == (
        demo_contracts
    )
    index = (reports / "index.html").read_text()
    banner = index[index.index('id="invalid-contracts"') : index.index("</section>")]
    assert f"<code>{bomb}:{BOMB_PROBLEM}</code>" in banner
    assert f"<code>{deep}:{DEEP_PROBLEM}</code>" in banner
