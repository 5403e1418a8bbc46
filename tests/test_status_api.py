"""The status API client against the simulator's real HTTP server."""

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from batcher.clock import ManualClock
from batcher.errors import AuthenticationError, PlatformUnreachable
from batcher.settings import ApiSettings
from batcher.status_api import StatusApi


def client_for(sim, *, token: str | None = None, sleeps: list[float] | None = None, retries: int = 4) -> StatusApi:  # type: ignore[no-untyped-def]
    settings = ApiSettings(base_url=sim.api_url, username=sim.config.api_username, timeout=5)
    record = sleeps.append if sleeps is not None else (lambda s: time.sleep(s))
    return StatusApi(settings, token or sim.config.api_token, retries=retries, sleep=record)


def upload(sim, name: str, body: str) -> None:  # type: ignore[no-untyped-def]
    transport = paramiko.Transport((sim.host, sim.sftp_port))
    transport.connect(username=sim.config.username, password=sim.config.password)
    sftp = paramiko.SFTPClient.from_transport(transport)
    assert sftp is not None
    with sftp.open(f"upload/{name}", "w") as fh:
        fh.write(body)
    transport.close()


def test_search_returns_the_statuses_of_the_uploaded_rows(make_sim, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(rate_limit_per_second=0)
    upload(sim, "P.20260101.01.txt", "5511987650010;oi;c-1;\n5511987650104;oi;c-2;\nEOF\n")
    api = client_for(sim)
    deadline = time.monotonic() + 10
    found: dict[str, dict] = {}
    while time.monotonic() < deadline and len(found) < 2:
        found = {s["correlationId"]: s for s in api.search(["c-1", "c-2", "unknown"])}
        time.sleep(0.1)
    assert set(found) == {"c-1", "c-2"}
    assert found["c-1"]["sentStatusCode"] == 2 and found["c-1"]["destination"] == "5511987650010"


def test_429_is_waited_out_with_retry_after(make_sim) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock()  # the simulator's time moves only when a client sleeps
    sim = make_sim(rate_limit_per_second=1.0, clock=clock)
    sleeps: list[float] = []
    api = client_for(sim, sleeps=sleeps)
    api.search(["a"])
    # this client's sleep does not move the clock, so each retry comes too soon: every 429 is honoured
    with pytest.raises(PlatformUnreachable, match="429"):
        api.search(["b"])
    assert sleeps and all(s >= 1.0 for s in sleeps)  # Retry-After is at least 1 s
    clock.advance(1.0)
    waiting = StatusApi(ApiSettings(base_url=sim.api_url, username=sim.config.api_username, timeout=5),
                        sim.config.api_token, sleep=clock.sleep)  # its sleep moves the clock
    waiting.search(["c"])
    assert waiting.search(["d"]) == []  # the second one waited for Retry-After and succeeded
    assert clock.sleeps == [1.0]


def test_5xx_are_retried_with_backoff_then_reported(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(rate_limit_per_second=0, api_5xx_rate=1.0, seed=3)
    sleeps: list[float] = []
    with pytest.raises(PlatformUnreachable, match=r"HTTP 50\d.*after 4 attempts"):
        client_for(sim, sleeps=sleeps, retries=3).search(["x"])
    assert sleeps == [1.0, 2.0, 4.0]


def test_wrong_token_is_an_authentication_error_without_the_token(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(rate_limit_per_second=0)
    with pytest.raises(AuthenticationError) as err:
        client_for(sim, token="not-the-token-123").search(["x"])
    assert "401" in str(err.value) and "not-the-token-123" not in str(err.value)


def test_unreachable_api_is_reported_after_retries() -> None:
    settings = ApiSettings(base_url="http://127.0.0.1:9", username="u", timeout=1)
    sleeps: list[float] = []
    with pytest.raises(PlatformUnreachable, match="cannot connect"):
        StatusApi(settings, "t", retries=2, sleep=sleeps.append).probe()
    assert sleeps == [1.0, 2.0]
