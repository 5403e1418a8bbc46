"""`batcher watch` and `batcher run` against the REAL OpenSSH sshd (issue 8).

The same promises as tests/test_unattended.py, with Debian's `/usr/sbin/sshd`
(internal-sftp) as the SFTP server and `PlatformMover` playing the platform's processor;
the status API is the simulator's (real HTTP: it knows none of these messages, so they
stay `sent`-less and pending, which is what a platform that has not answered yet looks
like). "Exactly once" is asserted on the mover's record of every file it moved, not only
on the listing: a second upload under the same name would look like one copy in success/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batcher.sim import Simulator
from tests.fixtures.platform import Workspace, make_workspace, rows_in
from tests.fixtures.sshd import PlatformMover, SshdServer, platform_mover
from tests.fixtures.watch import Watch, kill_at_then_restart
from tests.test_unattended import WATCH, batch_states, lines, uploads

pytestmark = pytest.mark.sshd


@pytest.fixture
def mover(sshd_fresh: SshdServer) -> Iterator[PlatformMover]:
    with platform_mover(sshd_fresh.home) as m:
        yield m


def workspace(tmp_path: Path, sshd: SshdServer, sim: Simulator, extra: str = "") -> Workspace:
    ws = make_workspace(tmp_path / "work", host=sshd.host, port=sshd.port, username=sshd.username,
                        password=sshd.password, known_hosts=sshd.write_known_hosts(tmp_path / "known_hosts"),
                        remote_root=sshd.home, api_url=sim.api_url, extra=WATCH + extra)
    (ws.dir / "inbox" / "PROMO").mkdir(parents=True)
    return ws


def sent_rows(sshd: SshdServer) -> list[str]:
    return [row for path in sorted((sshd.home / "success").iterdir()) for row in rows_in(path)]


def assert_each_moved_once(sshd: SshdServer, mover: PlatformMover, count: int) -> None:
    names = [name for name, _ in mover.moved]
    assert len(names) == count == len(set(names)), f"moved: {mover.moved}"
    assert all(where == "success" for _, where in mover.moved)
    assert sorted(p.name for p in (sshd.home / "upload").iterdir()) == []  # no partial left behind
    assert sorted(p.name for p in (sshd.home / "success").iterdir()) == sorted(names)


def test_watch_sends_present_slow_and_burst_drops_once_each(tmp_path: Path, sshd_fresh: SshdServer,
                                                             mover: PlatformMover, make_sim,
                                                             watches: list[Watch]) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, sshd_fresh, make_sim())
    inbox = ws.dir / "inbox" / "PROMO"
    (inbox / "antes.csv").write_text("telefone;mensagem\n" + lines(5, 0, "a"), encoding="utf-8")
    watch = Watch(ws)
    watches.append(watch)
    watch.wait_for("archived")  # a file present before the start
    text = "telefone;mensagem;ref\n" + lines(300, 100, "s")
    cut = len(text) // 2 + 5  # in the middle of a row
    with (inbox / "lenta.csv").open("w", encoding="utf-8") as fh:
        fh.write(text[:cut])
        fh.flush()
        time.sleep(1.5)  # the writer pauses longer than settle_seconds, the file still open
        fh.write(text[cut:])
    for i in range(10):
        (inbox / f"lote-{i}.csv").write_text("telefone;mensagem\n" + lines(5, 1000 + 10 * i, f"b{i}"),
                                             encoding="utf-8")
    watch.wait_for("archived", 12)
    watch.wait_for(": accepted", 12)
    assert watch.stop() == 0
    assert_each_moved_once(sshd_fresh, mover, 12)
    assert uploads(ws) == 12
    rows = sent_rows(sshd_fresh)
    assert len(rows) == 5 + 300 + 50 == len(set(rows))
    assert {f"{r};" for r in lines(300, 100, "s").splitlines()} <= set(rows)  # the slow drop, complete
    assert not list(inbox.iterdir()) and len(list((ws.dir / "archive").rglob("*.csv"))) == 12


@pytest.mark.parametrize("point", ["during_upload", "after_upload", "before_archive"])
def test_sigkill_of_watch_then_restart_sends_exactly_once(tmp_path: Path, sshd_fresh: SshdServer,
                                                          mover: PlatformMover, make_sim,
                                                          watches: list[Watch], point: str) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, sshd_fresh, make_sim())
    drop = ws.dir / "inbox" / "PROMO" / "lista.csv"
    drop.write_text("telefone;mensagem;ref\n" + lines(20_000), encoding="utf-8")  # two upload blocks
    again = kill_at_then_restart(ws, watches, point)
    again.wait_for("archived")
    assert again.stop() == 0
    assert_each_moved_once(sshd_fresh, mover, 1)
    assert sorted(sent_rows(sshd_fresh)) == sorted(f"{r};" for r in lines(20_000).splitlines())
    assert not drop.exists() and len(list((ws.dir / "archive").rglob("lista.csv"))) == 1


def test_two_runs_and_a_watch_at_once_upload_each_drop_once(tmp_path: Path, sshd_fresh: SshdServer,
                                                            mover: PlatformMover, make_sim,
                                                            watches: list[Watch]) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, sshd_fresh, make_sim())
    for i in range(4):
        (ws.dir / "inbox" / "PROMO" / f"l{i}.csv").write_text("telefone;mensagem\n" + lines(50, 100 * i, f"r{i}"),
                                                             encoding="utf-8")
    watch = Watch(ws)
    watches.append(watch)
    a = ws.batcher("run", wait=False)
    b = ws.batcher("run", wait=False)
    out_a = a.communicate(timeout=120)  # type: ignore[union-attr]
    out_b = b.communicate(timeout=120)  # type: ignore[union-attr]
    assert (a.returncode, b.returncode) == (0, 0), (out_a, out_b)  # type: ignore[union-attr]
    deadline = time.monotonic() + 30  # whatever the watch took, it sees it through
    while batch_states(ws) != ["accepted"] * 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert watch.stop() == 0
    assert_each_moved_once(sshd_fresh, mover, 4)
    assert uploads(ws) == 4 and len(set(sent_rows(sshd_fresh))) == 200


def test_run_refuses_an_all_invalid_drop_and_sends_nothing(tmp_path: Path, sshd_fresh: SshdServer,
                                                           mover: PlatformMover, make_sim) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, sshd_fresh, make_sim())
    (ws.dir / "inbox" / "PROMO" / "ruim.csv").write_text("telefone;mensagem\nabc;x\n", encoding="utf-8")
    res = ws.batcher("run")
    assert res.returncode == 3, res.stderr
    assert "ruim.csv" in res.stderr
    errors = (ws.dir / "rejected" / "ruim.errors.csv").read_bytes().decode("utf-8-sig").splitlines()
    assert len(errors) == 2 and "number_invalid" in errors[1]
    # the run has exited: anything it uploaded would be in upload/, success/ or the mover's record
    assert mover.moved == [] and not any(list((sshd_fresh.home / d).iterdir()) for d in ("upload", "success", "error"))
