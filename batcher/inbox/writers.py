"""Is a file held open for writing by some process? (Linux, through /proc.)

`find_writers(files)` walks `/proc/PID/fd/` once for all the files asked about. Every
descriptor is a magic link whose target reads as a path; only one whose path ends in
the name of a file asked about is stat'ed, to compare device and inode (so a process in
another mount namespace, which sees another path, is still recognised), and on a match
`/proc/PID/fdinfo/FD` tells the access mode (`flags:` in octal; O_WRONLY or O_RDWR means
open for writing). Stat'ing every descriptor would be slower, and would hang on a
descriptor of a dead NFS mount. The descriptors of every thread of a process are those
of the process, so threads are not walked.

Not recognised: a writer that opened the file under another hard-linked name.

What it cannot see, and then says so (`WriterProbe.complete` is False) rather than
guess: processes of other users when batcher is not root (their `fd/` is unreadable),
processes in other PID namespaces (another container), and writers on other hosts of a
network folder (an NFS or SMB client elsewhere). There, and on systems without /proc,
the settle time alone decides.

Cost: one `listdir` per process and one `readlink` per descriptor, one `stat` per
descriptor that names a file. It is run only for candidates that already look settled
(`scan.py`), at most once a second while a writer holds one open.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PROC", "WriterProbe", "find_writers", "writing_flags"]

PROC = Path("/proc")


def writing_flags(flags: int) -> bool:
    """The open(2) flags of a descriptor allow writing (O_WRONLY or O_RDWR)."""
    return (flags & os.O_ACCMODE) in (os.O_WRONLY, os.O_RDWR)


@dataclass(frozen=True)
class WriterProbe:
    """What one walk of /proc found."""

    #: (device, inode) of a file asked about -> the pids holding it open for writing
    writers: Mapping[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)
    #: /proc was there to be read
    available: bool = True
    #: processes whose descriptors could not be read (another user's, when not root)
    hidden: int = 0
    processes: int = 0
    descriptors: int = 0

    def held(self, identity: tuple[int, int]) -> bool:
        """Some process we could see holds this (device, inode) open for writing."""
        return bool(self.writers.get(identity))

    @property
    def complete(self) -> bool:
        """Every process on the host could be inspected (a "no writer" is certain for
        this host; writers on other hosts of a network folder are never visible)."""
        return self.available and self.hidden == 0


def find_writers(files: Iterable[tuple[str | Path, tuple[int, int]]], *, proc: Path = PROC) -> WriterProbe:
    """Which of `files` ((path, (device, inode)) pairs) some process holds open for
    writing."""
    pairs = [(os.path.basename(os.fspath(p)), identity) for p, identity in files]
    if not pairs:
        return WriterProbe()
    targets = frozenset(identity for _, identity in pairs)
    names = frozenset(name for name, _ in pairs)
    root = str(proc)
    try:
        pids = [name for name in os.listdir(root) if name.isdigit()]
    except OSError:
        return WriterProbe(available=False)
    found: dict[tuple[int, int], list[int]] = {}
    hidden = processes = descriptors = 0
    readlink, stat = os.readlink, os.stat
    for pid in pids:
        fd_dir = f"{root}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except PermissionError:
            hidden += 1
            continue
        except OSError:  # the process exited meanwhile (or is a zombie)
            continue
        processes += 1
        descriptors += len(fds)
        for fd in fds:
            link = f"{fd_dir}/{fd}"
            try:
                target = readlink(link)  # socket:[..], pipe:[..], /path, /path (deleted)
                if target.rpartition("/")[2] not in names:
                    continue
                st = stat(link)
            except OSError:
                continue
            identity = (st.st_dev, st.st_ino)
            if identity in targets and _fd_writes(f"{root}/{pid}/fdinfo/{fd}"):
                found.setdefault(identity, []).append(int(pid))
    return WriterProbe(
        writers={k: tuple(v) for k, v in found.items()},
        available=True,
        hidden=hidden,
        processes=processes,
        descriptors=descriptors,
    )


def _fd_writes(fdinfo: str) -> bool:
    try:
        with open(fdinfo, "rb") as fh:
            text = fh.read(4096)
    except OSError:
        return False  # closed meanwhile
    for line in text.splitlines():
        if line.startswith(b"flags:"):
            try:
                return writing_flags(int(line.split(b":", 1)[1].strip(), 8))
            except ValueError:
                break
    return False  # flags unknown: the settle time alone decides
