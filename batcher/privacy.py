"""Customer data at rest (issue 12): who can read what batcher keeps.

Phone numbers and message texts are personal data (LGPD). batcher creates its folders
0700 and its files 0600 (`fsutil`); what it did not create it does not change silently:
these checks say what is readable by others and the command that fixes it, for
`batcher check` (a failure) and for every command that reads secrets (a warning, once).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings

__all__ = ["Exposure", "loose_folders", "loose_secrets"]


@dataclass(frozen=True)
class Exposure:
    path: Path
    what: str
    mode: int

    @property
    def who(self) -> str:
        parts = []
        if self.mode & 0o070:
            parts.append("its group")
        if self.mode & 0o007:
            parts.append("every user")
        return " and ".join(parts)

    def message(self) -> str:
        fix = f"chmod 600 {self.path}" if not stat.S_ISDIR(self.mode) else f"chmod -R go-rwx {self.path}"
        return f"{self.path} ({self.what}) can be read by {self.who}; fix: {fix}"


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode
    except OSError:
        return None


def loose_secrets(settings: Settings) -> list[Exposure]:
    """Files holding a password, token or key that group or others can read."""
    out = []
    for path, what in settings.loose_secret_files():
        mode = _mode(path)
        if mode is not None:
            out.append(Exposure(path, what, mode))
    return out


def loose_folders(settings: Settings) -> list[Exposure]:
    """batcher's folders of customer data (state, reports, archive, rejected drops) that
    group or others can enter or read."""
    p = settings.paths
    out = []
    for path, what in ((p.state_dir, "paths.state_dir: every list sent, in batcher.db and batches/"),
                       (p.reports_dir, "paths.reports_dir"), (p.archive_dir, "paths.archive_dir"),
                       (p.rejected_dir, "paths.rejected_dir")):
        mode = _mode(path)
        if mode is not None and stat.S_ISDIR(mode) and mode & 0o077:
            out.append(Exposure(path, what, mode))
    return out
