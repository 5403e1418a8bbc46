"""`batcher push` end to end against the REAL OpenSSH sshd: exactly once, whatever happens.

The same promise as tests/test_push.py, but the server is Debian's `/usr/sbin/sshd`
(internal-sftp) started by the `sshd` fixture, and the platform's processor is played
by `PlatformMover` (a thread in this process moving complete files from upload/ to
success/). Every test runs the real console command in a subprocess, so the exit
codes and the SIGKILLs of the failpoints are real.

Every file the mover moves is recorded (`mover.moved`): a second upload under the same
name would be moved over the first in success/ and look like one copy there, so
"exactly once" is asserted on the mover's record, not only on the listing.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.fixtures.platform import Workspace, make_workspace, rows_in, today
from tests.fixtures.sshd import PlatformMover, SshdServer, platform_mover

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "drops"
WRONG_PASSWORD = "s3cret-Wrong-pw-4711"


def first() -> str:
    """The first batch name of today (computed per call: a run may cross midnight)."""
    return f"PROMO.{today()}.01.txt"

# ~175 bytes a line: 10,000 rows make a ~1.75 MB batch, two 1 MiB upload blocks, so the
# `during_upload` failpoint (half the bytes sent) really fires with part of the file unsent.
LONG_TEXT = (
    "Ola cliente {i}, sua fatura de numero {i} vence amanha, evite juros pagando pelo "
    "aplicativo ou no caixa eletronico mais proximo. Responda SAIR para nao receber"
)


def big_drop_text(n: int) -> str:
    return "telefone;mensagem\n" + "".join(
        f"55119{i:08d};{LONG_TEXT.format(i=i)}\n" for i in range(n)
    )


def workspace(
    tmp_path: Path,
    sshd: SshdServer,
    *,
    auth: str = "password",
    password: str | None = None,
    known_hosts: Path | None = None,
    extra: str = "",
    api_token: str = "batcher-token",
) -> Workspace:
    """A workspace (config + fresh state dir) for the sshd. Called again on the same
    tmp_path it rewrites only the config: the state dir is kept (to fix a cause)."""
    if known_hosts is None:
        known_hosts = sshd.write_known_hosts(tmp_path / "known_hosts")
    return make_workspace(
        tmp_path / "work",
        host=sshd.host,
        port=sshd.port,
        username=sshd.username,
        password=(password or sshd.password) if auth == "password" else None,
        key_file=sshd.key_file if auth == "key" else None,
        known_hosts=known_hosts,
        remote_root=sshd.home,
        api_token=api_token,
        extra=extra,
    )


@pytest.fixture
def mover(sshd_fresh: SshdServer) -> Iterator[PlatformMover]:
    with platform_mover(sshd_fresh.home) as m:
        yield m


def all_names(sshd: SshdServer, sub: str) -> list[str]:
    """Every entry of a remote directory, dot files (`.NAME.part`, probes) included."""
    return sorted(os.listdir(sshd.home / sub))


def assert_nothing_sent(sshd: SshdServer, mover: PlatformMover | None = None) -> None:
    for sub in ("upload", "success", "error"):
        assert all_names(sshd, sub) == [], f"{sub}/ is not empty: {all_names(sshd, sub)}"
    if mover is not None:
        assert mover.moved == []


def assert_delivered_once(ws: Workspace, sshd: SshdServer, mover: PlatformMover, name: str | None = None) -> Path:
    """Exactly one copy of `name` reached success/, it is the local copy byte for byte,
    nothing else is anywhere on the server, and the mover moved it exactly once."""
    name = name or first()
    time.sleep(0.2)  # let anything that should not happen happen
    assert all_names(sshd, "upload") == [], f"leftovers in upload/: {all_names(sshd, 'upload')}"
    assert all_names(sshd, "error") == []
    assert all_names(sshd, "success") == [name]
    assert mover.moved == [(name, "success")], f"moved more than once: {mover.moved}"
    sent = sshd.home / "success" / name
    local = ws.state / "batches" / name
    assert sent.read_bytes() == local.read_bytes()  # exactly what left the machine
    return sent


def batch_states(ws: Workspace) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(ws.state / "batcher.db")) as db:
        return list(db.execute("select remote_name, state from batches order by id"))


def upload_events(ws: Workspace) -> int:
    """How many times the state store recorded a batch entering `uploading`."""
    with closing(sqlite3.connect(ws.state / "batcher.db")) as db:
        details = [d for (d,) in db.execute("select detail from events where kind = 'batch.state'")]
    return sum(1 for d in details if d and json.loads(d).get("to") == "uploading")


def out(res: subprocess.CompletedProcess[str]) -> str:
    return f"exit {res.returncode}\n--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}"


# -- 1. a realistic drop delivered exactly once, password and key auth -------------------


@pytest.mark.parametrize("auth", ["password", "key"])
@pytest.mark.parametrize("sample", ["clientes_promo.csv", "lembrete.xlsx"])
def test_push_of_a_sample_delivers_exactly_once(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover, sample: str, auth: str
) -> None:
    ws = workspace(tmp_path, sshd_fresh, auth=auth)
    src = SAMPLES / sample
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, out(res)
    assert "accepted" in res.stdout
    sent = assert_delivered_once(ws, sshd_fresh, mover)
    rows = rows_in(sent)
    assert rows and len(rows) == len(set(rows))
    with closing(sqlite3.connect(ws.state / "batcher.db")) as db:
        (accepted,) = db.execute("select rows_accepted from drops").fetchone()
        (messages,) = db.execute("select count(*) from messages").fetchone()
    assert len(rows) == accepted == messages
    assert batch_states(ws) == [(first(), "accepted")]
    assert upload_events(ws) == 1
    # the same content again is refused, naming the batch, and sends nothing
    again = ws.batcher("push", str(src))
    assert again.returncode == 3, out(again)
    assert first() in again.stderr and "--force" in again.stderr
    assert mover.moved == [(first(), "success")]


# -- 2. SIGKILL at each state, both upload modes, then a re-run ------------------------


# (failpoint, is the platform processing files while the killed push runs?)
CRASHES = [
    ("after_convert", True),
    ("before_upload", True),
    ("during_upload", True),
    ("after_upload", True),  # the platform moves the file before the re-run looks
    ("after_upload", False),  # the re-run finds the complete file still in upload/
    ("polling", False),  # killed while waiting for a platform that has not answered yet
]


# what the re-run prints once it has looked at the server (then the slow platform moves)
SLOW_MARKERS = {"after_upload": "already complete in upload/", "polling": "waiting for the platform"}


def run_then_start(
    ws: Workspace, args: list[str], mover: PlatformMover, marker: str
) -> subprocess.CompletedProcess[str]:
    """Run batcher; start `mover` once a stderr line contains `marker` (or the run ends)."""
    proc = ws.batcher(*args, wait=False)
    assert isinstance(proc, subprocess.Popen) and proc.stderr is not None
    seen = []
    try:
        while True:
            line = proc.stderr.readline()
            seen.append(line)
            if not line or marker in line:
                break
    finally:
        mover.start()
    stdout, rest = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, "".join(seen) + rest)


@pytest.mark.parametrize("mode", ["direct", "rename"])
@pytest.mark.parametrize(
    ("point", "platform_running"), CRASHES, ids=[f"{p}-{'fast' if r else 'slow'}" for p, r in CRASHES]
)
def test_sigkill_at_each_state_then_rerun_sends_exactly_once(
    tmp_path: Path, sshd_fresh: SshdServer, point: str, platform_running: bool, mode: str
) -> None:
    n = 10_000
    ws = workspace(tmp_path, sshd_fresh, extra=f'[sftp]\nupload_mode = "{mode}"\n')
    src = ws.drop("grande.csv", big_drop_text(n))
    mover = platform_mover(sshd_fresh.home)
    if platform_running:
        mover.start()
    try:
        killed = ws.batcher("push", str(src), env={"BATCHER_FAILPOINT": point})
        assert killed.returncode == -signal.SIGKILL, out(killed)
        if point == "during_upload":
            # really cut mid-file: a partial (never complete) file is on the server
            partial = f".{first()}.part" if mode == "rename" else first()
            left = sshd_fresh.home / "upload" / partial
            assert left.exists() and left.stat().st_size < (ws.state / "batches" / first()).stat().st_size
        if platform_running:
            rerun = ws.batcher("push", str(src))
        else:
            # the platform wakes up only once the re-run has looked at the server
            rerun = run_then_start(ws, ["push", str(src)], mover, SLOW_MARKERS[point])
        assert rerun.returncode == 0, out(rerun)
        sent = assert_delivered_once(ws, sshd_fresh, mover)
    finally:
        mover.stop()
    # the re-run took the recovery path SPEC 4.1 asks for (looked before sending)
    expected_note = {
        "during_upload": "resuming an interrupted upload",
        "after_upload": "already uploaded and accepted" if platform_running else "already complete in upload/",
    }.get(point)
    if expected_note:
        assert expected_note in rerun.stderr, out(rerun)
    rows = rows_in(sent)
    assert len(rows) == n and len(set(rows)) == n  # no row lost, none twice
    assert {r.split(";")[0] for r in rows} == {f"55119{i:08d}" for i in range(n)}
    assert batch_states(ws) == [(first(), "accepted")]
    if mode == "direct":  # and once more: nothing left to do, the content is recognised
        third = ws.batcher("push", str(src))
        assert third.returncode == 3, out(third)
        assert mover.moved == [(first(), "success")]


def test_sigkill_while_polling_after_the_platform_accepted(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover
) -> None:
    """The platform is fast: the first poll may already have recorded `accepted` when the
    push is killed. The killed push never reported, so the re-run finishes it: it reports
    the batch and exits 0 (a cron re-run must not fail); exactly one copy, nothing resent."""
    ws = workspace(tmp_path, sshd_fresh)
    src = ws.drop("grande.csv", big_drop_text(5_000))
    killed = ws.batcher("push", str(src), env={"BATCHER_FAILPOINT": "polling"})
    assert killed.returncode == -signal.SIGKILL, out(killed)
    rerun = ws.batcher("push", str(src))
    assert rerun.returncode == 0, out(rerun)
    assert first() in rerun.stdout and "accepted" in rerun.stdout, out(rerun)
    assert ws.batcher("push", str(src)).returncode == 3  # now reported: a duplicate
    assert_delivered_once(ws, sshd_fresh, mover)
    assert batch_states(ws) == [(first(), "accepted")]
    assert upload_events(ws) == 1


# -- 3. two pushes of the same drop at once -------------------------------------------


def test_two_pushes_of_the_same_drop_at_once_upload_once(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover
) -> None:
    ws = workspace(tmp_path, sshd_fresh)
    src = ws.drop("grande.csv", big_drop_text(10_000))
    a = ws.batcher("push", str(src), wait=False)
    b = ws.batcher("push", str(src), wait=False)
    out_a = a.communicate(timeout=120)  # type: ignore[union-attr]
    out_b = b.communicate(timeout=120)  # type: ignore[union-attr]
    codes = sorted((a.returncode, b.returncode))  # type: ignore[union-attr]
    # the second either follows the first's batch (0) or, if the first push had already
    # finished and reported, refuses the same content naming that batch (3); never a
    # second upload
    assert codes in ([0, 0], [0, 3]), (codes, out_a, out_b)
    for code, (_stdout, stderr) in ((a.returncode, out_a), (b.returncode, out_b)):  # type: ignore[union-attr]
        if code == 3:
            assert first() in stderr, stderr
    sent = assert_delivered_once(ws, sshd_fresh, mover)
    assert len(rows_in(sent)) == 10_000
    assert batch_states(ws) == [(first(), "accepted")]
    assert upload_events(ws) == 1


# -- 4. each failure: a clear error, nothing half-sent, and the fix then delivers once --


def test_unknown_host_key_then_trust_host_fingerprint(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover
) -> None:
    known_hosts = tmp_path / "empty_known_hosts"
    ws = workspace(tmp_path, sshd_fresh, known_hosts=known_hosts)
    src = SAMPLES / "clientes_promo.csv"
    res = ws.batcher("push", str(src))
    assert res.returncode == 2, out(res)
    assert sshd_fresh.fingerprint in res.stderr and "batcher trust-host" in res.stderr
    assert f"[127.0.0.1]:{sshd_fresh.port}" in res.stderr
    assert_nothing_sent(sshd_fresh, mover)
    # deliverable 5: trust it by fingerprint, then the same push goes through
    trust = ws.batcher("trust-host", "--fingerprint", sshd_fresh.fingerprint)
    assert trust.returncode == 0, out(trust)
    assert sshd_fresh.fingerprint in trust.stdout
    assert known_hosts.read_text().split() == sshd_fresh.known_hosts_line().split()  # OpenSSH's [host]:port form
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, out(res)
    assert_delivered_once(ws, sshd_fresh, mover)


def test_trust_host_with_a_wrong_fingerprint_writes_nothing(tmp_path: Path, sshd_fresh: SshdServer) -> None:
    known_hosts = tmp_path / "empty_known_hosts"
    ws = workspace(tmp_path, sshd_fresh, known_hosts=known_hosts)
    res = ws.batcher("trust-host", "--fingerprint", "SHA256:" + "A" * 43)
    assert res.returncode == 2, out(res)
    assert sshd_fresh.fingerprint in res.stderr
    assert not known_hosts.exists() or known_hosts.read_text().strip() == ""


def _other_host_key(tmp_path: Path) -> tuple[str, str]:
    """A different ed25519 public key ("type base64") and its fingerprint."""
    key = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    line = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    fp = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(key.with_suffix(".pub"))],
        check=True, capture_output=True, text=True,
    ).stdout.split()[1]
    return line, fp


def test_changed_host_key_is_refused_then_replaced(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover
) -> None:
    other, other_fp = _other_host_key(tmp_path)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd_fresh.port} {other}\n")
    ws = workspace(tmp_path, sshd_fresh, known_hosts=known_hosts)
    src = SAMPLES / "clientes_promo.csv"
    res = ws.batcher("push", str(src))
    assert res.returncode == 2, out(res)
    assert "changed" in res.stderr.lower()
    assert sshd_fresh.fingerprint in res.stderr and other_fp in res.stderr
    assert "trust-host" in res.stderr
    assert_nothing_sent(sshd_fresh, mover)
    # a plain trust-host refuses to overwrite a changed key; --replace does it
    assert ws.batcher("trust-host", "--fingerprint", sshd_fresh.fingerprint).returncode == 2
    fix = ws.batcher("trust-host", "--replace", "--fingerprint", sshd_fresh.fingerprint)
    assert fix.returncode == 0, out(fix)
    assert other not in known_hosts.read_text()
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, out(res)
    assert_delivered_once(ws, sshd_fresh, mover)


def test_port_22_entry_does_not_vouch_for_the_non_standard_port(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd_fresh.known_hosts_line(port=22))  # "127.0.0.1 ssh-ed25519 ..." (right key!)
    assert known_hosts.read_text().startswith("127.0.0.1 ")
    ws = workspace(tmp_path, sshd_fresh, known_hosts=known_hosts)
    src = SAMPLES / "lembrete.xlsx"
    res = ws.batcher("push", str(src))
    assert res.returncode == 2, out(res)
    assert sshd_fresh.fingerprint in res.stderr and "trust-host" in res.stderr
    assert "changed" not in res.stderr.lower()  # unknown for [127.0.0.1]:PORT, not changed
    assert_nothing_sent(sshd_fresh, mover)
    trust = ws.batcher("trust-host", "--fingerprint", sshd_fresh.fingerprint)
    assert trust.returncode == 0, out(trust)
    lines = known_hosts.read_text().splitlines()
    assert lines[0].startswith("127.0.0.1 ")  # the port 22 line is left alone
    assert lines[1].startswith(f"[127.0.0.1]:{sshd_fresh.port} ")
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, out(res)
    assert_delivered_once(ws, sshd_fresh, mover)


def test_wrong_password_exits_2_without_printing_it(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover
) -> None:
    ws = workspace(tmp_path, sshd_fresh, password=WRONG_PASSWORD)
    src = SAMPLES / "clientes_promo.csv"
    res = ws.batcher("push", str(src))
    assert res.returncode == 2, out(res)
    assert WRONG_PASSWORD not in res.stdout + res.stderr
    assert sshd_fresh.password not in res.stdout + res.stderr
    assert "refused the login" in res.stderr and sshd_fresh.username in res.stderr
    assert_nothing_sent(sshd_fresh, mover)
    ws = workspace(tmp_path, sshd_fresh)  # the right password, same state dir
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, out(res)
    assert_delivered_once(ws, sshd_fresh, mover)


def test_missing_remote_directory_exits_4_naming_it(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover
) -> None:
    ws = workspace(tmp_path, sshd_fresh, extra='[sftp]\nupload_dir = "nope"\n')
    src = SAMPLES / "clientes_promo.csv"
    res = ws.batcher("push", str(src))
    assert res.returncode == 4, out(res)
    assert "'nope'" in res.stderr and "does not exist" in res.stderr
    assert "upload_dir" in res.stderr
    assert_nothing_sent(sshd_fresh, mover)
    assert not (sshd_fresh.home / "nope").exists()
    ws = workspace(tmp_path, sshd_fresh)
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, out(res)
    assert_delivered_once(ws, sshd_fresh, mover)


@pytest.mark.parametrize("mode", ["direct", "rename"])
def test_permission_denied_exits_4_naming_the_path(
    tmp_path: Path, sshd_fresh: SshdServer, mover: PlatformMover, mode: str
) -> None:
    upload = sshd_fresh.home / "upload"
    owner = upload.stat()
    ws = workspace(tmp_path, sshd_fresh, extra=f'[sftp]\nupload_mode = "{mode}"\n')
    src = SAMPLES / "clientes_promo.csv"
    try:
        os.chown(upload, 0, 0)
        upload.chmod(0o755)
        res = ws.batcher("push", str(src))
        assert res.returncode == 4, out(res)
        target = f"upload/{first()}" if mode == "direct" else f"upload/.{first()}.part"
        assert "permission denied" in res.stderr.lower()
        assert target in res.stderr, res.stderr
        assert_nothing_sent(sshd_fresh, mover)
    finally:
        os.chown(upload, owner.st_uid, owner.st_gid)
        upload.chmod(0o755)
    # the failed attempt neither blocks nor duplicates: the same drop now goes through
    res = ws.batcher("push", str(src))
    assert res.returncode == 0, out(res)
    assert_delivered_once(ws, sshd_fresh, mover)
    assert batch_states(ws) == [(first(), "accepted")]


# -- 5. batcher check against sshd -----------------------------------------------------


@pytest.mark.parametrize("auth", ["password", "key"])
def test_check_against_sshd(tmp_path: Path, sshd_fresh: SshdServer, auth: str) -> None:
    ws = workspace(tmp_path, sshd_fresh, auth=auth, api_token="")  # no API here: fail fast
    res = ws.batcher("check")
    lines = res.stdout.splitlines()
    for item in ("host key and login", "remote directories", "write permission"):
        [line] = [ln for ln in lines if f"{item}:" in ln]
        assert line.lstrip().startswith("ok"), out(res)
    assert "status API" in res.stdout  # it fails (no token, no API), and that is all that may
    assert [ln for ln in lines if "FAIL" in ln and "status API" not in ln] == []
    assert_nothing_sent(sshd_fresh)  # the write probe cleaned up after itself


def test_check_explains_a_permission_problem(tmp_path: Path, sshd_fresh: SshdServer) -> None:
    upload = sshd_fresh.home / "upload"
    owner = upload.stat()
    ws = workspace(tmp_path, sshd_fresh, api_token="")
    try:
        os.chown(upload, 0, 0)
        upload.chmod(0o755)
        res = ws.batcher("check")
    finally:
        os.chown(upload, owner.st_uid, owner.st_gid)
        upload.chmod(0o755)
    assert res.returncode == 4, out(res)
    [line] = [ln for ln in res.stdout.splitlines() if "write permission:" in ln]
    assert "FAIL" in line and "permission denied" in line.lower() and "upload/" in line
    assert_nothing_sent(sshd_fresh)
