"""The inbox layout (SPEC 3.1): which files of the inbox are drops, and which project
a drop sends as. Pure: names and file kinds in, decisions out; the walk that feeds it
is `scan.py`.

    INBOX/NAME.csv            a drop, sends as `defaults.project`
    INBOX/PROJECT/NAME.csv    a drop, sends as PROJECT
    INBOX/PROJECT/sub/...     left alone: only one level of folders is read
    `--project P`             wins over both (push, convert)

What is never a drop:

- **quietly ignored** (they are normal and transient, nothing to tell anyone):
  dot-files and dot-folders (``.x.swp``, ``.~lock.x#``, rsync's ``.x.csv.AbC123``,
  ``.Trash-1000/``), Office's owner files ``~$x.xlsx``, names of files still being
  transferred or saved (``*.part *.partial *.tmp *.temp *.crdownload *.download
  *.filepart *.swp``, editor backups ``x~`` and ``#x#``), ``Thumbs.db``, ``desktop.ini``;
  and the folders batcher writes to when they are configured inside the inbox
  (`paths.archive_dir`, `rejected_dir`, `state_dir`, `reports_dir`), so an archived or
  rejected drop can never be picked up again;
- **left alone with a notice** (an operator should hear of it once): a file of an
  unsupported type, a folder inside a project folder, a folder whose name is not a
  valid project name, a file directly in the inbox when there is no
  `defaults.project`, and anything that is not a regular file: FIFOs, devices,
  sockets, and **symbolic links**. A link hands over something that stays elsewhere:
  its target can change after it was read (so the archive would not hold what was
  sent), moving it archives the link and not the data, writes through it produce no
  event in the inbox, and it can point at secrets or devices (`/etc/shadow`,
  `/dev/zero`). Drop the file itself.

Everything left alone stays where it is; fixing the cause (renaming the folder,
setting `defaults.project`, copying the file instead of linking it) makes it a drop.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..settings import PROJECT_PATTERN, Settings

__all__ = [
    "DROP_SUFFIXES",
    "Decision",
    "EntryKind",
    "InboxLayout",
    "Verdict",
    "check_project",
    "is_temporary_name",
    "project_for",
]

DROP_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".ods"})

#: suffixes of files still being downloaded, uploaded or saved (compared lower-case)
TEMPORARY_SUFFIXES = (
    ".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".filepart",
    ".swp", ".swo", ".swx",
)
#: system files some desktops leave in every folder (compared lower-case)
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})


def check_project(project: str, *, source: str) -> str:
    """`project` if it is a valid project name, else ConfigError naming `source`."""
    if not project.strip():
        raise ConfigError(
            f"the project given by {source} is empty: give a project name, 1 to 64 of "
            "A-Z a-z 0-9 _ - (it becomes part of the remote file name)"
        )
    if not PROJECT_PATTERN.fullmatch(project):
        raise ConfigError(
            f"project {project!r} ({source}) is not a valid project name: "
            "1 to 64 of A-Z a-z 0-9 _ - (it becomes part of the remote file name)"
        )
    return project


def project_for(path: Path, settings: Settings, override: str | None = None) -> str:
    """The project a drop sends as, or ConfigError saying how to give one.

    An `override` that is given is checked even when empty: `--project ""` is an error,
    never a silent fall-back to `defaults.project` (issue 9)."""
    if override is not None:
        return check_project(override, source="--project")
    inbox = settings.paths.inbox.resolve()
    try:
        relative = path.resolve().relative_to(inbox)
    except ValueError:
        relative = None
    if relative is not None and len(relative.parts) >= 2:
        return check_project(relative.parts[0], source=f"inbox folder of {path}")
    if settings.defaults.project:
        return settings.defaults.project
    raise ConfigError(
        f"{path}: no project to send as: use --project P, drop the file into "
        f"{settings.paths.inbox}/P/, or set [defaults] project in the config"
    )


def is_temporary_name(name: str) -> bool:
    """A name that is hidden, a lock or owner file, or a transfer still in progress:
    never a drop, and not worth a notice (it will be renamed or removed soon)."""
    if not name or name.startswith((".", "~$")):
        return True
    lower = name.lower()
    if lower in JUNK_NAMES or lower.endswith(TEMPORARY_SUFFIXES):
        return True
    return name.endswith("~") or (name.startswith("#") and name.endswith("#"))


class EntryKind(enum.Enum):
    FILE = "file"  # a regular file
    DIR = "dir"  # a real directory (not a link to one)
    SYMLINK = "symlink"
    OTHER = "other"  # FIFO, socket, device


class Decision(enum.Enum):
    DROP = "drop"  # a drop: watch it until it is settled
    DESCEND = "descend"  # a project folder: look inside
    IGNORE = "ignore"  # not a drop, nothing to say
    SKIP = "skip"  # not a drop, tell the operator once (`Verdict.reason`)


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str = ""


_IGNORE = Verdict(Decision.IGNORE)
_DROP = Verdict(Decision.DROP)
_DESCEND = Verdict(Decision.DESCEND)


def classify(parts: tuple[str, ...], kind: EntryKind, *, default_project: bool = True) -> Verdict:
    """What an inbox entry is, from its path relative to the inbox (`parts`, one or two
    names) and its kind. `default_project`: whether files directly in the inbox have a
    project to send as."""
    name = parts[-1]
    depth = len(parts)
    if is_temporary_name(name):
        return _IGNORE
    if kind is EntryKind.SYMLINK:
        return Verdict(Decision.SKIP, "a symbolic link: batcher reads only regular files put into the inbox "
                                      "(copy or move the file itself)")
    if kind is EntryKind.OTHER:
        return Verdict(Decision.SKIP, "not a regular file (a FIFO, socket or device)")
    if kind is EntryKind.DIR:
        if depth == 1:
            if PROJECT_PATTERN.fullmatch(name):
                return _DESCEND
            return Verdict(Decision.SKIP, "a folder whose name is not a valid project name (1 to 64 of "
                                          "A-Z a-z 0-9 _ -): the files in it are left alone until it is renamed")
        return Verdict(Decision.SKIP, f"a folder inside the project folder {parts[0]}/: only "
                                      f"INBOX/{parts[0]}/FILE is read, files in deeper folders are left alone")
    suffix = Path(name).suffix.lower()
    if suffix not in DROP_SUFFIXES:
        shown = suffix or "no extension"
        return Verdict(Decision.SKIP, f"unsupported file type ({shown}); supported: "
                                      f"{' '.join(sorted(DROP_SUFFIXES))}")
    if depth == 1 and not default_project:
        return Verdict(Decision.SKIP, "a file directly in the inbox, and no [defaults] project to send it as: "
                                      "move it into INBOX/PROJECT/ or set [defaults] project")
    return _DROP


@dataclass(frozen=True)
class InboxLayout:
    """The inbox folder, the folders inside it that are never read (batcher's own
    output folders configured inside the inbox), and whether files directly in the
    inbox have a project (`defaults.project`)."""

    root: Path
    excluded: frozenset[Path] = frozenset()
    default_project: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())
        object.__setattr__(self, "excluded", frozenset(Path(p).resolve() for p in self.excluded))

    @classmethod
    def create(cls, root: Path, *, exclude: Iterable[Path] = (), default_project: bool = True) -> InboxLayout:
        """A layout for `root`; `exclude` may hold any folders, only those inside the
        inbox matter."""
        real_root = Path(root).resolve()
        inside = {p for p in (Path(e).resolve() for e in exclude) if p != real_root and p.is_relative_to(real_root)}
        return cls(real_root, frozenset(inside), default_project)

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxLayout:
        """The layout of `paths.inbox`. ConfigError when the archive or rejected folder
        is the inbox or holds it (a moved drop would land back in the inbox)."""
        paths = settings.paths
        root = paths.inbox.resolve()
        for key in ("archive_dir", "rejected_dir"):
            target = getattr(paths, key).resolve()
            if root == target or root.is_relative_to(target):
                raise ConfigError(
                    f"[paths] {key} = {str(getattr(paths, key))!r} is the inbox or contains it "
                    f"({paths.inbox}): processed drops would land back in the inbox; use a folder "
                    "beside the inbox (or inside it, e.g. INBOX/archive)"
                )
        return cls.create(
            root,
            exclude=(paths.archive_dir, paths.rejected_dir, paths.state_dir, paths.reports_dir),
            default_project=bool(settings.defaults.project),
        )

    def is_excluded(self, path: Path) -> bool:
        """`path` (under the resolved root) is one of the excluded folders or inside one."""
        return any(path == ex or path.is_relative_to(ex) for ex in self.excluded)
