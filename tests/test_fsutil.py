"""fsutil and peoplecsv on the real file system: private modes whatever the umask,
names never overwritten, atomic writes, moves that keep the file."""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from batcher.fsutil import atomic_output, claim_unique, ensure_private_dir, move_no_clobber, open_private, suffixed
from batcher.peoplecsv import PeopleCsvWriter, safe_csv_cell, write_people_csv


@pytest.fixture(params=[0o022, 0o002, 0o000])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_dirs_are_private_and_existing_ones_untouched(tmp_path: Path, umask: int) -> None:
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    made = ensure_private_dir(existing / "a" / "b")
    assert made == existing / "a" / "b" and made.is_dir()
    assert mode(existing / "a") == 0o700 and mode(existing / "a" / "b") == 0o700
    assert mode(existing) == 0o755  # not silently changed
    assert ensure_private_dir(made) == made  # again: fine


def test_a_file_in_the_way_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("x")
    with pytest.raises(OSError):
        ensure_private_dir(tmp_path / "state")


def test_open_private_is_0600_and_exclusive_refuses(tmp_path: Path, umask: int) -> None:
    with open_private(tmp_path / "f.txt", encoding="utf-8") as fh:
        fh.write("secret")
    assert mode(tmp_path / "f.txt") == 0o600
    with pytest.raises(FileExistsError):
        open_private(tmp_path / "f.txt", exclusive=True)
    assert (tmp_path / "f.txt").read_text() == "secret"


def test_claim_unique_suffixes_and_never_reuses(tmp_path: Path) -> None:
    first = claim_unique(tmp_path / "list.rejected.csv")
    second = claim_unique(tmp_path / "list.rejected.csv")
    third = claim_unique(tmp_path / "README")
    assert (first.name, second.name, third.name) == ("list.rejected.csv", "list.rejected.2.csv", "README")
    assert suffixed(Path("x/README"), 3) == Path("x/README.3")


def test_atomic_output_leaves_nothing_on_error_and_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_text("earlier report")
    with pytest.raises(RuntimeError), atomic_output(target, encoding="utf-8") as (fh, final):
        fh.write("half")
        assert final.name == "report.2.csv"
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]
    assert target.read_text() == "earlier report"
    with atomic_output(target, encoding="utf-8") as (fh, final):
        fh.write("new")
    assert final.read_text() == "new" and target.read_text() == "earlier report"
    with pytest.raises(FileExistsError):
        with atomic_output(target, unique=False) as (fh, _):
            fh.write("x")
    assert target.read_text() == "earlier report"


def test_move_no_clobber_suffixes_keeps_content_and_makes_private(tmp_path: Path, umask: int) -> None:
    dest_dir = ensure_private_dir(tmp_path / "archive")
    (dest_dir / "list.csv").write_text("older drop")
    src = tmp_path / "list.csv"
    src.write_text("new drop")
    os.chmod(src, 0o644)
    moved = move_no_clobber(src, dest_dir / "list.csv")
    assert moved == dest_dir / "list.2.csv"
    assert not src.exists() and moved.read_text() == "new drop" and mode(moved) == 0o600
    assert (dest_dir / "list.csv").read_text() == "older drop"


def test_move_no_clobber_across_file_systems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system here")
    src = shm / f"batcher-test-{os.getpid()}.csv"
    src.write_bytes(b"a;b\n" * 1000)
    moved = move_no_clobber(src, tmp_path / "drop.csv")
    assert not src.exists() and moved.read_bytes() == b"a;b\n" * 1000 and mode(moved) == 0o600


@pytest.mark.parametrize("value", ["=1+1", "+55", "-2", "@SUM(A1)", "\tx", "\rx", "\nx"])
def test_formulas_are_neutralised(value: str) -> None:
    assert safe_csv_cell(value) == "'" + value


def test_people_csv_is_bom_semicolon_neutralised_and_never_overwrites(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "x.report.csv"
    first = write_people_csv(path, ["line", "texto"], [[1, "Olá; tudo bem?"], [2, "=HYPERLINK(1)"]])
    second = write_people_csv(path, ["line"], [[3]])
    assert (first.name, second.name) == ("x.report.csv", "x.report.2.csv")
    raw = first.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and mode(first) == 0o600
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows == [["line", "texto"], ["1", "Olá; tudo bem?"], ["2", "'=HYPERLINK(1)"]]
    with PeopleCsvWriter(tmp_path / "c.csv", ["a", "b"], delimiter=",") as out:
        out.writerow(["x", None])
    assert out.path.read_bytes() == b"\xef\xbb\xbfa,b\r\nx,\r\n"
