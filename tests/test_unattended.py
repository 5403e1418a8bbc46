"""`batcher watch` and `batcher run` as an operations team runs them: real processes, real
signals, files written into a real inbox, the simulator's SFTP server and status API.
What must hold: each drop sent exactly once and complete, every file ends in archive/
or rejected/ (nothing deleted, nothing overwritten), the modes never double-send beside
each other, and a restart after a kill resumes where the state says."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from batcher.sim import Simulator
from tests.fixtures.platform import Workspace, make_workspace, rows_in
from tests.fixtures.watch import Watch, kill_at_then_restart

WATCH = '[watch]\nsettle_seconds = "0.5s"\nrescan_interval = "1s"\n'


def lines(n: int, start: int = 0, tag: str = "m") -> str:
    return "".join(f"55119{i:05d}010;{tag} mensagem {i};{tag}-{i}\n" for i in range(start, start + n))


def workspace(tmp_path: Path, sim: Simulator, extra: str = "") -> Workspace:
    ws = make_workspace(tmp_path / "work", host=sim.host, port=sim.sftp_port, username=sim.config.username,
                        password=sim.config.password, known_hosts=sim.known_hosts_path,
                        remote_root=sim.config.root, api_url=sim.api_url, extra=WATCH + extra)
    (ws.dir / "inbox" / "PROMO").mkdir(parents=True)
    return ws


def sent_rows(ws: Workspace) -> list[str]:
    return [row for path in ws.remote("success") for row in rows_in(path)]


def batch_states(ws: Workspace) -> list[str]:
    if not (ws.state / "batcher.db").exists():
        return []
    db = sqlite3.connect(ws.state / "batcher.db")
    try:
        return [s for (s,) in db.execute("SELECT state FROM batches ORDER BY id")]
    finally:
        db.close()


def uploads(ws: Workspace) -> int:
    db = sqlite3.connect(ws.state / "batcher.db")
    try:
        return int(db.execute("SELECT COUNT(*) FROM events WHERE kind = 'batch.state'"
                              " AND detail LIKE '%\"to\": \"uploaded\"%'").fetchone()[0])
    finally:
        db.close()


def test_a_slow_writer_holding_the_file_open_is_sent_once_and_complete(tmp_path: Path, make_sim,
                                                                        watches: list[Watch]) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, make_sim())
    watch = Watch(ws)
    watches.append(watch)
    watch.wait_for("watching")
    target = ws.dir / "inbox" / "PROMO" / "lenta.csv"
    text = "telefone;mensagem;ref\n" + lines(300)
    cut = len(text) // 3 + 7  # in the middle of a row
    with target.open("w", encoding="utf-8") as fh:
        for part in (text[:cut], text[cut:2 * cut], text[2 * cut:]):
            fh.write(part)
            fh.flush()
            time.sleep(1.5)  # a writer pausing longer than settle_seconds, file still open
        assert uploads(ws) == 0 if (ws.state / "batcher.db").exists() else True
    watch.wait_for("archived")
    watch.wait_for(": accepted")
    assert watch.stop() == 0
    assert sorted(sent_rows(ws)) == sorted(f"{r};" for r in lines(300).splitlines())
    assert uploads(ws) == 1
    assert not list((ws.dir / "inbox" / "PROMO").iterdir())
    archived = list((ws.dir / "archive").rglob("lenta.csv"))
    assert len(archived) == 1 and archived[0].read_text(encoding="utf-8") == text


def test_files_present_before_start_and_twenty_at_once_are_each_sent_once(tmp_path: Path, make_sim,
                                                                          watches: list[Watch]) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, make_sim())
    inbox = ws.dir / "inbox" / "PROMO"
    for i in range(3):
        (inbox / f"antes-{i}.csv").write_text("telefone;mensagem\n" + lines(5, 100 * i, f"a{i}"), encoding="utf-8")
    watch = Watch(ws)
    watches.append(watch)
    watch.wait_for("archived", 3)
    for i in range(20):
        (inbox / f"lote-{i:02d}.csv").write_text("telefone;mensagem\n" + lines(5, 1000 + 10 * i, f"b{i}"),
                                                encoding="utf-8")
    watch.wait_for("archived", 23)
    watch.wait_for(": accepted", 23)
    assert watch.stop() == 0
    assert uploads(ws) == 23 and len(ws.remote("success")) == 23
    assert len(sent_rows(ws)) == 23 * 5 == len(set(sent_rows(ws)))
    assert len(list((ws.dir / "archive").rglob("*.csv"))) == 23


def test_sigterm_mid_upload_then_restart_sends_exactly_once(tmp_path: Path, make_sim,
                                                             watches: list[Watch]) -> None:  # type: ignore[no-untyped-def]
    # the simulator drops the connection after 300 kB: the upload is under way when SIGTERM comes
    ws = workspace(tmp_path, make_sim(eof_grace=30.0, drop_after_bytes=300_000, drop_connections=1),
                   extra="[sftp]\nretries = 5\n")
    big = ws.dir / "inbox" / "PROMO" / "grande.csv"
    big.write_text("telefone;mensagem;ref\n" + lines(20_000), encoding="utf-8")
    watch = Watch(ws)
    watches.append(watch)
    watch.wait_for("uploading")
    code = watch.stop(signal.SIGTERM, timeout=60)
    assert code == 0, "\n".join(watch.log)
    again = Watch(ws)
    watches.append(again)
    again.wait_for(": accepted")
    assert again.stop() == 0
    assert len(ws.remote("success")) == 1 and len(sent_rows(ws)) == 20_000 == len(set(sent_rows(ws)))


@pytest.mark.parametrize("point", ["after_convert", "before_upload", "during_upload", "after_upload",
                                   "before_archive", "polling"])
def test_sigkill_of_watch_at_each_failpoint_then_restart_sends_exactly_once(
    tmp_path: Path, make_sim, watches: list[Watch], point: str  # type: ignore[no-untyped-def]
) -> None:
    ws = workspace(tmp_path, make_sim(eof_grace=30.0))
    drop = ws.dir / "inbox" / "PROMO" / "lista.csv"
    drop.write_text("telefone;mensagem;ref\n" + lines(5000), encoding="utf-8")
    again = kill_at_then_restart(ws, watches, point)
    again.wait_for("archived" if point != "polling" else "watching")
    assert again.stop() == 0
    assert len(ws.remote("success")) == 1, ws.remote("success")
    assert sorted(sent_rows(ws)) == sorted(f"{r};" for r in lines(5000).splitlines())
    assert not drop.exists() and len(list((ws.dir / "archive").rglob("lista.csv"))) == 1


def test_two_runs_at_once_upload_each_drop_once(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, make_sim())
    for i in range(4):
        (ws.dir / "inbox" / "PROMO" / f"l{i}.csv").write_text("telefone;mensagem\n" + lines(50, 100 * i, f"r{i}"),
                                                             encoding="utf-8")
    a = ws.batcher("run", wait=False)
    b = ws.batcher("run", wait=False)
    out_a = a.communicate(timeout=120)  # type: ignore[union-attr]
    out_b = b.communicate(timeout=120)  # type: ignore[union-attr]
    assert (a.returncode, b.returncode) == (0, 0), (out_a, out_b)  # type: ignore[union-attr]
    assert uploads(ws) == 4 and len(ws.remote("success")) == 4
    assert len(set(sent_rows(ws))) == 200
    said = out_a[1] + out_b[1]
    assert "the inbox is being processed by another batcher process" in said or said.count("archived") == 4


def test_a_run_beside_a_watch_uploads_once(tmp_path: Path, make_sim, watches: list[Watch]) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, make_sim())
    watch = Watch(ws)
    watches.append(watch)
    watch.wait_for("watching")
    (ws.dir / "inbox" / "PROMO" / "junto.csv").write_text("telefone;mensagem\n" + lines(30), encoding="utf-8")
    run = ws.batcher("run")
    assert run.returncode == 0, run.stderr
    # whichever took the drop, one of them saw it accepted (the other then has nothing to do)
    deadline = time.monotonic() + 30
    while batch_states(ws) != ["accepted"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert watch.stop() == 0
    assert uploads(ws) == 1 and len(ws.remote("success")) == 1


def test_an_all_invalid_drop_ends_in_rejected_with_its_errors_file(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, make_sim())
    (ws.dir / "inbox" / "PROMO" / "ruim.csv").write_text("telefone;mensagem\nabc;x\n5.5E+12;y\n", encoding="utf-8")
    res = ws.batcher("run")
    assert res.returncode == 3, res.stderr
    rejected = ws.dir / "rejected"
    assert (rejected / "ruim.csv").read_text(encoding="utf-8").startswith("telefone;mensagem")
    errors = (rejected / "ruim.errors.csv").read_bytes().decode("utf-8-sig").splitlines()
    assert errors[0].endswith("line;code;reason") and len(errors) == 3
    assert "number_invalid" in errors[1] and "number_scientific_notation" in errors[2]
    assert ws.remote("success") == [] and ws.remote("upload") == []
    # the same content again is not mistaken for sent: it is refused again, never overwritten
    (ws.dir / "inbox" / "PROMO" / "ruim.csv").write_text("telefone;mensagem\nabc;x\n5.5E+12;y\n", encoding="utf-8")
    assert ws.batcher("run").returncode == 3
    assert sorted(p.name for p in rejected.iterdir()) == ["ruim.2.csv", "ruim.2.errors.csv", "ruim.csv",
                                                          "ruim.errors.csv"]


def test_a_duplicate_drop_is_rejected_naming_the_batch_that_sent_it(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, make_sim())
    content = "telefone;mensagem\n" + lines(3)
    (ws.dir / "inbox" / "PROMO" / "a.csv").write_text(content, encoding="utf-8")
    assert ws.batcher("run").returncode == 0
    (ws.dir / "inbox" / "PROMO" / "copia.csv").write_text(content, encoding="utf-8")
    again = ws.batcher("run")
    assert again.returncode == 3
    note = (ws.dir / "rejected" / "copia.errors.csv").read_bytes().decode("utf-8-sig")
    assert "already sent as batch 1" in note and ".01.txt" in note
    assert len(ws.remote("success")) == 1


def test_run_writes_reports_for_drops_whose_messages_changed(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, make_sim(sent_delay=0.0, delivered_delay=0.0))
    (ws.dir / "inbox" / "PROMO" / "r.csv").write_text("telefone;mensagem\n" + lines(4) + "abc;ruim\n",
                                                       encoding="utf-8")
    assert ws.batcher("run").returncode == 0
    [report] = list((ws.dir / "reports").glob("r.d1.*.report.csv"))
    rows = report.read_bytes().decode("utf-8-sig").splitlines()
    assert len(rows) == 1 + 5 and sum(";delivered;" in r for r in rows) == 4 and sum(";refused;" in r for r in rows) == 1
    # nothing changed since: the next run writes no new report
    assert ws.batcher("run").returncode == 0
    assert len(list((ws.dir / "reports").glob("r.d1.*"))) == 1
    assert os.stat(report).st_mode & 0o077 == 0


def test_a_drop_is_not_held_back_by_a_long_reconcile_pass(tmp_path: Path, make_sim,
                                                          watches: list[Watch]) -> None:  # type: ignore[no-untyped-def]
    """10,000 messages outstanding are 10 searches at 1 request/s: a drop settled meanwhile
    is sent at once (the pass pauses) and the pass then goes on where it stopped."""
    sim = make_sim(sent_delay=0.2, delivered_delay=3600.0)
    ws = workspace(tmp_path, sim)
    (ws.dir / "antes.csv").write_text("telefone;mensagem\n" + lines(10_000), encoding="utf-8")
    push = ws.batcher("push", "antes.csv")
    assert push.returncode == 0, push.stderr
    watch = Watch(ws)
    watches.append(watch)
    watch.wait_for("watching")
    (ws.dir / "inbox" / "PROMO" / "nova.csv").write_text("telefone;mensagem\n" + lines(3, 50_000, "n"),
                                                         encoding="utf-8")
    watch.wait_for("archived")
    seen = 1
    while True:  # until a pass ends without a pause
        watch.wait_for("outstanding", seen)
        if not [line for line in watch.log if "outstanding" in line][seen - 1].endswith("paused"):
            break
        seen += 1
    assert watch.stop() == 0
    passes = [line for line in watch.log if "reconcile (search)" in line]
    archived = next(i for i, line in enumerate(watch.log) if "archived" in line)
    assert "paused" in passes[0] and watch.log.index(passes[0]) < archived, "\n".join(watch.log)
    # the searches of the first full round: the pass went on after the pause, asking no
    # message twice (a restart from the first message would ask 1000 again)
    searches = [json.loads(r)["correlationIds"] for r in sim.request_log_path.read_text().splitlines()
                if json.loads(r)["path"].endswith("/search")]
    sums = list(itertools.accumulate(searches))
    assert 10_003 in sums and searches[sums.index(10_003)] == 3, searches
    assert len(ws.remote("success")) == 2


def test_the_watch_schedule_resumes_a_paused_pass_at_once_and_a_finished_one_from_the_start() -> None:
    from batcher.jobs.unattended import WatchSchedule

    s = WatchSchedule(poll_every=5.0, reconcile_every=60.0)
    assert s.due(0.0) == ["poll", "reconcile", "purge"]
    s.reconcile_ended(3.0, paused=True, resume_after=4242)
    assert s.reconcile_after == 4242 and s.due(3.0) == ["reconcile"]  # at once, going on from there
    s.reconcile_ended(9.0, paused=False, resume_after=None)
    assert s.reconcile_after == 0 and s.due(9.0) == ["poll"] and s.next_wake(9.0) == 5.0
    assert s.due(63.0) == ["poll", "reconcile"]


def test_json_logs_give_log_collectors_one_object_per_drop_and_outcome(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    ws = workspace(tmp_path, make_sim(sent_delay=0.0, delivered_delay=0.0))
    (ws.dir / "inbox" / "PROMO" / "boa.csv").write_text("telefone;mensagem\n" + lines(3) + "abc;ruim\n",
                                                       encoding="utf-8")
    (ws.dir / "inbox" / "PROMO" / "ruim.csv").write_text("telefone;mensagem\nabc;x\n", encoding="utf-8")
    res = ws.batcher("run", "--log-format", "json")
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stderr.splitlines()]  # every line is one JSON object
    assert all({"ts", "event", "message"} <= r.keys() for r in records)
    by_event: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for r in records:
        by_event.setdefault(r["event"], []).append(r)
    [converted] = [r for r in by_event["converted"] if r["source"].endswith("boa.csv")]
    assert (converted["accepted"], converted["refused"], converted["refused_by_code"]) == (3, 1, {"number_invalid": 1})
    assert {(r["source"].rsplit("/", 1)[-1], r["outcome"]) for r in by_event["drop"]} == {("boa.csv", "archived"),
                                                                                       ("ruim.csv", "rejected")}
    assert [r["state"] for r in by_event["batch"]][-1] == "accepted"
    assert by_event["reconcile"][0]["changes"] and by_event["report"][0]["rows"] == 4
    assert ws.config.read_text().split('password = "')[1].split('"')[0] not in res.stderr  # no secret logged
