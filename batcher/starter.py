"""`batcher init`: the commented starter config (every key of SPEC 6 with its default)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError
from .fsutil import open_private

__all__ = ["STARTER_CONFIG", "write_starter_config"]

STARTER_CONFIG = """\
# batcher configuration. Every key can be overridden by an environment variable
# BATCHER_<SECTION>__<KEY>, e.g. BATCHER_SFTP__PASSWORD. Relative paths are resolved
# against the directory of this file. Secrets can also be read from *_file keys.

[sftp]
host = "ftp-messaging.wavy.global"
port = 2222
username = ""
# password = ""                  # or: password_file = "/run/secrets/wavy_sftp"
# key_file = "~/.ssh/id_ed25519" # key authentication (tried before the password)
# known_hosts = "state/known_hosts"  # OpenSSH format; `batcher trust-host` adds the server
upload_dir = "upload"
success_dir = "success"
error_dir = "error"
upload_mode = "direct"           # "direct" (EOF marks completeness) or "rename" (.NAME.part then rename)
connect_timeout = "30s"
retries = 5                      # reconnect attempts, with backoff, before exit 4

[api]
base_url = "https://api-messaging.wavy.global"
username = ""
# token = ""                     # or: token_file = "/run/secrets/wavy_token"
status_mode = "search"           # "search" (by correlationId) or "list" (drain new statuses)
max_ids_per_query = 1000
requests_per_second = 1          # the platform allows 1 per second per IP, across all processes
delivery_window = "48h"          # no delivery report this long after the carrier accepted: final (sent_final)
timeout = "30s"
retries = 5                      # retries, with backoff, of a request answered 429 / 5xx or timed out, before exit 4
list_page_size = 1000            # statuses per /list answer at most; a shorter answer ends a drain

[columns]
# Only for lists whose header batcher does not recognise (it knows telefone, celular,
# mensagem, texto... also as a word: "Celular do cliente"). A header name or a position.
# number = "Contato"
# text = 2
# correlation_id = "Pedido"

[paths]
inbox = "inbox"                  # INBOX/PROJECT/file.csv sends as PROJECT
state_dir = "state"              # SQLite store, copies of every file sent, lock
archive_dir = "archive"          # processed drops, by date
rejected_dir = "rejected"        # drops refused as a whole, with NAME.errors.csv
reports_dir = "reports"

[defaults]
# project = "MYPROJECT"          # for files dropped directly in the inbox; [A-Za-z0-9_-]{1,64}
country = "BR"                   # region for numbers written without a country code
timezone = "America/Sao_Paulo"   # for the YYYYMMDD in file names

[text]
on_newline = "replace"           # "replace" (with a space) or "reject" the row
on_semicolon = "replace"         # "replace" (with a comma) or "reject" the row
allow_duplicates = false         # same number and text twice in one drop
transliterate = false            # fold accents and typographic quotes to the GSM class
segment_price = 0.0              # price of one SMS segment for the cost estimate (0: segments only)

[format]
header = false                   # write the "number;text;correlationId;" legend line
line_ending = "lf"               # or "crlf"
eof_marker = true
max_rows_per_file = 100000
csv_delimiter = ";"              # in the CSVs for people (reports, refused rows): ";" (Excel in Brazil) or ","

[poll]
interval = "10s"                 # backs off to max_interval
max_interval = "60s"
timeout = "2h"                   # then the batch is reported as stuck

[watch]
settle_seconds = "5s"            # a drop must be unchanged this long before it is read

[retention]
# Off by default: nothing is ever deleted. With days set, `batcher purge` (also run by
# `batcher run` and daily by `watch`) removes the numbers, texts and files of drops older
# than that whose outcome is final; counts, states and the audit trail stay.
# days = 90
"""


def write_starter_config(path: Path, *, overwrite: bool = False) -> None:
    """Write the starter config readable by its owner only (0600): it will hold the SFTP
    password. With `overwrite`, an existing file is replaced (atomically)."""
    if path.exists() and not overwrite:
        raise ConfigError(f"{path}: already exists (use --force to overwrite)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open_private(tmp, "w", encoding="utf-8") as fh:
            fh.write(STARTER_CONFIG)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the config ({exc.strerror or exc})") from None
