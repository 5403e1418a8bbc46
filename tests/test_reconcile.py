"""Reconciliation end to end (issue 7): `batcher push`, `reconcile` and `report` as a user
runs them (subprocesses), against the simulator's SFTP server, file processor and status
API over real HTTP; a real SQLite store.

The simulator decides each message's outcome by the last three digits of its number
(`batcher sim --help`); its clock is advanced to make delivery reports arrive later.
Where batcher's own clock must move (3-day retention, delivery window) the job runs
in-process with a ManualClock, against the same real HTTP server.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from batcher.clock import ManualClock
from batcher.jobs import Context, Session, reconcile
from batcher.settings import load_settings
from batcher.sim import Simulator
from batcher.status.reconcile import ReconcilePolicy
from batcher.status.reconcile import reconcile_pass as one_pass
from tests.fixtures.platform import Workspace, make_workspace

# one row per outcome of the simulator's table, then rows batcher refuses itself
OUTCOME_ROWS = [
    ("5511987650010", "entregue", "delivered"),
    ("5511987650104", "sem sinal", "not_delivered"),
    ("5511987650998", "operadora Oi", "sent_final"),
    ("5511987650999", "operadora Sercomtel", "sent_final"),
    *[(f"5511987650{code}", f"recusada {code}", "rejected")
      for code in ("101", "102", "103", "201", "202", "203", "204", "205", "207", "301")],
]
REFUSED_ROWS = [("5.5119E+12", "excel estragou", "number_scientific_notation"),
                ("1133334444", "telefone fixo", "number_not_mobile"),
                ("5511987650021", "", "text_missing")]


def drop_text() -> str:
    lines = ["Telefone;Mensagem;Referencia"]
    lines += [f"{n};{t};ref-{i}" for i, (n, t, _) in enumerate(OUTCOME_ROWS)]
    lines += [f"{n};{t};bad-{i}" for i, (n, t, _) in enumerate(REFUSED_ROWS)]
    return "\n".join(lines) + "\n"


def workspace(tmp_path: Path, sim: Simulator, extra: str = "") -> Workspace:
    return make_workspace(tmp_path / "work", host=sim.host, port=sim.sftp_port, username=sim.config.username,
                          password=sim.config.password, known_hosts=sim.known_hosts_path,
                          remote_root=sim.config.root, api_url=sim.api_url, extra=extra)


def api_requests(sim: Simulator) -> list[dict[str, Any]]:
    if not sim.request_log_path.exists():
        return []
    return [json.loads(line) for line in sim.request_log_path.read_text().splitlines()]


def report_json(ws: Workspace, ref: str) -> list[dict[str, Any]]:
    res = ws.batcher("report", ref, "--format", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def reconcile_until(ws: Workspace, done: Callable[[list[dict[str, Any]]], bool], ref: str = "d1",
                    attempts: int = 40) -> subprocess.CompletedProcess[str]:
    """`batcher reconcile` (one pass each) until the report says `done` (statuses appear
    a moment after the file is processed); the last pass's output."""
    for _ in range(attempts):
        res = ok(ws.batcher("reconcile"))
        if done(report_json(ws, ref)):
            return res
    pytest.fail(f"the report never got there: {report_json(ws, ref)[:3]}")


def ok(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, res.stdout + res.stderr
    return res


@pytest.fixture
def sim(make_sim) -> Simulator:  # type: ignore[no-untyped-def]
    # statuses appear 0.2 s after processing; delivery reports only when the test moves
    # the simulator's clock an hour on (a report arriving after the first pass)
    return make_sim(sent_delay=0.2, delivered_delay=3600.0)  # type: ignore[no-any-return]


def test_a_pushed_drop_reports_every_input_row_with_its_true_outcome(tmp_path: Path, sim: Simulator) -> None:
    ws = workspace(tmp_path, sim)
    (ws.dir / "lista.csv").write_text(drop_text(), encoding="utf-8")
    ok(ws.batcher("push", "lista.csv"))
    # first passes: every first level is there, no delivery report yet
    first = reconcile_until(ws, lambda rows: not any(r["outcome"] == "pending" for r in rows))
    assert "still outstanding" in first.stdout
    rows = {r["correlation_id"]: r for r in report_json(ws, "lista.csv")}
    assert rows["ref-0"]["outcome"] == "sent" and rows["ref-1"]["outcome"] == "sent"
    assert rows["ref-2"]["outcome"] == "sent_final" and rows["ref-2"]["carrier"] == "OI"
    assert rows["ref-3"]["outcome"] == "sent_final" and rows["ref-3"]["carrier"] == "SERCOMTEL"
    # the delivery reports arrive: a later pass finishes the job
    sim.advance_clock(3601)
    final = ok(ws.batcher("reconcile", "--until-final", "--deadline", "30s"))
    assert "every message has its final outcome" in final.stdout
    report = report_json(ws, "d1")
    # every input line exactly once, in order, accepted and refused alike
    assert [r["line"] for r in report] == list(range(2, 2 + len(OUTCOME_ROWS) + len(REFUSED_ROWS)))
    by_line = {r["line"]: r for r in report}
    for i, (number, text, outcome) in enumerate(OUTCOME_ROWS):
        row = by_line[i + 2]
        assert (row["number"], row["text"], row["outcome"]) == (number, text, outcome), row
        if outcome == "rejected":
            code = int(number[-3:])
            assert row["sent_status_code"] == code and row["code"] == str(code) and row["sent_status"]
            assert row["reason"].startswith(row["sent_status"])
        if outcome in ("delivered", "not_delivered"):
            assert row["delivered_status_code"] == (4 if outcome == "delivered" else 104) and row["delivered_at"]
        if outcome != "rejected":
            assert row["sent_status_code"] == 2 and row["sent_at"] and row["carrier"]
    for i, (_, _, code) in enumerate(REFUSED_ROWS):
        row = by_line[len(OUTCOME_ROWS) + 2 + i]
        assert (row["outcome"], row["code"], row["batch"]) == ("refused", code, "")
        assert row["reason"]
    # final messages are never queried again
    searches = sum(1 for r in api_requests(sim) if r["path"].endswith("/search"))
    ok(ws.batcher("reconcile"))
    assert sum(1 for r in api_requests(sim) if r["path"].endswith("/search")) == searches
    # status shows the counts by outcome, and one batch its failure reasons
    status = ok(ws.batcher("status"))
    assert "1 delivered, 1 not_delivered, 2 sent_final, 10 rejected" in status.stdout
    detail = ok(ws.batcher("status", "1"))
    assert "1 101 EXPIRED" in detail.stdout and "104 NOT_DELIVERED" in detail.stdout
    # every change was recorded with what the platform said
    db = sqlite3.connect(ws.state / "batcher.db")
    causes = Counter(c for (c,) in db.execute("SELECT cause FROM message_events"))
    assert causes == {"status": 14, "carrier": 2} or causes == {"status": 12 + 2, "carrier": 2}
    assert db.execute("SELECT COUNT(*) FROM message_events WHERE carrier_name IS NULL").fetchone()[0] == 0


def test_the_csv_report_opens_in_excel_and_is_never_overwritten(tmp_path: Path, sim: Simulator) -> None:
    ws = workspace(tmp_path, sim)
    (ws.dir / "lista.csv").write_text("telefone;mensagem\n5511987650010;=HYPERLINK(\"x\")\n", encoding="utf-8")
    ok(ws.batcher("push", "lista.csv"))
    first = ok(ws.batcher("report", "d1", "-o", "r.csv"))
    second = ok(ws.batcher("report", "d1", "-o", "r.csv"))
    assert "wrote" in first.stderr + first.stdout and "r.2.csv" in second.stdout + second.stderr
    raw = (ws.dir / "r.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:7] == ["file", "line", "batch", "number", "correlation_id", "text", "outcome"]
    assert rows[1][5] == "'=HYPERLINK(\"x\")"  # neutralised
    assert (ws.dir / "r.2.csv").exists()


def test_a_batch_moved_to_error_is_not_sent(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(file_error_rate=1.0)
    ws = workspace(tmp_path, sim)
    (ws.dir / "lista.csv").write_text(drop_text(), encoding="utf-8")
    assert ws.batcher("push", "lista.csv").returncode == 5
    report = report_json(ws, "lista.csv")
    outcomes = Counter(r["outcome"] for r in report)
    assert outcomes == {"not_sent": len(OUTCOME_ROWS), "refused": len(REFUSED_ROWS)}
    assert all("error/" in r["reason"] for r in report if r["outcome"] == "not_sent")
    assert api_requests(sim) == []  # nothing to ask about a file the platform refused
    ok(ws.batcher("reconcile"))
    assert api_requests(sim) == []


def test_2500_messages_take_exactly_3_searches_per_pass(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(sent_delay=0.2, delivered_delay=3600.0)
    ws = workspace(tmp_path, sim)
    (ws.dir / "grande.csv").write_text(
        "telefone;mensagem\n" + "".join(f"55119{i:08d};mensagem {i}\n" for i in range(2500)), encoding="utf-8")
    ok(ws.batcher("push", "grande.csv"))
    ok(ws.batcher("reconcile"))
    searches = [r for r in api_requests(sim) if r["path"].endswith("/search")]
    assert [r["correlationIds"] for r in searches] == [1000, 1000, 500]
    assert all(r["status"] == 200 for r in api_requests(sim))  # no 429 in normal operation


def test_a_paused_pass_goes_on_where_it_stopped(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    """A daemon pauses a long pass for a drop; the next pass goes on from there: every
    message asked once, none of the first ones asked again."""
    sim = make_sim(sent_delay=0.2, delivered_delay=3600.0, rate_limit_per_second=0)
    ws = workspace(tmp_path, sim, extra="[api]\nrequests_per_second = 50\n")
    (ws.dir / "grande.csv").write_text(
        "telefone;mensagem\n" + "".join(f"55119{i:08d};mensagem {i}\n" for i in range(3500)), encoding="utf-8")
    ok(ws.batcher("push", "grande.csv"))
    ctx = Context(load_settings(ws.config, environ={}))
    asked: list[list[str]] = []
    with Session(ctx) as session:
        client = session.status_source

        class Recording:  # the real HTTP client; only what is asked is noted
            def search(self, correlation_ids: Any, ids: Any = ()) -> Any:
                asked.append(list(correlation_ids))
                return client.search(correlation_ids, ids)

            def drain(self) -> Any:
                return client.drain()

        def one(after: int, stop_after: int) -> Any:
            return one_pass(session.store, Recording(), mode="search", policy=ReconcilePolicy(), clock=ctx.clock,
                            chunk=1000, should_stop=lambda: len(asked) >= stop_after, after=after)

        first = one(0, 2)
        assert first.paused and first.requests == 2 and first.resume_after is not None
        second = one(first.resume_after, 99)
        assert not second.paused and second.requests == 2 and second.resume_after is None
    assert [len(ids) for ids in asked] == [1000, 1000, 1000, 500]
    every = [cid for ids in asked for cid in ids]
    assert len(set(every)) == 3500 == len(every)  # each asked once across the two passes


def test_list_mode_drains_across_pages(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(sent_delay=0.2, delivered_delay=3600.0, list_page=1000)
    ws = workspace(tmp_path, sim, extra='[api]\nstatus_mode = "list"\n')
    # every number ends in 010: the simulator sends each, then delivers it
    (ws.dir / "grande.csv").write_text(
        "telefone;mensagem\n" + "".join(f"55119{i:05d}010;mensagem {i}\n" for i in range(2500)), encoding="utf-8")
    ok(ws.batcher("push", "grande.csv"))
    out = reconcile_until(ws, lambda rows: all(r["outcome"] == "sent" for r in rows), ref="grande.csv")
    lists = [r for r in api_requests(sim) if r["path"].endswith("/list")]
    assert [r["returned"] for r in lists[:3]] == [1000, 1000, 500]
    assert "outstanding" in out.stdout
    counts = Counter(r["outcome"] for r in report_json(ws, "grande.csv"))
    assert counts == {"sent": 2500}
    sim.advance_clock(3601)
    ok(ws.batcher("reconcile"))
    counts = Counter(r["outcome"] for r in report_json(ws, "grande.csv"))
    assert counts == {"delivered": 2500}


def test_three_processes_reconciling_at_once_keep_the_platforms_rate(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    # delivery reports after 4 s: each process passes again and again until then
    sim = make_sim(sent_delay=0.2, delivered_delay=4.0)
    ws = workspace(tmp_path, sim)
    (ws.dir / "lista.csv").write_text(drop_text(), encoding="utf-8")
    ok(ws.batcher("push", "lista.csv"))
    procs = [ws.batcher("reconcile", "--until-final", "--deadline", "40s", wait=False) for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)  # type: ignore[union-attr]
        assert proc.returncode == 0, out + err  # type: ignore[union-attr]
    log = api_requests(sim)
    assert len(log) >= 3 and all(r["status"] == 200 for r in log)  # no 429
    arrivals = sorted(r["mono"] for r in log)
    assert min(b - a for a, b in itertools.pairwise(arrivals)) >= 1.0
    # each change applied once although three processes decided it
    db = sqlite3.connect(ws.state / "batcher.db")
    assert db.execute("SELECT COUNT(*) FROM message_events").fetchone()[0] == \
        db.execute("SELECT COUNT(DISTINCT message_id || to_state) FROM message_events").fetchone()[0]
    assert Counter(r["outcome"] for r in report_json(ws, "d1"))["delivered"] == 1


def test_bad_credentials_and_an_unreachable_api(tmp_path: Path, sim: Simulator) -> None:
    ws = workspace(tmp_path, sim, extra='[api]\ntoken = "wrong-token-xyz"\n')
    (ws.dir / "lista.csv").write_text(drop_text(), encoding="utf-8")
    ok(ws.batcher("push", "lista.csv"))
    bad = ws.batcher("reconcile")
    assert bad.returncode == 2
    assert "[api] username" in bad.stderr and "token" in bad.stderr and "wrong-token-xyz" not in bad.stderr
    gone = workspace(tmp_path / "b", sim, extra='[api]\nbase_url = "http://127.0.0.1:9"\nretries = 1\n')
    ok(gone.batcher("push", str(ws.dir / "lista.csv")))
    down = gone.batcher("reconcile")
    assert down.returncode == 4 and "cannot connect" in down.stderr


def test_retention_and_window_rules_on_batchers_own_clock(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    """No status at all within 3 days -> expired; sent with no report within the window ->
    sent_final. batcher's clock is a ManualClock here; the API is the simulator's."""
    # batcher's time jumps while the simulator's runs: its rate limit would be measured on
    # another clock, so it is off here (the rate-limit tests are elsewhere)
    # statuses from the moment the file is processed: the first pass finds "sent" however soon it runs
    sim = make_sim(sent_delay=0.0, delivered_delay=10 * 86400.0, rate_limit_per_second=0)
    ws = workspace(tmp_path, sim, extra='[api]\ndelivery_window = "48h"\n')
    (ws.dir / "lista.csv").write_text("telefone;mensagem;ref\n5511987650010;a;r-1\n", encoding="utf-8")
    ok(ws.batcher("push", "lista.csv"))
    settings = load_settings(ws.config, environ={})
    clock = ManualClock(sim.clock.now() + timedelta(seconds=1))
    result = reconcile(Context(settings, clock=clock))  # sent
    assert result.passes[0].changes == {"sent": 1}
    clock.advance(48 * 3600 + 60)
    result = reconcile(Context(settings, clock=clock))
    assert result.passes[0].changes == {"sent_final": 1} and result.outstanding == 0
    # a message the platform never knew of (here: its status is gone) expires after 3 days
    (ws.dir / "outra.csv").write_text("telefone;mensagem;ref\n5511987650020;b;r-2\n", encoding="utf-8")
    ok(ws.batcher("push", "outra.csv"))
    sim.advance_clock(4 * 86400)  # the simulator forgets statuses after 3 days
    clock.advance(4 * 86400)
    result = reconcile(Context(settings, clock=clock))
    assert result.passes[0].changes == {"expired": 1}
    row = next(r for r in report_json(ws, "outra.csv"))
    assert row["outcome"] == "expired" and "3-day retention" in row["reason"]
