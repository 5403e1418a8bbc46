"""Where drops go (batcher/inbox/archive.py), on the real file system: archive/YYYYMMDD/
in defaults.timezone, rejected/ with NAME.errors.csv, collisions suffixed, nothing
overwritten, moves across file systems (/dev/shm is tmpfs here)."""

from __future__ import annotations

import csv
import io
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from batcher.clock import ManualClock
from batcher.errors import ConfigError
from batcher.inbox import DropFiler, RefusedRows, WholeFileReason, duplicate_reason

# 2026-12-02 01:30 UTC is still 2026-12-01 in Sao Paulo (UTC-3)
LATE_EVENING = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)
CSV = "numero;mensagem\n5511987654321;Olá\n"


def people_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "people's CSVs carry a UTF-8 BOM"
    return list(csv.reader(io.StringIO(raw[3:].decode("utf-8")), delimiter=";"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def filer(tmp_path: Path) -> DropFiler:
    return DropFiler(archive_dir=tmp_path / "archive", rejected_dir=tmp_path / "rejected",
                     timezone="America/Sao_Paulo", clock=ManualClock(LATE_EVENING))


def drop(tmp_path: Path, name: str = "lista.csv", content: str = CSV, project: str = "ACME") -> Path:
    path = tmp_path / "inbox" / project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    path.chmod(0o664)
    return path


def test_archive_keeps_name_and_content_in_the_local_day_folder(tmp_path: Path, filer: DropFiler) -> None:
    src = drop(tmp_path)
    filed = filer.archive(src)
    assert filed.outcome == "archived" and filed.source == src and filed.companion is None
    assert filed.path == tmp_path / "archive" / "20261201" / "lista.csv"
    assert filed.path.read_text(encoding="utf-8") == CSV and not src.exists()
    assert mode(filed.path) == 0o600 and mode(filed.path.parent) == 0o700


def test_collisions_are_suffixed_and_nothing_is_overwritten(tmp_path: Path, filer: DropFiler) -> None:
    paths = []
    for i in range(3):
        paths.append(filer.archive(drop(tmp_path, content=f"{CSV}v{i}\n", project=f"P{i}")).path)
    assert [p.name for p in paths] == ["lista.csv", "lista.2.csv", "lista.3.csv"]
    assert [p.read_text(encoding="utf-8") for p in paths] == [f"{CSV}v{i}\n" for i in range(3)]


def test_refused_rows_of_a_good_drop_beside_the_archived_drop(tmp_path: Path, filer: DropFiler) -> None:
    first = filer.archive(drop(tmp_path), refused=RefusedRows(
        ["numero", "mensagem", "line", "code", "reason"],
        [["123", "=HYPERLINK(x)", 3, "number_invalid", "not a phone number"]],
    ))
    assert first.companion == first.path.with_name("lista.rejected.csv")
    assert people_csv(first.companion) == [
        ["numero", "mensagem", "line", "code", "reason"],
        ["123", "'=HYPERLINK(x)", "3", "number_invalid", "not a phone number"],
    ]
    assert mode(first.companion) == 0o600
    # the file convert wrote, handed over as a path: copied byte for byte, the original kept
    written = tmp_path / "state" / "rejected" / "7" / "lista.rejected.csv"
    written.parent.mkdir(parents=True)
    written.write_bytes(b"\xef\xbb\xbfnumero;mensagem;line;code;reason\r\n1;x;2;number_invalid;bad\r\n")
    second = filer.archive(drop(tmp_path), refused=written)
    assert second.path.name == "lista.2.csv"
    assert second.companion == second.path.with_name("lista.2.rejected.csv")
    assert second.companion.read_bytes() == written.read_bytes() and written.exists()
    assert first.companion.read_bytes().count(b"HYPERLINK") == 1  # the first is untouched


def test_a_companion_name_taken_by_something_else_is_suffixed(tmp_path: Path, filer: DropFiler) -> None:
    day = tmp_path / "archive" / "20261201"
    day.mkdir(parents=True)
    (day / "lista.rejected.csv").write_text("someone else's")
    filed = filer.archive(drop(tmp_path), refused=RefusedRows(["line", "code", "reason"], [[2, "c", "r"]]))
    assert filed.path.name == "lista.csv" and filed.companion is not None
    assert filed.companion.name == "lista.rejected.2.csv"
    assert (day / "lista.rejected.csv").read_text() == "someone else's"


def test_rejected_with_the_refused_lines(tmp_path: Path, filer: DropFiler) -> None:
    src = drop(tmp_path, "todas.csv")
    rows = [["x", "oi", 2, "number_invalid", "'x' is not a phone number"],
            ["5511987654321", "", 3, "text_missing", "the text is empty"]]
    filed = filer.reject(src, refused=RefusedRows(["numero", "mensagem", "line", "code", "reason"], rows))
    assert filed.outcome == "rejected"
    assert filed.path == tmp_path / "rejected" / "todas.csv" and mode(filed.path) == 0o600
    assert filed.companion == tmp_path / "rejected" / "todas.errors.csv"
    assert people_csv(filed.companion) == [["numero", "mensagem", "line", "code", "reason"],
                                           [str(c) for c in rows[0]], [str(c) for c in rows[1]]]


def test_rejected_as_a_whole_without_lines_gets_one_row_saying_why(tmp_path: Path, filer: DropFiler) -> None:
    sent_at = datetime(2026, 11, 30, 15, 4, tzinfo=UTC)
    reason = duplicate_reason(batch=12, remote_names=["ACME.20261130.01.txt", "ACME.20261130.02.txt"],
                              sent_at=sent_at, timezone="America/Sao_Paulo")
    assert reason.code == "duplicate_content"
    assert "already sent as batch 12 (ACME.20261130.01.txt, ACME.20261130.02.txt) on 2026-11-30 12:04" in reason.reason
    first = filer.reject(drop(tmp_path), reason=reason)
    second = filer.reject(drop(tmp_path), reason=WholeFileReason("unreadable", "not a text file (NUL byte on line 4)"))
    assert [first.path.name, second.path.name] == ["lista.csv", "lista.2.csv"]
    assert first.companion is not None and second.companion is not None
    assert [first.companion.name, second.companion.name] == ["lista.errors.csv", "lista.2.errors.csv"]
    assert people_csv(first.companion) == [["line", "code", "reason"], ["", "duplicate_content", reason.reason]]
    assert people_csv(second.companion)[1] == ["", "unreadable", "not a text file (NUL byte on line 4)"]


def test_reject_needs_rows_or_a_reason_exactly(tmp_path: Path, filer: DropFiler) -> None:
    src = drop(tmp_path)
    with pytest.raises(ValueError):
        filer.reject(src)
    with pytest.raises(ValueError):
        filer.reject(src, refused=RefusedRows([], []), reason=WholeFileReason("x", "y"))
    assert src.exists()


@pytest.fixture
def shm_inbox() -> Iterator[Path]:
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tempfile.gettempdir()).st_dev:
        pytest.skip("needs /dev/shm on another file system than the temporary folder")
    root = Path(tempfile.mkdtemp(prefix="batcher-inbox-", dir="/dev/shm"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_move_across_file_systems(shm_inbox: Path, filer: DropFiler, tmp_path: Path) -> None:
    src = shm_inbox / "ACME" / "lista.csv"
    src.parent.mkdir()
    src.write_text(CSV, encoding="utf-8")
    os.utime(src, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    (tmp_path / "archive" / "20261201").mkdir(parents=True)
    (tmp_path / "archive" / "20261201" / "lista.csv").write_text("earlier")
    filed = filer.archive(src)
    assert filed.path == tmp_path / "archive" / "20261201" / "lista.2.csv"
    assert filed.path.read_text(encoding="utf-8") == CSV and not src.exists()
    assert filed.path.stat().st_mtime_ns == 1_700_000_000_000_000_000 and mode(filed.path) == 0o600
    assert (tmp_path / "archive" / "20261201" / "lista.csv").read_text() == "earlier"
    assert [p.name for p in filed.path.parent.iterdir()].count(".lista.2.csv.tmp") == 0


def test_a_move_that_fails_names_both_places_and_leaves_the_drop(tmp_path: Path, filer: DropFiler) -> None:
    src = drop(tmp_path)
    (tmp_path / "archive").write_text("a file where the archive folder should be")
    with pytest.raises(ConfigError, match=r"lista\.csv: cannot move it to .*archive/20261201/"):
        filer.archive(src)
    assert src.read_text(encoding="utf-8") == CSV


def test_from_settings_uses_the_configured_folders_and_zone(tmp_path: Path) -> None:
    from batcher.settings import load_settings

    cfg = tmp_path / "batcher.toml"
    cfg.write_text('[paths]\narchive_dir = "a"\nrejected_dir = "r"\n[defaults]\ntimezone = "Asia/Tokyo"\n'
                   '[format]\ncsv_delimiter = ","\n')
    filer = DropFiler.from_settings(load_settings(cfg, environ={}), clock=ManualClock(LATE_EVENING))
    assert filer.day_folder() == tmp_path / "a" / "20261202"  # 10:30 in Tokyo
    filed = filer.reject(drop(tmp_path), reason=WholeFileReason("unreadable", "x"))
    assert filed.path.parent == tmp_path / "r"
    assert filed.companion is not None and filed.companion.read_bytes()[3:].startswith(b"line,code,reason")
