"""Run the simulator: SFTP server, processor and status API on one asyncio loop in a
background thread (`Simulator`), or in the foreground until a signal (`run_foreground`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import asyncssh

from ..clock import OffsetClock
from ..errors import ConfigError
from .api import ApiServer
from .config import SimConfig
from .faults import seeded
from .outcomes import OUTCOMES_HELP
from .processor import Processor
from .server import SIM_DIR, SftpState, host_key, known_hosts_line, start_sftp_server
from .statuses import StatusStore

__all__ = ["Simulator", "run_foreground"]

log = logging.getLogger("batcher.sim")


class Simulator:
    """The embedded platform. `with Simulator(cfg) as sim: ...` or start()/stop()."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.root = Path(config.root)
        self.sim_dir = self.root / SIM_DIR
        self.host = config.host
        self.sftp_port = 0
        self.api_port = 0
        self.fingerprint = ""
        self.known_hosts_path = self.sim_dir / "known_hosts"
        self.request_log_path = self.sim_dir / "requests.jsonl"
        self.processor_log_path = self.sim_dir / "processor.log"
        self.clock = config.clock if config.clock is not None else OffsetClock()
        faults = config.faults
        self.store = StatusStore(self.clock, sent_delay=config.sent_delay, delivered_delay=config.delivered_delay,
                                 retention=config.retention, rng=seeded(faults.seed, "ids"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.connect_host}:{self.api_port}"

    @property
    def connect_host(self) -> str:
        """The address a local client connects to (127.0.0.1 when listening on all)."""
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> Simulator:
        if self._thread is not None:
            return self
        for sub in ("upload", "success", "error", SIM_DIR):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        key = host_key(self.sim_dir)
        self.fingerprint = key.get_fingerprint("sha256")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._thread_main, args=(key, started),
                                        name="batcher-sim", daemon=True)
        self._thread.start()
        try:
            started.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        loop, stopping = self._loop, self._stopping
        assert stopping is not None
        try:
            loop.call_soon_threadsafe(stopping.set)
        except RuntimeError:  # loop already closed
            pass
        self._thread.join()
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- test hooks ------------------------------------------------------------------
    def advance_clock(self, seconds: float) -> None:
        """Make statuses age as if `seconds` had passed (delays, 3-day retention)."""
        self.clock.advance(seconds)

    def statuses(self) -> list[dict[str, Any]]:
        """Every status currently visible to the API (without consuming /list)."""
        return self.store.all()

    # -- the loop ----------------------------------------------------------------------
    def _thread_main(self, key: asyncssh.SSHKey, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(key, started))
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self, key: asyncssh.SSHKey, started: concurrent.futures.Future[None]) -> None:
        cfg = self.config
        self._stopping = asyncio.Event()
        sftp_state = SftpState(cfg)
        api = ApiServer(cfg, self.store, seeded(cfg.faults.seed, "api"), self.request_log_path, self.clock)
        processor = Processor(cfg, self.clock, self.store, sftp_state, seeded(cfg.faults.seed, "files"),
                              self.processor_log_path)
        acceptor: asyncssh.SSHAcceptor | None = None
        try:
            try:
                acceptor = await start_sftp_server(sftp_state, key)
            except OSError as exc:
                raise _bind_error("SFTP", cfg.host, cfg.port, "--port", exc) from exc
            self.sftp_port = acceptor.get_port()
            try:
                self.api_port = await api.start()
            except OSError as exc:
                raise _bind_error("status API", cfg.host, cfg.api_port, "--api-port", exc) from exc
            self.known_hosts_path.write_text(known_hosts_line(self.connect_host, self.sftp_port, key))
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            if acceptor is not None:
                acceptor.close()
                await acceptor.wait_closed()
            await api.stop()
            started.set_exception(exc)
            return
        task = asyncio.create_task(processor.run(), name="sim-processor")
        started.set_result(None)
        log.info("simulator up: sftp %s:%d, api %s", self.host, self.sftp_port, self.api_url)
        await self._stopping.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        acceptor.close()
        await acceptor.wait_closed()
        await sftp_state.close_connections()
        await api.stop()


def _bind_error(what: str, host: str, port: int, option: str, exc: OSError) -> ConfigError:
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"{what} port {port} on {host} is already in use; choose another with {option} "
                           "(0 picks a free port)")
    return ConfigError(f"cannot listen for the {what} on {host}:{port}: {exc.strerror or exc}")


def describe(sim: Simulator) -> str:
    """How to connect, as printed by `batcher sim`."""
    cfg = sim.config
    lines = [
        "batcher platform simulator running",
        f"  SFTP        host {sim.connect_host}  port {sim.sftp_port}  user {cfg.username}  password {cfg.password}",
        f"  fingerprint {sim.fingerprint}",
        f"  known_hosts {sim.known_hosts_path}",
        f"  root        {sim.root}  (upload/ success/ error/)",
        f"  API         {sim.api_url}  username {cfg.api_username}  authenticationtoken {cfg.api_token}",
        f"  API limits  {_limits(cfg)}",
        f"  logs        {sim.processor_log_path}  {sim.request_log_path}",
        "",
        OUTCOMES_HELP,
        "",
        "Stop with Ctrl-C (SIGINT) or SIGTERM.",
    ]
    return "\n".join(lines)


def _limits(cfg: SimConfig) -> str:
    rate = (f"{cfg.rate_limit_per_second:g} request(s) per second per IP, 429 beyond"
            if cfg.rate_limit_per_second > 0 else "no rate limit")
    page = f"/list pages of {cfg.list_page}" if cfg.list_page > 0 else "/list unpaged"
    sloppy = ", sloppy JSON" if cfg.faults.api_sloppy_json else ""
    return f"{rate}; {page}{sloppy}"


def run_foreground(config: SimConfig, echo: Callable[[str], None]) -> None:
    """Start the simulator, print how to connect, run until SIGINT/SIGTERM, stop cleanly."""
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Simulator(config) as sim:
            echo(describe(sim))
            while not done.wait(0.5):
                pass
            echo("stopping simulator")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
