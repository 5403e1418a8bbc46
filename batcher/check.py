"""`batcher check`: is everything in place to deliver? Each check says exactly what is
wrong and what to do; later checks that depend on a failed one are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .errors import BatcherError, ConfigError
from .privacy import loose_folders, loose_secrets
from .settings import Settings
from .status import HostRateLimiter, StatusClient
from .transport import SftpTransport

__all__ = ["CheckResult", "run_checks"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    exit_code: int = 0  # the SPEC exit code this failure maps to (0 when ok or skipped)
    skipped: bool = False


def run_checks(settings: Settings, *, on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    results: list[CheckResult] = []

    def record(result: CheckResult) -> CheckResult:
        results.append(result)
        if on_result is not None:
            on_result(result)
        return result

    sftp = settings.sftp
    target = f"{sftp.username or '?'}@{sftp.host}:{sftp.port}"
    problems = []
    if not sftp.username:
        problems.append("[sftp] username is empty")
    try:
        password = settings.sftp_password()
    except ConfigError as exc:
        password = None
        problems.append(str(exc))
    if password is None and sftp.key_file is None:
        problems.append("neither [sftp] password / password_file nor key_file is set")
    if problems:
        record(CheckResult("sftp settings", False, "; ".join(problems), 2))
    else:
        record(CheckResult("sftp settings", True, f"{target}, upload mode {sftp.upload_mode}"))

    # a diagnostic reports at once: no reconnect attempts, no backoff
    transport = SftpTransport(sftp.model_copy(update={"retries": 0}), password)
    try:
        try:
            transport.connect()
        except BatcherError as exc:
            record(CheckResult("host key and login", False, str(exc), exc.exit_code))
            for name in ("remote directories", "write permission"):
                record(CheckResult(name, False, "skipped: no SFTP session", 0, skipped=True))
        else:
            record(CheckResult("host key and login", True,
                               f"logged in to {target}; host key matches {sftp.known_hosts}"))
            missing = []
            dirs = (("upload_dir", sftp.upload_dir), ("success_dir", sftp.success_dir), ("error_dir", sftp.error_dir))
            for key, directory in dirs:
                try:
                    transport.listdir(directory)
                except BatcherError as exc:
                    missing.append(f"[sftp] {key} = {directory!r}: {exc}")
            if missing:
                record(CheckResult("remote directories", False, "; ".join(missing), 4))
            else:
                shown = f"{sftp.upload_dir}/, {sftp.success_dir}/, {sftp.error_dir}/ readable"
                record(CheckResult("remote directories", True, shown))
            try:
                transport.probe_write(sftp.upload_dir)
            except BatcherError as exc:
                record(CheckResult("write permission", False, str(exc), exc.exit_code))
            else:
                record(CheckResult("write permission", True, f"can create and remove files in {sftp.upload_dir}/"))
    finally:
        transport.close()

    secrets = loose_secrets(settings)
    if secrets:
        record(CheckResult("secret files", False, "; ".join(e.message() for e in secrets), 2))
    else:
        record(CheckResult("secret files", True, "readable by their owner only"))
    folders = loose_folders(settings)
    if folders:
        record(CheckResult("data at rest", False, "; ".join(e.message() for e in folders), 2))
    else:
        record(CheckResult("data at rest", True, "state, reports, archive and rejected folders are private"))

    api = settings.api
    try:
        token = settings.api_token()
    except ConfigError as exc:
        record(CheckResult("status API", False, str(exc), 2))
        return results
    if not api.username or not token:
        record(CheckResult("status API", False, "[api] username and token (or token_file) must be set", 2))
        return results
    # a diagnostic reports at once: no retries (the limiter still keeps the host's rate)
    limiter = HostRateLimiter.for_settings(settings)
    with StatusClient(api, token, limiter=limiter, retries=0) as client:
        try:
            client.probe()
        except BatcherError as exc:
            record(CheckResult("status API", False, str(exc), exc.exit_code))
        else:
            record(CheckResult("status API", True, f"{api.base_url} accepted the credentials of {api.username}"))
    return results
