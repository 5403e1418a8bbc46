"""SftpTransport against a real OpenSSH sshd: what a user sees for each outcome.

A connection dropped mid-upload is the one fault a real server cannot produce on
demand; `CuttingProxy`, a real TCP proxy between the transport and sshd, cuts it.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batcher.errors import AuthenticationError, HostKeyError, PlatformUnreachable, RemoteError
from batcher.transport import RemoteFile, SftpTransport
from tests.fixtures.sshd import SshdServer, platform_mover

pytestmark = pytest.mark.sshd

NAME = "PROJ1.20240105.01.txt"


def batch_file(path: Path, rows: int = 2000) -> Path:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for i in range(rows):
            fh.write(f"55119{i:08d};Olá {i}, sua fatura está disponível;corr-{i};\n")
        fh.write("EOF\n")
    return path


class Sleeps(list[float]):
    """The transport's sleep: records each wait (and calls `before`, if set) without waiting."""

    before: Callable[[], None] | None = None

    def __call__(self, seconds: float) -> None:
        if self.before is not None:
            self.before()
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def known_hosts(tmp_path: Path, sshd_fresh: SshdServer) -> Path:
    return sshd_fresh.write_known_hosts(tmp_path / "known_hosts")


@pytest.fixture
def connect(sshd_fresh: SshdServer, known_hosts: Path, sleeps: Sleeps) -> Iterator[Callable[..., SftpTransport]]:
    opened: list[SftpTransport] = []

    def make(password: str | None = sshd_fresh.password, **overrides: Any) -> SftpTransport:
        overrides.setdefault("known_hosts", known_hosts)
        t = SftpTransport(sshd_fresh.settings(**overrides), password, sleep=sleeps)
        opened.append(t)
        return t

    yield make
    for t in opened:
        t.close()


def remote_files(server: SshdServer, d: str = "upload") -> list[str]:
    return sorted(p.name for p in (server.home / d).iterdir())


# -- upload -------------------------------------------------------------------------


def test_upload_direct(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path) -> None:
    local = batch_file(tmp_path / NAME)
    seen: list[tuple[int, int]] = []
    with connect() as t:
        t.upload(local, "upload", NAME, mode="direct", progress=lambda d, n: seen.append((d, n)))
        assert t.stat(f"upload/{NAME}") == RemoteFile(NAME, local.stat().st_size, t.stat(f"upload/{NAME}").mtime)
    assert (sshd_fresh.home / "upload" / NAME).read_bytes() == local.read_bytes()
    assert remote_files(sshd_fresh) == [NAME]
    assert seen[0] == (0, local.stat().st_size) and seen[-1] == (local.stat().st_size,) * 2


def test_upload_rename_goes_through_a_dot_part_file(
    sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path
) -> None:
    local = batch_file(tmp_path / NAME, rows=50_000)
    during: list[list[str]] = []
    with connect() as t:
        t.upload(local, "upload", NAME, mode="rename", progress=lambda d, n: during.append(remote_files(sshd_fresh)))
    assert during and all(names == [f".{NAME}.part"] for names in during)
    assert remote_files(sshd_fresh) == [NAME]
    assert (sshd_fresh.home / "upload" / NAME).read_bytes() == local.read_bytes()


def test_size_mismatch_after_upload_is_an_error(
    sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path
) -> None:
    local = batch_file(tmp_path / NAME)
    t = connect()
    real_rename = t.rename

    def rename_then_corrupt(self: SftpTransport, src: str, dst: str) -> None:
        real_rename(src, dst)
        with (sshd_fresh.home / dst).open("ab") as fh:  # something else touched the file
            fh.write(b"x")

    t.rename = types.MethodType(rename_then_corrupt, t)  # type: ignore[method-assign]
    with pytest.raises(RemoteError, match=rf"upload/{NAME}: the SFTP server has \d+ bytes, the local file \d+"):
        t.upload(local, "upload", NAME, mode="rename")


def test_file_moved_to_success_during_upload_counts(
    sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path
) -> None:
    local = batch_file(tmp_path / NAME, rows=20_000)
    size = local.stat().st_size

    def platform_moves_it(done: int, total: int) -> None:
        if done == total:  # the platform grabs the file while the last writes are in flight
            os.rename(sshd_fresh.home / "upload" / NAME, sshd_fresh.home / "success" / NAME)

    with connect() as t:
        t.upload(local, "upload", NAME, mode="direct", progress=platform_moves_it)
    assert remote_files(sshd_fresh) == []
    assert (sshd_fresh.home / "success" / NAME).stat().st_size == size


@pytest.mark.parametrize("mode", ["direct", "rename"])
def test_platform_mover_success_and_error_both_count(
    sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path, mode: str
) -> None:
    good = batch_file(tmp_path / NAME)
    bad = batch_file(tmp_path / "not-a-batch-name.txt")
    with platform_mover(sshd_fresh.home, interval=0.001) as mover, connect() as t:
        t.upload(good, "upload", good.name, mode=mode)  # type: ignore[arg-type]
        t.upload(bad, "upload", bad.name, mode=mode)  # type: ignore[arg-type]
        assert mover.wait_for(good.name) == "success"
        assert mover.wait_for(bad.name) == "error"
    assert (sshd_fresh.home / "success" / good.name).read_bytes() == good.read_bytes()
    assert (sshd_fresh.home / "error" / bad.name).read_bytes() == bad.read_bytes()


# -- host keys ----------------------------------------------------------------------


def test_unknown_host_key(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path) -> None:
    t = connect(known_hosts=tmp_path / "empty_known_hosts")
    with pytest.raises(HostKeyError) as info:
        t.upload(batch_file(tmp_path / NAME), "upload", NAME, mode="direct")
    msg = str(info.value)
    assert sshd_fresh.fingerprint in msg and "batcher trust-host" in msg
    assert f"[127.0.0.1]:{sshd_fresh.port}" in msg and not info.value.changed
    assert remote_files(sshd_fresh) == []
    assert not (tmp_path / "empty_known_hosts").exists()  # never auto-added


def test_changed_host_key(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh = tmp_path / "kh"
    kh.write_text(f"[127.0.0.1]:{sshd_fresh.port} " + " ".join(other.with_suffix(".pub").read_text().split()[:2]) + "\n")
    with pytest.raises(HostKeyError) as info:
        connect(known_hosts=kh).connect()
    msg = str(info.value)
    assert info.value.changed and "CHANGED" in msg and "attack" in msg
    assert sshd_fresh.fingerprint in msg and f"line 1 of {kh}" in msg


def test_bracketed_entry_is_read_and_port_22_form_does_not_match(
    sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.write_text(sshd_fresh.known_hosts_line(port=22))  # "127.0.0.1 ssh-ed25519 ..."
    assert plain.read_text().startswith("127.0.0.1 ssh-ed25519 ")
    with pytest.raises(HostKeyError) as info:
        connect(known_hosts=plain).connect()
    assert not info.value.changed

    bracketed = tmp_path / "bracketed"
    bracketed.write_text(sshd_fresh.known_hosts_line())
    assert bracketed.read_text().startswith(f"[127.0.0.1]:{sshd_fresh.port} ")
    with connect(known_hosts=bracketed) as t:
        assert set(t.listdir(".")) == set()  # no regular files in the home, only dirs


def test_hashed_known_hosts(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path) -> None:
    kh = sshd_fresh.write_known_hosts(tmp_path / "hashed")
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert kh.read_text().startswith("|1|")
    with connect(known_hosts=kh) as t:
        t.connect()
        assert t.connected


# -- authentication -----------------------------------------------------------------


def test_wrong_password(
    sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "not-the-right-pw-1234"
    with pytest.raises(AuthenticationError) as info:
        connect(password=secret).listdir("upload")
    msg = str(info.value)
    assert secret not in caplog.text and secret not in repr(connect(password=secret))
    assert secret not in msg and sshd_fresh.password not in msg
    assert "refused the login" in msg and sshd_fresh.username in msg
    assert sleeps == []  # not retried


def test_key_auth(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path) -> None:
    with connect(password=None, key_file=sshd_fresh.key_file) as t:
        t.upload(batch_file(tmp_path / NAME), "upload", NAME, mode="direct")
    assert remote_files(sshd_fresh) == [NAME]


def test_unauthorized_key_falls_back_to_password(
    sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with connect(key_file=stranger) as t:
        assert t.listdir("upload") == {}
    with pytest.raises(AuthenticationError, match="tried key .* then password"):
        connect(password="wrong", key_file=stranger).connect()


# -- remote refusals ----------------------------------------------------------------


def test_missing_remote_dir(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path) -> None:
    t = connect(upload_dir="uplaod")
    with pytest.raises(RemoteError, match=r"'uplaod' does not exist .*check \[sftp\] upload_dir"):
        t.listdir("uplaod")
    with pytest.raises(RemoteError, match=r"'uplaod' does not exist"):
        t.upload(batch_file(tmp_path / NAME), "uplaod", NAME, mode="direct")
    with pytest.raises(RemoteError, match=r"'uplaod' does not exist"):
        t.probe_write("uplaod")


def test_permission_denied(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path) -> None:
    locked = sshd_fresh.home / "locked"
    locked.mkdir()
    os.chown(locked, 0, 0)
    locked.chmod(0o555)
    t = connect()
    with pytest.raises(RemoteError, match=rf"locked/{NAME}: permission denied"):
        t.upload(batch_file(tmp_path / NAME), "locked", NAME, mode="direct")
    with pytest.raises(RemoteError, match=r"locked/\.batcher-check-[0-9a-f]+\.part: permission denied"):
        t.probe_write("locked")
    assert list(locked.iterdir()) == []
    t.probe_write("upload")  # allowed, and leaves nothing behind
    assert remote_files(sshd_fresh) == []


def test_server_down_after_retries(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], sleeps: Sleeps) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    t = connect(port=closed_port, retries=3)
    with pytest.raises(PlatformUnreachable) as info:
        t.listdir("upload")
    assert not isinstance(info.value, RemoteError)
    assert "after 4 attempt(s)" in str(info.value) and "refused" in str(info.value).lower()
    assert sleeps == [1.0, 2.0, 4.0]


def test_server_that_never_answers_times_out(connect: Callable[..., SftpTransport], sleeps: Sleeps) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never sends a banner
        t = connect(port=silent.getsockname()[1], connect_timeout=0.3, retries=1)
        started = time.monotonic()
        with pytest.raises(PlatformUnreachable, match="after 2 attempt"):
            t.connect()
    assert time.monotonic() - started < 10 and sleeps == [1.0]


def test_other_operations(sshd_fresh: SshdServer, connect: Callable[..., SftpTransport], tmp_path: Path) -> None:
    local = batch_file(tmp_path / NAME, rows=30_000)
    with connect() as t:
        t.upload(local, "upload", NAME, mode="direct")
        listing = t.listdir("upload")
        assert list(listing) == [NAME] and listing[NAME].size == local.stat().st_size
        t.rename(f"upload/{NAME}", f"error/{NAME}")
        assert t.stat(f"upload/{NAME}") is None
        t.download(f"error/{NAME}", tmp_path / "back" / NAME)
        assert (tmp_path / "back" / NAME).read_bytes() == local.read_bytes()
        t.remove(f"error/{NAME}")
        assert t.listdir("error") == {}
        with pytest.raises(RemoteError, match="no such file"):
            t.remove(f"error/{NAME}")
        with pytest.raises(RemoteError, match="no such file"):
            t.download(f"error/{NAME}", tmp_path / "nothing")
        assert not (tmp_path / "nothing").exists()


# -- connection dropped mid-upload ----------------------------------------------------


class CuttingProxy:
    """A TCP proxy to sshd that cuts its first `cuts` connections once `cut_after`
    bytes went upstream, calling `on_cut` then."""

    def __init__(self, target_port: int, cut_after: int, cuts: int = 1, on_cut: Callable[[], None] | None = None):
        self.target_port = target_port
        self.cut_after = cut_after
        self.cuts_left = cuts
        self.on_cut = on_cut
        self.upstream: list[int] = []  # bytes sent upstream, per connection
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            index = len(self.upstream)
            self.upstream.append(0)
            cut = None
            if self.cuts_left > 0:
                self.cuts_left -= 1
                cut = self.cut_after
            self._start(self._pump, client, server, index, cut)
            self._start(self._pump, server, client, None, None)

    def _pump(self, src: socket.socket, dst: socket.socket, index: int | None, cut: int | None) -> None:
        try:
            while data := src.recv(65536):
                if index is not None:
                    if cut is not None and self.upstream[index] + len(data) > cut:
                        if self.on_cut:
                            self.on_cut()
                        break
                    self.upstream[index] += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        # close() alone does not wake a thread blocked in accept(); shutdown() does
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def proxy_for(sshd_fresh: SshdServer, tmp_path: Path) -> Iterator[Callable[..., tuple[CuttingProxy, Path]]]:
    proxies: list[CuttingProxy] = []

    def make(**kwargs: Any) -> tuple[CuttingProxy, Path]:
        proxy = CuttingProxy(sshd_fresh.port, **kwargs)
        proxies.append(proxy)
        return proxy, sshd_fresh.write_known_hosts(tmp_path / f"kh-{proxy.port}", port=proxy.port)

    yield make
    for p in proxies:
        p.close()


@pytest.mark.parametrize("mode", ["direct", "rename"])
def test_resume_after_dropped_connection(
    sshd_fresh: SshdServer,
    connect: Callable[..., SftpTransport],
    proxy_for: Callable[..., tuple[CuttingProxy, Path]],
    sleeps: Sleeps,
    tmp_path: Path,
    mode: str,
) -> None:
    local = batch_file(tmp_path / NAME, rows=100_000)
    size = local.stat().st_size
    proxy, kh = proxy_for(cut_after=size // 3)
    progress: list[int] = []
    reconnected_at: list[int] = []  # how many progress calls came before the reconnect's wait
    sleeps.before = lambda: reconnected_at.append(len(progress))
    with connect(port=proxy.port, known_hosts=kh) as t:
        t.upload(local, "upload", NAME, mode=mode, progress=lambda d, n: progress.append(d))  # type: ignore[arg-type]
    assert (sshd_fresh.home / "upload" / NAME).read_bytes() == local.read_bytes()
    assert remote_files(sshd_fresh) == [NAME]
    assert len(proxy.upstream) == 2 and sleeps == [1.0]
    assert progress[0] == 0 and progress[-1] == size
    # the first progress call of the second attempt says where it resumed: at most what the
    # first connection carried (progress of the first attempt may have counted pipelined
    # writes that never arrived, or stopped short of what did)
    resumed_at = progress[reconnected_at[0]]
    assert 0 < resumed_at <= size // 3
    # the second connection carried the rest only (plus a little protocol overhead)
    assert proxy.upstream[1] < size - resumed_at + 100_000


def test_no_resume_restarts_from_zero(
    sshd_fresh: SshdServer,
    connect: Callable[..., SftpTransport],
    proxy_for: Callable[..., tuple[CuttingProxy, Path]],
    tmp_path: Path,
) -> None:
    local = batch_file(tmp_path / NAME, rows=100_000)
    size = local.stat().st_size
    proxy, kh = proxy_for(cut_after=size // 2)
    with connect(port=proxy.port, known_hosts=kh) as t:
        t.upload(local, "upload", NAME, mode="direct", resume=False)
    assert (sshd_fresh.home / "upload" / NAME).read_bytes() == local.read_bytes()
    assert proxy.upstream[1] > size


def test_partial_file_vanished_during_drop(
    sshd_fresh: SshdServer,
    connect: Callable[..., SftpTransport],
    proxy_for: Callable[..., tuple[CuttingProxy, Path]],
    tmp_path: Path,
) -> None:
    local = batch_file(tmp_path / NAME, rows=100_000)
    partial = sshd_fresh.home / "upload" / NAME

    def platform_takes_partial() -> None:
        os.rename(partial, sshd_fresh.home / "error" / NAME)

    proxy, kh = proxy_for(cut_after=local.stat().st_size // 3, on_cut=platform_takes_partial)
    with pytest.raises(RemoteError, match=rf"upload/{NAME} vanished .*not sending it again under the same name"):
        with connect(port=proxy.port, known_hosts=kh) as t:
            t.upload(local, "upload", NAME, mode="direct")
    assert remote_files(sshd_fresh) == []


def test_connection_dropping_every_time_gives_up(
    sshd_fresh: SshdServer,
    connect: Callable[..., SftpTransport],
    proxy_for: Callable[..., tuple[CuttingProxy, Path]],
    sleeps: Sleeps,
    tmp_path: Path,
) -> None:
    local = batch_file(tmp_path / NAME, rows=100_000)
    proxy, kh = proxy_for(cut_after=200_000, cuts=100)
    with pytest.raises(PlatformUnreachable, match="lost the connection"):
        with connect(port=proxy.port, known_hosts=kh, retries=2) as t:
            t.upload(local, "upload", NAME, mode="direct")
    assert sleeps == [1.0, 2.0]
