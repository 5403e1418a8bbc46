"""The file processor: picks up complete files in upload/ and moves them on.

Every `scan_interval` it looks at the regular files in `upload/` (names starting with
'.' are in-progress uploads and are ignored):

- a file with an open SFTP write handle is left alone;
- a file ending in an `EOF` line is complete once it has not changed for
  `processing_delay` seconds (0: at once); it is then checked (`filecheck`) and moved
  to `success/` (each row gets a status) or `error/`;
- a file without `EOF` is still being written: once it has not changed for
  `eof_grace` seconds it is moved to `error/`.

A seeded `file_error_rate` fraction of good files goes to error/ too. The destination
name is never overwritten: `NAME.1`, `NAME.2`, ... if NAME exists. The reason for each
decision is appended to `ROOT/.sim/processor.log` (JSON lines), never into error/, as
the real platform writes nothing there but the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

from ..clock import Clock
from .config import SimConfig
from .filecheck import CheckResult, check_file, has_eof_marker
from .server import SftpState
from .statuses import StatusStore

__all__ = ["Processor"]

log = logging.getLogger("batcher.sim.processor")

TAIL_BYTES = 16


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    inode: int
    changed_at: float


class Processor:
    def __init__(self, config: SimConfig, clock: Clock, store: StatusStore, sftp: SftpState,
                 rng: Random, log_path: Path) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.sftp = sftp
        self.rng = rng
        self.log_path = log_path
        self.upload = config.root / "upload"
        self.success = config.root / "success"
        self.error = config.root / "error"
        self._seen: dict[str, _Seen] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.scan_once()
            except Exception:  # keep the simulator alive; the log shows the bug
                log.exception("processor scan failed")
            await asyncio.sleep(self.config.scan_interval)

    async def scan_once(self) -> None:
        now = self.clock.time()
        present: set[str] = set()
        try:
            entries = list(os.scandir(self.upload))
        except FileNotFoundError:
            return
        for entry in sorted(entries, key=lambda e: e.name):
            name = entry.name
            if name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            present.add(name)
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime_ns, seen.inode) != (st.st_size, st.st_mtime_ns, st.st_ino):
                self._seen[name] = seen = _Seen(st.st_size, st.st_mtime_ns, st.st_ino, now)
            if self.sftp.is_open_for_write(st):
                seen.changed_at = now  # the grace period starts when the writer lets go
                continue
            quiet = now - seen.changed_at
            try:
                if self._complete(Path(entry.path), st.st_size):
                    if quiet >= self.config.faults.processing_delay:
                        await self._process(name)
                elif quiet >= self.config.eof_grace:
                    self._move(name, self.error, f"no EOF line after {self.config.eof_grace:g}s without change", 0)
            except FileNotFoundError:  # removed or renamed by a client meanwhile
                continue
        for gone in set(self._seen) - present:
            del self._seen[gone]

    @staticmethod
    def _complete(path: Path, size: int) -> bool:
        with open(path, "rb") as fh:
            if size > TAIL_BYTES:
                fh.seek(size - TAIL_BYTES)
            tail = fh.read()
        return has_eof_marker(tail, whole=size <= TAIL_BYTES)

    async def _process(self, name: str) -> None:
        path = self.upload / name
        data = path.read_bytes()
        result: CheckResult = await asyncio.to_thread(check_file, name, data)
        st = path.stat()
        if st.st_size != len(data) or self.sftp.is_open_for_write(st):
            return  # changed under us; look again next scan
        if not result.ok:
            self._move(name, self.error, result.reason, 0)
        elif name.split(".", 1)[0] in self.config.faults.error_projects:
            self._move(name, self.error, "fault: error_projects", len(result.rows))
        elif self.config.faults.file_error_rate and self.rng.random() < self.config.faults.file_error_rate:
            self._move(name, self.error, "fault: file_error_rate", len(result.rows))
        else:
            self.store.add_rows(result.rows)
            self._move(name, self.success, "", len(result.rows))

    def _move(self, name: str, dest_dir: Path, reason: str, rows: int) -> None:
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / name
        n = 0
        while dest.exists():
            n += 1
            dest = dest_dir / f"{name}.{n}"
        os.rename(self.upload / name, dest)
        self._seen.pop(name, None)
        record: dict[str, Any] = {
            "time": self.clock.time(),
            "file": name,
            "result": dest_dir.name,
            "moved_to": f"{dest_dir.name}/{dest.name}",
            "reason": reason,
            "rows": rows,
        }
        log.info("%s -> %s %s", name, record["moved_to"], reason)
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
