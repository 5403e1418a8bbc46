"""The host-wide rate limiter: spacing measured from each answer, penalties shared by
every process, no deadlock when a holder dies or hangs, no hours-long wait after a
reboot or a clock set back, and three real processes against the simulator's 1
request per second without a 429.

Single-process tests run on a `ManualClock` (waiting moves it); the multi-process ones
use real processes, real time and the simulator's request log.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batcher.clock import ManualClock
from batcher.errors import ConfigError
from batcher.settings import load_settings
from batcher.sim import Simulator
from batcher.status import HostRateLimiter, RateLimiter
from batcher.status.ratelimit import MAX_PENALTY

MARGIN = 0.05


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ratelimit.json"


def limiter(state: Path, clock: ManualClock, rps: float = 1.0, **kw: float) -> HostRateLimiter:
    return HostRateLimiter(state, rps, clock=clock, margin=MARGIN, **kw)


def test_is_a_rate_limiter(state: Path, clock: ManualClock) -> None:
    assert isinstance(limiter(state, clock), RateLimiter)


def test_the_next_request_leaves_an_interval_after_the_previous_answer(state: Path, clock: ManualClock) -> None:
    lim = limiter(state, clock, rps=2.0)
    entries, exits = [], []
    for hold in (0.0, 0.3, 0.7, 0.1):
        with lim.acquire():
            entries.append(clock.time())
            clock.advance(hold)  # the request in flight
            exits.append(clock.time())
    assert entries[0] == exits[0]  # the first one went at once
    gaps = [entry - exit_ for exit_, entry in zip(exits, entries[1:], strict=False)]
    assert gaps == pytest.approx([0.5 + MARGIN] * 3)


def test_two_processes_share_the_turn_and_the_penalty(state: Path, clock: ManualClock) -> None:
    a, b = limiter(state, clock), limiter(state, clock)  # two processes, one host
    with a.acquire():
        released = clock.time()
    with b.acquire():
        assert clock.time() - released == pytest.approx(1.0 + MARGIN)
    a.penalize(7.0)  # a got a 429 with Retry-After: 7
    penalized = clock.time()
    with b.acquire():
        assert clock.time() - penalized == pytest.approx(7.0 + MARGIN)
    b.penalize(10 * MAX_PENALTY)  # an absurd Retry-After is bounded
    penalized = clock.time()
    with a.acquire():
        assert clock.time() - penalized == pytest.approx(MAX_PENALTY + MARGIN)


def test_a_holder_stuck_past_its_lease_is_passed_by(state: Path, clock: ManualClock) -> None:
    a, b = limiter(state, clock, lease=20.0), limiter(state, clock, lease=20.0)
    stuck = a.acquire()
    stuck.__enter__()  # a request that never comes back (its process is alive)
    taken = clock.time()
    with b.acquire():
        waited = clock.time() - taken
    assert 20.0 <= waited <= 20.0 + 1.0 + MARGIN
    stuck.__exit__(None, None, None)  # its late answer still pushes the next turn
    with b.acquire():
        pass


def test_a_time_from_before_a_reboot_or_a_clock_set_back_does_not_block(state: Path, clock: ManualClock) -> None:
    state.parent.mkdir()
    now = clock.time()
    state.write_text(json.dumps({"next": now + 10 * 3600, "holder": {"pid": os.getppid(), "token": "x",
                                                                    "until": now + 10 * 3600}}))
    with limiter(state, clock).acquire():
        assert clock.time() == now  # neither the far "next" nor the far lease was obeyed
    # a recent penalty (within what batcher ever asks for) is obeyed
    state.write_text(json.dumps({"next": clock.time() + 100, "holder": None}))
    before = clock.time()
    with limiter(state, clock).acquire():
        assert clock.time() - before == pytest.approx(100)


@pytest.mark.parametrize("content", [b"", b"{garbage", b"[1, 2]", b'{"next": "soon", "holder": 3}'])
def test_a_damaged_state_file_counts_as_empty(state: Path, clock: ManualClock, content: bytes) -> None:
    state.parent.mkdir()
    state.write_bytes(content)
    with limiter(state, clock).acquire():
        assert clock.sleeps == []
    assert isinstance(json.loads(state.read_bytes()), dict)


def test_state_file_is_private_and_lives_in_the_state_dir(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "batcher.toml").write_text('[paths]\nstate_dir = "st"\n[api]\nrequests_per_second = 2\n')
    settings = load_settings(tmp_path / "batcher.toml", environ={})
    lim = HostRateLimiter.for_settings(settings, clock=clock)
    with lim.acquire():
        pass
    assert lim.path == tmp_path / "st" / "ratelimit.json" and lim.interval == 0.5
    assert (lim.path.stat().st_mode & 0o777, lim.path.parent.stat().st_mode & 0o777) == (0o600, 0o700)


def test_an_unusable_state_dir_is_a_config_error_naming_it(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "file").write_text("x")
    lim = limiter(tmp_path / "file" / "ratelimit.json", clock)
    with pytest.raises(ConfigError, match=r"file/ratelimit.json: cannot use .*\[paths\] state_dir"):
        with lim.acquire():
            pass


# -- real processes -------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from batcher.status import HostRateLimiter
    lim = HostRateLimiter(Path(sys.argv[1]), 1.0)
    with lim.acquire():
        print("holding", flush=True)
        sys.stdin.readline()
""")

SEARCHER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from batcher.settings import ApiSettings
    from batcher.status import HostRateLimiter, StatusClient
    url, token, state, count, name = sys.argv[1:6]
    limiter = HostRateLimiter(Path(state), 1.0)
    with StatusClient(ApiSettings(base_url=url, username="batcher", timeout=10), token, limiter=limiter) as api:
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(int(count)):
            api.search([f"{name}-{i}"])
    print(json.dumps({"requests": api.requests, "codes": dict(api.status_counts)}), flush=True)
""")


Procs = list[subprocess.Popen[str]]


@pytest.fixture
def processes() -> Iterator[Procs]:
    started: Procs = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def start(processes: Procs, script: str, *args: str, expect: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parent.parent)
    processes.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == expect
    return proc


def test_a_holder_killed_mid_request_frees_the_turn_at_once(state: Path, processes: Procs) -> None:
    proc = start(processes, HOLDER, str(state), expect="holding")
    proc.kill()
    proc.wait(timeout=10)
    clock = ManualClock(time.time())
    with HostRateLimiter(state, 1.0, clock=clock).acquire():
        pass
    assert sum(clock.sleeps) <= 1.0 + MARGIN  # the spacing after its start, not its lease


def test_a_stopped_holder_is_passed_by_after_its_lease(state: Path, processes: Procs) -> None:
    proc = start(processes, HOLDER, str(state), expect="holding")
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        clock = ManualClock(time.time())
        with HostRateLimiter(state, 1.0, clock=clock).acquire():
            pass
        assert 60.0 <= sum(clock.sleeps) <= 65.0 + 1.0 + MARGIN  # the holder's lease (the default, 65 s)
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def test_three_processes_at_once_keep_the_platforms_rate(sim: Simulator, tmp_path: Path,
                                                        processes: Procs) -> None:
    assert sim.config.rate_limit_per_second == 1.0
    state = tmp_path / "host-state" / "ratelimit.json"
    procs = [start(processes, SEARCHER, sim.api_url, sim.config.api_token, str(state), "3", f"p{n}",
                   expect="ready") for n in range(3)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["codes"] for r in results] == [{"200": 3}] * 3
    log = [json.loads(line) for line in sim.request_log_path.read_text().splitlines()]
    assert [r["status"] for r in log] == [200] * 9
    arrivals = sorted(r["mono"] for r in log)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= 1.0, gaps
