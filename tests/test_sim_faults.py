"""Each fault switch does what it says, and seeded faults repeat."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import paramiko
import pytest

from batcher.sim import Simulator
from tests.fixtures.sim import api_headers, batch_name, platform_file, sim_sftp, wait_for

LIST = "/v1/sms/status/list"
GOOD = platform_file([("5511900000010", "hello", "c-1")])


def put(sftp: paramiko.SFTPClient, path: str, data: bytes) -> None:
    with sftp.open(path, "wb") as fh:
        fh.write(data)


def reasons(sim: Simulator) -> dict[str, str]:
    return {r["file"]: r["reason"] for r in map(json.loads, sim.processor_log_path.read_text().splitlines())}


def test_file_error_rate_one_rejects_good_files(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(file_error_rate=1.0)
    name = batch_name()
    with sim_sftp(sim) as sftp:
        put(sftp, f"/upload/{name}", GOOD)
        wait_for(lambda: name in sftp.listdir("/error"), message="file in error/")
    assert reasons(sim)[name] == "fault: file_error_rate"
    time.sleep(0.3)
    assert sim.statuses() == []


def _error_set(make_sim: Callable[..., Simulator], seed: int) -> set[str]:
    sim = make_sim(file_error_rate=0.5, seed=seed)
    names = [batch_name("RATE", i) for i in range(1, 13)]
    with sim_sftp(sim) as sftp:
        for name in names:
            put(sftp, f"/upload/{name}", GOOD)
        wait_for(lambda: len(sftp.listdir("/error")) + len(sftp.listdir("/success")) == len(names),
                 message="all files processed")
        return set(sftp.listdir("/error"))


def test_file_error_rate_is_seeded(make_sim: Callable[..., Simulator]) -> None:
    first = _error_set(make_sim, seed=7)
    again = _error_set(make_sim, seed=7)
    other = _error_set(make_sim, seed=8)
    assert first == again
    assert 0 < len(first) < 12
    assert first != other


def test_drop_after_bytes(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(drop_after_bytes=1000, drop_connections=1)
    name = batch_name()
    data = platform_file([("5511900000010", "x" * 100, f"c{i}") for i in range(50)])
    assert len(data) > 3000
    with pytest.raises((OSError, EOFError, paramiko.SSHException)), sim_sftp(sim) as sftp:
        put(sftp, f"/upload/{name}", data)
    partial = sim.root / "upload" / name
    wait_for(lambda: partial.exists() and partial.stat().st_size == 1000, timeout=3, message="1000 bytes kept")
    # only the first connection is dropped: the restarted upload goes through
    with sim_sftp(sim) as sftp:
        put(sftp, f"/upload/{name}", data)
        wait_for(lambda: name in sftp.listdir("/success"), message="file in success/")
    assert (sim.root / "success" / name).read_bytes() == data


def test_drop_after_bytes_several_connections(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(drop_after_bytes=10, drop_connections=2)
    for _ in range(2):
        with pytest.raises((OSError, EOFError, paramiko.SSHException)), sim_sftp(sim) as sftp:
            put(sftp, f"/upload/{batch_name()}", GOOD)
    with sim_sftp(sim) as sftp:
        put(sftp, f"/upload/{batch_name()}", GOOD)
        wait_for(lambda: sftp.listdir("/success"), message="file in success/")


def test_processing_delay(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(processing_delay=1.0)
    name = batch_name()
    with sim_sftp(sim) as sftp:
        put(sftp, f"/upload/{name}", GOOD)
        start = time.monotonic()
        time.sleep(0.6)
        assert sftp.listdir("/upload") == [name]
        wait_for(lambda: name in sftp.listdir("/success"), message="file in success/")
        assert time.monotonic() - start >= 0.9


def _codes(sim: Simulator, n: int) -> list[int]:
    with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
        return [client.get(LIST).status_code for _ in range(n)]


def test_api_5xx_rate(make_sim: Callable[..., Simulator]) -> None:
    always = _codes(make_sim(api_5xx_rate=1.0, rate_limit_per_second=0), 12)
    assert set(always) <= {500, 503, 504} and len(set(always)) > 1
    first = _codes(make_sim(api_5xx_rate=0.5, seed=3, rate_limit_per_second=0), 20)
    again = _codes(make_sim(api_5xx_rate=0.5, seed=3, rate_limit_per_second=0), 20)
    assert first == again
    assert 200 in first and set(first) - {200}


def test_api_latency(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(api_latency=0.5, rate_limit_per_second=0)
    start = time.monotonic()
    assert _codes(sim, 2) == [200, 200]
    assert time.monotonic() - start >= 1.0
