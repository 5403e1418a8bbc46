"""The columnar engine against the row path (the reference), on generated nasty drops.

Every example writes one small drop (any encoding, delimiter, quoting and line
ending, with or without a header and a correlationId column, numbers in every form,
texts across the GSM/UCS-2 edges and the 1280 limit, duplicates, blank lines, line
breaks inside quoted fields) and converts it twice: `engine="row"` and
`engine="auto"` (columnar, or its fallback to the row path). Both must give the same
platform files byte for byte, the same rejected-rows file, the same summary and the
same rows through the sink. `BATCHER_DIFF_EXAMPLES` sets the number of examples.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from batcher.columnar import Ineligible
from batcher.convert import ConversionSummary, MessageColumns, convert_drop
from batcher.models import ColumnMap, Rejection
from batcher.settings import load_settings

EXAMPLES = int(os.environ.get("BATCHER_DIFF_EXAMPLES", "2000"))
DROP_KEY = "k1"

# numbers in every form: plain and typed mobiles (the common case) far more often than the rest
ODD_NUMBERS = [
    "011987654321", "+55 11 3456-7890", "551134567890", "1134567890", "5.5119E+12", "5,5119E+12",
    "5511987654321.0", "５５１１９８７６５４３２１", "+1 415 555 2671", "08001234567", "0055 11 98765 4321", "123", "abc",
    "", "  ", " 5511987654321 ", "55119876543210", "551198765432", "5590987654321", "+55 (11) 98765-4321 ramal 2",
    "5511987654321\t",
]
EDGE_TEXTS = [
    "x" * 159, "x" * 160, "x" * 161, "x" * 306, "x" * 307, "é" * 70, "é" * 71, "é" * 134, "é" * 135, "y" * 1280,
    "y" * 1281, "é" * 1280, "é" * 1281, "Olá, sua fatura vence amanhã", "Promo: 2 por 1!", "a", "tem ; ponto e vírgula",
    "[colchetes] e | barra", "{chaves} ~ ^ \\ `", "ASCII only text 123", "ok;ok;ok", "x" * 158 + ";;",
]
NASTY_TEXTS = [
    "emoji 😀 aqui", "“aspas” – travessão…", "tab\there", "linha\nquebrada", "cr\r\nlf", "  espaços  ", "", "   ",
    "\u00a0nbsp", "ctrl\x07bell", 'aspas "dentro"', "\u2028sep", "ç" * 67 + "😀", "naïve façade ½", "ação;" * 300,
]


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    ddd = draw(st.sampled_from(["11", "21", "31", "41", "51", "61", "71", "81", "85", "19", "10", "20", "23"]))
    rest = draw(st.sampled_from(["9", "8", "7", "3"])) + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=7, max_size=9)))
    form = draw(st.integers(0, 5))
    return [f"55{ddd}{rest}", f"+55{ddd}{rest}", f"{ddd}{rest}", f"+55 ({ddd}) {rest[:-4]}-{rest[-4:]}",
            f"({ddd}) {rest}", f"55 {ddd} {rest}"][form]


number = st.one_of(mobiles(), mobiles(), mobiles(), st.sampled_from(ODD_NUMBERS),
                   st.text(alphabet="0123456789+() -.", max_size=16))
text = st.one_of(
    st.sampled_from(EDGE_TEXTS),
    st.sampled_from(EDGE_TEXTS),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\"\x00"), max_size=30),
    st.sampled_from(NASTY_TEXTS),
    st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30),
)
cid = st.one_of(
    st.builds("ref-{}".format, st.integers(0, 30)),
    st.builds("ref-{}".format, st.integers(0, 30)),
    st.just(""),
    st.sampled_from(["x" * 64, "x" * 65, "tem;ponto", "ação", " ref-3 ", "id\x01", "k1-2", "k1-999", "ref-1 "]),
)
row = st.tuples(number, text, cid)


@st.composite
def drops(draw: st.DrawFn) -> dict:
    rows = draw(st.lists(row, min_size=0, max_size=12))
    if rows and draw(st.booleans()):  # exact duplicates of earlier rows
        rows += draw(st.lists(st.sampled_from(rows), max_size=4))
    return {
        "rows": rows,
        "encoding": draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252"])),
        "delimiter": draw(st.sampled_from([";", ";", ",", "\t", "|"])),
        "header": draw(st.sampled_from(["telefone;mensagem;referencia", "numero;texto", "celular;sms;id;extra", None])),
        "with_cid": draw(st.booleans()),
        "quoting": draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])),
        "newline": draw(st.sampled_from(["\n", "\r\n"])),
        "trailing_newline": draw(st.booleans()),
        "blank_lines": draw(st.lists(st.integers(0, 15), max_size=3)),
        "extra_cells": draw(st.booleans()),
        "max_rows": draw(st.sampled_from([1, 2, 3, 100_000])),
        "fmt_header": draw(st.booleans()),
        "crlf": draw(st.booleans()),
        "eof": draw(st.booleans()),
        "on_newline": draw(st.sampled_from(["replace", "reject"])),
        "on_semicolon": draw(st.sampled_from(["replace", "reject"])),
        "allow_duplicates": draw(st.booleans()),
        "transliterate": draw(st.booleans()),
    }


def write_drop(path: Path, d: dict) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=d["delimiter"], quoting=d["quoting"], lineterminator=d["newline"])
    if d["header"] is not None:
        names = d["header"].split(";")
        writer.writerow(names if d["with_cid"] or len(names) != 3 else names[:2])
    for i, (number, text_, cid) in enumerate(d["rows"]):
        cells = [number, text_] + ([cid] if d["with_cid"] else [])
        if d["extra_cells"] and i % 3 == 1:
            cells += ["extra", ""]
        writer.writerow(cells)
    lines = out.getvalue().split(d["newline"])
    for at in sorted(d["blank_lines"], reverse=True):
        lines.insert(min(at, len(lines)), " " if at % 2 else "")
    body = d["newline"].join(lines)
    if not d["trailing_newline"]:
        body = body.rstrip("\r\n")
    encoding = d["encoding"]
    if encoding == "cp1252":
        data = body.encode("cp1252", errors="replace")
    elif encoding == "utf-8-sig":
        data = codecs.BOM_UTF8 + body.encode("utf-8", "surrogatepass")
    elif encoding == "utf-16":
        data = body.encode("utf-16", "surrogatepass")
    else:
        data = body.encode("utf-8", "surrogatepass")
    path.write_bytes(data)


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple] = []
        self.rejections: list[Rejection] = []

    def accepted(self, batch: MessageColumns) -> None:
        self.messages.extend((batch.file_index, *m) for m in batch.messages())

    def refused(self, rejections: list[Rejection], columns: ColumnMap) -> None:
        self.rejections.extend(rejections)


def run(src: Path, out: Path, d: dict, engine: str) -> tuple[object, dict[str, bytes], Sink]:
    settings_ = load_settings(
        None,
        environ={},
        overrides={
            "format": {
                "max_rows_per_file": d["max_rows"],
                "header": d["fmt_header"],
                "line_ending": "crlf" if d["crlf"] else "lf",
                "eof_marker": d["eof"],
            },
            "text": {
                "on_newline": d["on_newline"],
                "on_semicolon": d["on_semicolon"],
                "allow_duplicates": d["allow_duplicates"],
                "transliterate": d["transliterate"],
            },
        },
    )
    sink = Sink()
    try:
        summary: object = convert_drop(
            src, project="P", settings=settings_, out_dir=out, namer=lambda i: f"P.20260101.{i + 1:02d}.txt",
            drop_key=DROP_KEY, sink=sink, engine=engine,  # type: ignore[arg-type]
        )
    except Exception as exc:  # the same error, the same message
        summary = (type(exc).__name__, str(exc))
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir())} if out.is_dir() else {}
    return summary, files, sink


def comparable(summary: object) -> object:
    if not isinstance(summary, ConversionSummary):
        return summary
    fields = {f.name: getattr(summary, f.name) for f in dataclasses.fields(summary) if f.name != "engine"}
    fields["files"] = [(f.name, f.rows, f.size, f.sha256) for f in summary.files]
    fields["rejected_file"] = summary.rejected_file.name if summary.rejected_file else None
    for name, value in fields.items():
        if isinstance(value, Counter):
            fields[name] = dict(+value)
    return fields


def same(tmp: Path, d: dict) -> str:
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    src = tmp / "drop.csv"
    write_drop(src, d)
    row = run(src, tmp / "row", d, "row")
    auto = run(src, tmp / "auto", d, "auto")
    assert comparable(auto[0]) == comparable(row[0])
    assert auto[1] == row[1]
    assert auto[2].messages == row[2].messages
    assert auto[2].rejections == row[2].rejections
    return auto[0].engine if isinstance(auto[0], ConversionSummary) else "error"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(d=drops())
def test_columnar_output_is_the_row_paths_byte_for_byte(tmp_path: Path, d: dict) -> None:
    engine = same(tmp_path / "case", d)
    event(f"engine: {engine}")


# -- the fallback, on purpose --------------------------------------------------------------

BASE = {
    "rows": [("5511987654321", "olá", "a"), ("+55 (21) 99876-5432", "oi", "b")],
    "encoding": "utf-8", "delimiter": ";", "header": "telefone;mensagem;referencia", "with_cid": True,
    "quoting": csv.QUOTE_MINIMAL, "newline": "\n", "trailing_newline": True, "blank_lines": [], "extra_cells": False,
    "max_rows": 100_000, "fmt_header": False, "crlf": False, "eof": True, "on_newline": "replace",
    "on_semicolon": "replace", "allow_duplicates": False, "transliterate": False,
}


@pytest.mark.parametrize(
    ("change", "engine"),
    [
        ({}, "columnar"),
        ({"encoding": "cp1252"}, "columnar"),
        ({"encoding": "utf-16"}, "columnar"),
        ({"rows": [("5511987654321", "duas\nlinhas", "a")]}, "row"),  # a quoted field over two lines
        ({"rows": [("5511987654321", "oi", "k1-7")]}, "row"),  # an id in the generated namespace
        ({"rows": [("5511987654321", "oi", "a")], "newline": "\r"}, "row"),  # old Mac line ends
        ({"rows": []}, "row"),  # no data rows
        ({"rows": [("5511987654321", "tem \"aspas\"; e ponto e vírgula", "a")]}, "columnar"),
    ],
)
def test_which_engine_converts(tmp_path: Path, change: dict, engine: str) -> None:
    assert same(tmp_path / "case", {**BASE, **change}) == engine


def test_forcing_the_columnar_engine_on_what_it_cannot_read_raises(tmp_path: Path) -> None:
    src = tmp_path / "drop.csv"
    write_drop(src, {**BASE, "rows": [("5511987654321", "duas\nlinhas", "a")]})
    with pytest.raises(Ineligible):
        convert_drop(src, project="P", settings=load_settings(None, environ={}), out_dir=tmp_path / "o",
                     namer=lambda i: f"P.{i}.txt", engine="columnar")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_duplicates_are_found_across_groups_and_partitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks, groups and key partitions, several files: the duplicate rules and
    the files written again after the first refused line are the row path's."""
    from batcher.columnar import drop, engine

    monkeypatch.setattr(drop, "GROUP_ROWS", 3)
    monkeypatch.setattr(drop, "DEDUP_ROWS", 4)
    monkeypatch.setattr(drop, "COPY_BYTES", 50)
    monkeypatch.setattr(engine, "CHUNK_BYTES", 64)
    rows = [(f"55119876543{i % 7:02d}", f"texto {i % 5}", f"ref-{i % 9}" if i % 4 else "") for i in range(60)]
    for max_rows in (1, 7, 100_000):
        for header, eof in ((False, True), (True, False)):
            d = {**BASE, "rows": rows, "max_rows": max_rows, "fmt_header": header, "eof": eof}
            assert same(tmp_path / "case", d) == "columnar"


def test_a_drop_without_duplicates_keeps_its_first_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from batcher.columnar import drop

    monkeypatch.setattr(drop, "GROUP_ROWS", 5)
    rows = [(f"5511987654{i:03d}", f"texto {i}", f"ref-{i}") for i in range(40)]
    assert same(tmp_path / "case", {**BASE, "rows": rows, "max_rows": 6}) == "columnar"
