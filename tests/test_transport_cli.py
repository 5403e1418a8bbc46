"""`batcher trust-host`, run as a user runs it (a subprocess), against a real sshd."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from batcher.transport import SftpTransport
from tests.fixtures.sshd import SshdServer

pytestmark = pytest.mark.sshd


def write_config(tmp_path: Path, server: SshdServer) -> Path:
    config = tmp_path / "batcher.toml"
    config.write_text(
        "[sftp]\n"
        f'host = "{server.host}"\n'
        f"port = {server.port}\n"
        f'username = "{server.username}"\n'
        'known_hosts = "state/known_hosts"\n'
        'connect_timeout = "5s"\n'
    )
    return config


def trust_host(config: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batcher", "trust-host", "--config", str(config), *args],
        input=input, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def config(tmp_path: Path, sshd: SshdServer) -> Path:
    return write_config(tmp_path, sshd)


def test_yes_writes_the_bracketed_line_and_the_transport_accepts_it(
    config: Path, sshd: SshdServer, tmp_path: Path
) -> None:
    done = trust_host(config, "--yes")
    assert done.returncode == 0, done.stderr
    for shown in (sshd.host, str(sshd.port), "ssh-ed25519", sshd.fingerprint):
        assert shown in done.stdout
    kh = tmp_path / "state" / "known_hosts"
    assert kh.read_text() == sshd.known_hosts_line()  # "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
    with SftpTransport(sshd.settings(kh), sshd.password) as t:
        assert "upload" not in t.listdir(".")  # connected: host key accepted

    again = trust_host(config, "--yes")
    assert again.returncode == 0 and "already trusted" in again.stdout
    assert kh.read_text() == sshd.known_hosts_line()


def trust_host_on_a_terminal(config: Path, answer: str) -> tuple[int, str]:
    """Run trust-host on a real pseudo-terminal and answer its question."""
    main, secondary = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "batcher", "trust-host", "--config", str(config)],
                            stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True)
    os.close(secondary)
    seen = b""
    try:
        while b"Trust this key" not in seen:
            ready, _, _ = select.select([main], [], [], 30)
            assert ready, f"no question asked: {seen!r}"
            seen += os.read(main, 4096)
        os.write(main, answer.encode() + b"\n")
        while True:
            ready, _, _ = select.select([main], [], [], 30)
            assert ready, f"no answer: {seen!r}"
            try:
                chunk = os.read(main, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        return proc.wait(timeout=30), seen.decode(errors="replace")
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_asks_before_trusting_on_a_terminal(config: Path, sshd: SshdServer, tmp_path: Path) -> None:
    kh = tmp_path / "state" / "known_hosts"
    code, shown = trust_host_on_a_terminal(config, "n")
    assert code == 2, shown  # the operator must act: a usage answer, not "unexpected error"
    assert sshd.fingerprint in shown and "--fingerprint" in shown and "not trusted" in shown
    assert not kh.exists()
    code, shown = trust_host_on_a_terminal(config, "y")
    assert code == 0, shown
    assert kh.read_text() == sshd.known_hosts_line()


def test_without_a_terminal_it_says_how_to_trust_non_interactively(
    config: Path, sshd: SshdServer, tmp_path: Path
) -> None:
    refused = trust_host(config, input="y\n")  # a pipe is not an operator checking a fingerprint
    assert refused.returncode == 2
    assert sshd.fingerprint in refused.stderr
    assert f"--fingerprint {sshd.fingerprint}" in refused.stderr and "--yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "state" / "known_hosts").exists()


def test_fingerprint_must_match(config: Path, sshd: SshdServer, tmp_path: Path) -> None:
    kh = tmp_path / "state" / "known_hosts"
    wrong = "SHA256:" + "A" * 43
    mismatch = trust_host(config, "--fingerprint", wrong)
    assert mismatch.returncode == 2
    assert wrong in mismatch.stderr and sshd.fingerprint in mismatch.stderr
    assert not kh.exists()
    match = trust_host(config, "--fingerprint", sshd.fingerprint)
    assert match.returncode == 0, match.stderr
    assert kh.read_text() == sshd.known_hosts_line()


def test_changed_key_needs_replace(config: Path, sshd: SshdServer, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    old_line = f"[{sshd.host}]:{sshd.port} " + " ".join(other.with_suffix(".pub").read_text().split()[:2]) + "\n"
    kh = tmp_path / "state" / "known_hosts"
    kh.parent.mkdir()
    kh.write_text("example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n" + old_line)

    refused = trust_host(config, "--yes")
    assert refused.returncode == 2
    assert "CHANGED" in refused.stderr and "--replace" in refused.stderr
    assert old_line in kh.read_text()

    replaced = trust_host(config, "--replace", "--fingerprint", sshd.fingerprint)
    assert replaced.returncode == 0, replaced.stderr
    assert "removed 1 old line" in replaced.stdout
    lines = kh.read_text().splitlines(keepends=True)
    assert lines[0].startswith("example.org ") and lines[1:] == [sshd.known_hosts_line()]


def test_server_down(tmp_path: Path, sshd: SshdServer) -> None:
    config = write_config(tmp_path, sshd)
    config.write_text(config.read_text().replace(f"port = {sshd.port}", "port = 1"))
    done = trust_host(config, "--yes")
    assert done.returncode == 4 and "cannot connect" in done.stderr
