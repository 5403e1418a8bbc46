"""Shared pytest fixtures. Each fixture family lives in tests/fixtures/<name>.py and is
re-exported here so that every test module can use it by name."""

from __future__ import annotations

from tests.fixtures.sim import *  # noqa: F403
from tests.fixtures.sshd import *  # noqa: F403
