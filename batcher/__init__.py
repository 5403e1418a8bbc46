"""batcher: CSV and spreadsheet drops to Wavy (Sinch LATAM) SMS batch files over SFTP."""

from .errors import (
    AuthenticationError,
    BatcherError,
    ConfigError,
    DuplicateDropError,
    FileRejectedByPlatform,
    HostKeyError,
    InputError,
    PlatformUnreachable,
    RemoteError,
    StateError,
)
from .settings import Settings, load_settings

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BatcherError",
    "ConfigError",
    "DuplicateDropError",
    "FileRejectedByPlatform",
    "HostKeyError",
    "InputError",
    "PlatformUnreachable",
    "RemoteError",
    "Settings",
    "StateError",
    "__version__",
    "load_settings",
]
