"""sources.yaml problems as ``file:line: field: problem``: a bad source does not stop the others."""

import pytest

from pipelines.contracts.sources import SourcesError, load_sources, read_sources

SOURCES = """\
# two good sources, two bad ones
sources:
  requests:
    kind: requests
    path: requests/*.csv
    format: csv
  web:
    kind: requests
    path: web/*.csv
    format: xlsx
    time_zone: Mars/Base
  probes:
    kind: probes
    path: probes/*.csv
    format: csv
  desk:
    kind: tickets
    path: desk/*.csv
    format: csv
    colums: {ticket_id: number}
    layout: snapshot
owner: ops
"""


def test_each_problem_has_its_line_and_the_valid_sources_are_kept(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCES)
    sources, problems = read_sources(path)
    assert list(sources) == ["requests", "probes"]
    assert sources["probes"].kind == "probes"
    assert [str(problem) for problem in problems] == [
        f"{path}:10: sources.web.format: Input should be 'csv' or 'parquet'",
        f"{path}:11: sources.web.time_zone: unknown time zone 'Mars/Base'",
        f"{path}:20: sources.desk.colums: Extra inputs are not permitted",
        f"{path}:22: owner: Extra inputs are not permitted",
    ]
    with pytest.raises(SourcesError) as raised:
        load_sources(path)
    assert raised.value.problems == problems
    assert str(raised.value).splitlines()[0] == str(problems[0])


def test_a_rule_across_fields_points_at_the_source(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n  probes:\n    kind: probes\n    path: p/*.csv\n    format: csv\n"
        "    layout: log\n"
    )
    _, [problem] = read_sources(path)
    assert str(problem) == f"{path}:2: sources.probes: layout applies to tickets sources only"


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("sources:\n  requests: {kind: requests\n", 3, "(yaml)", "expected ',' or '}'"),
        ("- requests\n", 1, "(file)", "a sources file is a YAML mapping"),
        ("source:\n  requests: {}\n", 1, "sources", "Field required"),
        ("sources: [requests]\n", 1, "sources", "Input should be a valid dictionary"),
    ],
)
def test_a_file_without_a_mapping_of_sources_has_no_source(tmp_path, text, line, field, message):
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    sources, problems = read_sources(path)
    assert sources == {}
    assert (problems[0].line, problems[0].field) == (line, field)
    assert problems[0].message.startswith(message)
