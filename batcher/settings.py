"""Configuration (SPEC 6): `batcher.toml`, overridden by `BATCHER_SECTION__KEY`
environment variables, secrets also readable from `*_file` keys.

Where the file is found: `--config PATH`, else `$BATCHER_CONFIG`, else `./batcher.toml`
(a missing `./batcher.toml` means "all defaults"; a missing explicit path is an error).
Relative paths in the file are resolved against the file's own directory, so a cron job
started from `/` reads the same folders as the operator who tested it.

`load_settings` turns every problem into a `ConfigError` that names the key, the file
(or the environment variable) and the expected form. Secret values are `SecretStr` and
never appear in messages, reprs or logs.
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError

__all__ = [
    "PROJECT_PATTERN",
    "ApiSettings",
    "ColumnsSettings",
    "DefaultsSettings",
    "FormatSettings",
    "PathsSettings",
    "PollSettings",
    "RetentionSettings",
    "Settings",
    "SftpSettings",
    "TextSettings",
    "WatchSettings",
    "config_path_from",
    "load_settings",
    "parse_duration",
]

ENV_PREFIX = "BATCHER_"
PROJECT_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_CONFIG_NAME = "batcher.toml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``"90"``, ``"10s"``, ``"5m"``, ``"2h"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10, \"10s\", \"5m\" or \"2h\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("expected a duration such as 10, \"10s\", \"5m\" or \"2h\"")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class SftpSettings(_Section):
    host: str = "ftp-messaging.wavy.global"
    port: int = Field(2222, ge=1, le=65535)
    username: str = ""
    password: SecretStr | None = None
    password_file: Path | None = None
    key_file: Path | None = None
    known_hosts: Path = Path("known_hosts")
    upload_dir: str = "upload"
    success_dir: str = "success"
    error_dir: str = "error"
    upload_mode: Literal["direct", "rename"] = "direct"
    # not in the SPEC's list; careful-operator additions, documented in the README
    connect_timeout: float = Field(30.0, gt=0)
    retries: int = Field(5, ge=0, le=100)

    _parse_timeout = field_validator("connect_timeout", mode="before")(
        lambda v: parse_duration(v)
    )


class ApiSettings(_Section):
    base_url: str = "https://api-messaging.wavy.global"
    username: str = ""
    token: SecretStr | None = None
    token_file: Path | None = None
    status_mode: Literal["search", "list"] = "search"
    max_ids_per_query: int = Field(1000, ge=1, le=10000)
    requests_per_second: float = Field(1.0, gt=0, le=100)
    timeout: float = Field(30.0, gt=0)
    # a message accepted by its carrier with no delivery report after this long is final
    # (sent_final): carriers retry an unreachable phone for up to 24 h (Vivo 8 h) before
    # reporting NOT_DELIVERED; twice that leaves a day of the 3-day retention to ask
    delivery_window: float = Field(48 * 3600.0, gt=0)
    # not in the SPEC's list; careful-operator additions, documented in the README
    retries: int = Field(5, ge=0, le=100)  # attempts after the first on 429, 5xx, timeouts
    list_page_size: int = Field(1000, ge=1, le=100_000)  # a shorter /list page ends a drain

    _parse_timeout = field_validator("timeout", "delivery_window", mode="before")(lambda v: parse_duration(v))

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("expected an http:// or https:// URL")
        return v.rstrip("/")


class ColumnsSettings(_Section):
    """Columns named explicitly, for lists whose header batcher does not recognise: a
    header name (`"Celular do cliente"`) or a 1-based position (`2`)."""

    number: str | int | None = None
    text: str | int | None = None
    correlation_id: str | int | None = None

    @field_validator("number", "text", "correlation_id")
    @classmethod
    def _column(cls, v: str | int | None) -> str | int | None:
        if isinstance(v, int) and not isinstance(v, bool) and v < 1:
            raise ValueError("a column position starts at 1")
        if isinstance(v, str) and not v.strip():
            raise ValueError("expected a header name or a position 1, 2, ... (or leave the key out)")
        return v


class PathsSettings(_Section):
    inbox: Path = Path("inbox")
    state_dir: Path = Path("state")
    archive_dir: Path = Path("archive")
    rejected_dir: Path = Path("rejected")
    reports_dir: Path = Path("reports")


class DefaultsSettings(_Section):
    project: str | None = None
    country: str = "BR"
    timezone: str = "America/Sao_Paulo"

    @field_validator("project")
    @classmethod
    def _project(cls, v: str | None) -> str | None:
        # an empty value (`project = ""`, BATCHER_DEFAULTS__PROJECT="") is refused like any
        # other bad name, never read as "no default project" (issue 9)
        if v is not None and not v.strip():
            raise ValueError("a project name cannot be empty (leave the key out for no default project)")
        if v is not None and not PROJECT_PATTERN.fullmatch(v):
            raise ValueError("a project name is 1 to 64 of A-Z a-z 0-9 _ -")
        return v

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        v = v.upper()
        if v not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("expected a two-letter region code known to phonenumbers, e.g. BR")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone, e.g. America/Sao_Paulo") from None
        return v


class TextSettings(_Section):
    on_newline: Literal["replace", "reject"] = "replace"
    on_semicolon: Literal["replace", "reject"] = "replace"
    allow_duplicates: bool = False
    transliterate: bool = False
    # optional price of one SMS segment, for the cost estimate (0 = show segments only)
    segment_price: float = Field(0.0, ge=0)


class FormatSettings(_Section):
    header: bool = False
    line_ending: Literal["lf", "crlf"] = "lf"
    eof_marker: bool = True
    max_rows_per_file: int = Field(100_000, ge=1)
    # not in the SPEC's list: the CSVs batcher writes for people (reports, refused rows,
    # errors); ";" is what Excel set to Brazilian Portuguese expects
    csv_delimiter: Literal[";", ","] = ";"


class PollSettings(_Section):
    interval: float = Field(10.0, gt=0)
    max_interval: float = Field(60.0, gt=0)
    timeout: float = Field(7200.0, gt=0)

    _parse = field_validator("interval", "max_interval", "timeout", mode="before")(
        lambda v: parse_duration(v)
    )


class WatchSettings(_Section):
    # a drop is read once batcher has seen it unchanged this long, and no process on this
    # host holds it open for writing
    settle_seconds: float = Field(5.0, ge=0)
    # not in the SPEC's list: a full rescan of the inbox beside the file-system events,
    # for files present at start, lost events, and network folders (no events at all
    # for files written from other hosts)
    rescan_interval: float = Field(30.0, ge=1)

    _parse = field_validator("settle_seconds", "rescan_interval", mode="before")(lambda v: parse_duration(v))


class RetentionSettings(_Section):
    """Opt-in: how many days batcher keeps the numbers, texts and files of a drop whose
    outcome is final. None (the default): nothing is ever deleted."""

    days: float | None = Field(None, gt=0)


class Settings(BaseSettings):
    """Every key of SPEC 6. Build it with `load_settings`, not directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    sftp: SftpSettings = SftpSettings()
    api: ApiSettings = ApiSettings()
    columns: ColumnsSettings = ColumnsSettings()
    paths: PathsSettings = PathsSettings()
    defaults: DefaultsSettings = DefaultsSettings()
    text: TextSettings = TextSettings()
    format: FormatSettings = FormatSettings()
    poll: PollSettings = PollSettings()
    watch: WatchSettings = WatchSettings()
    retention: RetentionSettings = RetentionSettings()

    # where the settings came from (None: defaults only); not a config key
    config_file: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the TOML file arrives as init kwargs; the environment overrides it
        return (env_settings, init_settings)

    # -- secrets -------------------------------------------------------------------

    def sftp_password(self) -> str | None:
        return _secret(self.sftp.password, self.sftp.password_file, "sftp", "password", self.config_file)

    def api_token(self) -> str | None:
        return _secret(self.api.token, self.api.token_file, "api", "token", self.config_file)

    def state_path(self, *parts: str) -> Path:
        return self.paths.state_dir.joinpath(*parts)

    def loose_secret_files(self) -> list[tuple[Path, str]]:
        """Files holding a secret that someone other than their owner can read, as
        OpenSSH refuses such a key: [(path, what it holds)]. The config file counts when
        it holds the password or token itself."""
        holders: list[tuple[Path | None, str]] = [
            (self.sftp.password_file, "[sftp] password_file"),
            (self.api.token_file, "[api] token_file"),
            (self.sftp.key_file, "[sftp] key_file"),
        ]
        if self.config_file is not None and (self.sftp.password is not None or self.api.token is not None):
            holders.append((self.config_file, "the config file (it holds a password or token)"))
        loose = []
        for path, what in holders:
            if path is None:
                continue
            try:
                mode = path.stat().st_mode
            except OSError:
                continue  # reported where the secret is read
            if mode & 0o077:
                loose.append((path, what))
        return loose


def _secret(
    value: SecretStr | None, file: Path | None, section: str, key: str, config_file: Path | None
) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8").rstrip("\r\n")
    except UnicodeDecodeError:  # the secret itself is never shown
        where = config_file or "environment"
        raise ConfigError(
            f"{where}: [{section}] {key}_file = {str(file)!r}: the secret file is not UTF-8 text; save it as UTF-8"
        ) from None
    except OSError as exc:
        where = config_file or "environment"
        raise ConfigError(
            f"{where}: [{section}] {key}_file = {str(file)!r}: cannot read the secret file "
            f"({exc.strerror or exc}); expected a readable file holding the {key}"
        ) from None


def config_path_from(
    option: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> tuple[Path, bool]:
    """The config path to use and whether it was asked for explicitly."""
    environ = os.environ if environ is None else environ
    if option:
        return Path(option), True
    if environ.get("BATCHER_CONFIG"):
        return Path(environ["BATCHER_CONFIG"]), True
    return Path(DEFAULT_CONFIG_NAME), False


_PATH_KEYS = {
    ("sftp", "password_file"),
    ("sftp", "key_file"),
    ("sftp", "known_hosts"),
    ("api", "token_file"),
    ("paths", "inbox"),
    ("paths", "state_dir"),
    ("paths", "archive_dir"),
    ("paths", "rejected_dir"),
    ("paths", "reports_dir"),
}
_SECRET_KEYS = {("sftp", "password"), ("api", "token")}

_DEFAULT_STATE_RELATIVE = {
    # defaults that live inside the state dir rather than beside the config
    ("sftp", "known_hosts"),
}


def _config_text(path: Path, raw: bytes) -> str:
    """The config file as text: UTF-8 (a UTF-8 byte order mark, as Notepad writes it, is
    dropped); anything else is a `ConfigError` saying how to save it."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(f"{path}: the config file is saved as UTF-16; save it as UTF-8")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}, line {line}: the config file is not UTF-8 text (byte 0x{raw[exc.start]:02X}); "
            "save it as UTF-8"
        ) from None


def load_settings(
    config: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    require: bool = False,
) -> Settings:
    """Load, validate and resolve the configuration, or raise `ConfigError`.

    With `require`, finding no config file at all is an error (for the commands that
    talk to the platform or write state: production defaults with an empty username
    help no one); without it, no file means all defaults."""
    environ = os.environ if environ is None else environ
    path, explicit = config_path_from(config, environ)
    if require and not explicit and not path.exists():
        raise ConfigError(
            f"no configuration found: looked for --config PATH, $BATCHER_CONFIG and {path.resolve()}; "
            "run `batcher init` to write a starter config, then fill in [sftp] and [api]"
        )
    data: dict[str, Any] = {}
    config_file: Path | None = None
    if path.exists():
        config_file = path.resolve()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file ({exc.strerror or exc})") from None
        try:
            data = tomllib.loads(_config_text(path, raw))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    elif explicit:
        raise ConfigError(f"{path}: config file not found (run `batcher init` to write a starter config)")

    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)

    old_environ = None
    if environ is not os.environ:
        old_environ = dict(os.environ)
        os.environ.clear()
        os.environ.update(environ)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_file or path, environ)) from None
    finally:
        if old_environ is not None:
            os.environ.clear()
            os.environ.update(old_environ)

    base = config_file.parent if config_file else Path.cwd()
    return _resolved(settings, base, config_file, data, environ)


def _resolved(
    settings: Settings, base: Path, config_file: Path | None, data: Mapping[str, Any], environ: Mapping[str, str]
) -> Settings:
    upper_env = {k.upper() for k in environ}
    updates: dict[str, dict[str, Any]] = {}
    state_dir = _absolute(settings.paths.state_dir, base)
    for section, key in _PATH_KEYS:
        value = getattr(getattr(settings, section), key)
        if value is None:
            continue
        value = Path(os.path.expanduser(str(value)))
        explicitly_set = key in (data.get(section) or {}) or _env_name(section, key) in upper_env
        if (section, key) in _DEFAULT_STATE_RELATIVE and not explicitly_set:
            resolved = state_dir / value
        else:
            resolved = _absolute(value, base)
        updates.setdefault(section, {})[key] = resolved
    sections = {
        name: getattr(settings, name).model_copy(update=updates.get(name, {}))
        for name in ("sftp", "api", "columns", "paths", "defaults", "text", "format", "poll", "watch", "retention")
    }
    return settings.model_copy(update={**sections, "config_file": config_file})


def _absolute(p: Path, base: Path) -> Path:
    p = Path(os.path.expanduser(str(p)))
    return p if p.is_absolute() else (base / p)


def _unknown(section: str, key: str) -> str:
    sections = [n for n in Settings.model_fields if n != "config_file"]
    if not key:
        listed = ", ".join(f"[{n}]" for n in sections)
        return f"unknown section{_did_you_mean(section, sections, '[', ']')} (the sections are {listed})"
    model = getattr(Settings.model_fields.get(section), "annotation", None)
    keys = list(getattr(model, "model_fields", {}))
    return f"unknown key{_did_you_mean(key, keys)} (`batcher init` writes every key batcher knows)"


def _did_you_mean(name: str, known: list[str], before: str = "", after: str = "") -> str:
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    return f"; did you mean {before}{close[0]}{after}?" if close else ""


def _env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}__{key}".upper()


def _describe(exc: ValidationError, file: Path, environ: Mapping[str, str]) -> str:
    upper_env = {k.upper() for k in environ}
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        section, key = [*loc, "", ""][:2]
        env_name = _env_name(section, key) if key else f"{ENV_PREFIX}{section}".upper()
        source = f"environment variable {env_name}" if env_name in upper_env else str(file)
        where = f"[{section}] {key}" if key else f"[{section}]"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = _unknown(section, key)
        elif (section, key) not in _SECRET_KEYS and "input" in err and not isinstance(err["input"], dict):
            msg = f"{msg} (got {err['input']!r})"
        lines.append(f"{source}: {where}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
