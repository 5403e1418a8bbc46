"""SFTP delivery: the adapter over paramiko (`sftp`) and host key trust (`hostkeys`).

This package is the only place that imports paramiko; everything it raises is part of
the batcher error tree (`batcher.errors`).
"""

from .hostkeys import KnownHostEntry, KnownHosts, fetch_host_key, fingerprint, host_pattern
from .sftp import RemoteFile, SftpTransport

__all__ = [
    "KnownHostEntry",
    "KnownHosts",
    "RemoteFile",
    "SftpTransport",
    "fetch_host_key",
    "fingerprint",
    "host_pattern",
]
