"""The simulator's own file rules (SPEC 1.1), as pure functions."""

from __future__ import annotations

import pytest

from batcher.sim.filecheck import check_file, check_name, has_eof_marker

NAME = "PROJ.20240131.01.txt"


@pytest.mark.parametrize("name", ["3486.20170101.01.txt", "PROJECT1.20170101.01.txt", "a_b-C.20240229.100.txt",
                                  "x" * 64 + ".20240101.01.txt"])
def test_good_names(name: str) -> None:
    assert check_name(name) is None


@pytest.mark.parametrize("name", ["PROJ.20240131.1.txt", "PROJ.2024013.01.txt", "PROJ.20240230.01.txt",
                                  "PROJ.20241301.01.txt", "PRO J.20240101.01.txt", "PROJ.20240101.01.TXT",
                                  "PROJ.20240101.01.txt.part", ".20240101.01.txt", "x" * 65 + ".20240101.01.txt",
                                  "PROJ.20240101.01.csv", "PRÓJ.20240101.01.txt"])
def test_bad_names(name: str) -> None:
    assert check_name(name)


@pytest.mark.parametrize("data", [
    b"5511900000000;hi;;\nEOF\n",
    b"5511900000000;hi;;\nEOF",
    b"5511900000000;hi;;\r\nEOF\r\n",
    b"5511900000000;hi;;\r\n5511900000001;yo;c;\nEOF",
    b"number;text;correlationId;\n5511900000000;hi;;\nEOF\n",
    b"number;text;correlationId(optional);\n5511900000000;hi;;\nEOF\n",
    "5511900000000;ação \u00e9 ok 😀;c-1;\nEOF\n".encode(),
    ("5511900000000;" + "x" * 1280 + ";" + "c" * 64 + ";\nEOF\n").encode(),
    ("5511900000000;" + "é" * 1280 + ";;\nEOF\n").encode(),  # 1280 characters, 2560 bytes
    b"12345678;hi;;\n123456789012345;hi;;\nEOF\n",
])
def test_good_files(data: bytes) -> None:
    result = check_file(NAME, data)
    assert result.ok, result.reason
    assert result.rows


def test_rows_are_parsed() -> None:
    result = check_file(NAME, b"5511900000000;hello world;corr-1;\r\n5511900000001;x;;\r\nEOF\r\n")
    assert [(r.destination, r.text, r.correlation_id) for r in result.rows] == [
        ("5511900000000", "hello world", "corr-1"), ("5511900000001", "x", "")]


@pytest.mark.parametrize(("data", "reason"), [
    (b"\xef\xbb\xbf5511900000000;hi;;\nEOF\n", "byte-order mark"),
    (b"5511900000000;caf\xe9;;\nEOF\n", "UTF-8"),
    (b"5511900000000;hi;;\n", "not EOF"),
    (b"EOF\n", "no message rows"),
    (b"number;text;correlationId;\nEOF\n", "no message rows"),
    (b"", "empty"),
    (b"5511900000000;hi;;\n\nEOF\n", "empty line"),
    (b"5511900000000;hi;\nEOF\n", "';'"),
    (b"5511900000000;hi;;;\nEOF\n", "';'"),
    (b"5511900000000;hi;c\nEOF\n", "';'"),
    (b"5511900000000;;;\nEOF\n", "empty text"),
    (("5511900000000;" + "x" * 1281 + ";;\nEOF\n").encode(), "longer than 1280"),
    (("5511900000000;x;" + "c" * 65 + ";\nEOF\n").encode(), "correlationId longer"),
    (b"+5511900000000;hi;;\nEOF\n", "digits"),
    (b"1234567;hi;;\nEOF\n", "digits"),
    (b"1234567890123456;hi;;\nEOF\n", "digits"),
    (b"5511900000000;hi\rthere;;\nEOF\n", "carriage return"),
    (b"5511900000000;hi;;\rEOF\r", "carriage return"),
    (b"EOF\n5511900000000;hi;;\nEOF\n", "EOF before"),
    (b"5511900000000;hi;;\nEOF\nEOF\n", "EOF before"),
    (b"5511900000000;hi;;\nEOF\n\n", "EOF before"),
    (b"5511900000000;hi;;\nnumber;text;correlationId;\nEOF\n", "line 2"),
    (b"Number;Text;CorrelationId;\n5511900000000;hi;;\nEOF\n", "line 1"),
    (b"5511900000000;hi;;\neof\n", "not EOF"),
])
def test_bad_files(data: bytes, reason: str) -> None:
    result = check_file(NAME, data)
    assert not result.ok
    assert reason in result.reason


def test_bad_name_is_checked_first() -> None:
    assert "file name" in check_file("nope.txt", b"5511900000000;hi;;\nEOF\n").reason


@pytest.mark.parametrize(("tail", "whole", "expected"), [
    (b"EOF", True, True), (b"EOF\n", True, True), (b"x;\nEOF", False, True), (b"x;\r\nEOF\r\n", False, True),
    (b"xEOF\n", False, False), (b"EOF\n\n", True, False), (b"EOF", False, False), (b"x;\n", False, False),
])
def test_eof_marker(tail: bytes, whole: bool, expected: bool) -> None:
    assert has_eof_marker(tail, whole) is expected
