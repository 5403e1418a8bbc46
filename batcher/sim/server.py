"""The SFTP side: an asyncssh server confined to the simulator root.

- password auth (`SimConfig.username`/`password`) and, when `authorized_keys` is set,
  public-key auth for that same user;
- an ed25519 host key generated once under `ROOT/.sim/` (stable fingerprint) and a
  known_hosts file a client can trust;
- confinement: every client path is normalised inside ROOT (`..` and absolute paths
  cannot leave it), a path whose real location (after symlinks) is outside ROOT or in
  `ROOT/.sim` is refused, `.sim` is hidden from listings, symlink/hard-link creation is
  refused;
- open write handles are tracked (by inode) so the processor leaves such files alone;
- the `drop_after_bytes` fault aborts a connection after that much file data.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
from asyncssh import SFTPName

from .config import SimConfig

__all__ = ["SftpState", "host_key", "known_hosts_line", "start_sftp_server"]

log = logging.getLogger("batcher.sim.sftp")

SIM_DIR = ".sim"
HOST_KEY_NAME = "ssh_host_ed25519_key"


def host_key(sim_dir: Path) -> asyncssh.SSHKey:
    """The persistent host key, generated on first use."""
    path = sim_dir / HOST_KEY_NAME
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    sim_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    key.write_private_key(str(tmp))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    key.write_public_key(str(path) + ".pub")
    return key


def known_hosts_line(host: str, port: int, key: asyncssh.SSHKey) -> str:
    """The OpenSSH known_hosts line for this server ("[host]:port" unless port 22)."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.export_public_key('openssh').decode().strip()}\n"


class SftpState:
    """What the SFTP sessions share with the processor (used on the event loop only)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.root = os.path.realpath(config.root).encode()
        self.open_writes: Counter[tuple[int, int]] = Counter()
        self.drops_left = config.faults.drop_connections if config.faults.drop_after_bytes is not None else 0
        self.connections: set[asyncssh.SSHServerConnection] = set()

    async def close_connections(self) -> None:
        for conn in list(self.connections):
            conn.close()
        for conn in list(self.connections):
            try:
                await asyncio.wait_for(conn.wait_closed(), 5)
            except TimeoutError:  # pragma: no cover
                conn.abort()

    def is_open_for_write(self, st: os.stat_result) -> bool:
        return self.open_writes[(st.st_dev, st.st_ino)] > 0


class _SSHServer(asyncssh.SSHServer):
    def __init__(self, state: SftpState) -> None:
        self._state = state
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._state.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._state.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        keys = self._state.config.authorized_keys
        if keys is not None and self._conn is not None and username == self._state.config.username:
            self._conn.set_authorized_keys(str(keys))
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        cfg = self._state.config
        ok_user = hmac.compare_digest(username.encode(), cfg.username.encode())
        ok_pass = hmac.compare_digest(password.encode(), cfg.password.encode())
        return ok_user and ok_pass

    def public_key_auth_supported(self) -> bool:
        return self._state.config.authorized_keys is not None


class ConfinedSFTPServer(asyncssh.SFTPServer):
    """asyncssh's chroot mapping plus symlink checks, a hidden .sim and fault hooks."""

    def __init__(self, chan: asyncssh.SSHServerChannel, state: SftpState) -> None:
        super().__init__(chan, chroot=state.root)
        self._state = state
        self._written = 0
        self._dropped = False
        self._files: dict[int, tuple[int, int]] = {}  # id(file) -> inode it was opened for write

    # -- confinement -------------------------------------------------------------
    def map_path(self, path: bytes) -> bytes:
        mapped = super().map_path(path)  # normalised, inside root lexically
        root = self._state.root
        rel = mapped[len(root):].lstrip(b"/")
        if rel.split(b"/", 1)[0] == SIM_DIR.encode():
            raise asyncssh.SFTPNoSuchFile("No such file")
        real = os.path.realpath(mapped)
        if not (real == root or real.startswith(root + b"/")):
            raise asyncssh.SFTPPermissionDenied("Path leaves the server root")
        if real.startswith(root + b"/" + SIM_DIR.encode()):
            raise asyncssh.SFTPNoSuchFile("No such file")
        return mapped

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        at_root = self.map_path(path).rstrip(b"/") == self._state.root.rstrip(b"/")
        async for name in super().scandir(path):
            if at_root and name.filename in (SIM_DIR.encode(), SIM_DIR):
                continue
            yield name

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("Symbolic links are not allowed")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("Links are not allowed")

    # -- write-handle tracking and the drop fault ----------------------------------
    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        file_obj = super().open(path, pflags, attrs)
        if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT):
            st = os.fstat(file_obj.fileno())  # type: ignore[attr-defined]
            key = (st.st_dev, st.st_ino)
            self._files[id(file_obj)] = key
            self._state.open_writes[key] += 1
        return file_obj

    def close(self, file_obj: object) -> None:
        key = self._files.pop(id(file_obj), None)
        if key is not None:
            self._state.open_writes[key] -= 1
            if self._state.open_writes[key] <= 0:
                del self._state.open_writes[key]
        super().close(file_obj)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        if self._dropped:
            raise asyncssh.SFTPConnectionLost("Connection dropped (simulated fault)")
        limit = self._state.config.faults.drop_after_bytes
        if limit is not None and self._state.drops_left > 0 and self._written + len(data) >= limit:
            room = max(0, limit - self._written)
            if room:
                super().write(file_obj, offset, data[:room])
                self._written += room
            self._dropped = True
            self._state.drops_left -= 1
            log.info("fault: dropping SFTP connection after %d bytes of file data", limit)
            self.connection.abort()
            raise asyncssh.SFTPConnectionLost("Connection dropped (simulated fault)")
        written = super().write(file_obj, offset, data)
        self._written += len(data)
        return written  # type: ignore[return-value]


async def start_sftp_server(state: SftpState, key: asyncssh.SSHKey) -> asyncssh.SSHAcceptor:
    cfg = state.config

    def sftp_factory(chan: asyncssh.SSHServerChannel) -> ConfinedSFTPServer:
        return ConfinedSFTPServer(chan, state)

    return await asyncssh.listen(
        cfg.host,
        cfg.port,
        server_factory=lambda: _SSHServer(state),
        server_host_keys=[key],
        sftp_factory=sftp_factory,
        allow_scp=False,
        reuse_address=True,
    )
