"""Where a drop goes once it has been dealt with (SPEC 3.1). Nothing is ever deleted or
overwritten.

    DropFiler.archive(drop, refused=...)   ARCHIVE/YYYYMMDD/NAME            (YYYYMMDD in defaults.timezone)
                                           ARCHIVE/YYYYMMDD/NAME.rejected.csv  the refused rows, if any
    DropFiler.reject(drop, refused=...)    REJECTED/NAME + REJECTED/NAME.errors.csv   one row per refused line
    DropFiler.reject(drop, reason=...)     REJECTED/NAME + REJECTED/NAME.errors.csv   one row: why the whole
                                           file was refused (unreadable, already sent as batch X...)

A taken name is never replaced: the drop becomes ``NAME.2.csv`` (`fsutil.move_no_clobber`)
and its companion file is named after the drop as moved (``NAME.2.errors.csv``), itself
suffixed if that name is taken too. A move keeps the name and the content, works across
file systems (copy, fsync, then remove), and leaves the file ``0600``; folders batcher
creates are ``0700``. The companion files are people's CSVs (`peoplecsv`: UTF-8 with a
BOM, ``;``-separated, cells neutralised against formulas); their last three columns are
always ``line``, ``code``, ``reason``.

The refused rows are handed over either as the file `convert` wrote (a path: copied
byte for byte, the original stays where it is, e.g. in the state folder for `report`)
or as rows (`RefusedRows`: written here).

The drop is moved first and its companion written next, so a failure can never leave a
companion without its drop; every OS error becomes a ConfigError naming both paths.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ConfigError
from ..fsutil import atomic_output, ensure_private_dir, move_no_clobber
from ..peoplecsv import DEFAULT_DELIMITER, write_people_csv
from ..settings import Settings

__all__ = [
    "WHOLE_FILE_HEADER",
    "DropFiler",
    "Filed",
    "Refused",
    "RefusedRows",
    "WholeFileReason",
    "duplicate_reason",
]

#: the header of an errors file for a drop refused without lines
WHOLE_FILE_HEADER = ("line", "code", "reason")


@dataclass(frozen=True)
class RefusedRows:
    """Refused rows to write: a header and rows (the original cells, then line, code,
    reason, as `convert` writes NAME.rejected.csv)."""

    header: Sequence[object]
    rows: Iterable[Sequence[object]]


#: the refused rows: the file `convert` wrote, or the rows themselves
Refused = Path | RefusedRows


@dataclass(frozen=True)
class WholeFileReason:
    """Why a drop was refused as a whole without a line to blame."""

    code: str  # stable: unreadable, duplicate_content, no_data_rows...
    reason: str  # plain words, shown to the person who dropped the file


@dataclass(frozen=True)
class Filed:
    """Where a drop went (for the log line and the store)."""

    outcome: Literal["archived", "rejected"]
    source: Path  # where it was in the inbox
    path: Path  # where it is now
    companion: Path | None  # NAME.rejected.csv / NAME.errors.csv beside it, if written


def duplicate_reason(
    *, batch: int | str, remote_names: str | Sequence[str], sent_at: datetime, timezone: str
) -> WholeFileReason:
    """The reason for a drop whose content was already sent for its project."""
    names = remote_names if isinstance(remote_names, str) else ", ".join(remote_names)
    when = sent_at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    return WholeFileReason(
        "duplicate_content",
        f"already sent as batch {batch} ({names}) on {when} ({timezone}); the same content is not "
        "sent twice for a project (`batcher push --force FILE` sends it again)",
    )


class DropFiler:
    """Moves drops out of the inbox into the archive or the rejected folder."""

    def __init__(
        self,
        *,
        archive_dir: Path,
        rejected_dir: Path,
        timezone: str = "America/Sao_Paulo",
        clock: Clock = SYSTEM_CLOCK,
        delimiter: str = DEFAULT_DELIMITER,
    ) -> None:
        self.archive_dir = Path(archive_dir)
        self.rejected_dir = Path(rejected_dir)
        self.timezone = ZoneInfo(timezone)
        self.clock = clock
        self.delimiter = delimiter

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> DropFiler:
        return cls(
            archive_dir=settings.paths.archive_dir,
            rejected_dir=settings.paths.rejected_dir,
            timezone=settings.defaults.timezone,
            clock=clock,
            delimiter=settings.format.csv_delimiter,
        )

    def day_folder(self) -> Path:
        """ARCHIVE/YYYYMMDD for today in `defaults.timezone`."""
        return self.archive_dir / self.clock.now().astimezone(self.timezone).strftime("%Y%m%d")

    def archive(self, drop: Path, *, refused: Refused | None = None) -> Filed:
        """Move a processed drop to ARCHIVE/YYYYMMDD/, with NAME.rejected.csv beside it
        when rows were refused."""
        moved = self._move(Path(drop), self.day_folder())
        companion = self._companion(moved, "rejected", refused) if refused is not None else None
        return Filed("archived", Path(drop), moved, companion)

    def reject(
        self, drop: Path, *, refused: Refused | None = None, reason: WholeFileReason | None = None
    ) -> Filed:
        """Move a drop refused as a whole to REJECTED/, with NAME.errors.csv beside it:
        the refused rows, or (a drop refused without lines) one row with `reason`."""
        if (refused is None) == (reason is None):
            raise ValueError("reject() takes the refused rows or a whole-file reason, exactly one")
        moved = self._move(Path(drop), self.rejected_dir)
        if reason is not None:
            refused = RefusedRows(WHOLE_FILE_HEADER, [("", reason.code, reason.reason)])
        assert refused is not None
        return Filed("rejected", Path(drop), moved, self._companion(moved, "errors", refused))

    # -- I/O ----------------------------------------------------------------------------

    def _move(self, drop: Path, folder: Path) -> Path:
        try:
            ensure_private_dir(folder)
            return move_no_clobber(drop, folder / drop.name)
        except OSError as exc:
            raise ConfigError(
                f"{drop}: cannot move it to {folder}/ ({exc.strerror or exc}); it stays in the inbox. "
                "batcher needs write access to the inbox folder and to that folder"
            ) from None

    def _companion(self, moved: Path, kind: str, refused: Refused) -> Path:
        target = moved.with_name(f"{moved.stem}.{kind}.csv")
        try:
            if isinstance(refused, RefusedRows):
                return write_people_csv(target, refused.header, refused.rows, delimiter=self.delimiter)
            with Path(refused).open("rb") as fin, atomic_output(target, "wb") as (fout, final):
                shutil.copyfileobj(fin, fout, 1 << 20)
            return final
        except OSError as exc:
            raise ConfigError(
                f"{moved}: the drop was moved there, but {target.name} could not be written beside it "
                f"({exc.strerror or exc})"
            ) from None
