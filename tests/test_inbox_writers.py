"""The open-writer check (batcher/inbox/writers.py) against real processes and real
descriptors; a copied /proc tree for what this host cannot produce (no /proc, another
user's processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batcher.inbox.writers import find_writers, writing_flags

pytestmark = pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs Linux /proc")


def ident(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def test_flags() -> None:
    assert writing_flags(os.O_WRONLY) and writing_flags(os.O_RDWR | os.O_APPEND)
    assert not writing_flags(os.O_RDONLY) and not writing_flags(os.O_RDONLY | os.O_NONBLOCK)


@pytest.mark.parametrize(("flags", "held"), [
    (os.O_WRONLY, True), (os.O_RDWR, True), (os.O_WRONLY | os.O_APPEND, True), (os.O_RDONLY, False),
])
def test_our_own_descriptors(tmp_path: Path, flags: int, held: bool) -> None:
    path = tmp_path / "lista.csv"
    path.write_text("x")
    other = tmp_path / "other.csv"
    other.write_text("y")
    fd = os.open(path, flags)
    try:
        probe = find_writers([(path, ident(path)), (other, ident(other))])
    finally:
        os.close(fd)
    assert probe.held(ident(path)) is held
    assert probe.writers.get(ident(path), ()) == ((os.getpid(),) if held else ())
    assert not probe.held(ident(other))
    assert probe.available and probe.processes >= 1
    assert not find_writers([(path, ident(path))]).held(ident(path))  # closed now


def test_another_process_holding_it_open(tmp_path: Path) -> None:
    path = tmp_path / "lista.csv"
    path.write_text("")
    code = ("import sys; f = open(sys.argv[1], 'a'); print('open', flush=True); sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"open\n"
        probe = find_writers([(path, ident(path))])
        assert probe.writers[ident(path)] == (child.pid,)
    finally:
        child.communicate(b"", timeout=10)
    assert not find_writers([(path, ident(path))]).held(ident(path))


def test_a_writer_that_sees_the_file_under_another_path_is_found(tmp_path: Path) -> None:
    # a process in another mount namespace sees another prefix; the name and inode match
    path = tmp_path / "inbox" / "lista.csv"
    path.parent.mkdir()
    path.write_text("")
    (tmp_path / "view").symlink_to(tmp_path / "inbox")
    with (tmp_path / "view" / "lista.csv").open("a"):
        assert find_writers([(Path("/somewhere/else/lista.csv"), ident(path))]).held(ident(path))


def test_no_files_asked_walks_nothing() -> None:
    probe = find_writers([])
    assert probe.processes == 0 and not probe.writers


def test_without_proc_the_answer_is_unknown(tmp_path: Path) -> None:
    probe = find_writers([("x.csv", (1, 2))], proc=tmp_path / "no-proc")
    assert not probe.available and not probe.complete and not probe.held((1, 2))


def test_processes_that_vanish_or_read_only_are_not_writers(tmp_path: Path) -> None:
    # a stand-in /proc: pid 10 exited between the listing and the look (no fd/), pid 12
    # writes our file, pid 13's descriptor names our file but its fdinfo is gone (closed)
    target = tmp_path / "lista.csv"
    target.write_text("")
    proc = tmp_path / "proc"
    (proc / "10").mkdir(parents=True)
    (proc / "13" / "fd").mkdir(parents=True)
    (proc / "13" / "fd" / "4").symlink_to(target)
    (proc / "12" / "fd").mkdir(parents=True)
    (proc / "12" / "fdinfo").mkdir()
    (proc / "12" / "fd" / "3").symlink_to(target)
    (proc / "12" / "fdinfo" / "3").write_text("pos:\t0\nflags:\t0102001\nmnt_id:\t1\n")
    (proc / "self").mkdir()
    probe = find_writers([(target, ident(target))], proc=proc)
    assert probe.writers == {ident(target): (12,)}
    (proc / "12" / "fdinfo" / "3").write_text("pos:\t0\nflags:\t0100000\n")
    assert not find_writers([(target, ident(target))], proc=proc).held(ident(target))


def test_permission_denied_counts_as_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # root can read every fd/ here, so the refusal of another user's is simulated
    real_listdir = os.listdir

    def listdir(path: str) -> list[str]:
        if path.endswith("/fd") and not path.endswith(f"/{os.getpid()}/fd"):
            raise PermissionError(13, "Permission denied", path)
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    target = tmp_path / "lista.csv"
    with target.open("w"):
        probe = find_writers([(target, ident(target))])
    assert probe.held(ident(target)) and probe.hidden > 0 and not probe.complete
