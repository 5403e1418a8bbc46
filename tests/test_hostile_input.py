"""Hostile input (issue 9, cases 1 3 5 6 8 9 10): a clear error naming the file (and the
line) with the right exit code, or the correct output; never a traceback, never mojibake,
nothing sent, nothing overwritten.

Real files and real processes: each case runs `python -m batcher` in a subprocess.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fixtures.platform import Workspace, make_workspace, rows_in, today

TIMEOUT = 60


def run(work: Path, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATCHER_CONFIG": str(work / "batcher.toml")}
    return subprocess.run([sys.executable, "-m", "batcher", *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "batcher.toml").write_text('[defaults]\nproject = "PROMO"\n', encoding="utf-8")
    return tmp_path


def refused(res: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    out = res.stderr + res.stdout
    assert res.returncode == code, (res.returncode, out)
    assert "Traceback" not in out and "panicked" not in out
    for fragment in fragments:
        assert fragment in out, (fragment, out)
    return out


def platform_rows(out_dir: Path) -> list[str]:
    return [row for path in sorted(out_dir.glob("PROMO.*.txt")) for row in rows_in(path)]


# --- case 1: one stray byte must not decide the encoding -----------------------------------


def test_utf8_file_with_one_windows_1252_line_is_utf8_and_that_row_is_refused(work: Path) -> None:
    lines = ["numero;texto"] + [f"55119876543{i:02d};Olá ação {i}" for i in range(12)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    data = data.replace("Olá ação 11".encode(), "Olá ação 11".encode("cp1252"))  # line 13
    (work / "lista.csv").write_bytes(data)
    res = run(work, "convert", "lista.csv", "-o", "out")
    assert res.returncode == 0, res.stderr
    rows = platform_rows(work / "out")
    assert len(rows) == 11
    assert all("Olá ação" in r for r in rows) and not any("Ã" in r for r in rows)  # never mojibake
    rejected = (work / "out" / "lista.rejected.csv").read_text(encoding="utf-8-sig")
    assert ";13;row_invalid_encoding;" in rejected
    assert "the byte 0xE1, which is not valid UTF-8" in rejected
    assert "row_invalid_encoding" in res.stdout


def test_windows_1252_file_whose_accents_are_valid_utf8_here_and_there_stays_windows_1252(work: Path) -> None:
    lines = ["numero;texto"] + [f"55119876543{i:02d};Promoção {i} válida até sábado" for i in range(20)]
    lines[5] = "5511987654399;JOSÉ\u00a0DA SILVA confirmou"  # É + NBSP: C9 A0, valid UTF-8
    lines[9] = "5511987654398;SÃO PAULO Â» centro"  # Â»: C2 BB, valid UTF-8
    (work / "excel.csv").write_bytes(("\n".join(lines) + "\n").encode("cp1252"))
    res = run(work, "convert", "excel.csv", "-o", "out")
    assert res.returncode == 0, res.stderr
    assert "cp1252" in res.stdout
    rows = platform_rows(work / "out")
    assert len(rows) == 20
    assert any("JOSÉ\u00a0DA SILVA" in r for r in rows) and any("SÃO PAULO Â» centro" in r for r in rows)
    assert any("Promoção 0 válida até sábado" in r for r in rows)


def test_half_utf8_half_windows_1252_is_refused_naming_a_line_of_each(work: Path) -> None:
    data = "numero;texto\n5511987654301;Olá\n5511987654302;ação\n".encode() + \
        "5511987654303;Olá\n5511987654304;ação\n".encode("cp1252")
    (work / "mixed.csv").write_bytes(data)
    res = run(work, "convert", "mixed.csv", "-o", "out")
    refused(res, 3, "mixed.csv", "mixes encodings", "line 2", "line 4 (byte 0xE1)", "save the file again as CSV UTF-8")
    assert not (work / "out").exists() or not list((work / "out").iterdir())


def test_utf8_bom_file_with_a_stray_byte_refuses_only_that_row(work: Path) -> None:
    body = "numero;texto\n5511987654301;Olá\n5511987654302;ação\n5511987654303;pão\n"
    data = codecs.BOM_UTF8 + body.encode() + "5511987654304;café\n".encode("cp1252")
    (work / "bom.csv").write_bytes(data)
    res = run(work, "push", "--dry-run", "bom.csv")
    out = refused(res, 0, "row_invalid_encoding", "line 5")
    assert re.search(r"accepted\s+3\b", out) and "utf-8-sig" in out


# --- case 3: concurrent convert into one folder -------------------------------------------


def test_concurrent_converts_into_one_folder_each_get_their_own_files(work: Path) -> None:
    runs = 4
    for i in range(runs):
        rows = "".join(f"55119{i}{n:07d};run {i} row {n}\n" for n in range(4000))
        (work / f"in{i}.csv").write_text("numero;texto\n" + rows, encoding="utf-8")
    env = {**os.environ, "BATCHER_CONFIG": str(work / "batcher.toml")}
    procs = [subprocess.Popen([sys.executable, "-m", "batcher", "convert", f"in{i}.csv", "-o", "out"], cwd=work,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(runs)]
    results = [p.communicate(timeout=TIMEOUT) for p in procs]
    assert [p.returncode for p in procs] == [0] * runs, results
    files = sorted((work / "out").glob("*.txt"))
    assert [f.name for f in files] == [f"PROMO.{today()}.{n:02d}.txt" for n in range(1, runs + 1)]
    assert not [p for p in (work / "out").iterdir() if p.name.startswith(".")]  # no temp left
    owner = {}
    for f in files:
        rows = rows_in(f)
        assert len(rows) == 4000
        runs_in_file = {r.split(";")[1].split()[1] for r in rows}
        assert len(runs_in_file) == 1  # one run's rows, all of them
        owner[f.name] = runs_in_file.pop()
    for i, (stdout, _) in enumerate(results):
        [mine] = [name for name, run_no in owner.items() if run_no == str(i)]
        assert f"wrote out/{mine} (4000 rows" in stdout  # each run reports its own file


def test_convert_never_overwrites_a_file_someone_else_claimed(work: Path) -> None:
    (work / "l.csv").write_text("numero;texto\n5511987654321;oi\n", encoding="utf-8")
    out = work / "out"
    out.mkdir()
    assert run(work, "convert", "l.csv", "-o", "out").returncode == 0
    # another process holds the next name (its empty placeholder, not finished yet)
    (out / f"PROMO.{today()}.02.txt").write_bytes(b"")
    res = run(work, "convert", "l.csv", "-o", "out")
    assert res.returncode == 0, res.stderr
    assert (out / f"PROMO.{today()}.02.txt").read_bytes() == b""
    assert (out / f"PROMO.{today()}.03.txt").exists()


# --- case 5: a FIFO or a device named list.csv ---------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("command", ["convert", "push-dry-run"])
def test_fifo_or_device_is_refused_before_reading(work: Path, kind: str, command: str) -> None:
    src = work / "list.csv"
    if kind == "fifo":
        os.mkfifo(src)
        what = "a FIFO (named pipe)"
    else:
        src.symlink_to("/dev/zero")
        what = "a character device (a symbolic link to /dev/zero)"
    args = ["convert", "list.csv", "-o", "out"] if command == "convert" else ["push", "--dry-run", "list.csv"]
    res = run(work, *args, timeout=30)  # it used to hang for ever
    refused(res, 3, "list.csv: not a regular file", what)
    assert not (work / "out").exists()


def test_fifo_push_sends_nothing(tmp_path: Path, sim) -> None:  # type: ignore[no-untyped-def]
    ws = _workspace(tmp_path, sim)
    os.mkfifo(ws.dir / "list.csv")
    good = ws.drop("good.csv", "numero;texto\n5511987654321;oi\n")
    res = ws.batcher("push", str(ws.dir / "list.csv"), str(good), timeout=60)
    refused(res, 3, "not a regular file")  # type: ignore[arg-type]
    assert [p.name for p in ws.remote("success")] == [f"PROMO.{today()}.01.txt"]  # only the good one


def _workspace(tmp_path: Path, sim) -> Workspace:  # type: ignore[no-untyped-def]
    return make_workspace(tmp_path / "work", host=sim.host, port=sim.sftp_port, username=sim.config.username,
                          password=sim.config.password, known_hosts=sim.known_hosts_path,
                          remote_root=sim.config.root, api_url=sim.api_url)


# --- case 6: an absurd used range must be refused, never abort -----------------------------

_CT = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
       'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
       'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
       'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
       '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
       'officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType='
       '"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WB = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
       '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
       '<sheet name="Plan1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WBRELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
           '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
           '2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://'
           'schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
           '</Relationships>')
# header, then two good rows: numero | texto
_BASE = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
         '<row r="2"><c r="A2"><v>5511987654321</v></c><c r="B2" t="s"><v>2</v></c></row>'
         '<row r="3"><c r="A3"><v>5511987654322</v></c><c r="B3" t="s"><v>2</v></c></row>')


def raw_xlsx(path: Path, sheet_data: str, *, dimension: str | None = "A1:B3", unique_count: int | None = None,
             prefix: str = "") -> Path:
    """An .xlsx written byte for byte, to say exactly what a hostile file holds."""
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns{":" + prefix if prefix else ""}="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    dim = f'<{p}dimension ref="{dimension}"/>' if dimension else ""
    sheet = f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet {ns}>{dim}<{p}sheetData>{sheet_data}' \
            f'</{p}sheetData></{p}worksheet>'
    strings = ("numero", "texto", "oi")
    sst = ('<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
           f'2006/main" count="3" uniqueCount="{unique_count or 3}">' + "".join(f"<si><t>{s}</t></si>" for s in strings)
           + "</sst>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("[Content_Types].xml", _CT), ("_rels/.rels", _RELS), ("xl/workbook.xml", _WB),
                           ("xl/_rels/workbook.xml.rels", _WBRELS), ("xl/worksheets/sheet1.xml", sheet),
                           ("xl/sharedStrings.xml", sst)):
            z.writestr(name, text)
    return path


FAR = '<row r="1048576"><c r="XFD1048576" t="s"><v>2</v></c></row>'
TOO_BIG = "batcher reads at most 16,777,216 cells a sheet"


def test_xlsx_with_one_cell_at_xfd1048576_is_refused_not_aborted(work: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["numero", "texto"])
    ws.append(["5511987654321", "oi"])
    ws["XFD1048576"] = "x"
    wb.save(work / "huge.xlsx")
    assert (work / "huge.xlsx").stat().st_size < 10_000
    for args in (["convert", "huge.xlsx", "-o", "out"], ["push", "--dry-run", "huge.xlsx"]):
        res = run(work, *args)
        refused(res, 3, "huge.xlsx: sheet 'Sheet' spans A1:XFD1048576", "17,179,869,184 cells", TOO_BIG,
                "Ctrl+End")
    assert not (work / "out").exists()


@pytest.mark.parametrize(
    ("sheet_data", "options", "fragment"),
    [
        (_BASE + FAR, {}, "spans A1:XFD1048576"),  # a true dimension
        (_BASE + FAR, {"dimension": "A1:B3"}, "spans A1:XFD1048576"),  # a dimension that lies small
        (_BASE + '<row r="1048576"><c r="XFC1048576"><v>1</v></c><c><v>1</v></c></row>',
         {}, "spans A1:XFD1048576"),  # a cell without r continues the row (calamine's rule)
        (_BASE.replace("<c ", "<x:c ").replace("</c>", "</x:c>").replace("<v>", "<x:v>").replace("</v>", "</x:v>")
         + FAR.replace("<c ", "<x:c ").replace("</c>", "</x:c>").replace("<v>", "<x:v>").replace("</v>", "</x:v>"),
         {"prefix": "x"}, "spans A1:XFD1048576"),  # namespace prefixes
        (_BASE + '<row r="4"><c r="A4" r="XFD1048576"><v>1</v></c></row>', {}, "malformed"),  # duplicate r
        (_BASE, {"unique_count": 10**12}, "declares 1,000,000,000,000 distinct texts"),  # forged uniqueCount
    ],
    ids=["far-cell", "lying-dimension", "cells-without-r", "prefixed", "duplicate-attribute", "unique-count"],
)
def test_forged_xlsx_is_refused_not_aborted(work: Path, sheet_data: str, options: dict, fragment: str) -> None:
    raw_xlsx(work / "forged.xlsx", sheet_data, **options)
    res = run(work, "convert", "forged.xlsx", "-o", "out")
    refused(res, 3, "forged.xlsx", fragment)
    assert not (work / "out").exists()


def test_xlsx_with_a_huge_dimension_but_few_cells_is_read(work: Path) -> None:
    raw_xlsx(work / "dim.xlsx", _BASE + '<row r="9"><c r="C9" s="1"/></row>', dimension="A1:XFD1048576")
    res = run(work, "convert", "dim.xlsx", "-o", "out")
    assert res.returncode == 0, res.stderr
    assert len(platform_rows(work / "out")) == 2


def test_wide_but_reasonable_xlsx_is_read_through_the_careful_pass(work: Path) -> None:
    rows = _BASE + "".join(f'<row r="{r}"><c r="A{r}"><v>55119876{r:05d}</v></c><c r="B{r}" t="s"><v>2</v></c>'
                           f'<c r="AB{r}"><v>1</v></c></row>' for r in range(4, 2000))
    raw_xlsx(work / "wide.xlsx", rows, dimension="A1:AB1999")
    res = run(work, "convert", "wide.xlsx", "-o", "out")
    assert res.returncode == 0, res.stderr
    assert len(platform_rows(work / "out")) == 1998


def _ods(path: Path, body: str) -> Path:
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:'
               'opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
               f'<office:spreadsheet><table:table table:name="Plan1">{body}</table:table></office:spreadsheet>'
               '</office:body></office:document-content>')
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                'opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type='
                '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path='
                '"content.xml" manifest:media-type="text/xml"/></manifest:manifest>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml", manifest)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def _cell(text: str) -> str:
    return f'<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>'


_ODS_HEAD = (f"<table:table-row>{_cell('numero')}{_cell('texto')}</table:table-row>"
             f"<table:table-row>{_cell('5511987654321')}{_cell('oi')}</table:table-row>")


@pytest.mark.parametrize(
    "body",
    [
        # a 1 KB file that calamine expanded into 98 million cells (12 GB, 53 s)
        _ODS_HEAD + '<table:table-row table:number-rows-repeated="6000"><table:table-cell table:number-columns-'
        'repeated="16384" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>',
        # the last cell of the sheet after empty repeated rows and columns
        _ODS_HEAD + '<table:table-row table:number-rows-repeated="1048573"><table:table-cell table:number-'
        'columns-repeated="16384"/></table:table-row><table:table-row><table:table-cell table:number-columns-'
        f'repeated="16383"/>{_cell("x")}</table:table-row>',
    ],
    ids=["repeated-cells", "far-cell"],
)
def test_ods_whose_repeats_expand_past_the_limit_is_refused(work: Path, body: str) -> None:
    _ods(work / "big.ods", body)
    res = run(work, "convert", "big.ods", "-o", "out")
    refused(res, 3, "big.ods: sheet 'Plan1' spans", TOO_BIG)


def test_ods_with_libreoffice_trailing_empty_repeats_is_read(work: Path) -> None:
    body = _ODS_HEAD + ('<table:table-row table:number-rows-repeated="1048574"><table:table-cell table:number-'
                        'columns-repeated="1024"/></table:table-row>')
    _ods(work / "lo.ods", body)
    res = run(work, "convert", "lo.ods", "-o", "out")
    assert res.returncode == 0, res.stderr
    assert len(platform_rows(work / "out")) == 1


def _xls(path: Path, mode: str) -> Path:
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Plan1")
    for r, row in enumerate([("numero", "texto"), ("5511987654321", "oi")]):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    buf = io.BytesIO()
    wb.save(buf)
    data = bytearray(buf.getvalue())
    if mode == "dimensions":  # DIMENSIONS claiming 4 billion rows
        i = data.find(b"\x00\x02\x0e\x00")
        data[i + 4 : i + 18] = struct.pack("<IIHHH", 0, 0xFFFFFFFF, 0, 0xFF, 0)
    elif mode == "far-column":  # a LABELSST cell at row 65535, column 65535 (past IV)
        j = data.rfind(b"\xfd\x00\x0a\x00")
        data[j + 4 : j + 8] = struct.pack("<HH", 0xFFFF, 0xFFFF)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(("mode", "fragment"), [("dimensions", "declares a used range of 1,095,216,660,225 cells"),
                                                ("far-column", "65,536 rows x 65,536 columns")])
def test_forged_xls_is_refused_not_aborted(work: Path, mode: str, fragment: str) -> None:
    _xls(work / "forged.xls", mode)
    res = run(work, "convert", "forged.xls", "-o", "out")
    refused(res, 3, "forged.xls: sheet 'Plan1'", fragment)


def test_far_cell_xlsx_push_sends_nothing(tmp_path: Path, sim) -> None:  # type: ignore[no-untyped-def]
    ws = _workspace(tmp_path, sim)
    src = raw_xlsx(ws.dir / "huge.xlsx", _BASE + FAR)
    res = ws.batcher("push", str(src), timeout=60)
    refused(res, 3, "spans A1:XFD1048576")  # type: ignore[arg-type]
    assert all(ws.remote(sub) == [] for sub in ("upload", "success", "error"))


# --- case 8: a NUL byte names its line --------------------------------------------------------


def test_nul_byte_names_its_line(work: Path) -> None:
    (work / "nul.csv").write_bytes(b"numero;texto\n5511987654321;a\n5511987654322;b\n5511987654323;c\x00d\n")
    res = run(work, "convert", "nul.csv", "-o", "out")
    refused(res, 3, "nul.csv, line 4: holds a NUL byte (0x00)")


# --- case 9: a lone surrogate refuses its row, not the file ------------------------------------


def test_utf16_lone_surrogate_refuses_that_row_and_keeps_the_others(work: Path) -> None:
    data = ("numero;texto\n5511987654321;a\n".encode("utf-16")
            + "5511987654322;b\ud800x\n".encode("utf-16-le", "surrogatepass")
            + "5511987654323;c\n".encode("utf-16-le"))
    (work / "u16.csv").write_bytes(data)
    res = run(work, "convert", "u16.csv", "-o", "out")
    assert res.returncode == 0, res.stderr
    assert [r.split(";")[1] for r in platform_rows(work / "out")] == ["a", "c"]
    rejected = (work / "out" / "u16.rejected.csv").read_text(encoding="utf-8-sig")
    assert ";3;text_invalid_character;text contains U+D800 (a lone UTF-16 surrogate)" in rejected
    assert "b\ufffdx" in rejected


def test_xlsx_escapes_are_decoded_and_a_lone_surrogate_is_refused(work: Path) -> None:
    texts = ["_x20AC_ 10", "_xD83D__xDE00_ oi", "_xD800_ quebrado", "_x005F_x0041_ literal"]
    rows = _BASE.split('<row r="2">')[0] + "".join(
        f'<row r="{r}"><c r="A{r}"><v>55119876543{r:02d}</v></c><c r="B{r}" t="inlineStr"><is><t>{t}</t></is></c></row>'
        for r, t in enumerate(texts, 2))
    raw_xlsx(work / "esc.xlsx", rows, dimension="A1:B5")
    res = run(work, "convert", "esc.xlsx", "-o", "out")
    assert res.returncode == 0, res.stderr
    sent = [r.split(";")[1] for r in platform_rows(work / "out")]
    assert sent == ["€ 10", "😀 oi", "_x0041_ literal"]
    rejected = (work / "out" / "esc.rejected.csv").read_text(encoding="utf-8-sig")
    assert ";4;text_invalid_character;text contains U+D800" in rejected


# --- case 10: messages quote a short prefix of a cell at most -----------------------------------


def test_symlink_to_a_secret_file_does_not_print_it(work: Path) -> None:
    secret = work / "shadow"
    line = "root:$6$" + "S3cr3tSaltAndHash" * 8 + ":19000:0:99999:7:::"
    secret.write_text(line + "\n")
    (work / "list.csv").symlink_to(secret)
    res = run(work, "convert", "list.csv", "-o", "out")
    out = refused(res, 3, "list.csv")
    assert line not in out and line[:40] not in out
    assert "S3cr3tSaltAndHash" * 2 not in out


def test_a_huge_header_is_quoted_short(work: Path) -> None:
    header = ";".join(f"coluna {chr(97 + i % 26)}{chr(97 + i // 26)} " + "x" * 300 for i in range(200))
    (work / "wide.csv").write_text(header + "\n5511987654321;oi\n", encoding="utf-8")
    res = run(work, "convert", "wide.csv", "-o", "out")
    out = refused(res, 3, "wide.csv, line 1", "and 192 more")
    assert len(res.stderr) < 2000 and "x" * 40 not in out


def test_every_rejection_code_is_in_the_readme_table() -> None:
    from batcher.validate import RejectCode

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Row rules and rejection codes", 1)[1].split("\n\n", 3)[2]
    missing = [code.value for code in RejectCode if code.value not in table and
               code.value.replace("correlation_id_", "_") not in table]
    assert missing == []
