"""Blank lines are no rows (issue 16, item 5): skipped, neither loaded nor rejected, and
``rows_in = rows_loaded + rejects`` still holds; the lines after them keep their numbers."""

from __future__ import annotations

from pathlib import Path

from pipelines.contracts.sources import Source
from pipelines.ingest.parse import parse_landing_file


def test_one_blank_line_in_a_five_line_backups_file(tmp_path: Path) -> None:
    path = tmp_path / "backups-2026-11-20.csv"
    path.write_text(
        "service,run_id,started_at,finished_at,success\n"
        "db,1,2026-11-20T01:00:00Z,2026-11-20T01:20:00Z,true\n"
        "\n"
        "db,2,2026-11-20T02:00:00Z,2026-11-20T02:05:00Z,true\n"
        "db,3,2026-11-20T03:00:00Z,2026-11-20T02:59:00Z,true\n"
    )
    source = Source(kind="backup_runs", path="*.csv", format="csv")
    parsed = parse_landing_file(path, source, {"db"})
    assert (parsed.rows_in, parsed.rows_loaded, parsed.rejects.height) == (3, 2, 1)
    assert parsed.rejects.select("line", "reason").rows() == [(5, "finished before started")]


def test_three_trailing_blank_lines_in_a_283_row_ticket_export(tmp_path: Path) -> None:
    rows = "".join(f"INC{n:04d},2026-11-{1 + n % 19:02d}T09:00:00Z,,\n" for n in range(283))
    path = tmp_path / "tickets-2026-11-20.csv"
    path.write_text("ticket_id,opened_at,resolved_at,closed_at\n" + rows + "\n \r\n\t\n")
    source = Source(kind="tickets", path="*.csv", format="csv", layout="snapshot", service="desk")
    parsed = parse_landing_file(path, source, {"desk"})
    assert (parsed.rows_in, parsed.rows_loaded, parsed.rejects.height) == (283, 283, 0)
    assert parsed.rows["ticket_id"].n_unique() == 283
