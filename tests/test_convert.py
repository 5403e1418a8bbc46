"""`batcher convert` and `push --dry-run` end to end on real files: what a user sees."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from batcher.cli import cli
from batcher.convert import convert_drop
from batcher.settings import load_settings

TODAY = datetime.now(ZoneInfo("America/Sao_Paulo")).strftime("%Y%m%d")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real console entry point, in a subprocess, so exit codes are the real ones."""
    env = {**os.environ, "BATCHER_CONFIG": str(cwd / "batcher.toml")}
    return subprocess.run(
        [sys.executable, "-m", "batcher", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "batcher.toml").write_text('[defaults]\nproject = "PROMO"\n', encoding="utf-8")
    return tmp_path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_convert_writes_the_platform_format_byte_for_byte(work: Path) -> None:
    src = write(
        work / "clientes.csv",
        "telefone;mensagem;referencia\n"
        "+55 (11) 98765-4321;Olá Maria, sua fatura vence amanhã;fat-1\n"
        "11987654322;Promo: 2 por 1\n"
        "5521987654323;\"linha1\nlinha2; fim\";x-3\n",
    )
    res = run(["convert", str(src), "-o", "out"], work)
    assert res.returncode == 0, res.stderr
    out = work / "out" / f"PROMO.{TODAY}.01.txt"
    body = out.read_bytes()
    key = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    assert body == (
        "5511987654321;Olá Maria, sua fatura vence amanhã;fat-1;\n"
        f"5511987654322;Promo: 2 por 1;{key}-3;\n"
        "5521987654323;linha1 linha2, fim;x-3;\n"
        "EOF\n"
    ).encode()
    assert not body.startswith(b"\xef\xbb\xbf")
    assert "rows read" in res.stdout and "accepted" in res.stdout
    assert str(out) in res.stdout or out.name in res.stdout


def test_convert_never_touches_its_input_and_is_deterministic(work: Path) -> None:
    src = write(work / "lista.csv", "numero,texto\n11987654321,oi\n11987654322,tudo bem?\n")
    before = (src.read_bytes(), src.stat().st_mtime_ns)
    assert run(["convert", str(src), "-o", "a"], work).returncode == 0
    assert run(["convert", str(src), "-o", "b"], work).returncode == 0
    assert (src.read_bytes(), src.stat().st_mtime_ns) == before
    a = (work / "a" / f"PROMO.{TODAY}.01.txt").read_bytes()
    b = (work / "b" / f"PROMO.{TODAY}.01.txt").read_bytes()
    assert a == b


def test_second_convert_into_the_same_dir_takes_the_next_sequence(work: Path) -> None:
    src = write(work / "l.csv", "numero,texto\n11987654321,oi\n")
    assert run(["convert", str(src), "-o", "out"], work).returncode == 0
    assert run(["convert", str(src), "-o", "out"], work).returncode == 0
    names = sorted(p.name for p in (work / "out").iterdir())
    assert names == [f"PROMO.{TODAY}.01.txt", f"PROMO.{TODAY}.02.txt"]


def test_header_crlf_and_splitting(work: Path) -> None:
    (work / "batcher.toml").write_text(
        '[defaults]\nproject = "P1"\n[format]\nheader = true\nline_ending = "crlf"\nmax_rows_per_file = 2\n',
        encoding="utf-8",
    )
    rows = "".join(f"1198765432{i},msg {i},id{i}\n" for i in range(5))
    src = write(work / "l.csv", "numero,texto,id\n" + rows)
    res = run(["convert", str(src), "-o", "out"], work)
    assert res.returncode == 0, res.stderr
    files = sorted((work / "out").glob("P1.*.txt"))
    assert [f.name for f in files] == [f"P1.{TODAY}.0{i}.txt" for i in (1, 2, 3)]
    assert files[0].read_bytes() == (
        b"number;text;correlationId;\r\n5511987654320;msg 0;id0;\r\n5511987654321;msg 1;id1;\r\nEOF\r\n"
    )
    assert files[2].read_bytes() == b"number;text;correlationId;\r\n5511987654324;msg 4;id4;\r\nEOF\r\n"


def test_rejected_rows_are_explained_and_safe_to_open_in_excel(work: Path) -> None:
    src = write(
        work / "campanha.csv",
        "telefone;mensagem\n"
        "11987654321;ok\n"
        "5.5119E+12;numero do excel\n"
        "=HYPERLINK(\"http://x\");ataque\n"
        "11987654322;\n",
    )
    res = run(["convert", str(src), "-o", "out"], work)
    assert res.returncode == 0, res.stderr  # rows refused inside a good drop: still 0
    rej = work / "out" / "campanha.rejected.csv"
    raw = rej.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the accents right
    # ';'-separated: what Excel set to Brazilian Portuguese splits into columns
    assert raw.decode("utf-8-sig").splitlines()[0] == "telefone;mensagem;line;code;reason"
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0] == ["telefone", "mensagem", "line", "code", "reason"]
    by_line = {r[2]: r for r in rows[1:]}
    assert set(by_line) == {"3", "4", "5"}
    assert by_line["3"][0] == "5.5119E+12" and "scientific" in by_line["3"][4]
    assert by_line["4"][0].startswith("'=")  # neutralised formula
    assert by_line["5"][3] == "text_missing"
    assert "rejected" in res.stdout


def test_file_with_no_valid_row_exits_3_and_names_the_file(work: Path) -> None:
    src = write(work / "ruim.csv", "telefone;mensagem\n123;oi\nabc;tchau\n")
    res = run(["convert", str(src), "-o", "out"], work)
    assert res.returncode == 3
    assert "ruim.csv" in res.stderr
    assert not list((work / "out").glob("*.txt"))
    assert (work / "out" / "ruim.rejected.csv").exists()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("vazio.csv", b"", "empty"),
        ("so_cabecalho.csv", b"telefone;mensagem\n", "no data rows"),
        ("imagem.csv", bytes(range(256)) * 40, "binary"),
    ],
)
def test_unusable_files_exit_3_with_a_reason(work: Path, name: str, content: bytes, reason: str) -> None:
    src = work / name
    src.write_bytes(content)
    res = run(["convert", str(src), "-o", "out"], work)
    assert res.returncode == 3, res.stderr
    assert name in res.stderr and reason in res.stderr


def test_one_bad_file_does_not_stop_the_others(work: Path) -> None:
    bad = write(work / "vazio.csv", "")
    good = write(work / "bom.csv", "numero,texto\n11987654321,oi\n")
    res = run(["convert", str(bad), str(good), "-o", "out"], work)
    assert res.returncode == 3
    assert (work / "out" / f"PROMO.{TODAY}.01.txt").exists()


def test_project_names_are_enforced(work: Path) -> None:
    src = write(work / "l.csv", "numero,texto\n11987654321,oi\n")
    res = run(["convert", str(src), "--project", "../etc", "-o", "out"], work)
    assert res.returncode == 2
    assert "project" in res.stderr
    assert not (work / "out").exists() or not list((work / "out").iterdir())


def test_no_project_anywhere_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "batcher.toml").write_text("", encoding="utf-8")
    src = write(tmp_path / "l.csv", "numero,texto\n11987654321,oi\n")
    res = run(["convert", str(src), "-o", "out"], tmp_path)
    assert res.returncode == 2
    assert "--project" in res.stderr


def test_inbox_folder_names_the_project(work: Path) -> None:
    (work / "inbox" / "LOJA_7").mkdir(parents=True)
    src = write(work / "inbox" / "LOJA_7" / "l.csv", "numero,texto\n11987654321,oi\n")
    assert run(["convert", str(src), "-o", "out"], work).returncode == 0
    assert (work / "out" / f"LOJA_7.{TODAY}.01.txt").exists()


def test_dry_run_reports_segments_and_writes_nothing(work: Path) -> None:
    src = write(work / "l.csv", "numero,texto\n11987654321,oi\n11987654322," + "ç" * 71 + "\n")
    before = set(work.iterdir())
    res = CliRunner().invoke(cli, ["push", "--dry-run", str(src), "--config", str(work / "batcher.toml")])
    assert res.exit_code == 0, res.output
    assert "GSM" in res.output and "UCS-2" in res.output
    assert "dry run" in res.output
    assert set(work.iterdir()) == before


def test_convert_summary_counts(work: Path) -> None:
    settings = load_settings(work / "batcher.toml")
    src = write(work / "l.csv", "numero;texto\n11987654321;a\nb\n11987654321;a\n11987654323;€\n")
    names = iter(["P.20260101.01.txt"])
    s = convert_drop(src, project="P", settings=settings, out_dir=work / "o", namer=lambda i: next(names))
    assert (s.rows_read, s.accepted, s.rejected_total) == (4, 2, 2)
    assert s.rejected["duplicate_row"] == 1
    assert s.messages_by_encoding == {"GSM": 1, "UCS-2": 1}
    assert [f.rows for f in s.files] == [2]
