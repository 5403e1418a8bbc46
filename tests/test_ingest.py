"""Text drops (.csv .tsv .txt) and column detection, on real files written per test."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import psutil
import pytest

from batcher.errors import InputError
from batcher.ingest import Table, open_table
from batcher.ingest.columns import ColumnChoice, find_columns, normalise_name
from batcher.ingest.text import sniff_delimiter
from batcher.models import ColumnMap, RawRow

PT_TEXT = "Promoção de verão: até 50% off em ação, € 10 de desconto é só hoje"


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def read(path: Path, **kw: str) -> tuple[Table, list[RawRow]]:
    with open_table(path, **kw) as table:
        return table, list(table.rows)


def reason_of(path: Path) -> InputError:
    with pytest.raises(InputError) as info, open_table(path) as table:
        list(table.rows)
    assert info.value.path == path
    return info.value


# --- encodings ---------------------------------------------------------------------

CONTENT = f"Telefone;Mensagem;Referencia\r\n5511987654321;{PT_TEXT};ç-1\r\n5521998765432;Olá João;ã-2\r\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (CONTENT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + CONTENT.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + CONTENT.encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + CONTENT.encode("utf-16-be"), "utf-16"),
        (CONTENT.encode("cp1252"), "cp1252"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "windows-1252"],
)
def test_each_encoding_reads_accents_and_euro_exactly(tmp_path: Path, raw: bytes, expected: str) -> None:
    table, rows = read(write(tmp_path, "drop.csv", raw))
    assert table.encoding == expected
    assert table.delimiter == ";"
    assert table.columns.header == ("Telefone", "Mensagem", "Referencia")  # no BOM left in it
    assert rows == [
        RawRow(2, ("5511987654321", PT_TEXT, "ç-1")),
        RawRow(3, ("5521998765432", "Olá João", "ã-2")),
    ]


def test_utf8_past_the_first_megabyte_decides_the_whole_file(tmp_path: Path) -> None:
    # A Windows-1252 byte far down the file: the encoding pass must see all of it.
    body = "5511987654321;texto simples\n" * 60_000  # ~1.7 MB of ASCII
    path = write(tmp_path, "late.csv", (body + "5511987654321;ação\n").encode("cp1252"))
    table, rows = read(path)
    assert table.encoding == "cp1252"
    assert rows[-1] == RawRow(60_001, ("5511987654321", "ação"))


# --- delimiters --------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_each_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    texts = ["Olá, Ana, sua fatura vence hoje", "Olá, Rui, sua fatura vence hoje", "Oi; tudo bem?"]
    lines = [delimiter.join(["celular", "texto", "id"])]
    for i, text in enumerate(texts):
        quoted = f'"{text}"' if delimiter in text else text
        lines.append(delimiter.join([f"551199876543{i}", quoted, f"c{i}"]))
    table, rows = read(write(tmp_path, "drop.csv", "\n".join(lines) + "\n"))
    assert table.delimiter == delimiter
    assert [r.cells[1] for r in rows] == texts
    assert [r.cells[2] for r in rows] == ["c0", "c1", "c2"]


def test_headerless_semicolon_file_with_templated_comma_texts(tmp_path: Path) -> None:
    # Every text has the same two commas: both `,` and `;` split consistently; only `;`
    # isolates the phone number.
    body = "".join(f"55119876543{i:02d};Olá, cliente {i}, seu pedido saiu\n" for i in range(30))
    table, rows = read(write(tmp_path, "drop.txt", body))
    assert table.delimiter == ";"
    assert table.columns == ColumnMap(number=0, text=1, correlation_id=None, header=None)
    assert rows[0].cells == ("5511987654300", "Olá, cliente 0, seu pedido saiu")


def test_tsv_is_read_with_tabs(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "avisos.tsv", "5511987654321\tAviso: sem luz amanhã, 8h-12h\n"))
    assert table.delimiter == "\t"
    assert rows == [RawRow(1, ("5511987654321", "Aviso: sem luz amanhã, 8h-12h"))]


def test_sniffer_falls_back_to_default_when_nothing_splits() -> None:
    assert sniff_delimiter("5511987654321\n", complete=True, default=",") == ","
    assert sniff_delimiter("5511987654321\n", complete=True, default="\t") == "\t"


# --- quoting and line numbers ------------------------------------------------------


def test_quoted_semicolons_and_line_breaks_keep_later_line_numbers_right(tmp_path: Path) -> None:
    content = (
        "numero;mensagem;ref\r\n"  # line 1
        '5511987654321;"Oferta; só hoje";a\r\n'  # line 2
        '5511987654322;"Linha um\r\nLinha dois\r\nLinha três";b\r\n'  # lines 3-5
        "\r\n"  # line 6: blank, skipped
        '5511987654323;"Ele disse ""oi""";c\r\n'  # line 7
        "5511987654324;fim;d\r\n"  # line 8
    )
    table, rows = read(write(tmp_path, "q.csv", content))
    assert table.delimiter == ";"
    assert rows == [
        RawRow(2, ("5511987654321", "Oferta; só hoje", "a")),
        RawRow(3, ("5511987654322", "Linha um\r\nLinha dois\r\nLinha três", "b")),
        RawRow(7, ("5511987654323", 'Ele disse "oi"', "c")),
        RawRow(8, ("5511987654324", "fim", "d")),
    ]


def test_blank_records_are_skipped_but_counted(tmp_path: Path) -> None:
    content = "\n\nphone,text\n\n5511987654321,a\n , \n,,\n5511987654322,b"
    table, rows = read(write(tmp_path, "b.csv", content))
    assert table.columns.header == ("phone", "text")
    assert rows == [RawRow(5, ("5511987654321", "a")), RawRow(8, ("5511987654322", "b"))]


def test_cells_are_kept_as_written(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "s.csv", 'phone;text\n 5511987654321 ;"  oi  "\n'))
    assert rows == [RawRow(2, (" 5511987654321 ", "  oi  "))]


def test_trailing_carriage_return_inside_quotes_is_stripped(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "cr.csv", 'phone;text\r\n5511987654321;"dois\r\nlinhas\r"\r\n'))
    assert rows == [RawRow(2, ("5511987654321", "dois\r\nlinhas"))]


def test_unclosed_quote_refuses_the_file_instead_of_swallowing_rows(tmp_path: Path) -> None:
    content = 'phone;text\n5511987654321;ok\n5511987654322;"esqueci de fechar\n5511987654323;perdida\n'
    error = reason_of(write(tmp_path, "open.csv", content))
    assert error.line == 3
    assert "never closed" in error.reason


def test_a_legit_multiline_last_record_is_not_mistaken_for_an_open_quote(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "last.csv", 'phone;text\n5511987654321;"a\nb"'))
    assert rows == [RawRow(2, ("5511987654321", "a\nb"))]


# --- columns -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Número;Mensagem", ColumnMap(0, 1, None, ("Número", "Mensagem"))),
        ("TELEFONE;TEXTO;Referência", ColumnMap(0, 1, 2, ("TELEFONE", "TEXTO", "Referência"))),
        ("Nome;Mensagem;Celular", ColumnMap(2, 1, None, ("Nome", "Mensagem", "Celular"))),
        ("Message Text;MSISDN;Correlation_ID", ColumnMap(1, 0, 2, ("Message Text", "MSISDN", "Correlation_ID"))),
        ("ID;Fone;SMS;Ref", ColumnMap(1, 2, 3, ("ID", "Fone", "SMS", "Ref"))),
    ],
)
def test_header_aliases_ignore_case_accents_and_separators(
    tmp_path: Path, header: str, expected: ColumnMap
) -> None:
    width = header.count(";") + 1
    table, rows = read(write(tmp_path, "h.csv", f"{header}\n" + ";".join(["x1"] * width) + "\n"))
    assert table.columns == expected
    assert rows == [RawRow(2, ("x1",) * width)]  # the header itself is never a row


def test_normalise_name() -> None:
    assert normalise_name(" Nú-me_ro. ") == "numero"
    assert normalise_name("CORRELATION_ID") == "correlationid"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ("5511987654321;oi\n", ColumnMap(0, 1, None, None)),
        ("5511987654321;oi;ref-1\n", ColumnMap(0, 1, 2, None)),
        (";sem número;ref-1\n", ColumnMap(0, 1, 2, None)),  # a bad first row is still data
    ],
)
def test_positional_fallback_keeps_the_first_row_as_data(tmp_path: Path, first: str, expected: ColumnMap) -> None:
    table, rows = read(write(tmp_path, "p.csv", first + "5511987654322;tchau;ref-2\n"))
    assert table.columns == expected
    assert rows[0] == RawRow(1, tuple(first.strip("\n").split(";")))
    assert len(rows) == 2


def test_header_only_file_has_no_rows_and_no_error(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "h.csv", "celular;mensagem\r\n"))
    assert table.columns.header == ("celular", "mensagem")
    assert rows == []


def test_header_without_number_or_text_names_what_it_found(tmp_path: Path) -> None:
    error = reason_of(write(tmp_path, "h.csv", "id;nome;email\n1;Ana;a@x\n"))
    assert error.line == 1
    assert "no number and no text column" in error.reason
    assert "'id', 'nome', 'email'" in error.reason
    assert "telefone" in error.reason and "mensagem" in error.reason


def test_header_without_text_column(tmp_path: Path) -> None:
    error = reason_of(write(tmp_path, "h.csv", "telefone;nome\n5511987654321;Ana\n"))
    assert "no text column" in error.reason and "'telefone', 'nome'" in error.reason


def test_unknown_header_is_refused_rather_than_read_by_position(tmp_path: Path) -> None:
    error = reason_of(write(tmp_path, "h.csv", "Cliente;Observação\n5511987654321;oi\n"))
    assert "names no known column" in error.reason
    assert "'Cliente'" in error.reason
    assert "--number-column" in error.reason and "[columns]" in error.reason  # says how to name them


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Nome;Celular do cliente;Mensagem", ColumnMap(1, 2, None, ("Nome", "Celular do cliente", "Mensagem"))),
        ("Celular do cliente;Mensagem personalizada", ColumnMap(0, 1, None, ("Celular do cliente", "Mensagem personalizada"))),
        ("Telefone fixo;Celular;Texto do SMS;ID do pedido",
         ColumnMap(1, 2, 3, ("Telefone fixo", "Celular", "Texto do SMS", "ID do pedido"))),
    ],
)
def test_a_header_holding_a_known_name_as_a_word(tmp_path: Path, header: str, expected: ColumnMap) -> None:
    width = header.count(";") + 1
    table, rows = read(write(tmp_path, "w.csv", f"{header}\n" + ";".join(["5511987654321"] * width) + "\n"))
    assert table.columns == expected
    assert "by a word of its name" in table.columns.describe()
    assert len(rows) == 1


def test_two_cells_holding_the_word_are_ambiguous(tmp_path: Path) -> None:
    error = reason_of(write(tmp_path, "a.csv", "Nome;Telefone residencial;Telefone celular;Mensagem\n1;2;3;4\n"))
    assert "several header cells could be the number column" in error.reason
    assert "--number-column" in error.reason


@pytest.mark.parametrize(
    ("choice", "header", "expected"),
    [
        (ColumnChoice(number="Contato", text="Obs"), "Contato;Obs", ColumnMap(0, 1, None, ("Contato", "Obs"))),
        (ColumnChoice(number=2, text="1"), "Msg livre;Contato", ColumnMap(1, 0, None, ("Msg livre", "Contato"))),
        (ColumnChoice(correlation_id="Pedido"), "Telefone;Mensagem;Pedido",
         ColumnMap(0, 1, 2, ("Telefone", "Mensagem", "Pedido"))),
    ],
)
def test_columns_named_by_the_operator(choice: ColumnChoice, header: str, expected: ColumnMap) -> None:
    columns, is_header = find_columns(header.split(";"), path=Path("x.csv"), line=1, choice=choice)
    assert is_header and columns == expected


def test_columns_chosen_by_position_in_a_file_without_header() -> None:
    columns, is_header = find_columns(["oi", "5511987654321"], path=Path("x.csv"), line=1,
                                      choice=ColumnChoice(number=2, text=1))
    assert not is_header and (columns.number, columns.text, columns.header) == (1, 0, None)


def test_a_named_column_that_is_not_there() -> None:
    with pytest.raises(InputError, match=r"--number-column 'Fone 2': no column of that name"):
        find_columns(["Fone", "Mensagem"], path=Path("x.csv"), line=1, choice=ColumnChoice(number="Fone 2"))


def test_number_column_named_twice_is_refused(tmp_path: Path) -> None:
    error = reason_of(write(tmp_path, "h.csv", "Telefone;Celular;Mensagem\n1;2;3\n"))
    assert "more than once" in error.reason and "'Telefone', 'Celular'" in error.reason


def test_one_column_file(tmp_path: Path) -> None:
    error = reason_of(write(tmp_path, "one.csv", "5511987654321\n5511987654322\n"))
    assert error.reason.startswith("no text column")
    assert error.line == 1


def test_find_columns_is_pure() -> None:
    columns, is_header = find_columns(["celular", "texto"], path=Path("x.csv"), line=1)
    assert is_header and columns == ColumnMap(0, 1, None, ("celular", "texto"))


# --- whole-file refusals -----------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"   \r\n\t\n", codecs.BOM_UTF8, b";;\n;;\n"], ids=["0-byte", "whitespace", "bom-only", "separators-only"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    assert reason_of(write(tmp_path, "empty.csv", content)).reason == "file is empty"


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(2000), 3, "holds a NUL byte (0x00)"),
        (bytes(range(1, 9)) * 500 + b"a,b\n", None, "not a text file (binary content?)"),  # controls, no NUL
        (b"numero;texto\n5511987654321;\x81\x8d\x8f\n", 2,  # bytes Windows-1252 does not define
         "not a text file (binary content?): byte 0x81 is neither UTF-8 nor Windows-1252"),
    ],
    ids=["nul-bytes", "control-chars", "undefined-cp1252"],
)
def test_binary_file_named_csv(tmp_path: Path, content: bytes, line: int | None, reason: str) -> None:
    error = reason_of(write(tmp_path, "image.csv", content))
    assert error.reason.startswith(reason)
    assert error.line == line


def test_bom_that_lies_is_refused(tmp_path: Path) -> None:
    error = reason_of(write(tmp_path, "bom.csv", codecs.BOM_UTF8 + "a;ação\n".encode("cp1252")))
    assert "UTF-8 byte order mark" in error.reason


@pytest.mark.parametrize("name", ["drop.json", "drop.pdf", "drop"])
def test_unsupported_extension_names_the_supported_ones(tmp_path: Path, name: str) -> None:
    error = reason_of(write(tmp_path, name, "a,b\n"))
    assert "unsupported file type" in error.reason
    assert ".csv .tsv .txt .xlsx .xlsm .xls .ods" in error.reason


def test_missing_file(tmp_path: Path) -> None:
    assert reason_of(tmp_path / "nope.csv").reason == "no such file"


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "DROP.CSV", "phone,text\n5511987654321,oi\n"))
    assert table.kind == "csv" and len(rows) == 1


# --- streaming, file handling ------------------------------------------------------


def test_input_is_left_untouched_and_released_on_close(tmp_path: Path) -> None:
    path = write(tmp_path, "drop.csv", CONTENT.encode("cp1252"))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    me = psutil.Process()
    with open_table(path) as table:
        assert str(path) in {f.path for f in me.open_files()}
        next(table.rows)
    assert str(path) not in {f.path for f in me.open_files()}
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_rows_stream_without_holding_the_file_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    row = "5511987654321;Olá cliente, sua fatura de março vence amanhã. Pague pelo app;ref-{}\n"
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("telefone;mensagem;referencia\n")
        for i in range(300_000):
            out.write(row.format(i))
    size = path.stat().st_size  # ~25 MB
    me = psutil.Process()
    baseline = peak = me.memory_info().rss
    count = 0
    with open_table(path) as table:
        for count, _ in enumerate(table.rows, 1):
            if count % 10_000 == 0:
                peak = max(peak, me.memory_info().rss)
    assert count == 300_000
    growth = peak - baseline
    assert growth < size / 3, f"RSS grew {growth / 1e6:.1f} MB reading a {size / 1e6:.1f} MB file"


def test_rows_are_immutable_records(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "f.csv", "phone;text\n5511987654321;oi\n"))
    assert rows == [RawRow(2, ("5511987654321", "oi"))]
    with pytest.raises(AttributeError):
        rows[0].line = 3  # type: ignore[misc]


# --- the committed sample drops ----------------------------------------------------

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "drops"


@pytest.mark.parametrize(
    ("name", "kind", "encoding", "delimiter", "header", "count"),
    [
        ("clientes_promo.csv", "csv", "cp1252", ";", ("Telefone", "Mensagem", "Referencia"), 20),
        ("avisos.tsv", "csv", "utf-8", "\t", None, 6),
        ("pesquisa_multilinha.csv", "csv", "utf-8-sig", ",", ("celular", "mensagem", "id"), 5),
        ("lembrete.xlsx", "xlsx", None, None, ("celular", "texto"), 8),
        ("cobranca.ods", "ods", None, None, ("Número", "Mensagem", "Referência"), 6),
        ("entregas.xls", "xls", None, None, ("Fone", "SMS"), 5),
    ],
)
def test_sample_drops_read_as_documented(
    name: str, kind: str, encoding: str | None, delimiter: str | None, header: tuple[str, ...] | None, count: int
) -> None:
    with open_table(SAMPLES / name) as table:
        rows = list(table.rows)
        assert (table.kind, table.encoding, table.delimiter, table.columns.header) == (kind, encoding, delimiter, header)
    assert len(rows) == count


def test_sample_promo_keeps_its_bad_rows_for_validation() -> None:
    with open_table(SAMPLES / "clientes_promo.csv") as table:
        by_line = {row.line: row.cells for row in table.rows}
    assert by_line[7][0] == "3345-1234"
    assert by_line[13][0] == "5,51198E+12"
    assert by_line[18][1] == ""
    assert "calçados até domingo" in by_line[2][1]
