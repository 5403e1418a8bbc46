"""Customer data at rest (issue 12) on real files: whatever the umask, nothing a push, a
run, a watch, a report or a purge writes is readable by group or others; secrets files
readable by others are warned about and fail `check`."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batcher.sim import Simulator
from tests.fixtures.platform import Workspace, make_workspace


def run_with_umask(ws: Workspace, umask: int, *args: str, wait: bool = True,
                   timeout: float = 120) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BATCHER_")},
           "BATCHER_CONFIG": str(ws.config)}
    cmd = [sys.executable, "-m", "batcher", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=ws.dir, env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, preexec_fn=lambda: os.umask(umask))
    return subprocess.run(cmd, cwd=ws.dir, env=env, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=lambda: os.umask(umask))


def exposed(root: Path) -> list[str]:
    """Everything below `root` (root included) that group or others can read or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {stat.filemode(mode)}")
    return found


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_push_run_watch_report_leave_nothing_readable_by_others(tmp_path: Path, make_sim, umask: int) -> None:  # type: ignore[no-untyped-def]
    sim: Simulator = make_sim(sent_delay=0.1, delivered_delay=0.2, error_projects=frozenset({"ERRO"}))
    ws = make_workspace(tmp_path / "work", host=sim.host, port=sim.sftp_port, username=sim.config.username,
                        password=sim.config.password, known_hosts=None, remote_root=sim.config.root,
                        api_url=sim.api_url, extra='[watch]\nsettle_seconds = "0.3s"\nrescan_interval = "1s"\n')
    trusted = run_with_umask(ws, umask, "trust-host", "--fingerprint", sim.fingerprint)
    assert trusted.returncode == 0, trusted.stderr
    lista = ws.dir / "lista.csv"
    lista.write_text("telefone;mensagem\n5511987650010;oi\nabc;ruim\n", encoding="utf-8")
    assert run_with_umask(ws, umask, "push", str(lista)).returncode == 0
    # a file the platform moves to error/: its copy is downloaded into the state dir
    erro = ws.dir / "erro.csv"
    erro.write_text("telefone;mensagem\n5511987650020;x\n", encoding="utf-8")
    assert run_with_umask(ws, umask, "push", "--project", "ERRO", str(erro)).returncode == 5
    assert run_with_umask(ws, umask, "reconcile").returncode == 0
    assert run_with_umask(ws, umask, "report", "d1", "-o", "relatorio.csv").returncode == 0
    assert stat.S_IMODE((ws.dir / "relatorio.csv").stat().st_mode) == 0o600
    # the inbox modes: an archived drop with refused rows, a drop refused as a whole, reports
    inbox = ws.dir / "inbox" / "PROMO"
    inbox.mkdir(parents=True)
    (inbox / "noite.csv").write_text("telefone;mensagem\n5511987650030;boa noite\nxyz;ruim\n", encoding="utf-8")
    (inbox / "ruim.csv").write_text("telefone;mensagem\nabc;x\n", encoding="utf-8")
    assert run_with_umask(ws, umask, "run").returncode == 0
    (inbox / "depois.csv").write_text("telefone;mensagem\n5511987650040;ola\n", encoding="utf-8")
    watch = run_with_umask(ws, umask, "watch", wait=False)
    deadline = time.monotonic() + 60
    while not list((ws.dir / "archive").rglob("depois.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    watch.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    watch.communicate(timeout=30)  # type: ignore[union-attr]
    assert watch.returncode == 0  # type: ignore[union-attr]
    # what was written: state (db, wal, batches, errors, rejected rows, limiter, lock,
    # known_hosts), archive, rejected, reports
    for folder in ("state", "archive", "rejected", "reports"):
        assert (ws.dir / folder).is_dir(), folder
        assert exposed(ws.dir / folder) == [], folder
    names = {p.name for p in (ws.dir / "state").rglob("*")}
    assert {"batcher.db", "known_hosts", "ratelimit.json"} <= names
    assert any(n.endswith(".rejected.csv") for n in names) and (ws.dir / "state" / "errors").is_dir()
    assert list((ws.dir / "archive").rglob("noite.rejected.csv")) and (ws.dir / "rejected" / "ruim.errors.csv").exists()


def test_loose_secrets_and_folders_are_warned_about_and_fail_check(tmp_path: Path, make_sim) -> None:  # type: ignore[no-untyped-def]
    sim: Simulator = make_sim(password="s3cr3t-Pw-never-shown")
    ws = make_workspace(tmp_path / "work", host=sim.host, port=sim.sftp_port, username=sim.config.username,
                        password=sim.config.password, known_hosts=sim.known_hosts_path,
                        remote_root=sim.config.root, api_url=sim.api_url)
    os.chmod(ws.config, 0o644)  # holds the password
    (ws.dir / "state").mkdir(mode=0o755)
    os.chmod(ws.dir / "state", 0o755)
    res = run_with_umask(ws, 0o022, "status")
    warnings = [line for line in res.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1, res.stderr  # once
    assert f"chmod 600 {ws.config}" in warnings[0] and sim.config.password not in res.stderr
    check = run_with_umask(ws, 0o022, "check")
    assert check.returncode == 2
    assert "FAIL  secret files" in check.stdout and "FAIL  data at rest" in check.stdout
    assert f"chmod -R go-rwx {ws.dir / 'state'}" in check.stdout
    assert stat.S_IMODE((ws.dir / "state").stat().st_mode) == 0o755  # reported, not silently changed
    os.chmod(ws.config, 0o600)
    os.chmod(ws.dir / "state", 0o700)
    fixed = run_with_umask(ws, 0o022, "check")
    assert fixed.returncode == 0, fixed.stdout
    assert "warning:" not in run_with_umask(ws, 0o022, "status").stderr


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_the_database_and_its_wal_and_shm_are_private(tmp_path: Path, umask: int) -> None:
    from batcher.store import Store

    old = os.umask(umask)
    try:
        with Store.open(tmp_path / "state") as store:
            store.add_drop("P", "h", "/x.csv", "x.csv")
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "state").iterdir()}
    finally:
        os.umask(old)
    assert files["batcher.db"] == files["batcher.db-wal"] == files["batcher.db-shm"] == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
