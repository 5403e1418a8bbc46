"""The inbox layout (SPEC 3.1): which project a drop sends as.

`INBOX/PROJECT/anything.csv` sends as PROJECT; a file directly in `INBOX/` (or
anywhere else) sends as `defaults.project`; an explicit `--project` wins.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError
from .settings import PROJECT_PATTERN, Settings

__all__ = ["DROP_SUFFIXES", "check_project", "project_for"]

DROP_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".ods"})


def check_project(project: str, *, source: str) -> str:
    if not PROJECT_PATTERN.fullmatch(project):
        raise ConfigError(
            f"project {project!r} ({source}) is not a valid project name: "
            "1 to 64 of A-Z a-z 0-9 _ - (it becomes part of the remote file name)"
        )
    return project


def project_for(path: Path, settings: Settings, override: str | None = None) -> str:
    """The project a drop sends as, or ConfigError saying how to give one."""
    if override:
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
