"""File-system operations that never overwrite, never lose, and keep customer data private.

Every file batcher writes for itself (state, batch copies, refused rows, reports,
archived drops) goes through these helpers, so that three rules hold in one place:

- **Private.** Directories batcher creates are ``0700`` and files ``0600``, whatever the
  umask (phone numbers and texts are personal data). Existing directories are left as
  they are (``batcher check`` reports loose ones).
- **Never overwritten.** A name is claimed by creating it exclusively (``O_EXCL``); when
  it is taken, the next free ``stem.N.suffix`` is claimed instead. Two processes can
  never end up writing the same file.
- **Atomic.** Content is written under a hidden temporary name in the same directory
  and renamed over the claimed (empty) placeholder when complete, so a crash leaves
  either nothing or the whole file, never half a file under the final name.

OS errors are left to the caller, which knows what the path is for and names it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "atomic_output",
    "claim_unique",
    "ensure_private_dir",
    "move_no_clobber",
    "open_private",
    "suffixed",
]

DIR_MODE = 0o700
FILE_MODE = 0o600
MAX_SUFFIX = 100_000


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as ``0700`` directories; an existing
    directory is left as it is. Returns `path`."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue  # made by a concurrent process meanwhile: theirs, left as it is
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    return path


def open_private(path: Path, mode: str = "w", *, exclusive: bool = False, **kwargs: Any) -> IO[Any]:
    """`open()` for a new file readable by its owner only (``0600``, whatever the umask).
    `mode` is "w", "wb", "a", "ab"; `exclusive` refuses an existing file
    (`FileExistsError`). Extra keyword arguments go to `open` (encoding, newline...)."""
    if mode not in ("w", "wb", "a", "ab"):
        raise ValueError(f"open_private mode must be w, wb, a or ab, not {mode!r}")
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    if exclusive:
        flags |= os.O_EXCL
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def suffixed(path: Path, n: int) -> Path:
    """``list.csv`` -> ``list.2.csv`` for n=2 (n=1 is the path itself); a name without a
    suffix gets ``.N`` at the end; ``list.rejected.csv`` -> ``list.rejected.2.csv``."""
    path = Path(path)
    if n <= 1:
        return path
    if path.suffix:
        return path.with_name(f"{path.stem}.{n}{path.suffix}")
    return path.with_name(f"{path.name}.{n}")


def claim_unique(path: Path) -> Path:
    """Exclusively create an empty ``0600`` placeholder at `path`, or at the first free
    ``suffixed(path, n)``; return the path claimed. The caller then replaces the
    placeholder with the real content (see `atomic_output`)."""
    path = Path(path)
    for n in range(1, MAX_SUFFIX):
        candidate = suffixed(path, n)
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        except FileExistsError:
            continue
        os.fchmod(fd, FILE_MODE)
        os.close(fd)
        return candidate
    raise FileExistsError(errno.EEXIST, f"no free name for {path.name} after {MAX_SUFFIX} tries", str(path))


@contextlib.contextmanager
def atomic_output(
    path: Path, mode: str = "w", *, unique: bool = True, **kwargs: Any
) -> Iterator[tuple[IO[Any], Path]]:
    """Write a new file atomically, never over an existing one.

        with atomic_output(reports / "x.csv", encoding="utf-8-sig", newline="") as (fh, final):
            fh.write(...)

    With `unique` (the default) the name is claimed first (`claim_unique`: a taken name
    becomes ``x.2.csv``...), and `final` is the path the content will have. Without it,
    an existing `path` raises `FileExistsError`. The content goes to a hidden temporary
    file beside it, is fsynced, and replaces the placeholder on success; on any error
    the temporary file and the placeholder are removed."""
    path = Path(path)
    final = claim_unique(path) if unique else path
    if not unique:
        open_private(final, "wb", exclusive=True).close()
    tmp = final.with_name(f".{final.name}.tmp")
    try:
        fh = open_private(tmp, "wb" if "b" in mode else "w", **kwargs)
        try:
            yield fh, final
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fh.close()
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        with contextlib.suppress(OSError):
            if final.exists() and final.stat().st_size == 0:
                final.unlink()
        raise


def move_no_clobber(src: Path, dest: Path) -> Path:
    """Move `src` to `dest`, or to the first free ``suffixed(dest, n)``; never replaces
    an existing file and never loses `src`. The moved file becomes ``0600``; its name
    and content are kept. Works across file systems (copy, fsync, then remove `src`).
    Returns where the file now is."""
    src, dest = Path(src), Path(dest)
    final = claim_unique(dest)
    try:
        os.replace(src, final)  # over our own empty placeholder: atomic on one file system
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            with contextlib.suppress(OSError):
                final.unlink()
            raise
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            with src.open("rb") as fin, open_private(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
                fout.flush()
                os.fsync(fout.fileno())
            shutil.copystat(src, tmp)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            with contextlib.suppress(OSError):
                final.unlink()
            raise
        src.unlink()
    os.chmod(final, FILE_MODE)
    return final
