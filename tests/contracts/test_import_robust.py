"""Damaged spec files never give a traceback: seeded mutations of the fixture specs (a field
removed or given a value of another type) import, or are refused line by line, and whatever they
write validates."""

from __future__ import annotations

import copy
import random
from pathlib import Path

from ruamel.yaml import YAML

from pipelines.contracts.imports import import_specs, spec_files
from pipelines.contracts.imports.home import write_home
from pipelines.contracts.loader import load_contract
from pipelines.contracts.sources import read_sources

FOLDERS = [Path(__file__).parent / "openslo", Path(__file__).parent / "specs"]
ODD_VALUES = [None, 1, -3, 0.5, True, "x", "1m", "{{.window}}", [], [1], {}, {"a": 1}]
MUTANTS = 200


def leaf_paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside the document."""
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += leaf_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += leaf_paths(value, (*prefix, index))
    return paths


def mutant(document: dict, rng: random.Random) -> dict:
    damaged = copy.deepcopy(document)
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(leaf_paths(damaged) or [("x",)])
        parent = damaged
        for key in path[:-1]:
            parent = parent[key] if isinstance(parent, dict | list) else None
            if parent is None:
                break
        if isinstance(parent, dict) and path[-1] in parent and rng.random() < 0.3:
            del parent[path[-1]]
        elif isinstance(parent, dict) or (isinstance(parent, list) and path[-1] < len(parent)):
            parent[path[-1]] = rng.choice(ODD_VALUES)
    return damaged


def test_damaged_specs_are_refused_line_by_line_never_a_traceback(tmp_path):
    yaml = YAML(typ="safe")
    documents = [
        document
        for path in spec_files(FOLDERS)
        for document in yaml.load_all(path.read_text())
        if isinstance(document, dict)
    ]
    rng = random.Random(17)
    imported = refused = 0
    for number in range(MUTANTS):
        path = tmp_path / f"spec-{number}.yaml"
        with path.open("w") as file:
            yaml.dump(mutant(rng.choice(documents), rng), file)
        result = import_specs([path], "P", "C")
        assert all(line.startswith(f"{path}:") for line in result.lines), result.lines
        imported += result.written.imported
        refused += len(result.lines) > 0
        home = tmp_path / f"home-{number}"
        write_home(home / "contracts", home / "sources.yaml", result.written, dry_run=False)
        for contract in (home / "contracts").glob("*.yaml"):
            load_contract(contract)
        if result.written.sources:
            assert read_sources(home / "sources.yaml")[1] == []
    assert imported >= 5 and refused >= 100  # both outcomes were exercised
