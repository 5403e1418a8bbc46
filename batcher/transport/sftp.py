"""The SFTP adapter: the only module that talks to paramiko for file transfer.

`SftpTransport` connects lazily, checks the host key strictly against
`sftp.known_hosts` (never adds one), logs in with the key file first and then the
password, and reconnects with exponential backoff when the connection drops. Every
paramiko / socket exception is translated here into the batcher error tree:

    host key unknown or changed           -> HostKeyError        (no retry)
    login refused                         -> AuthenticationError (no retry)
    refused / down / timeout, after retries -> PlatformUnreachable
    the server refuses an operation       -> RemoteError (missing dir, permission denied)

Upload (SPEC 4.2): `direct` writes `dir/NAME`; `rename` writes `dir/.NAME.part` and
renames it. The remote size is then compared with the local one; a file the platform
already moved to `success/` or `error/` counts as uploaded. A connection lost
mid-upload is resumed from the size of the partial remote file; a partial file that
vanished meanwhile is a `RemoteError` (the caller must not resend under that name).

Speed: paramiko is fast only when writes are pipelined and each SFTP write fits in one
SSH channel packet; AES-GCM is preferred when the server offers it (no separate MAC).

Not thread-safe: use one `SftpTransport` per thread.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import secrets
import socket
import stat as stat_module
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import paramiko

from ..errors import AuthenticationError, ConfigError, PlatformUnreachable, RemoteError
from ..fsutil import ensure_private_dir, open_private
from ..settings import SftpSettings
from .hostkeys import KnownHosts

__all__ = ["RemoteFile", "SftpTransport", "order_key_types"]

log = logging.getLogger("batcher.transport")
# paramiko logs every failed connection at ERROR with a traceback; batcher reports the
# same failure once, translated. Configure the "paramiko" logger explicitly to see them.
if logging.getLogger("paramiko").level == logging.NOTSET:
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)

T = TypeVar("T")
Progress = Callable[[int, int], None]

BACKOFF_FIRST = 1.0  # seconds before the first retry; doubles each time
BACKOFF_MAX = 30.0
KEEPALIVE = 15  # seconds between SSH keepalives
READ_BLOCK = 1 << 20  # local read size
PREFETCH_REQUESTS = 64  # concurrent read requests when downloading
# fast AEAD ciphers first when the server offers them (paramiko lists them last)
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
# an SFTP WRITE message is 25 bytes + the handle around the data; paramiko sends at
# most (channel max packet - 64) bytes per SSH packet
WRITE_OVERHEAD = 4 + 1 + 4 + 4 + 8 + 4 + 64

_CONNECTION_ERRORS = (OSError, EOFError, paramiko.SSHException)


@dataclass(frozen=True, slots=True)
class RemoteFile:
    name: str
    size: int
    mtime: float


def order_key_types(available: Sequence[str], prefer: Sequence[str]) -> tuple[str, ...]:
    """Host key algorithms with those matching the trusted key types first, so that
    the server presents the key we already know (as OpenSSH does)."""
    names: list[str] = []
    for key_type in prefer:
        names += ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if key_type == "ssh-rsa" else [key_type]
    return _prefer(available, names)


def _prefer(available: Sequence[str], first: Sequence[str]) -> tuple[str, ...]:
    wanted = [n for i, n in enumerate(first) if n in available and n not in first[:i]]
    return (*wanted, *(a for a in available if a not in wanted))


class _Unreachable(Exception):
    """Internal: one connection attempt failed in a way worth retrying."""


class SftpTransport:
    """An SFTP session to the platform; a context manager that closes it."""

    def __init__(self, settings: SftpSettings, password: str | None, *, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self._password = password
        self._sleep = sleep
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __repr__(self) -> str:
        s = self.settings
        return f"SftpTransport({s.username}@{s.host}:{s.port}, connected={self.connected})"

    def __enter__(self) -> SftpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._sftp is not None and self._transport is not None and self._transport.is_active()

    @property
    def _where(self) -> str:
        return f"{self.settings.host} port {self.settings.port}"

    # -- connection ----------------------------------------------------------------

    def connect(self) -> None:
        """Connect and log in, retrying with backoff; no-op when already connected."""
        if self.connected:
            return
        self._drop()
        attempts = self.settings.retries + 1
        last: _Unreachable | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self._backoff(attempt)
                if attempt == 1:
                    budget = sum(self._backoff(a) for a in range(1, attempts))
                    log.warning("SFTP %s: %s; will keep trying %d more time(s) for about %.0f s",
                                self._where, last, attempts - 1, budget)
                log.warning("SFTP %s: %s; retrying in %.0f s (%d/%d)", self._where, last, delay, attempt, attempts - 1)
                self._sleep(delay)
            try:
                self._open()
                return
            except _Unreachable as exc:
                last = exc
        assert last is not None
        raise PlatformUnreachable(
            f"cannot reach the SFTP server {self._where} after {attempts} attempt(s): {last} "
            "(check [sftp] host and port, and that the server is up)"
        ) from last.__cause__

    def close(self) -> None:
        self._drop()

    def _backoff(self, attempt: int) -> float:
        return min(BACKOFF_FIRST * 2 ** (attempt - 1), BACKOFF_MAX)

    def _drop(self) -> None:
        sftp, transport = self._sftp, self._transport
        self._sftp = self._transport = None
        for thing in (sftp, transport):
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # noqa: BLE001, S110 - closing a dead connection; nothing to report
                    pass

    def _open(self) -> None:
        s = self.settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.connect_timeout)
        except OSError as exc:
            raise _Unreachable(_reason(exc)) from exc
        transport = paramiko.Transport(sock)
        try:
            transport.banner_timeout = s.connect_timeout
            transport.handshake_timeout = s.connect_timeout
            transport.auth_timeout = s.connect_timeout
            known = KnownHosts.load(s.known_hosts)
            options = transport.get_security_options()
            options.key_types = order_key_types(options.key_types, known.key_types(s.host, s.port))
            options.ciphers = _prefer(options.ciphers, FAST_CIPHERS)
            try:
                transport.start_client(timeout=s.connect_timeout)
            except _CONNECTION_ERRORS as exc:
                raise _Unreachable(f"SSH handshake failed: {_reason(exc)}") from exc
            if not transport.is_active() or not transport.initial_kex_done:  # start_client timed out
                raise _Unreachable(f"no SSH handshake within {s.connect_timeout:g} s")
            known.check(s.host, s.port, transport.get_remote_server_key())
            self._authenticate(transport)
            transport.set_keepalive(KEEPALIVE)
            try:
                sftp = paramiko.SFTPClient.from_transport(transport)
            except _CONNECTION_ERRORS as exc:
                if transport.is_active():
                    raise RemoteError(
                        f"the SSH server {self._where} refused to start an SFTP session: {_reason(exc)}"
                    ) from exc
                raise _Unreachable(f"connection lost while opening the SFTP session: {_reason(exc)}") from exc
            if sftp is None:
                raise RemoteError(f"the SSH server {self._where} refused to start an SFTP session")
            sftp.get_channel().settimeout(s.connect_timeout)
        except BaseException:
            transport.close()
            raise
        self._transport, self._sftp = transport, sftp
        log.info("SFTP connected to %s as %s", self._where, s.username)

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        tried: list[str] = []
        allowed: list[str] = []
        if s.key_file is not None:
            pkey = _load_key(s.key_file)
            try:
                transport.auth_publickey(s.username, pkey)
                return
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
                tried.append(f"key {s.key_file} (the server does not accept keys)")
            except paramiko.AuthenticationException:
                tried.append(f"key {s.key_file}")
            except _CONNECTION_ERRORS as exc:
                raise _Unreachable(f"connection lost during login: {_reason(exc)}") from exc
        if self._password is not None:
            try:
                transport.auth_password(s.username, self._password)
                return
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
                tried.append("password (the server does not accept passwords)")
            except paramiko.AuthenticationException:
                tried.append("password")
            except _CONNECTION_ERRORS as exc:
                raise _Unreachable(f"connection lost during login: {_reason(exc)}") from exc
        if not tried:
            raise ConfigError(
                "no SFTP credentials: set [sftp] password (or password_file, or the "
                "BATCHER_SFTP__PASSWORD environment variable) or [sftp] key_file"
            )
        accepts = f"; the server accepts: {', '.join(allowed)}" if allowed else ""
        raise AuthenticationError(
            f"the SFTP server {self._where} refused the login of user {s.username!r} "
            f"(tried {' then '.join(tried)}{accepts}); check [sftp] username and "
            "password / password_file / key_file"
        )

    def _client(self) -> paramiko.SFTPClient:
        self.connect()
        assert self._sftp is not None
        return self._sftp

    # -- error translation -----------------------------------------------------------

    def _lost(self, exc: BaseException) -> bool:
        """Was `exc` a lost connection (worth a reconnect) rather than a refusal?"""
        if isinstance(exc, EOFError | socket.timeout | TimeoutError | paramiko.SSHException):
            return True  # (paramiko consumes the SFTP end-of-file status itself)
        if self._transport is None or not self._transport.is_active():
            return True
        if self._sftp is not None:
            channel = self._sftp.get_channel()
            if channel is None or channel.closed or channel.eof_received:
                return True
        return False

    def _after_loss(self, attempt: int, what: str, exc: BaseException) -> int:
        """Drop the dead connection and wait before the next try; raise when out of tries."""
        self._drop()
        attempt += 1
        if attempt > self.settings.retries:
            raise PlatformUnreachable(
                f"lost the connection to the SFTP server {self._where} during {what} "
                f"{attempt} time(s); giving up: {_reason(exc)}"
            ) from exc
        delay = self._backoff(attempt)
        log.warning(
            "SFTP %s: connection lost during %s (%s); reconnecting in %.0f s", self._where, what, _reason(exc), delay
        )
        self._sleep(delay)
        return attempt

    def _refused(self, exc: BaseException, what: str, path: str, *, missing: str | None = None) -> RemoteError:
        code = getattr(exc, "errno", None)
        if code == errno.ENOENT:
            return RemoteError(missing or f"{path}: no such file or directory on the SFTP server {self._where}")
        if code == errno.EACCES:
            return RemoteError(
                f"{path}: permission denied on the SFTP server {self._where} ({what}); "
                f"the user {self.settings.username!r} needs access there"
            )
        return RemoteError(f"{what} {path} failed on the SFTP server {self._where}: {_reason(exc)}")

    def _missing_dir(self, remote_dir: str) -> str:
        key = self._config_key(remote_dir)
        hint = f"; check [sftp] {key}" if key else ""
        return f"the remote directory {remote_dir!r} does not exist on the SFTP server {self._where}{hint}"

    def _config_key(self, remote_dir: str) -> str | None:
        s = self.settings
        norm = posixpath.normpath(remote_dir or ".")
        for key in ("upload_dir", "success_dir", "error_dir"):
            if posixpath.normpath(getattr(s, key) or ".") == norm:
                return key
        return None

    def _run(self, what: str, path: str, fn: Callable[[paramiko.SFTPClient], T], *, missing: str | None = None) -> T:
        """Run one (idempotent) operation, reconnecting when the connection drops."""
        attempt = 0
        while True:
            client = self._client()
            try:
                return fn(client)
            except _CONNECTION_ERRORS as exc:
                if not self._lost(exc):
                    raise self._refused(exc, what, path, missing=missing) from exc
                attempt = self._after_loss(attempt, f"{what} {path}", exc)

    # -- operations ------------------------------------------------------------------

    def listdir(self, remote_dir: str) -> dict[str, RemoteFile]:
        """The regular files in `remote_dir` by name."""
        missing = self._missing_dir(remote_dir)
        attrs = self._run("list", remote_dir, lambda c: c.listdir_attr(remote_dir), missing=missing)
        return {
            a.filename: RemoteFile(a.filename, int(a.st_size or 0), float(a.st_mtime or 0))
            for a in attrs
            if a.st_mode is None or stat_module.S_ISREG(a.st_mode)
        }

    def stat(self, remote_path: str) -> RemoteFile | None:
        """The file's size and mtime, or None when it does not exist."""

        def fn(client: paramiko.SFTPClient) -> RemoteFile | None:
            try:
                a = client.stat(remote_path)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return None
                raise
            return RemoteFile(posixpath.basename(remote_path), int(a.st_size or 0), float(a.st_mtime or 0))

        return self._run("stat", remote_path, fn)

    def rename(self, src: str, dst: str) -> None:
        self._run("rename", src, lambda c: _rename(c, src, dst))

    def remove(self, remote_path: str) -> None:
        self._run("remove", remote_path, lambda c: c.remove(remote_path))

    def download(self, remote_path: str, local: Path) -> None:
        """Copy a remote file to `local` (written to a temporary name, then renamed)."""
        local = Path(local)
        ensure_private_dir(local.parent)
        tmp = local.with_name(f".{local.name}.part")

        def fn(client: paramiko.SFTPClient) -> None:
            open_private(tmp, "wb").close()  # paramiko writes into it: 0600 from the start
            client.get(remote_path, str(tmp), prefetch=True, max_concurrent_prefetch_requests=PREFETCH_REQUESTS)

        try:
            self._run("download", remote_path, fn)
            os.chmod(tmp, 0o600)
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)

    def probe_write(self, remote_dir: str) -> None:
        """Create and delete an empty dot-file in `remote_dir` (for `batcher check`)."""
        path = _join(remote_dir, f".batcher-check-{secrets.token_hex(6)}.part")

        def fn(client: paramiko.SFTPClient) -> None:
            with client.open(path, "w"):
                pass
            client.remove(path)

        self._run("write a test file", path, fn, missing=self._missing_dir(remote_dir))

    def upload(
        self,
        local: Path,
        remote_dir: str,
        name: str,
        *,
        mode: Literal["direct", "rename"],
        progress: Progress | None = None,
        resume: bool = True,
    ) -> None:
        """Upload `local` as `remote_dir/name` and check its size (see module doc).

        `progress(done, total)` is called at the start of each attempt (`done` is where it
        resumes) and after each block sent. Raises `RemoteError` when the server refuses
        (naming the path), when the size differs afterwards, or when the partial file
        vanished during a reconnect; `PlatformUnreachable` when the retries run out.
        """
        local = Path(local)
        size = local.stat().st_size
        target = _join(remote_dir, name)
        partial = target if mode == "direct" else _join(remote_dir, f".{name}.part")
        created = False  # the server acknowledged creating `partial`
        attempt = 0
        while True:
            client = self._client()
            try:
                offset = 0
                if created:
                    found = _stat_or_none(client, partial)
                    if found is None:
                        moved = self._find_moved(name) if mode == "direct" else None
                        if moved is not None and moved[1] == size:
                            return  # complete before the drop, and already processed
                        where = f" (now in {moved[0]} with {moved[1]} of {size} bytes)" if moved else ""
                        raise RemoteError(
                            f"{partial} vanished from the SFTP server {self._where} while the upload was "
                            f"interrupted{where}: the platform moved the partial file away; "
                            "not sending it again under the same name"
                        )
                    if resume and found <= size:
                        offset = found
                        log.info("resuming the upload of %s at byte %d of %d", name, offset, size)
                handle = client.open(partial, "r+" if offset else "w", bufsize=0)
                created = True
                with handle:
                    _write_from(handle, client, local, offset, size, progress)
                # paramiko files the replies of pipelined writes under no file and drops
                # their errors, and a close the server answers after dropping the
                # connection looks like success: only the size says every write landed.
                # A stat on a connection that just died raises, and resumes below.
                landed = _stat_or_none(client, partial)
                if landed is not None and landed < size and self._transport is not None \
                        and self._transport.is_active():
                    raise RemoteError(
                        f"{partial}: the SFTP server {self._where} kept only {landed} of {size} bytes "
                        "(it refused some writes: is its disk full?)"
                    )
                break
            except _CONNECTION_ERRORS as exc:
                if not self._lost(exc):
                    raise self._refused(exc, "upload", partial, missing=self._missing_dir(remote_dir)) from exc
                attempt = self._after_loss(attempt, f"the upload of {name}", exc)
        if mode == "rename":
            self._rename_into_place(partial, target, name, size)
        self._verify(target, name, size)

    def _rename_into_place(self, partial: str, target: str, name: str, size: int) -> None:
        try:
            self.rename(partial, target)
        except RemoteError:
            # a rename retried after a lost reply finds its source gone: did it land?
            if self.stat(partial) is None and (self.stat(target) is not None or self._moved_away(name, size)):
                return
            raise

    def _verify(self, target: str, name: str, size: int) -> None:
        found = self.stat(target)
        if found is not None:
            if found.size != size:
                raise RemoteError(
                    f"{target}: the SFTP server has {found.size} bytes, the local file {size}: "
                    "the upload is incomplete"
                )
            return
        if not self._moved_away(name, size):
            s = self.settings
            raise RemoteError(
                f"{target} vanished from the SFTP server right after the upload and is in neither "
                f"{s.success_dir}/ nor {s.error_dir}/"
            )

    def _moved_away(self, name: str, size: int) -> bool:
        """Did the platform already move the complete file to success/ or error/?"""
        found = self._find_moved(name)
        if found is None:
            return False
        path, size_there = found
        if size_there != size:
            raise RemoteError(
                f"{path}: the platform moved the file with {size_there} bytes, the local file has "
                f"{size}: the upload was incomplete"
            )
        log.info("%s was already moved to %s by the platform", name, path)
        return True

    def _find_moved(self, name: str) -> tuple[str, int] | None:
        for remote_dir in (self.settings.success_dir, self.settings.error_dir):
            found = self.stat(_join(remote_dir, name))
            if found is not None:
                return _join(remote_dir, name), found.size
        return None


def _join(remote_dir: str, name: str) -> str:
    return posixpath.join(remote_dir, name) if remote_dir else name


def _stat_or_none(client: paramiko.SFTPClient, path: str) -> int | None:
    try:
        return int(client.stat(path).st_size or 0)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _rename(client: paramiko.SFTPClient, src: str, dst: str) -> None:
    try:
        client.posix_rename(src, dst)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EACCES):
            raise
        client.rename(src, dst)  # the server lacks posix-rename@openssh.com


def _write_from(
    handle: paramiko.SFTPFile,
    client: paramiko.SFTPClient,
    local: Path,
    offset: int,
    size: int,
    progress: Progress | None,
) -> None:
    """Pipelined writes of local[offset:size], each sized to fit one SSH packet."""
    handle.set_pipelined(True)
    channel = client.get_channel()
    max_packet = channel.out_max_packet_size if channel is not None else 32768
    request = max(4096, min(32768, max_packet - WRITE_OVERHEAD - len(handle.handle)))
    if offset:
        handle.seek(offset)
    done = offset
    if progress is not None:
        progress(done, size)
    with local.open("rb") as src:
        src.seek(offset)
        while done < size:
            block = src.read(min(READ_BLOCK, size - done))
            if not block:
                raise RemoteError(f"{local} shrank while it was being uploaded")
            view = memoryview(block)
            for start in range(0, len(block), request):
                handle.write(bytes(view[start : start + request]))
            done += len(block)
            if progress is not None:
                progress(done, size)


def _load_key(path: Path) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"[sftp] key_file = {str(path)!r}: no such file") from exc
    except paramiko.PasswordRequiredException as exc:
        raise ConfigError(
            f"[sftp] key_file = {str(path)!r}: the key is protected by a passphrase; batcher needs "
            "an unencrypted key file (readable only by its user)"
        ) from exc
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise ConfigError(
            f"[sftp] key_file = {str(path)!r}: not a private key batcher can read ({_reason(exc)})"
        ) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
