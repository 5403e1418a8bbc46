"""Opening a drop for reading: regular files only, decided on the open descriptor.

A FIFO, a character device (`/dev/zero`, a tty), a socket or a directory named
`list.csv` would make a reader or the content hash block for ever or read without end.
`open_regular` opens without blocking (``O_NONBLOCK``: opening a FIFO does not wait for
a writer), then checks the descriptor it got (``fstat``, so a symlink swapped between a
check and the open cannot slip through) and refuses anything that is not a regular
file with `InputError` (exit 3). Every reader and the content hash open drops here.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError

__all__ = ["check_regular", "open_regular"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _refusal(path: Path, mode: int) -> InputError:
    what = _kind(mode)
    target = ""
    if path.is_symlink():
        try:
            target = f" (a symbolic link to {os.readlink(path)})"
        except OSError:
            target = " (a symbolic link)"
    return InputError(path, f"not a regular file: it is {what}{target}; batcher reads only regular files")


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for binary reading if it is a regular file (symlinks followed).

    Raises `InputError` naming the path when it is missing, unreadable or not a
    regular file; never blocks on a FIFO or a device."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened with no reader
            raise InputError(path, "not a regular file; batcher reads only regular files") from None
        raise InputError(path, f"cannot open: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refusal(path, mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_regular(path: Path) -> None:
    """Raise `InputError` unless `path` is a readable regular file (for readers that
    open the path themselves, such as calamine)."""
    open_regular(path).close()
