"""Spreadsheet drops (.xlsx .xlsm .xls .ods) through python-calamine, on real files
written per test by openpyxl, odfpy and xlwt."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest
import xlwt
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table as OdsTable
from odf.table import TableCell, TableRow
from odf.text import P

from batcher.errors import InputError
from batcher.ingest import open_table
from batcher.ingest.sheets import cell_text
from batcher.models import ColumnMap, RawRow

Cell = str | int | float | bool | datetime.date | None


def xlsx(path: Path, sheets: dict[str, Sequence[Sequence[Cell]]], *, start_row: int = 1) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for r, row in enumerate(rows, start_row):
            for c, value in enumerate(row, 1):
                if value is not None:
                    sheet.cell(row=r, column=c, value=value)
    workbook.save(path)
    return path


def ods(path: Path, rows: Sequence[Sequence[Cell]], name: str = "Planilha1") -> Path:
    doc = OpenDocumentSpreadsheet()
    table = OdsTable(name=name)
    for row in rows:
        tr = TableRow()
        for value in row:
            if value is None:
                cell = TableCell()
            elif isinstance(value, (int, float)):
                cell = TableCell(valuetype="float", value=value)
                cell.addElement(P(text=str(value)))
            else:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=str(value)))
            tr.addElement(cell)
        table.addElement(tr)
    doc.spreadsheet.addElement(table)
    doc.save(str(path))
    return path


def xls(path: Path, rows: Sequence[Sequence[Cell]], name: str = "Plan1") -> Path:
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet(name)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    workbook.save(str(path))
    return path


def read(path: Path, sheet: str | None = None) -> tuple[ColumnMap, str | None, list[RawRow]]:
    with open_table(path, sheet=sheet) as table:
        return table.columns, table.sheet, list(table.rows)


def refusal(path: Path, sheet: str | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        read(path, sheet)
    assert info.value.path == path
    return info.value


def test_xlsx_numeric_phones_become_exact_digits(tmp_path: Path) -> None:
    path = xlsx(
        tmp_path / "lembrete.xlsx",
        {
            "Contatos": [
                ["Celular", "Texto", "ID"],
                [5511987654321, "Sua consulta é amanhã às 9h", "c-1"],  # int cell
                [5521998765432.0, "Lembrete: vacinação", 1001],  # float cell, numeric id
                ["5.5119E+12", "Texto com número perdido", "c-3"],  # text stays text
                [11987654321.5, "não inteiro", "c-4"],
                [None, None, None],  # blank row, skipped
                [5531987654321, True, datetime.datetime(2024, 3, 1, 8, 30)],
                [5541987654321, datetime.date(2024, 3, 2), None],
            ]
        },
    )
    with open_table(path) as table:
        assert (table.kind, table.sheet, table.encoding, table.delimiter) == ("xlsx", "Contatos", None, None)
        columns, rows = table.columns, list(table.rows)
    assert columns == ColumnMap(0, 1, 2, ("Celular", "Texto", "ID"))
    assert rows == [
        RawRow(2, ("5511987654321", "Sua consulta é amanhã às 9h", "c-1")),
        RawRow(3, ("5521998765432", "Lembrete: vacinação", "1001")),
        RawRow(4, ("5.5119E+12", "Texto com número perdido", "c-3")),
        RawRow(5, ("11987654321.5", "não inteiro", "c-4")),
        RawRow(7, ("5531987654321", "TRUE", "2024-03-01T08:30:00")),
        RawRow(8, ("5541987654321", "2024-03-02", "")),
    ]


def test_xlsx_line_numbers_match_excel_when_data_starts_at_row_3(tmp_path: Path) -> None:
    rows = [["telefone", "mensagem"], [5511987654321, "um"], [None, None], [5511987654322, "dois"]]
    path = xlsx(tmp_path / "r3.xlsx", {"Plan1": rows}, start_row=3)
    columns, _, data = read(path)
    assert columns.header == ("telefone", "mensagem")
    assert data == [RawRow(4, ("5511987654321", "um")), RawRow(6, ("5511987654322", "dois"))]


def test_xlsx_data_starting_in_column_c_is_positional_from_there(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["C3"], sheet["D3"] = 5511987654321, "sem cabeçalho"
    workbook.save(tmp_path / "c3.xlsx")
    columns, _, data = read(tmp_path / "c3.xlsx")
    assert columns == ColumnMap(0, 1, None, None)
    assert data == [RawRow(3, ("5511987654321", "sem cabeçalho"))]


def test_xlsm_is_read_like_xlsx(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "macro.xlsm", {"Dados": [["number", "text"], [5511987654321, "oi"]]})
    with open_table(path) as table:
        assert table.kind == "xlsm"
        assert list(table.rows) == [RawRow(2, ("5511987654321", "oi"))]


def test_ods_numeric_phone_cells(tmp_path: Path) -> None:
    path = ods(
        tmp_path / "cobranca.ods",
        [
            [None],
            [None, "Número", "Mensagem", "Referência"],
            [None, 5511987654321, "Sua fatura venceu", "f-1"],
            [None, 5521998765432.0, "Pague com Pix", "f-2"],
            [None, "5.5119E+12", "perdeu dígitos", "f-3"],
        ],
    )
    with open_table(path) as table:
        assert (table.kind, table.sheet) == ("ods", "Planilha1")
        assert table.columns == ColumnMap(0, 1, 2, ("Número", "Mensagem", "Referência"))
        assert list(table.rows) == [
            RawRow(3, ("5511987654321", "Sua fatura venceu", "f-1")),
            RawRow(4, ("5521998765432", "Pague com Pix", "f-2")),
            RawRow(5, ("5.5119E+12", "perdeu dígitos", "f-3")),
        ]


def test_xls_numeric_phone_cells(tmp_path: Path) -> None:
    path = xls(
        tmp_path / "antigo.xls",
        [["TELEFONE", "SMS"], [5511987654321, "Olá"], [None, None], [5521998765432.0, "Até logo"]],
    )
    with open_table(path) as table:
        assert (table.kind, table.sheet) == ("xls", "Plan1")
        assert list(table.rows) == [
            RawRow(2, ("5511987654321", "Olá")),
            RawRow(4, ("5521998765432", "Até logo")),
        ]


# --- choosing the sheet ------------------------------------------------------------

BOOK = {
    "Resumo": [["total", 3]],
    "Envio": [["celular", "texto"], [5511987654321, "da aba Envio"]],
    "2": [["celular", "texto"], [5511987654322, "da aba chamada 2"]],
}


def test_first_sheet_by_default(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "b.xlsx", {"Envio": BOOK["Envio"], "Resumo": BOOK["Resumo"]})
    _, sheet, rows = read(path)
    assert sheet == "Envio" and rows[0].cells[1] == "da aba Envio"


def test_sheet_by_name(tmp_path: Path) -> None:
    _, sheet, rows = read(xlsx(tmp_path / "b.xlsx", BOOK), sheet="Envio")
    assert sheet == "Envio" and rows == [RawRow(2, ("5511987654321", "da aba Envio"))]


def test_sheet_by_one_based_index(tmp_path: Path) -> None:
    book = {"Resumo": BOOK["Resumo"], "Envio": BOOK["Envio"]}
    _, sheet, _ = read(xlsx(tmp_path / "b.xlsx", book), sheet="2")
    assert sheet == "Envio"


def test_a_sheet_named_like_a_number_wins_over_the_index(tmp_path: Path) -> None:
    _, sheet, rows = read(xlsx(tmp_path / "b.xlsx", BOOK), sheet="2")
    assert sheet == "2" and rows[0].cells[1] == "da aba chamada 2"


@pytest.mark.parametrize("wanted", ["Clientes", "9", "0"])
def test_unknown_sheet_lists_the_sheets(tmp_path: Path, wanted: str) -> None:
    error = refusal(xlsx(tmp_path / "b.xlsx", BOOK), sheet=wanted)
    assert f"no sheet '{wanted}'" in error.reason
    assert "1: 'Resumo', 2: 'Envio', 3: '2'" in error.reason


def test_hidden_first_sheet_is_passed_over(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "h.xlsx", {"Config": [["x"]], "Envio": BOOK["Envio"]})
    workbook = openpyxl.load_workbook(path)
    workbook["Config"].sheet_state = "hidden"
    workbook.save(path)
    _, sheet, _ = read(path)
    assert sheet == "Envio"


# --- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["random.xlsx", "random.ods", "random.xls"])
def test_corrupt_spreadsheet(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(os.urandom(4096))
    assert refusal(path).reason.startswith("cannot read spreadsheet: ")


def test_csv_renamed_to_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "renomeado.xlsx"
    path.write_text("telefone;mensagem\n5511987654321;oi\n")
    assert refusal(path).reason.startswith("cannot read spreadsheet: ")


def test_empty_sheet(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "vazio.xlsx", {"Plan1": []})
    assert refusal(path).reason == "sheet 'Plan1' is empty"


def test_header_only_sheet_has_no_rows(tmp_path: Path) -> None:
    columns, _, rows = read(xlsx(tmp_path / "h.xlsx", {"Plan1": [["Fone", "Msg"]]}))
    assert columns.header == ("Fone", "Msg") and rows == []


def test_sheet_without_number_header(tmp_path: Path) -> None:
    error = refusal(xlsx(tmp_path / "h.xlsx", {"Plan1": [["Nome", "Mensagem"], ["Ana", "oi"]]}))
    assert "no number column" in error.reason and "'Nome', 'Mensagem'" in error.reason
    assert error.line == 1


def test_one_column_sheet(tmp_path: Path) -> None:
    error = refusal(xlsx(tmp_path / "one.xlsx", {"Plan1": [[5511987654321], [5511987654322]]}))
    assert error.reason.startswith("no text column")


def test_input_is_not_modified(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "b.xlsx", BOOK)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    read(path, sheet="Envio")
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5511987654321.0, "5511987654321"),
        (5511987654321, "5511987654321"),
        (1e20, "100000000000000000000"),
        (0.1, "0.1"),
        (5.5119e12 + 0.5, "5511900000000.5"),
        (True, "TRUE"),
        (False, "FALSE"),
        (datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        (datetime.time(8, 30), "08:30:00"),
        (None, ""),
        ("", ""),
        ("5.5119E+12", "5.5119E+12"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text
