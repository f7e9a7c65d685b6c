"""Write an import into a Pledge home: ``contracts/<id>.yaml`` and sources in ``sources.yaml``.

A contract file is written when absent or written by an earlier import (it starts with the
import header); a hand-written one is left alone and reported. ``sources.yaml`` keeps its other
sources and comments; the imported sources are added or replaced by name. A run names the
objectives that no source feeds (``objectives_without_source``), such as an imported SLO whose
data source is not Prometheus.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from pipelines.contracts.imports.writer import HEADER, Written
from pipelines.contracts.schema import Contract
from pipelines.contracts.sources import Source

SERVICE_LABEL = re.compile(r'"service", "([^"]+)", "", ""\)$')


def write_home(
    contracts_dir: Path, sources_file: Path, written: Written, dry_run: bool
) -> tuple[list[str], list[str]]:
    """(lines saying what was — or with ``dry_run`` would be — written, problems)."""
    lines, problems = [], []
    verb = "would write" if dry_run else "wrote"
    for contract_id, text in written.contracts.items():
        path = contracts_dir / f"{contract_id}.yaml"
        if path.exists() and not path.read_text(encoding="utf-8").startswith(HEADER):
            problems.append(f"{path}:1: not written: a contract not written by pledge import")
            continue
        if dry_run:
            lines.append(f"{verb} {path}:\n{text}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            lines.append(f"{verb} {path}")
    if written.sources:
        text = _merged_sources(sources_file, written.sources)
        if dry_run:
            lines.append(f"{verb} {len(written.sources)} source(s) into {sources_file}:\n{text}")
        else:
            sources_file.parent.mkdir(parents=True, exist_ok=True)
            sources_file.write_text(text, encoding="utf-8")
            names = ", ".join(written.sources)
            lines.append(f"{verb} {len(written.sources)} source(s) into {sources_file}: {names}")
    return lines, problems


def _merged_sources(path: Path, sources: dict[str, dict]) -> str:
    yaml = YAML(typ="rt")
    yaml.width = 4096
    document = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if not isinstance(document, CommentedMap):
        document = CommentedMap()
    if not isinstance(document.get("sources"), dict):
        document["sources"] = CommentedMap()
    for name, declaration in sources.items():
        document["sources"][name] = declaration
    text = io.StringIO()
    yaml.dump(document, text)
    return text.getvalue()


def objectives_without_source(contracts: list[Contract], sources: dict[str, Source]) -> list[str]:
    """``contract/objective: no <kind> source feeds service <id>`` for each objective whose
    evidence no source can hold: no source of its kind, or only Prometheus sources that label
    their series with other services (as imported ones do)."""
    feeds: dict[str, set[str] | None] = {}  # kind → the services fed; None: any service
    for source in sources.values():
        services = _labelled_services(source)
        known = feeds.get(source.kind, set())
        feeds[source.kind] = None if known is None or services is None else known | services
    return [
        f"{contract.id}/{objective.id}: no {kind} source feeds service {objective.service}"
        for contract in contracts
        for objective in contract.objectives
        for kind in [objective.sli.source_kind]
        if kind not in feeds or (feeds[kind] is not None and objective.service not in feeds[kind])
    ]


def _labelled_services(source: Source) -> set[str] | None:
    """The services a Prometheus source's queries set with ``label_replace`` on every series;
    None when its series may hold any service (a file source, or queries by label)."""
    if source.pull is None:
        return None
    found = [SERVICE_LABEL.search(query) for query in source.pull.queries.values()]
    if not all(found):
        return None
    return {match.group(1) for match in found if match}
