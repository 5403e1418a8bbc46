"""`batcher push` end to end against the embedded simulator: exactly once, whatever happens.

Every test runs the real console command in a subprocess (real exit codes, real
SIGKILLs) against the simulator's real asyncssh SFTP server and file processor.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.fixtures.platform import Workspace, make_workspace, rows_in, today

ROWS = [
    ("+55 (11) 98765-4321", "Olá Ana, sua fatura vence amanhã", "fat-1"),
    ("21998765104", "Olá Bruno; promoção só hoje", "fat-2"),
    ("5531998877998", "Aviso: entrega entre 8h e 12h", ""),
    ("5.5119E+12", "número estragado pelo Excel", "fat-4"),
]


def drop_text(rows: list[tuple[str, str, str]] = ROWS) -> str:
    return "telefone;mensagem;referencia\n" + "".join(f"{n};{t};{c}\n" for n, t, c in rows)


def big_drop_text(n: int) -> str:
    return "telefone;mensagem\n" + "".join(f"55119{i:08d};Mensagem numero {i} para voce\n" for i in range(n))


@pytest.fixture
def ws(tmp_path: Path, make_sim) -> Workspace:  # type: ignore[no-untyped-def]
    return workspace_for(tmp_path, make_sim())


def workspace_for(tmp_path: Path, sim, extra: str = "") -> Workspace:  # type: ignore[no-untyped-def]
    return make_workspace(
        tmp_path / "work",
        host=sim.host,
        port=sim.sftp_port,
        username=sim.config.username,
        password=sim.config.password,
        known_hosts=sim.known_hosts_path,
        remote_root=sim.config.root,
        api_url=sim.api_url,
        extra=extra,
    )


def wait_until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def all_sent_rows(ws: Workspace) -> list[str]:
    rows: list[str] = []
    for path in ws.remote("success"):
        rows.extend(rows_in(path))
    return rows


def test_push_delivers_once_and_keeps_what_left_the_machine(ws: Workspace) -> None:
    src = ws.drop("clientes.csv", drop_text(), encoding="cp1252")
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, res.stderr + res.stdout
    assert "accepted" in res.stdout
    [sent] = ws.remote("success")
    assert sent.name == f"PROMO.{today()}.01.txt"
    assert [r.split(";")[0] for r in rows_in(sent)] == ["5511987654321", "5521998765104", "5531998877998"]
    local = ws.state / "batches" / sent.name
    assert local.read_bytes() == sent.read_bytes()  # the local copy is exactly what left
    assert ws.remote("error") == [] and ws.remote("upload") == []
    status = ws.batcher("status")
    assert sent.name in status.stdout and "accepted" in status.stdout
    detail = ws.batcher("status", sent.name)
    assert "accepted" in detail.stdout and "clientes.csv" in detail.stdout
    assert "events" in detail.stdout
    assert "rows=0" not in detail.stdout and "sha256=," not in detail.stdout  # no empty placeholders


def test_same_content_is_refused_unless_forced(ws: Workspace) -> None:
    src = ws.drop("clientes.csv", drop_text())
    assert ws.batcher("push", str(src)).returncode == 0
    again = ws.batcher("push", str(src))
    assert again.returncode == 3
    assert f"PROMO.{today()}.01.txt" in again.stderr and "--force" in again.stderr
    assert len(ws.remote("success")) == 1
    forced = ws.batcher("push", "--force", str(src))
    assert forced.returncode == 0, forced.stderr
    first, second = ws.remote("success")
    assert second.name == f"PROMO.{today()}.02.txt"
    # a forced resend must not reuse generated correlationIds (reconciliation needs them unique)
    gen_first = rows_in(first)[2].split(";")[2]
    gen_second = rows_in(second)[2].split(";")[2]
    assert gen_first and gen_second and gen_first != gen_second


def test_sequence_is_allocated_above_the_remote_listings(ws: Workspace) -> None:
    (ws.remote_root / "success" / f"PROMO.{today()}.07.txt").write_text("5511987654321;x;;\nEOF\n")
    (ws.remote_root / "error" / f"PROMO.{today()}.08.txt").write_text("junk\n")
    src = ws.drop("l.csv", drop_text())
    assert ws.batcher("push", str(src)).returncode == 0
    assert (ws.remote_root / "success" / f"PROMO.{today()}.09.txt").exists()


def test_no_wait_returns_after_the_upload(ws: Workspace) -> None:
    src = ws.drop("l.csv", drop_text())
    res = ws.batcher("push", "--no-wait", str(src))
    assert res.returncode == 0, res.stderr
    wait_until(lambda: len(ws.remote("success")) == 1)
    assert "uploaded" in res.stdout


@pytest.mark.parametrize("mode", ["direct", "rename"])
@pytest.mark.parametrize("point", ["after_convert", "before_upload", "during_upload", "after_upload", "polling"])
def test_sigkill_at_each_state_then_rerun_sends_exactly_once(tmp_path: Path, make_sim, point: str, mode: str) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(eof_grace=30.0)
    ws = workspace_for(tmp_path, sim, extra=f'[sftp]\nupload_mode = "{mode}"\n')
    src = ws.drop("grande.csv", big_drop_text(20_000))  # ~800 KB: the upload takes many writes
    killed = ws.batcher("push", str(src), env={"BATCHER_FAILPOINT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = ws.batcher("push", str(src))
    assert rerun.returncode == 0, rerun.stderr + rerun.stdout
    wait_until(lambda: not ws.remote("upload") and len(ws.remote("success")) >= 1)
    time.sleep(0.5)  # let anything that should not happen happen
    [sent] = ws.remote("success")
    assert ws.remote("error") == []
    rows = rows_in(sent)
    assert len(rows) == 20_000 and len(set(rows)) == 20_000  # no row lost, none twice
    assert sent.read_bytes() == (ws.state / "batches" / sent.name).read_bytes()
    # and once more: nothing left to do, the content is recognised
    third = ws.batcher("push", str(src))
    assert third.returncode == 3
    assert len(ws.remote("success")) == 1


def test_rerun_after_a_crash_finishes_the_job_even_if_the_platform_already_accepted(ws: Workspace) -> None:
    """Killed while polling, after the platform had accepted the file: running the same
    push again must report the outcome (exit 0), not call it a duplicate (a cron job
    would read exit 3 as a failure). Once reported, the same content is a duplicate."""
    src = ws.drop("l.csv", drop_text())
    killed = ws.batcher("push", str(src), env={"BATCHER_FAILPOINT": "polling"})
    assert killed.returncode == -signal.SIGKILL
    wait_until(lambda: len(ws.remote("success")) == 1)
    rerun = ws.batcher("push", str(src))
    assert rerun.returncode == 0, rerun.stderr
    assert "interrupted push" in rerun.stderr and "accepted" in rerun.stdout
    assert ws.batcher("push", str(src)).returncode == 3
    assert len(ws.remote("success")) == 1


def test_dropped_connection_mid_upload_is_resumed_into_one_copy(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    from batcher.sim import Faults

    sim = make_sim(eof_grace=30.0, faults=Faults(seed=7, drop_after_bytes=200_000, drop_connections=2))
    ws = workspace_for(tmp_path, sim, extra="[sftp]\nretries = 5\n")
    src = ws.drop("grande.csv", big_drop_text(20_000))
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, res.stderr
    assert "connection lost" in res.stderr  # it really was cut, twice
    [sent] = ws.remote("success")
    assert sent.name == f"PROMO.{today()}.01.txt"
    assert len(rows_in(sent)) == 20_000
    assert sent.read_bytes() == (ws.state / "batches" / sent.name).read_bytes()
    assert ws.remote("error") == []


def test_partial_copy_rejected_by_the_platform_is_resent_under_a_new_name(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    """The reconnect took longer than the platform's grace for a file without EOF: the
    platform moved our partial file to error/ (nothing of it was sent). batcher must
    send the whole batch again under a fresh name, never reuse the old one."""
    from batcher.sim import Faults

    sim = make_sim(eof_grace=0.5, faults=Faults(seed=7, drop_after_bytes=200_000, drop_connections=1))
    ws = workspace_for(tmp_path, sim, extra="[sftp]\nretries = 5\n")
    src = ws.drop("grande.csv", big_drop_text(20_000))
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, res.stderr
    [partial] = ws.remote("error")
    [sent] = ws.remote("success")
    assert partial.name == f"PROMO.{today()}.01.txt" and sent.name == f"PROMO.{today()}.02.txt"
    assert not partial.read_text().rstrip().endswith("EOF")
    assert len(rows_in(sent)) == 20_000
    assert "sending it again as" in res.stderr


def test_two_pushes_of_the_same_drop_at_once_upload_once(ws: Workspace) -> None:
    src = ws.drop("grande.csv", big_drop_text(5_000))
    a = ws.batcher("push", str(src), wait=False)
    b = ws.batcher("push", str(src), wait=False)
    out_a = a.communicate(timeout=120)  # type: ignore[union-attr]
    out_b = b.communicate(timeout=120)  # type: ignore[union-attr]
    codes = sorted((a.returncode, b.returncode))  # type: ignore[union-attr]
    # the later one waits for the lock, then follows the batch the first one uploaded (0);
    # only if the first had already finished and reported is it a duplicate (3)
    assert codes in ([0, 0], [0, 3]), (out_a, out_b)
    if codes == [0, 3]:
        refused = out_a if a.returncode == 3 else out_b  # type: ignore[union-attr]
        assert f"PROMO.{today()}.01.txt" in refused[1]
    time.sleep(0.5)
    assert len(ws.remote("success")) == 1
    assert ws.remote("error") == []


def test_two_different_drops_at_once_get_different_names(ws: Workspace) -> None:
    x = ws.drop("x.csv", big_drop_text(3_000))
    y = ws.drop("y.csv", drop_text())
    a = ws.batcher("push", str(x), wait=False)
    b = ws.batcher("push", str(y), wait=False)
    a.communicate(timeout=120)  # type: ignore[union-attr]
    b.communicate(timeout=120)  # type: ignore[union-attr]
    assert (a.returncode, b.returncode) == (0, 0)  # type: ignore[union-attr]
    names = sorted(p.name for p in ws.remote("success"))
    assert names == [f"PROMO.{today()}.01.txt", f"PROMO.{today()}.02.txt"]


def test_file_moved_to_error_is_downloaded_and_exits_5(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    from batcher.sim import Faults

    ws = workspace_for(tmp_path, make_sim(faults=Faults(seed=1, file_error_rate=1.0)))
    src = ws.drop("l.csv", drop_text())
    res = ws.batcher("push", str(src))
    assert res.returncode == 5, res.stderr
    assert "file_rejected" in res.stdout
    [remote] = ws.remote("error")
    copies = list((ws.state / "errors").iterdir())
    assert len(copies) == 1 and copies[0].read_bytes() == remote.read_bytes()
    assert "file_rejected" in ws.batcher("status").stdout


def test_batch_never_processed_becomes_stuck_and_exits_4(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    from batcher.sim import Faults

    sim = make_sim(faults=Faults(processing_delay=60.0))
    ws = workspace_for(tmp_path, sim, extra='[poll]\ntimeout = "1s"\n')
    src = ws.drop("l.csv", drop_text())
    res = ws.batcher("push", str(src))
    assert res.returncode == 4, res.stderr
    assert "stuck" in res.stdout


def test_wrong_password_exits_2_without_printing_it(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim()
    ws = workspace_for(tmp_path, sim, extra='[sftp]\npassword = "s3cret-wrong-pw"\n')
    src = ws.drop("l.csv", drop_text())
    res = ws.batcher("push", str(src))
    assert res.returncode == 2
    assert "s3cret-wrong-pw" not in res.stdout + res.stderr
    assert "password" in res.stderr.lower() or "authentication" in res.stderr.lower()
    assert ws.remote("upload") == [] and ws.remote("success") == []


def test_unknown_host_key_exits_2_with_fingerprint_and_sends_nothing(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim()
    ws = workspace_for(tmp_path, sim, extra=f'[sftp]\nknown_hosts = "{tmp_path / "empty_known_hosts"}"\n')
    src = ws.drop("l.csv", drop_text())
    res = ws.batcher("push", str(src))
    assert res.returncode == 2
    assert sim.fingerprint in res.stderr and "trust-host" in res.stderr
    assert ws.remote("upload") == [] and ws.remote("success") == []
    # nothing was recorded as sent: after trusting, the same push goes through
    trust = ws.batcher("trust-host", "--fingerprint", sim.fingerprint)
    assert trust.returncode == 0, trust.stderr
    assert ws.batcher("push", str(src)).returncode == 0
    assert len(ws.remote("success")) == 1


def test_unreachable_platform_exits_4_and_the_next_run_sends(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim()
    ws = workspace_for(tmp_path, sim)
    src = ws.drop("l.csv", drop_text())
    port = sim.sftp_port
    sim.stop()
    res = ws.batcher("push", str(src))
    assert res.returncode == 4, res.stderr
    assert f"{port}" in res.stderr
    sim2 = make_sim(root=sim.config.root, port=port)
    assert sim2.sftp_port == port
    assert ws.batcher("push", str(src)).returncode == 0
    assert len(ws.remote("success")) == 1


def test_state_is_sqlite_with_an_audit_trail(ws: Workspace) -> None:
    src = ws.drop("l.csv", drop_text())
    assert ws.batcher("push", str(src)).returncode == 0
    db = sqlite3.connect(ws.state / "batcher.db")
    kinds = [k for (k,) in db.execute("select kind from events order by id")]
    states = [k for k in kinds if "state" in k or "batch" in k]
    assert states, kinds
    assert db.execute("select count(*) from messages").fetchone()[0] == 3
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_check_reports_every_item_against_the_simulator(ws: Workspace) -> None:
    res = ws.batcher("check")
    assert res.returncode == 0, res.stdout + res.stderr
    for item in ("host key and login", "remote directories", "write permission", "status API"):
        assert item in res.stdout
    assert "FAIL" not in res.stdout


def test_check_explains_bad_api_credentials(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    ws = workspace_for(tmp_path, make_sim(), extra='[api]\ntoken = "wrong-token"\n')
    res = ws.batcher("check")
    assert res.returncode == 2
    assert "FAIL" in res.stdout and "status API" in res.stdout and "401" in res.stdout
    assert "wrong-token" not in res.stdout + res.stderr


def test_subprocess_killed_mid_push_leaves_no_half_file_in_success(ws: Workspace) -> None:
    """A plain SIGKILL at a random moment (not a failpoint) must also be recoverable."""
    src = ws.drop("grande.csv", big_drop_text(30_000))
    proc = ws.batcher("push", str(src), wait=False)
    time.sleep(1.0)
    proc.kill()  # type: ignore[union-attr]
    proc.communicate()  # type: ignore[union-attr]
    res = ws.batcher("push", str(src))
    assert res.returncode in (0, 3), res.stderr  # 3 if the first run had already finished
    wait_until(lambda: len(ws.remote("success")) == 1)
    [sent] = ws.remote("success")
    assert len(rows_in(sent)) == 30_000
    assert ws.remote("error") == []


def test_status_of_unknown_batch_is_a_usage_error(ws: Workspace) -> None:
    res = ws.batcher("status", "NOPE.20200101.01.txt")
    assert res.returncode == 2


def test_sim_and_batcher_disagree_on_nothing(ws: Workspace) -> None:
    """Every row batcher accepts, the platform's strict checker accepts (it shares no code)."""
    rows = [
        ("11987654321", 'Texto com "aspas", [colchetes] | barra e € euro', "a"),
        ("11987654322", "Quebra\r\nde linha; e ponto e vírgula", "b"),
        ("11987654323", "x" * 1280, "c"),
        ("11987654324", "Emoji 😀 e acentuação", ""),
    ]
    src = ws.drop("edge.csv", drop_text(rows))
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, res.stderr
    [sent] = ws.remote("success")
    assert len(rows_in(sent)) == 4

