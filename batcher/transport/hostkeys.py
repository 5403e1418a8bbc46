"""Host keys: the OpenSSH `known_hosts` file, fingerprints, and fetching a server's key.

batcher never trusts a key silently (SPEC 4.2). `KnownHosts.check` accepts a key only
when the file holds it for the exact `host`/`port`; otherwise it raises `HostKeyError`
with the fingerprint and the command that trusts it (`batcher trust-host`).

The file format is OpenSSH's (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"):

    [host]:2222 ssh-ed25519 AAAA...        a non-standard port, bracketed
    host,10.0.0.1 ssh-ed25519 AAAA...      port 22: the bare name; comma-separated list
    |1|salt|hash ssh-ed25519 AAAA...       hashed (HashKnownHosts yes): HMAC-SHA1 of the
                                           same "host" / "[host]:port" string
    @revoked * ssh-rsa AAAA...             markers; `*`/`?` wildcards, `!` negation

A plain `host` entry is for port 22 only: it does NOT vouch for `[host]:2222`, exactly as
OpenSSH reads it. Keys are compared as their public blobs, so a key type paramiko
cannot parse never breaks the file for the other lines. A file that cannot be read or
written (a directory, no permission) is a `ConfigError` naming it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import socket
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..errors import ConfigError, HostKeyError, PlatformUnreachable
from ..fsutil import ensure_private_dir

if TYPE_CHECKING:
    import paramiko

__all__ = [
    "KnownHostEntry",
    "KnownHosts",
    "fetch_host_key",
    "fingerprint",
    "host_pattern",
]


class PublicKey(Protocol):
    """What batcher needs from a key (paramiko.PKey has it)."""

    def get_name(self) -> str: ...
    def asbytes(self) -> bytes: ...


def fingerprint(key: PublicKey) -> str:
    """`SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def host_pattern(host: str, port: int) -> str:
    """The known_hosts name of a server: `host` for port 22, `[host]:port` otherwise."""
    host = host.lower()
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class KnownHostEntry:
    line_number: int  # 1-based
    marker: str | None  # None, "@revoked" or "@cert-authority"
    hosts: str  # the host field as written
    key_type: str
    key_blob: bytes
    line: str

    def matches(self, host: str, port: int) -> bool:
        return _hosts_field_matches(self.hosts, host_pattern(host, port))

    @property
    def fingerprint(self) -> str:
        return "SHA256:" + base64.b64encode(hashlib.sha256(self.key_blob).digest()).decode().rstrip("=")


def _hosts_field_matches(field: str, name: str) -> bool:
    if field.startswith("|1|"):
        return _hashed_matches(field, name)
    matched = False
    for pattern in field.split(","):
        negated = pattern.startswith("!")
        if negated:
            pattern = pattern[1:]
        if _glob(pattern.lower(), name):
            if negated:
                return False
            matched = True
    return matched


def _hashed_matches(field: str, name: str) -> bool:
    parts = field.split("|")  # ["", "1", salt, hash]
    if len(parts) != 4:
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        expected = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        return False
    actual = hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest()
    return hmac.compare_digest(actual, expected)


def _glob(pattern: str, name: str) -> bool:
    # OpenSSH patterns know only `*` and `?`; `[` and `]` are literal (the port form)
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, flags=re.DOTALL) is not None


def _parse_line(number: int, line: str) -> KnownHostEntry | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    fields = text.split()
    marker = None
    if fields[0].startswith("@"):
        marker, fields = fields[0], fields[1:]
    if len(fields) < 3:
        return None
    try:
        blob = base64.b64decode(fields[2], validate=True)
    except (binascii.Error, ValueError):
        return None
    return KnownHostEntry(number, marker, fields[0], fields[1], blob, line.rstrip("\r\n"))


class KnownHosts:
    """An OpenSSH known_hosts file: check a server key against it, add or replace one."""

    def __init__(self, path: Path, lines: Sequence[str] = ()):
        self.path = Path(path)
        self._set_lines(lines)

    def _set_lines(self, lines: Sequence[str]) -> None:
        self._lines = list(lines)
        self.entries = [e for i, line in enumerate(self._lines, 1) if (e := _parse_line(i, line))]

    @classmethod
    def load(cls, path: Path) -> KnownHosts:
        """Read the file; a missing file is an empty one. A file that cannot be read (a
        directory, no permission) is a `ConfigError` naming it (exit 2)."""
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise ConfigError(
                f"[sftp] known_hosts = {path}: cannot read it ({_reason(exc)}); it must be a readable "
                "OpenSSH known_hosts file (or not exist yet: `batcher trust-host` creates it)"
            ) from None
        return cls(path, text.splitlines())

    def lookup(self, host: str, port: int) -> list[KnownHostEntry]:
        """The plain (non-marker) entries trusting keys for this host and port."""
        return [e for e in self.entries if e.marker is None and e.matches(host, port)]

    def key_types(self, host: str, port: int) -> list[str]:
        """The key types trusted for this host, in file order (to ask the server for them)."""
        seen: list[str] = []
        for e in self.lookup(host, port):
            if e.key_type not in seen:
                seen.append(e.key_type)
        return seen

    def check(self, host: str, port: int, key: PublicKey) -> None:
        """Return if `key` is trusted for host:port, else raise `HostKeyError`."""
        blob = key.asbytes()
        fp = fingerprint(key)
        name = host_pattern(host, port)
        for e in self.entries:
            if e.marker == "@revoked" and e.key_blob == blob and e.matches(host, port):
                raise HostKeyError(
                    f"the SFTP server {name} presented a host key marked @revoked in "
                    f"{self.path} line {e.line_number} ({key.get_name()} {fp}); refusing to connect",
                    host=host, port=port, fingerprint=fp, changed=True,
                )
        trusted = self.lookup(host, port)
        if any(e.key_blob == blob for e in trusted):
            return
        if trusted:
            same_type = [e for e in trusted if e.key_type == key.get_name()] or trusted
            lines = ", ".join(str(e.line_number) for e in same_type)
            was = ", ".join(f"{e.key_type} {e.fingerprint}" for e in same_type)
            raise HostKeyError(
                f"WARNING: the host key of the SFTP server {name} has CHANGED: it is now "
                f"{key.get_name()} {fp}, the trusted one in {self.path} (line {lines}) is {was}. "
                "This may be an attack (someone intercepting the connection); nothing was sent. "
                "Ask the platform whether they replaced their key; if they confirm the new "
                f"fingerprint, remove line {lines} of {self.path} and run `batcher trust-host`, "
                f"or run `batcher trust-host --replace --fingerprint {fp}`.",
                host=host, port=port, fingerprint=fp, changed=True,
            )
        raise HostKeyError(
            f"the SFTP server {name} is not trusted yet: its {key.get_name()} host key has "
            f"fingerprint {fp} and {self.path} has no entry for {name}. Check the fingerprint "
            f"with the platform, then trust it with `batcher trust-host` "
            f"(or `batcher trust-host --fingerprint {fp}`).",
            host=host, port=port, fingerprint=fp, changed=False,
        )

    def add(self, host: str, port: int, key: PublicKey) -> None:
        """Append `[host]:port keytype base64` (atomically; file mode 0600)."""
        self._rewrite(self._lines, [_entry_line(host, port, key)])

    def replace(self, host: str, port: int, key: PublicKey) -> list[str]:
        """Drop every line trusting host:port, add `key` for it; returns the removed lines."""
        removed = {e.line_number for e in self.entries if e.marker is None and e.matches(host, port)}
        keep = [line for i, line in enumerate(self._lines, 1) if i not in removed]
        gone = [line for i, line in enumerate(self._lines, 1) if i in removed]
        self._rewrite(keep, [_entry_line(host, port, key)])
        return gone

    def _rewrite(self, lines: Iterable[str], extra: Iterable[str]) -> None:
        try:
            self._write(lines, extra)
        except OSError as exc:
            raise ConfigError(f"[sftp] known_hosts = {self.path}: cannot write it ({_reason(exc)})") from None

    def _write(self, lines: Iterable[str], extra: Iterable[str]) -> None:
        new_lines = [*lines, *extra]
        text = "".join(line + "\n" for line in new_lines)
        ensure_private_dir(self.path.parent)  # usually the state dir: 0700 when we make it
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._set_lines(new_lines)


def _entry_line(host: str, port: int, key: PublicKey) -> str:
    return f"{host_pattern(host, port)} {key.get_name()} {base64.b64encode(key.asbytes()).decode('ascii')}"


def fetch_host_key(host: str, port: int, timeout: float, *, prefer: Sequence[str] = ()) -> paramiko.PKey:
    """Connect, complete the key exchange and return the server's host key, without
    authenticating. `prefer` lists key types to ask for first (those already trusted)."""
    import paramiko

    from .sftp import order_key_types

    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise PlatformUnreachable(f"cannot connect to the SFTP server {host} port {port}: {_reason(exc)}") from exc
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        options = transport.get_security_options()
        options.key_types = order_key_types(options.key_types, prefer)
        transport.start_client(timeout=timeout)
        if not transport.is_active() or not transport.initial_kex_done:  # start_client timed out
            raise PlatformUnreachable(
                f"the SFTP server {host} port {port} did not complete the SSH handshake within {timeout:g} s"
            )
        return transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise PlatformUnreachable(
            f"cannot read the host key of the SFTP server {host} port {port}: {_reason(exc)}"
        ) from exc
    finally:
        transport.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
