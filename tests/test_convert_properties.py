"""Properties of the whole conversion, through real files: whatever the cells hold,
every written line is `digits;text;correlationId;` and the same drop gives the same bytes."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batcher.convert import convert_drop
from batcher.settings import load_settings

LINE = re.compile(r"^\d{8,15};[^;\r\n]{1,1280};[^;\r\n]{1,64};$")
NUMBERS = ["11987654321", "+55 (21) 99876-5432", "5531988887777", "4199123456", "123", "", "5.5119E+12"]

cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80
)
rows = st.lists(st.tuples(st.sampled_from(NUMBERS), cell_text, cell_text), min_size=1, max_size=30)


@settings(max_examples=int(os.environ.get("BATCHER_PROPERTY_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, crlf=st.booleans())
def test_every_line_has_three_fields_and_reruns_are_identical(tmp_path: Path, rows, crlf: bool) -> None:  # type: ignore[no-untyped-def]
    case = tmp_path / f"case{abs(hash((tuple(rows), crlf)))}"
    case.mkdir()
    src = case / "drop.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(["telefone", "mensagem", "referencia"])
        writer.writerows(rows)
    settings_ = load_settings(
        None, environ={}, overrides={"format": {"line_ending": "crlf" if crlf else "lf"}}
    )
    outputs = []
    for run in ("a", "b"):
        out = case / run
        summary = convert_drop(src, project="P", settings=settings_, out_dir=out, namer=lambda i: f"P.20260101.{i + 1:02d}.txt")
        outputs.append([f.path.read_bytes() for f in summary.files])
        assert summary.accepted + summary.rejected_total == summary.rows_read
    assert outputs[0] == outputs[1]
    nl = "\r\n" if crlf else "\n"
    for body in outputs[0]:
        text = body.decode("utf-8")  # strict: always valid UTF-8
        assert not text.startswith("\ufeff")
        lines = text.split(nl)
        assert lines[-2:] == ["EOF", ""]
        for line in lines[:-2]:
            assert LINE.match(line), repr(line)
