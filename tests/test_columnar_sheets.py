"""The columnar engine against the row path on generated spreadsheets (.xlsx mostly,
.ods and .xls too): numbers as numeric cells (whole, with decimals, tiny fractions,
huge, -0), as text and typed; texts across the GSM/UCS-2 edges; `_xHHHH_` escapes;
dates, times, booleans and error cells; blank rows and a header on a later row, or
none; duplicates. Both engines must give the same platform files byte for byte, the
same rejected-rows file, the same summary and the same rows through the sink; a sheet
the columnar reader cannot vouch for converts through the row path
(`BATCHER_DIFF_EXAMPLES` / 4 examples).
"""

from __future__ import annotations

import datetime
import os
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from batcher.convert import ConversionSummary
from tests.test_columnar_differential import EDGE_TEXTS, NASTY_TEXTS, comparable, mobiles, run
from tests.test_ingest_sheets import ods, xls

EXAMPLES = max(20, int(os.environ.get("BATCHER_DIFF_EXAMPLES", "2000")) // 4)

# numbers openpyxl would round to 15 digits, written into the sheet's XML exactly
EXACT = {7777771: "2.0000000000000004", 7777772: "0.30000000000000004", 7777773: "1000000000000000.1",
         7777774: "5.0000000001", 7777775: "1E-05"}
ODD_NUMBERS: list[object] = [12.5, 1e20, 5511987654321.5, 17, 0, 3.25, 0.1, 123456789.125]
ODD_TEXTS = ["#N/A", "#DIV/0!", "_x0041_", "ok _x20AC_ _xD83D__xDE00_", "_x005F_x0041_", "017", "12.50", "17", "0.5",
             " ", ""]
# what the columnar reader leaves to the row path (put in one sheet in five)
TYPED: list[object] = [True, False, datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 10, 30),
                       datetime.time(8, 0), "true", "2024-01-02", *EXACT, 1e-10, -0.0, "_xD800_ quebrado"]
odd = st.one_of(st.sampled_from(ODD_NUMBERS), st.sampled_from(ODD_TEXTS))


@st.composite
def number_cell(draw: st.DrawFn) -> object:
    raw = draw(mobiles())
    digits = raw.lstrip("+")
    form = draw(st.integers(0, 9))
    if form <= 3 and digits.isdigit():
        return int(digits)  # a numeric cell, as most sheets hold phones
    if form == 4 and digits.isdigit():
        return float(digits)
    if form == 5:
        return draw(odd)
    return raw


text_cell = st.one_of(
    st.sampled_from(EDGE_TEXTS), st.sampled_from(EDGE_TEXTS), st.sampled_from(NASTY_TEXTS), odd,
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20),
)
cid_cell = st.one_of(
    st.builds("ref-{}".format, st.integers(0, 20)), st.integers(1, 30), st.just(None),
    st.sampled_from(["x" * 65, "tem;ponto", " ref-3 ", "k1-2", 5511987654321, 3.5]),
)
extra_cell = st.one_of(st.none(), st.none(), odd, st.integers(-5, 5), st.text(max_size=5))
row = st.tuples(number_cell(), text_cell, cid_cell, extra_cell)


@st.composite
def sheets(draw: st.DrawFn) -> dict:
    rows = draw(st.lists(row, min_size=0, max_size=10))
    if rows and draw(st.booleans()):
        rows += draw(st.lists(st.sampled_from(rows), max_size=3))
    if rows and draw(st.integers(0, 4)) == 0:
        at, column = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, 3))
        cells = list(rows[at])
        cells[column] = draw(st.sampled_from(TYPED))
        rows[at] = tuple(cells)
    return {
        "rows": rows,
        "kind": draw(st.sampled_from(["xlsx", "xlsx", "xlsx", "xlsx", "ods", "xls"])),
        "header": draw(st.sampled_from([("celular", "texto", "id", "obs"), ("numero", "mensagem"), None])),
        "start_row": draw(st.sampled_from([1, 1, 3])),
        "start_col": draw(st.sampled_from([1, 1, 2])),
        "blank_rows": draw(st.lists(st.integers(0, 12), max_size=2)),
        "with_cid": draw(st.booleans()),
        "max_rows": draw(st.sampled_from([1, 3, 100_000])),
        "fmt_header": draw(st.booleans()),
        "crlf": draw(st.booleans()),
        "eof": draw(st.booleans()),
        "on_newline": draw(st.sampled_from(["replace", "reject"])),
        "on_semicolon": draw(st.sampled_from(["replace", "reject"])),
        "allow_duplicates": draw(st.booleans()),
        "transliterate": draw(st.booleans()),
    }


def _writable(value: object) -> object:
    """openpyxl refuses most control characters in a cell."""
    return ILLEGAL_CHARACTERS_RE.sub("?", value) if isinstance(value, str) else value


def write_sheet(path: Path, d: dict) -> Path:
    table: list[list[object]] = []
    if d["header"] is not None:
        table.append(list(d["header"]))
    for number, text, cid, extra in d["rows"]:
        table.append([number, text, *((cid, extra) if d["with_cid"] else ())])
    for at in sorted(d["blank_rows"], reverse=True):
        table.insert(min(at, len(table)), [])
    path = path.with_suffix("." + d["kind"])
    if d["kind"] == "xlsx":
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        for r, cells in enumerate(table, d["start_row"]):
            for c, value in enumerate(cells, d["start_col"]):
                if value is not None:
                    sheet.cell(row=r, column=c, value=_writable(value))
        workbook.save(path)
        _exact_numbers(path)
    else:  # odfpy and xlwt write numbers, text and nothing else here
        plain = [[v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else None for v in cells]
                 for cells in table]
        (ods if d["kind"] == "ods" else xls)(path, plain)
    return path


def _exact_numbers(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        parts = {info: zf.read(info.filename) for info in zf.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in parts.items():
            if info.filename.startswith("xl/worksheets/"):
                for sentinel, exact in EXACT.items():
                    data = data.replace(f"<v>{sentinel}</v>".encode(), f"<v>{exact}</v>".encode())
            zf.writestr(info, data)


def same(tmp: Path, d: dict) -> str:
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    src = write_sheet(tmp / "drop", d)
    row = run(src, tmp / "row", d, "row")
    auto = run(src, tmp / "auto", d, "auto")
    assert comparable(auto[0]) == comparable(row[0])
    assert auto[1] == row[1]
    assert auto[2].messages == row[2].messages
    assert auto[2].rejections == row[2].rejections
    return auto[0].engine if isinstance(auto[0], ConversionSummary) else "error"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(d=sheets())
def test_columnar_sheets_are_the_row_paths_byte_for_byte(tmp_path: Path, d: dict) -> None:
    event(f"{d['kind']}: {same(tmp_path / 'case', d)}")


BASE = {
    "rows": [(5511987654321, "olá", "a", None), ("+55 (21) 99876-5432", "oi", "b", None)],
    "kind": "xlsx", "header": ("celular", "texto", "id", "obs"), "start_row": 1, "start_col": 1, "blank_rows": [],
    "with_cid": True, "max_rows": 100_000, "fmt_header": False, "crlf": False, "eof": True, "on_newline": "replace",
    "on_semicolon": "replace", "allow_duplicates": False, "transliterate": False,
}


@pytest.mark.parametrize(
    ("change", "engine"),
    [
        ({}, "columnar"),
        ({"start_row": 3, "start_col": 2, "blank_rows": [1, 2]}, "columnar"),  # the header further down
        ({"header": None}, "columnar"),  # positional columns
        ({"rows": [(5511987654321, "oi", 17, 12.5)]}, "columnar"),  # numbers checked again as numbers
        ({"rows": [(5511987654321, "oi", "a", 7777771)]}, "row"),  # 2.0000000000000004, printed "2" by fastexcel
        ({"rows": [(5511987654321, "oi", "a", 7777773)]}, "row"),  # 1e15 + 0.125: repr "1000000000000000.1"
        ({"rows": [(5511987654321, "oi", "a", datetime.date(2024, 1, 2))]}, "row"),
        ({"rows": [(5511987654321, "oi", "a", True)]}, "row"),
        ({"rows": [(5511987654321, "ok _x20AC_", "a", "#N/A")]}, "columnar"),
        ({"kind": "ods"}, "columnar"),
        ({"kind": "xls"}, "columnar"),
        ({"rows": []}, "columnar"),  # a header and no rows: nothing to send, as the row path says
    ],
)
def test_which_engine_converts_a_sheet(tmp_path: Path, change: dict, engine: str) -> None:
    assert same(tmp_path / "case", {**BASE, **change}) == engine


def test_a_big_sheet_in_several_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from batcher.columnar import drop, sheet

    monkeypatch.setattr(sheet, "BATCH_ROWS", 7)
    monkeypatch.setattr(drop, "GROUP_ROWS", 5)
    rows = [(5511987654300 + i % 23, f"texto {i % 5}", f"ref-{i % 31}", None) for i in range(120)]
    rows[50] = ("abc", "x", "y", None)
    assert same(tmp_path / "case", {**BASE, "rows": rows, "max_rows": 11}) == "columnar"
