"""``pledge import``: OpenSLO, Sloth, Pyrra and slo-generator specs → contracts and sources.

The format is recognised per YAML document (``apiVersion``, or Sloth's ``version``); each format's
module converts its documents; ``writer.py`` groups the SLOs into contracts and declares their
Prometheus sources; ``home.py`` writes them into a Pledge home.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.contracts.imports import openslo, pyrra, slo_generator, sloth
from pipelines.contracts.imports.model import (
    Document,
    FileProblem,
    Party,
    Refusal,
    read_documents,
)
from pipelines.contracts.imports.writer import Written, outcome_lines, write

FORMATS = {
    **{version: "openslo" for version in openslo.VERSIONS},
    sloth.CRD_VERSION: "sloth",
    pyrra.VERSION: "pyrra",
    slo_generator.VERSION: "slo-generator",
}
CONVERTERS = {
    "sloth": sloth.convert,
    "pyrra": pyrra.convert,
    "slo-generator": slo_generator.convert,
}
SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class ImportResult:
    """What an import produced (``written``), every outcome line, and the tally."""

    written: Written
    outcomes: list[Refusal | FileProblem] = field(default_factory=list)
    found: int = 0

    @property
    def lines(self) -> list[str]:
        return outcome_lines(self.outcomes)

    @property
    def refused(self) -> list[Refusal]:
        return [o for o in self.outcomes if isinstance(o, Refusal) and o.origin.kind == "SLO"]

    @property
    def problems(self) -> list[FileProblem]:
        return [o for o in self.outcomes if isinstance(o, FileProblem) and not o.note]

    def tally(self) -> str:
        """``N SLO objects found: I imported, R refused`` and one line per reason."""
        reasons = Counter(re.sub(r"\[\d+\]", "[]", r.feature) for r in self.refused)
        lines = [
            f"{self.found} SLO objects found: {self.written.imported} imported, "
            f"{len(self.refused)} refused"
            + (f", {len(self.problems)} document problems" if self.problems else "")
        ]
        lines += [f"  refused: {count} × {reason}" for reason, count in sorted(reasons.items())]
        return "\n".join(lines)

    @property
    def exit_code(self) -> int:
        """0 all converted, 3 some skipped, 2 nothing usable."""
        if not self.written.contracts:
            return 2
        return 3 if self.refused or self.problems else 0


def spec_files(paths: Sequence[Path]) -> list[Path]:
    """The given files, and the YAML files under the given folders (sorted)."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES)
        else:
            files.append(path)
    return files


def import_specs(
    paths: Sequence[Path],
    provider: str,
    consumer: str,
    url: str = "http://localhost:9090",
    step: str = "1m",
) -> ImportResult:
    """Read every spec file under ``paths``; ``provider``/``consumer`` fill the contracts whose
    source does not name them; ``url`` and ``step`` go into the Prometheus sources."""
    outcomes: list[Refusal | FileProblem] = []
    by_format: dict[str, list[Document]] = {}
    for path in spec_files(paths):
        documents, problems = read_documents(path)
        outcomes += problems
        for document in documents:
            found = _format(document)
            if found is None:
                outcomes.append(FileProblem(document.file, document.line, _unknown(document)))
            else:
                by_format.setdefault(found, []).append(document)
    slos, parties, converted = openslo.convert(by_format.pop("openslo", []), step)
    outcomes += converted
    for name, documents in by_format.items():
        found_slos, converted = CONVERTERS[name](documents, step)
        slos += found_slos
        outcomes += converted
    written = write(slos, parties, Party(None, provider, consumer), url, step)
    outcomes += written.refusals
    result = ImportResult(written, outcomes)
    result.found = written.imported + len(result.refused)
    return result


def _format(document: Document) -> str | None:
    data = document.data
    if not isinstance(data, dict):
        return None
    if data.get("version") == sloth.SPEC_VERSION and "apiVersion" not in data:
        return "sloth"
    version = data.get("apiVersion")
    return FORMATS.get(version) if isinstance(version, str) else None


def _unknown(document: Document) -> str:
    data = document.data
    if not isinstance(data, dict):
        return "not an object (a YAML mapping)"
    given = data.get("apiVersion", data.get("version"))
    known = ", ".join([*FORMATS, sloth.SPEC_VERSION])
    if given is None:
        return f"no apiVersion: not a spec Pledge imports ({known})"
    return f"unknown apiVersion {given!r}: Pledge imports {known}"
