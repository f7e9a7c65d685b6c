"""Rules that relate parts of a contract to each other, each reported at a path in the file.

They read the plain YAML document rather than the parsed model, so that they still report when
other fields of the same contract fail validation (one run shows every problem).
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.contracts.units import parse_share

Path = tuple[str | int, ...]


def contract_problems(
    document: dict, where: Callable[[Path], str] = lambda path: ".".join(map(str, path))
) -> list[tuple[Path, str]]:
    """Cross-field problems of a contract document: ``[(path, message)]``; ``where`` names a
    path in a message (e.g. its ``file:line``), for a duplicate to name the first."""
    problems: list[tuple[Path, str]] = []
    services = _mappings(document.get("services"))
    objectives = _mappings(document.get("objectives"))
    service_ids = [service.get("id") for service in services]
    objective_ids = [objective.get("id") for objective in objectives]
    for kind, ids in (("service", service_ids), ("objective", objective_ids)):
        problems += [
            (
                (f"{kind}s", index, "id"),
                f"duplicate {kind} id {ids[index]!r} (first at {where((f'{kind}s', first, 'id'))})",
            )
            for index, first in _repeats(ids)
        ]
    known = {service_id for service_id in service_ids if isinstance(service_id, str)}
    for index, objective in enumerate(objectives):
        service = objective.get("service")
        if isinstance(service, str) and service not in known:
            problems.append(
                (
                    ("objectives", index, "service"),
                    f"unknown service {service!r}: declare it under services "
                    f"(known: {', '.join(sorted(known)) or 'none'})",
                )
            )
        credits = objective.get("credits")
        if isinstance(credits, dict):
            problems.extend(
                (("objectives", index, "credits", "tiers", tier, field), message)
                for tier, field, message in _tier_problems(_mappings(credits.get("tiers")))
            )
    calendars = document.get("calendars")
    calendar_names = {"24x7", *(calendars if isinstance(calendars, dict) else {})}
    for index, objective in enumerate(objectives):
        calendar = objective.get("calendar")
        if calendar is not None and calendar not in calendar_names:
            problems.append(
                (
                    ("objectives", index, "calendar"),
                    f"unknown calendar {calendar!r}: declare it under calendars "
                    f"(known: {', '.join(sorted(calendar_names))})",
                )
            )
    known_objectives = {
        objective_id for objective_id in objective_ids if isinstance(objective_id, str)
    }
    for section in ("exclusions", "corrections"):
        for index, entry in enumerate(_mappings(document.get(section))):
            problems.extend(
                ((section, index, "services", position), f"unknown service {service!r}")
                for position, service in _listed(entry, "services")
                if service not in known
            )
            problems.extend(
                ((section, index, "objectives", position), f"unknown objective {objective!r}")
                for position, objective in _listed(entry, "objectives")
                if objective not in known_objectives
            )
    return problems


def _listed(entry: dict, field: str) -> list[tuple[int, object]]:
    values = entry.get(field)
    return list(enumerate(values)) if isinstance(values, list) else []


def _mappings(node: object) -> list[dict]:
    """A YAML list's items, non-mappings replaced by empty ones (the schema reports those)."""
    return (
        [item if isinstance(item, dict) else {} for item in node] if isinstance(node, list) else []
    )


def _repeats(values: list[object]) -> list[tuple[int, int]]:
    """The index of each second and later occurrence of a value, with that of its first."""
    first: dict[object, int] = {}
    repeats = []
    for index, value in enumerate(values):
        if value is None or not isinstance(value, str | int | float | bool):
            continue
        if value in first:
            repeats.append((index, first[value]))
        else:
            first[value] = index
    return repeats


def _share_or_none(value: object) -> float | None:
    try:
        return parse_share(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


def _tier_problems(tiers: list[dict]) -> list[tuple[int, str, str]]:
    """Tiers must go down in ``below`` and up in ``credit``, each strictly."""
    problems = []
    for index in range(1, len(tiers)):
        below, before_below = (
            _share_or_none(tiers[index].get("below")),
            _share_or_none(tiers[index - 1].get("below")),
        )
        credit, before_credit = (
            _share_or_none(tiers[index].get("credit")),
            _share_or_none(tiers[index - 1].get("credit")),
        )
        if below is not None and before_below is not None:
            if below == before_below:
                problems.append(
                    (index, "below", f"overlaps tier {index}: both start below {below:.4%}")
                )
            elif below > before_below:
                problems.append(
                    (
                        index,
                        "below",
                        "tiers must be ordered from the highest 'below' down "
                        f"({below:.4%} follows {before_below:.4%})",
                    )
                )
        if credit is not None and before_credit is not None and credit <= before_credit:
            problems.append(
                (
                    index,
                    "credit",
                    "a lower tier must earn more credit than the one above it "
                    f"({credit:.2%} after {before_credit:.2%})",
                )
            )
    return problems
