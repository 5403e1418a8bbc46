"""Shared pytest fixtures. Each fixture family lives in tests/fixtures/<name>.py and is
re-exported here so that every test module can use it by name. `no_leaks`
(fixtures/leaks.py) runs around every test."""

from __future__ import annotations

import pytest

from tests.fixtures.leaks import *  # noqa: F403
from tests.fixtures.sim import *  # noqa: F403
from tests.fixtures.sshd import *  # noqa: F403
from tests.fixtures.watch import *  # noqa: F403


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_leaks(reason): the test may leave threads or child processes running (say why)"
    )
