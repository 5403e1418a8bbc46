"""batcher.render: batch file names, lines, whole files, spreadsheet-safe cells."""

from __future__ import annotations

import datetime

import pytest

from batcher.models import Message
from batcher.render import (
    EOF_LINE,
    HEADER_LINE,
    FileLayout,
    batch_file_name,
    parse_batch_name,
    render_file,
    render_line,
    safe_csv_cell,
)
from batcher.settings import FormatSettings, Settings

DAY = datetime.date(2017, 1, 1)


def msg(line: int = 2, text: str = "message 1", cid: str = "corr-1", number: str = "5511900000000") -> Message:
    return Message(line=line, number=number, text=text, correlation_id=cid, encoding="GSM", segments=1)


@pytest.mark.parametrize(
    ("project", "seq", "name"),
    [
        ("3486", 1, "3486.20170101.01.txt"),
        ("PROJECT1", 1, "PROJECT1.20170101.01.txt"),
        ("a_b-C", 9, "a_b-C.20170101.09.txt"),
        ("P", 99, "P.20170101.99.txt"),
        ("P", 100, "P.20170101.100.txt"),
        ("x" * 64, 12, "x" * 64 + ".20170101.12.txt"),
    ],
)
def test_batch_file_name(project: str, seq: int, name: str) -> None:
    assert batch_file_name(project, DAY, seq) == name
    assert parse_batch_name(name) == (project, "20170101", seq)


@pytest.mark.parametrize("project", ["", "a.b", "a/b", "../x", "x" * 65, "ação", "a b", "a\n"])
def test_batch_file_name_refuses_bad_projects(project: str) -> None:
    with pytest.raises(ValueError, match="project"):
        batch_file_name(project, DAY, 1)


@pytest.mark.parametrize("seq", [0, -1, True, 1.0])
def test_batch_file_name_refuses_bad_sequences(seq: object) -> None:
    with pytest.raises(ValueError):
        batch_file_name("P", DAY, seq)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        ".P.20170101.01.txt.part",
        "P.20170101.01.txt.part",
        "P.20170101.1.txt",  # not how batcher writes 1
        "P.20170101.001.txt",
        "P.20170101.00.txt",
        "P.20171301.01.txt",  # no 13th month
        "P.2017011.01.txt",
        "P.20170101.01.TXT",
        "a.b.20170101.01.txt",
        "report.csv",
        "",
        "P.20170101.01.txt\n",
    ],
)
def test_parse_batch_name_ignores_anything_else(name: str) -> None:
    assert parse_batch_name(name) is None


def test_render_line() -> None:
    assert render_line(msg()) == "5511900000000;message 1;corr-1;"
    assert render_line(msg(cid="")) == "5511900000000;message 1;;"


@pytest.mark.parametrize(
    "bad",
    [
        {"text": "a;b"},
        {"text": "a\nb"},
        {"text": "a\rb"},
        {"cid": "x;y"},
        {"cid": "x\n"},
        {"cid": "\rx"},
        {"text": ""},
        {"number": "+5511900000000"},
        {"number": "55 11"},
    ],
)
def test_render_line_refuses_what_would_corrupt_the_file(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="line 2"):
        render_line(msg(**bad))


def test_render_file_default_layout() -> None:
    text = "".join(render_file([msg(2, "message 1", ""), msg(3, "message 2", "corr-2")]))
    assert text == "5511900000000;message 1;;\n5511900000000;message 2;corr-2;\nEOF\n"


def test_render_file_header_crlf_and_no_eof() -> None:
    layout = FileLayout(header=True, line_ending="\r\n", eof_marker=True)
    assert "".join(render_file([msg()], layout)) == f"{HEADER_LINE}\r\n5511900000000;message 1;corr-1;\r\n{EOF_LINE}\r\n"
    assert "".join(render_file([msg()], FileLayout(eof_marker=False))) == "5511900000000;message 1;corr-1;\n"
    assert "".join(render_file([], FileLayout())) == "EOF\n"


def test_render_file_many_lines_in_chunks() -> None:
    messages = [msg(i, f"text {i}", f"id-{i}") for i in range(2, 5002)]
    chunks = list(render_file(messages, FileLayout(header=True)))
    assert len(chunks) > 1
    lines = "".join(chunks).split("\n")
    assert lines[0] == HEADER_LINE
    assert lines[1] == "5511900000000;text 2;id-2;"
    assert lines[-2:] == ["EOF", ""]
    assert len(lines) == 1 + 5000 + 1 + 1
    assert all(chunk.endswith("\n") for chunk in chunks)


def test_render_file_stops_at_a_bad_message() -> None:
    with pytest.raises(ValueError):
        "".join(render_file([msg(), msg(3, "a;b")]))


def test_layout_from_settings() -> None:
    assert FileLayout.from_settings(Settings()) == FileLayout(header=False, line_ending="\n", eof_marker=True)
    fmt = FormatSettings(header=True, line_ending="crlf", eof_marker=False)
    assert FileLayout.from_settings(fmt) == FileLayout(header=True, line_ending="\r\n", eof_marker=False)
    with pytest.raises(ValueError):
        FileLayout(line_ending="\r")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["=1+1", "+5511987654321", "-2", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"x\")"])
def test_safe_csv_cell_neutralises_formulas(value: str) -> None:
    assert safe_csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["", "5511987654321", "hello = world", " =1", "'already"])
def test_safe_csv_cell_leaves_the_rest(value: str) -> None:
    assert safe_csv_cell(value) == value
