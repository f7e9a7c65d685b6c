"""The analyst notebooks: stored without outputs, and each runs against the demo warehouse."""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pipelines.settings import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"


def _text(notebook: nbformat.NotebookNode) -> str:
    """Everything the executed notebook printed or displayed as text."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(str(output.data.get("text/plain", "")))
    return "\n".join(parts)


def _execute(name: str, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PLEDGE_WAREHOUSE", str(warehouse))  # the kernel inherits it
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",  # ipykernel's own spec: this interpreter (.venv)
        timeout=300,
        resources={"metadata": {"path": str(REPO_ROOT)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return _text(notebook)


def test_stored_notebooks_have_no_outputs():
    names = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["breach_investigation.ipynb", "quarterly_review.ipynb"]
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.slow
def test_quarterly_review_lists_the_breached_window_and_its_credit(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
):
    text = _execute("quarterly_review", demo_home / "warehouse.duckdb", monkeypatch)
    assert "Quarter 2026-Q4" in text
    assert (
        "acme-cloud / compute-availability 2026-10 breached: 99.543% vs ≥ 99.950%; "
        "credit 10% = 4,800.00 EUR"
    ) in text
    assert "Credits owed by Acme Cloud GmbH for 2026-Q4: 4,800.00 EUR" in text


@pytest.mark.slow
def test_breach_investigation_finds_the_budget_exhausted_and_the_credit(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
):
    text = _execute("breach_investigation", demo_home / "warehouse.duckdb", monkeypatch)
    assert "Window 2026-10 (2026-10-01 00:00 CEST to 2026-11-01 00:00 CET): breached" in text
    assert "Error budget exhausted at 2026-10-" in text
    assert "Credit owed: 10% of the monthly fee = 4,800.00 EUR" in text


def _readme_notebook_command() -> str:
    """The README's command line that runs the quarterly review headless."""
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    [line] = [line for line in lines if "jupyter execute" in line]
    assert line.endswith("notebooks/quarterly_review.ipynb"), line
    return line


@pytest.mark.slow
def test_the_readme_notebook_command_runs_verbatim_from_the_repository_root(
    demo_home: Path, tmp_path: Path
):
    # A repository root of its own (this code, its .venv, a .pledge holding the demo warehouse),
    # the README's line run there by a shell as a user would: a relative PLEDGE_WAREHOUSE is read
    # from the repository root although Jupyter runs the notebook in notebooks/.
    root = tmp_path / "repository"
    root.mkdir()
    for folder in ("pipelines", "notebooks", "sql"):
        shutil.copytree(
            REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    (root / ".venv").symlink_to(Path(sys.prefix))
    (root / ".pledge").mkdir()
    (root / ".pledge" / "warehouse.duckdb").symlink_to(demo_home / "warehouse.duckdb")
    command = _readme_notebook_command()
    output = Path(next(arg for arg in shlex.split(command) if arg.startswith("--output="))[9:])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PLEDGE_")},
        "PYTHONPATH": str(root),
    }
    ran = subprocess.run(
        ["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    text = _text(nbformat.read(output, as_version=4))
    assert "Credits owed by Acme Cloud GmbH for 2026-Q4: 4,800.00 EUR" in text
