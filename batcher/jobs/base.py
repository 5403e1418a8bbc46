"""What every job runs on: the context (settings, the one clock, where events go) and
the session (the store, the SFTP transport and the status client, opened when first
used and closed together)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..clock import SYSTEM_CLOCK, Clock
from ..events import Emit, ignore
from ..settings import Settings

if TYPE_CHECKING:
    from ..pipeline import Delivery
    from ..store import Store
    from ..transport import SftpTransport

__all__ = ["Context", "Session"]


@dataclass
class Context:
    """What every job needs: the settings, the one clock, where events go."""

    settings: Settings
    clock: Clock = SYSTEM_CLOCK
    emit: Emit = ignore

    def today(self) -> date:
        return self.clock.now().astimezone(ZoneInfo(self.settings.defaults.timezone)).date()


class Session:
    """The resources of one job, opened when first used and closed together."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._stack = contextlib.ExitStack()
        self._store: Store | None = None
        self._transport: SftpTransport | None = None
        self._delivery: Delivery | None = None
        self._status: Any = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def store(self) -> Store:
        if self._store is None:
            from ..store import Store

            self._store = self._stack.enter_context(
                Store.open(self.ctx.settings.paths.state_dir, clock=self.ctx.clock.now))
        return self._store

    @property
    def transport(self) -> SftpTransport:
        if self._transport is None:
            from ..transport import SftpTransport

            s = self.ctx.settings
            self._transport = self._stack.enter_context(
                SftpTransport(s.sftp, s.sftp_password(), sleep=self.ctx.clock.sleep))
        return self._transport

    @property
    def delivery(self) -> Delivery:
        if self._delivery is None:
            from ..pipeline import Delivery

            self._delivery = Delivery(self.ctx.settings, self.store, self.transport,
                                      emit=self.ctx.emit, clock=self.ctx.clock)
        return self._delivery

    @property
    def status_source(self) -> Any:
        """The status API client (host-wide rate limit in the state dir)."""
        if self._status is None:
            from ..status import HostRateLimiter, StatusClient

            s = self.ctx.settings
            limiter = HostRateLimiter.for_settings(s, clock=self.ctx.clock)
            self._status = self._stack.enter_context(
                StatusClient(s.api, s.api_token(), limiter=limiter, clock=self.ctx.clock))
        return self._status
