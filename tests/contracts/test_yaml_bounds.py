"""A damaged sources.yaml gets one problem naming the file, never a hang or a traceback."""

from pathlib import Path

from pipelines.contracts.loader import MAX_YAML_ALIAS_NODES
from pipelines.contracts.sources import read_sources


def test_alias_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    # nine nested lists of ten aliases: 10**9 values once expanded
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = tmp_path / "sources.yaml"
    path.write_text("\n".join([*lines, "sources: {s: {kind: requests, bad: *a8}}"]) + "\n")

    sources, problems = read_sources(path)

    assert sources == {}
    assert [str(problem) for problem in problems] == [
        # a1 adds 110 nodes, a2 1,110, a3 11,110: past the bound at a3's line
        f"{path}:4: (yaml): aliases expand to more than {MAX_YAML_ALIAS_NODES:,} nodes"
    ]


def test_shared_anchor_within_bounds_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  a: &a {kind: requests, format: csv, path: a/*.csv}\n"
        "  b: {<<: *a, path: b/*.csv}\n"
    )

    sources, problems = read_sources(path)

    assert problems == []
    assert {name: source.path for name, source in sources.items()} == {
        "a": "a/*.csv",
        "b": "b/*.csv",
    }


def test_bytes_that_are_not_utf8_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_bytes(b"sources:\n  a: {kind: requests, path: \xff/*.csv}\n")

    sources, problems = read_sources(path)

    assert sources == {}
    assert [str(problem) for problem in problems] == [
        f"{path}:1: (file): not UTF-8 text (byte 37: invalid start byte)"
    ]
