"""YAML → Contract, with every problem reported as ``file:line: field: message``.

YAML is read with ruamel's round-trip loader (safe: it builds only plain data), which keeps the
line of every key so that pydantic's error locations can be mapped back to the file.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

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
    that message, e.g. "a contract")."""
    if path.stat().st_size > MAX_YAML_BYTES:
        raise YamlFileError(
            Problem(str(path), 1, "(file)", f"{what} is at most {MAX_YAML_BYTES:,} bytes")
        )
    try:
        document = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        problem = f"not UTF-8 text (byte {error.start}: {error.reason})"
        raise YamlFileError(Problem(str(path), 1, "(file)", problem)) from None
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        problem = Problem(str(path), line, "(yaml)", str(error.problem or error))
        raise YamlFileError(problem) from None
    if not isinstance(document, CommentedMap):
        raise YamlFileError(Problem(str(path), 1, "(file)", f"{what} is a YAML mapping"))
    if _expanded_size(document, {}) > MAX_YAML_VALUES:
        problem = f"aliases expand to more than {MAX_YAML_VALUES:,} values"
        raise YamlFileError(Problem(str(path), 1, "(yaml)", problem))
    return document


MAX_YAML_BYTES = 1_000_000
MAX_YAML_VALUES = 100_000
"""Bounds on a YAML file read: its size, and its values once aliases are expanded (an alias
repeats its anchor's values, so a few nested aliases can stand for billions)."""


def _expanded_size(node: object, sizes: dict[int, int]) -> int:
    """The values of ``node`` with every alias expanded (each shared container counted once per
    use, in time linear in the distinct containers; counting stops past ``MAX_YAML_VALUES``).
    ``sizes`` memoises the containers counted, by id."""
    if not isinstance(node, dict | list):
        return 1
    if id(node) in sizes:
        return sizes[id(node)]
    children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
    size = 1
    for child in children:
        size += _expanded_size(child, sizes)
        if size > MAX_YAML_VALUES:
            break
    sizes[id(node)] = size
    return size


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
        problem_at(path, document, loc, message) for loc, message in contract_problems(plain)
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
    the rest (a bad contract does not stop the others)."""
    contracts, problems = [], []
    for path in sorted(Path(folder).glob("*.y*ml")):
        try:
            contracts.append(load_contract(path))
        except ContractError as error:
            problems.extend(error.problems)
    seen: dict[str, Contract] = {}
    for contract in contracts:
        if contract.id in seen:
            problems.append(
                Problem(str(folder), 1, "id", f"contract id {contract.id!r} used twice")
            )
        seen[contract.id] = contract
    return list(seen.values()), problems


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


def _location(error: dict) -> tuple[tuple, str]:
    """A pydantic error's location and message; an unknown union tag reads as a bad field."""
    if error["type"] == "union_tag_invalid":
        field = error["ctx"]["discriminator"].strip("'")
        return (*error["loc"], field), (
            f"unknown {field} {error['ctx']['tag']!r}: use one of {error['ctx']['expected_tags']}"
        )
    return error["loc"], error["msg"]


UNION_TAGS = frozenset((*SLI_KINDS, "occurrences", "timeslices"))


def _is_union_tag(part: str) -> bool:
    """pydantic inserts the chosen union member's tag (``timeslices``) or type into locations."""
    return part in UNION_TAGS or "[" in part
