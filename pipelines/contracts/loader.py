"""YAML → Contract, with every problem reported as ``file:line: field: message``.

YAML is read with ruamel's round-trip loader (safe: it builds only plain data), which keeps the
line of every key so that pydantic's error locations can be mapped back to the file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from pipelines.contracts.checks import contract_problems
from pipelines.contracts.schema import Contract
from pipelines.contracts.sli import SLI_KINDS


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ContractError(ValueError):
    """A contract file that does not validate; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


class YamlFileError(ValueError):
    """A file that is not YAML, or not a YAML mapping: ``problem`` says where."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


def read_yaml_mapping(path: Path, what: str) -> CommentedMap:
    """The YAML mapping in ``path``, with the line of every key; raises YamlFileError at the line
    of a syntax error, or when the document is not a mapping (``what`` names the file's role in
    that message, e.g. "a contract"). Bounded before anything is built: at most
    ``MAX_YAML_BYTES``, nesting at most ``MAX_YAML_DEPTH`` deep, aliases expanding to at most
    ``MAX_YAML_ALIAS_NODES`` nodes (``structure_problem``)."""
    if path.stat().st_size > MAX_YAML_BYTES:
        raise YamlFileError(
            Problem(str(path), 1, "(file)", f"{what} is at most {MAX_YAML_BYTES:,} bytes")
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        problem = f"not UTF-8 text (byte {error.start}: {error.reason})"
        raise YamlFileError(Problem(str(path), 1, "(file)", problem)) from None
    bound = structure_problem(text)
    if bound is not None and not bound.syntax:
        raise YamlFileError(Problem(str(path), bound.line, "(yaml)", bound.message))
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        problem = Problem(str(path), line, "(yaml)", str(error.problem or error))
        raise YamlFileError(problem) from None
    if bound is not None:  # a syntax error only libyaml saw: refused all the same
        raise YamlFileError(Problem(str(path), bound.line, "(yaml)", bound.message))
    if not isinstance(document, CommentedMap):
        raise YamlFileError(Problem(str(path), 1, "(file)", f"{what} is a YAML mapping"))
    return document


MAX_YAML_BYTES = 1_000_000
MAX_YAML_DEPTH = 64
MAX_YAML_ALIAS_NODES = 10_000
"""Bounds on a YAML file read: its size, how deep its collections nest, and the nodes its aliases
add once expanded (an alias repeats its anchor's nodes, so a few nested aliases in 3 KB can
stand for billions)."""


@dataclass(frozen=True)
class StructureProblem:
    line: int
    message: str
    syntax: bool = False


def structure_problem(text: str) -> StructureProblem | None:
    """The first bound (``MAX_YAML_DEPTH``, ``MAX_YAML_ALIAS_NODES``) the YAML ``text`` passes,
    at its line; None within them. Read as a stream of parser events by libyaml (C: linear time
    however deep the nesting, where a Python YAML scanner takes quadratic time on ``[[[[...``),
    building nothing. A syntax error stops the reading: ``syntax`` marks it (the caller reports
    ruamel's own message for it)."""
    depth = expanded = 0
    nodes = 0
    sizes: dict[str, int] = {}  # anchor -> its nodes, aliases expanded
    starts: list[tuple[str | None, int]] = []  # open collections: anchor, nodes before
    try:
        for event in yaml.parse(text, Loader=_EVENTS_LOADER):
            line = event.start_mark.line + 1
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    return StructureProblem(line, f"nested deeper than {MAX_YAML_DEPTH} levels")
                starts.append((event.anchor, nodes))
                nodes += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                anchor, before = starts.pop()
                if anchor is not None:
                    sizes[anchor] = nodes - before
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                added = sizes.get(event.anchor, 1)
                nodes += added
                expanded += added
                if expanded > MAX_YAML_ALIAS_NODES:
                    return StructureProblem(
                        line, f"aliases expand to more than {MAX_YAML_ALIAS_NODES:,} nodes"
                    )
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        if "nesting depth" in str(error):  # libyaml's own limit (1,000)
            return StructureProblem(line, f"nested deeper than {MAX_YAML_DEPTH} levels")
        return StructureProblem(line, str(error.problem or error), syntax=True)
    return None


_EVENTS_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_contract(path: str | Path) -> Contract:
    """Parse and validate one contract file; raises ContractError listing every problem.

    A file unchanged since its last load (same size and modification time) is not parsed again:
    every asset of a run loads the contracts, and the models are frozen."""
    path = Path(path)
    stat = path.stat()
    return _load_contract(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _load_contract(path: Path, mtime_ns: int, size: int) -> Contract:
    """``load_contract`` of the file's version with this modification time and size."""
    try:
        document = read_yaml_mapping(path, "a contract")
    except YamlFileError as error:
        raise ContractError([error.problem]) from None
    plain = plain_data(document)
    problems = [
        problem_at(path, document, loc, message)
        for loc, message in contract_problems(plain, lambda loc: _line_of(path, document, loc))
    ]
    try:
        contract = Contract.model_validate(plain)
    except ValidationError as error:
        problems += [problem_at(path, document, *_location(item)) for item in error.errors()]
    if problems:
        raise ContractError(sorted(problems, key=lambda problem: problem.line))
    return contract


def load_contracts(folder: str | Path) -> tuple[list[Contract], list[Problem]]:
    """Every ``*.yaml``/``*.yml`` contract under ``folder``: the valid ones, and the problems of
    the rest (a bad contract does not stop the others). Contracts sharing an id are all refused
    (``duplicate_contract_ids``): which one is meant is not for the run to guess."""
    loaded, problems = [], []
    for path in sorted(Path(folder).glob("*.y*ml")):
        try:
            loaded.append((path, load_contract(path)))
        except ContractError as error:
            problems.extend(error.problems)
    duplicates = duplicate_contract_ids(loaded)
    refused = {problem.file for problem in duplicates}
    contracts = [contract for path, contract in loaded if str(path) not in refused]
    return contracts, sorted([*problems, *duplicates], key=lambda problem: problem.file)


def duplicate_contract_ids(loaded: list[tuple[Path, Contract]]) -> list[Problem]:
    """One problem per valid contract file whose id another file uses too, naming the others
    (``file:line`` of their ``id``)."""
    files: dict[str, list[Path]] = {}
    for path, contract in loaded:
        files.setdefault(contract.id, []).append(path)
    problems = []
    for contract_id, paths in files.items():
        if len(paths) < 2:
            continue
        lines = {path: read_yaml_mapping(path, "a contract").lc.key("id")[0] + 1 for path in paths}
        for path in paths:
            others = ", ".join(f"{other}:{lines[other]}" for other in paths if other != path)
            problems.append(
                Problem(
                    str(path),
                    lines[path],
                    "id",
                    f"contract id {contract_id!r} is also the id of {others}: ids must be "
                    "unique across the contracts folder",
                )
            )
    return problems


def plain_data(node: object) -> object:
    """ruamel's commented containers → dicts and lists (pydantic wants plain data)."""
    if isinstance(node, dict):
        return {str(key): plain_data(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain_data(item) for item in node]
    return node


def problem_at(path: Path, document: CommentedMap, loc: tuple, message: str) -> Problem:
    """Map a validation location to the deepest line of the document it reaches."""
    node: object = document
    line = 1
    field_parts: list[str] = []
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            field_parts.append(str(part))
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
            field_parts[-1:] = [f"{field_parts[-1]}[{part}]"] if field_parts else [f"[{part}]"]
            node = node[part]
        elif (
            isinstance(part, str)
            and part not in ("function-after", "function-before")
            and not (isinstance(node, CommentedMap) and _is_union_tag(part))
        ):
            field_parts.append(part)
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return Problem(str(path), line, ".".join(field_parts) or "(contract)", message)


def _line_of(path: Path, document: CommentedMap, loc: tuple) -> str:
    """``file:line`` of a location in the document."""
    problem = problem_at(path, document, loc, "")
    return f"{problem.file}:{problem.line}"


def _location(error: dict) -> tuple[tuple, str]:
    """A pydantic error's location and message; an unknown union tag reads as a bad field."""
    if error["type"] == "union_tag_invalid":
        field = error["ctx"]["discriminator"].strip("'")
        return (*error["loc"], field), (
            f"unknown {field} {error['ctx']['tag']!r}: use one of {error['ctx']['expected_tags']}"
        )
    return error["loc"], error["msg"]


UNION_TAGS = frozenset((*SLI_KINDS, "occurrences", "timeslices", "ratio_timeslices"))


def _is_union_tag(part: str) -> bool:
    """pydantic inserts the chosen union member's tag (``timeslices``) or type into locations."""
    return part in UNION_TAGS or "[" in part
