"""`batcher sim` as a user runs it: a subprocess that prints how to connect and stops on a signal."""

from __future__ import annotations

import base64
import hashlib
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import paramiko
import pytest

from tests.fixtures.sim import wait_for


def start_cli(root: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "batcher", "sim", "--port", "0", "--api-port", "0",
                             "--root", str(root), "--sent-delay", "0.1", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_banner(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Stop with"):
            return "".join(lines)
    proc.kill()
    pytest.fail(f"no banner: {''.join(lines)} {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sim_command_prints_how_to_connect_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc = start_cli(tmp_path / "root")
    try:
        banner = read_banner(proc)
        port = int(re.search(r"port (\d+)\s+user batcher\s+password batcher", banner).group(1))  # type: ignore[union-attr]
        fingerprint = re.search(r"fingerprint (SHA256:\S+)", banner).group(1)  # type: ignore[union-attr]
        known_hosts = Path(re.search(r"known_hosts (\S+)", banner).group(1))  # type: ignore[union-attr]
        api_url = re.search(r"API\s+(http://127\.0\.0\.1:\d+)", banner).group(1)  # type: ignore[union-attr]
        assert "username batcher" in banner and "authenticationtoken batcher-token" in banner
        assert "LAST THREE DIGITS" in banner
        assert known_hosts.read_text().startswith(f"[127.0.0.1]:{port} ssh-ed25519 ")

        transport = paramiko.Transport(("127.0.0.1", port))
        try:
            transport.connect(username="batcher", password="batcher")
            key = transport.get_remote_server_key()
            served = "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
            assert served == fingerprint
        finally:
            transport.close()
        r = httpx.get(f"{api_url}/v1/sms/status/list",
                      headers={"username": "batcher", "authenticationtoken": "batcher-token"})
        assert r.status_code == 200 and r.json() == {"smsStatuses": []}
    finally:
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "stopping simulator" in out


def test_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for option in ("--port", "--api-port"):
            args = [sys.executable, "-m", "batcher", "sim", "--root", str(tmp_path / "r"),
                    "--port", "0", "--api-port", "0", option, str(port)]
            done = subprocess.run(args, capture_output=True, text=True, timeout=30)
            assert done.returncode == 2, done.stderr
            assert "already in use" in done.stderr and option in done.stderr


def test_fault_options_reach_the_simulator(tmp_path: Path) -> None:
    proc = start_cli(tmp_path / "root", "--api-5xx-rate", "1", "--seed", "4")
    try:
        banner = read_banner(proc)
        api_url = re.search(r"API\s+(http://127\.0\.0\.1:\d+)", banner).group(1)  # type: ignore[union-attr]
        r = httpx.get(f"{api_url}/v1/sms/status/list",
                      headers={"username": "batcher", "authenticationtoken": "batcher-token"})
        assert r.status_code in (500, 503, 504)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0
    wait_for(lambda: (tmp_path / "root" / ".sim" / "requests.jsonl").exists())


def test_api_options_reach_the_simulator(tmp_path: Path) -> None:
    proc = start_cli(tmp_path / "root", "--list-page", "1", "--rate-limit", "0", "--api-sloppy-json",
                     "--delivered-delay", "0.1")
    try:
        banner = read_banner(proc)
        assert "no rate limit; /list pages of 1, sloppy JSON" in banner
        api_url = re.search(r"API\s+(http://127\.0\.0\.1:\d+)", banner).group(1)  # type: ignore[union-attr]
        port = int(re.search(r"port (\d+)\s+user batcher", banner).group(1))  # type: ignore[union-attr]
        transport = paramiko.Transport(("127.0.0.1", port))
        try:
            transport.connect(username="batcher", password="batcher")
            sftp = paramiko.SFTPClient.from_transport(transport)
            assert sftp is not None
            name = f"P.{time.strftime('%Y%m%d')}.01.txt"
            with sftp.open(f"upload/{name}", "w") as fh:
                fh.write("5511900000010;a;c-1;\n5511900000021;b;c-2;\nEOF\n")
        finally:
            transport.close()
        wait_for(lambda: (tmp_path / "root" / "success" / name).exists(), message="processed")
        headers = {"username": "batcher", "authenticationtoken": "batcher-token"}

        def listed() -> list[dict]:
            return httpx.get(f"{api_url}/v1/sms/status/list", headers=headers).json()["smsStatuses"]

        first = wait_for(listed, message="a first page")
        second = wait_for(listed, message="a second page")
        assert [len(first), len(second)] == [1, 1]  # a page of one; no 429 at once (no rate limit)
        assert "subAccount" in first[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0
