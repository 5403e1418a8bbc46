"""The whole exception tree of batcher, and the exit code each one maps to.

    BatcherError                      exit 1  unexpected / internal
    ├── ConfigError                   exit 2  bad config key, missing secret, bad option
    │   ├── HostKeyError              exit 2  unknown or changed SFTP host key (must be trusted)
    │   └── AuthenticationError       exit 2  SFTP login or API credentials refused
    ├── InputError                    exit 3  a drop rejected as a whole (unreadable, no valid row)
    │   ├── DuplicateDropError        exit 3  same content already sent for this project
    │   └── DropRejected              exit 3  every row refused (the drop is kept as rejected)
    ├── PlatformUnreachable           exit 4  SFTP / API still failing after retries
    │   └── RemoteError               exit 4  the server answered, but refused an operation
    ├── FileRejectedByPlatform        exit 5  the platform moved a batch file to error/
    └── StateError                    exit 1  an illegal state transition (a bug, never user input)

Library code raises these; adapters translate third-party exceptions at the boundary
(`raise RemoteError(...) from exc`); the CLI maps them to exit codes in one place
(`exit_code_for`). Messages never contain secrets.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AuthenticationError",
    "BatcherError",
    "ConfigError",
    "DropRejected",
    "DuplicateDropError",
    "FileRejectedByPlatform",
    "HostKeyError",
    "InputError",
    "PlatformUnreachable",
    "RemoteError",
    "StateError",
    "exit_code_for",
]


class BatcherError(Exception):
    """Base of every error batcher raises on purpose."""

    exit_code = 1


class ConfigError(BatcherError):
    """Configuration or usage problem: the operator must change something."""

    exit_code = 2


class HostKeyError(ConfigError):
    """The SFTP server's host key is unknown or differs from the trusted one."""

    def __init__(self, message: str, *, host: str, port: int, fingerprint: str, changed: bool):
        super().__init__(message)
        self.host = host
        self.port = port
        self.fingerprint = fingerprint
        self.changed = changed


class AuthenticationError(ConfigError):
    """Credentials were refused (SFTP login, API 401/403)."""


class InputError(BatcherError):
    """A drop cannot be used at all. Always names the file (and the line when there is one)."""

    exit_code = 3

    def __init__(self, path: Path | str, reason: str, *, line: int | None = None):
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {reason}")
        self.path = Path(path)
        self.reason = reason
        self.line = line


class DuplicateDropError(InputError):
    """The same content was already sent for this project (use --force to send again)."""

    #: the drop that sent it, when known
    earlier_drop_id: int | None = None


class DropRejected(InputError):
    """Every row of a drop was refused. The drop is recorded (state `rejected`, with its
    refused rows), so its id and files are never reused."""

    def __init__(self, path: Path | str, reason: str, *, drop_id: int, rejected_file: Path | None):
        super().__init__(path, reason)
        self.drop_id = drop_id
        self.rejected_file = rejected_file


class PlatformUnreachable(BatcherError):
    """The SFTP server or the status API could not be reached after retries."""

    exit_code = 4


class RemoteError(PlatformUnreachable):
    """The server answered but refused an operation (missing directory, permission denied)."""


class FileRejectedByPlatform(BatcherError):
    """The platform moved one or more batch files to its error/ directory."""

    exit_code = 5


class StateError(BatcherError):
    """An illegal state transition was attempted; this is a bug in batcher."""

    exit_code = 1


def exit_code_for(exc: BaseException) -> int:
    """The SPEC section 2 exit code for an exception."""
    if isinstance(exc, BatcherError):
        return exc.exit_code
    return 1
