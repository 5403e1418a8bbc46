"""The status API client against the simulator's real HTTP server: statuses parsed,
search chunked, /list drained across pages, sloppy JSON read, 429 and 5xx recovered,
bad credentials and an unreachable API explained.

Most tests give the simulator and the client one `ManualClock`: the client's waits
(the rate limiter's and the backoff's) move the simulator's time, so the platform's
1 request per second is kept and checked without a real sleep.
"""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from batcher.clock import ManualClock
from batcher.errors import AuthenticationError, PlatformUnreachable, RemoteError
from batcher.settings import ApiSettings
from batcher.sim import Simulator
from batcher.status import HostRateLimiter, PlatformStatus, StatusClient
from tests.fixtures.platform import make_workspace
from tests.fixtures.sim import batch_name, platform_file, sim_sftp, wait_for

SEARCH = "/v1/sms/status/search"
LIST = "/v1/sms/status/list"


def client_for(sim: Simulator, tmp_path: Path, *, clock: Any = None, token: str | None = None,
               retries: int | None = None, rps: float = 1.0, **api: Any) -> StatusClient:
    clock = clock if clock is not None else sim.clock
    settings = ApiSettings(base_url=sim.api_url, username=sim.config.api_username, timeout=5, **api)
    limiter = HostRateLimiter(tmp_path / "state" / "ratelimit.json", rps, clock=clock)
    return StatusClient(settings, token or sim.config.api_token, limiter=limiter, clock=clock, retries=retries)


def upload(sim: Simulator, rows: list[tuple[str, str, str]], seq: int = 1) -> None:
    name = batch_name("API", seq)
    with sim_sftp(sim) as sftp, sftp.open(f"/upload/{name}", "wb") as fh:
        fh.write(platform_file(rows))
    wait_for(lambda: (sim.root / "success" / name).exists(), message="file in success/")


def rows(count: int, prefix: str = "c") -> list[tuple[str, str, str]]:
    return [(f"55119{i:08d}", f"text {i}", f"{prefix}-{i}") for i in range(count)]


def requests_log(sim: Simulator) -> list[dict[str, Any]]:
    if not sim.request_log_path.exists():
        return []
    return [json.loads(line) for line in sim.request_log_path.read_text().splitlines()]


def assert_platform_rule_kept(log: list[dict[str, Any]]) -> None:
    arrivals = [r["mono"] for r in log]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(arrivals)), arrivals
    assert [r["status"] for r in log if r["status"] == 429] == []


@pytest.fixture
def manual(make_sim: Callable[..., Simulator]) -> Simulator:
    """A simulator at the platform's 1 request/s on a ManualClock (statuses visible at once)."""
    return make_sim(clock=ManualClock(), sent_delay=0, delivered_delay=0)


def test_search_returns_typed_statuses_of_the_uploaded_rows(make_sim: Callable[..., Simulator],
                                                             tmp_path: Path) -> None:
    sim = make_sim(clock=ManualClock(datetime(2024, 1, 31, 12, tzinfo=UTC)), sent_delay=1, delivered_delay=3)
    upload(sim, [("5511987650010", "oi", "c-1"), ("5511987650104", "oi", "c-2"), ("5511987650998", "oi", "c-3")])
    sim.advance_clock(5)
    with client_for(sim, tmp_path) as api:
        found = {s.correlation_id: s for s in api.search(["c-1", "c-2", "c-3", "unknown"])}
    assert set(found) == {"c-1", "c-2", "c-3"}
    first = found["c-1"]
    assert isinstance(first, PlatformStatus)
    assert (first.sent_status_code, first.sent_status) == (2, "SENT_SUCCESS")
    assert (first.delivered_status_code, first.delivered_status) == (4, "DELIVERED_SUCCESS")
    assert (first.carrier_id, first.carrier_name, first.destination) == ("1", "VIVO", "5511987650010")
    assert first.sent_at == datetime(2024, 1, 31, 12, 0, 1, tzinfo=UTC)
    assert first.delivered_at == datetime(2024, 1, 31, 12, 0, 3, tzinfo=UTC)
    assert found["c-2"].delivered_status_code == 104
    oi = found["c-3"]
    assert (oi.carrier_name, oi.delivered_status_code, oi.delivered_at) == ("OI", None, None)
    assert api.requests == 1 and api.statuses_received == 3


def test_2500_correlation_ids_take_exactly_3_searches(manual: Simulator, tmp_path: Path) -> None:
    upload(manual, rows(2500))
    wanted = [f"c-{i}" for i in range(2500)]
    with client_for(manual, tmp_path) as api:
        found = api.search(wanted + wanted[:10])  # duplicates are asked once
    assert sorted(s.correlation_id or "" for s in found) == sorted(wanted)
    log = requests_log(manual)
    assert [(r["path"], r["correlationIds"], r["status"]) for r in log] == [(SEARCH, 1000, 200)] * 2 + [
        (SEARCH, 500, 200)]
    assert api.requests == 3
    assert_platform_rule_kept(log)


def test_ids_and_correlation_ids_share_each_chunk(manual: Simulator, tmp_path: Path) -> None:
    upload(manual, rows(5))
    ids = [s["id"] for s in manual.statuses()]
    with client_for(manual, tmp_path, max_ids_per_query=3) as api:
        found = api.search(["c-3", "c-4", "", "unknown"], ids=ids[:3])
        assert api.search([]) == []  # nothing to ask: no request
    assert {s.correlation_id for s in found} == {"c-0", "c-1", "c-2", "c-3", "c-4"}
    assert [(r["ids"], r["correlationIds"]) for r in requests_log(manual)] == [(3, 0), (0, 3)]


def test_list_drains_2500_statuses_in_3_pages(manual: Simulator, tmp_path: Path) -> None:
    upload(manual, rows(2500))
    with client_for(manual, tmp_path) as api:
        pages = list(api.drain())
        assert [len(p) for p in pages] == [1000, 1000, 500]
        assert len({s.correlation_id for p in pages for s in p}) == 2500
        assert api.requests == 3  # ceil(2500 / 1000): the short page ends the drain
        assert list(api.drain()) == []  # consumed: one request, nothing new
        assert api.requests == 4
    log = requests_log(manual)
    assert [(r["path"], r["returned"]) for r in log] == [(LIST, 1000), (LIST, 1000), (LIST, 500), (LIST, 0)]
    assert_platform_rule_kept(log)


def test_list_pages_follow_the_simulators_page_and_a_whole_number_costs_one_more(
        make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = make_sim(clock=ManualClock(), sent_delay=0, delivered_delay=0, list_page=200)
    upload(sim, rows(400))
    with client_for(sim, tmp_path, list_page_size=200) as api:
        assert [len(p) for p in api.drain()] == [200, 200]
        assert api.requests == 3  # 200, 200, then an empty answer proves nothing more waits
        upload(sim, rows(450, prefix="d"), seq=2)
        assert [len(p) for p in api.drain(max_pages=2)] == [200, 200]
        assert [len(p) for p in api.drain()] == [50]


def test_sloppy_json_is_read_as_the_clean_truth(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = make_sim(clock=ManualClock(), sent_delay=0, delivered_delay=0, api_sloppy_json=True, seed=7)
    numbers = ["5511900000010", "5511900000104", "5511900000998", "5511900000202", "5511900000021",
               "5511900000999", "5511900000301", "5511900000035"] * 5
    upload(sim, [(n, "x", f"s-{i}") for i, n in enumerate(numbers)])
    truth = {s["correlationId"]: s for s in sim.statuses()}
    with client_for(sim, tmp_path) as api:
        searched = api.search(list(truth))
        listed = [s for page in api.drain() for s in page]
    sim.advance_clock(1.1)
    raw = httpx.post(sim.api_url + SEARCH, json={"correlationIds": list(truth)},
                     headers={"username": "batcher", "authenticationtoken": sim.config.api_token}).text
    # it really is sloppy on the wire
    assert '"subAccount"' in raw and '"sentStatusCode": "' in raw and "null" not in raw
    assert api.statuses_skipped == 0
    for got in (searched, listed):
        assert len(got) == len(truth)
        for s in got:
            t = truth[s.correlation_id or ""]
            assert (s.id, s.destination, s.carrier_name) == (t["id"], t["destination"], t["carrierName"])
            assert (s.sent_status_code, s.delivered_status_code) == (t["sentStatusCode"], t["deliveredStatusCode"])
            assert s.carrier_id == str(t["carrierId"])
            assert s.sent_at is not None
            assert abs(s.sent_at.timestamp() - t["sentStatusAt"] / 1000) < 1  # the date has whole seconds
            if t["deliveredAt"] is None:
                assert s.delivered_at is None
            else:
                assert s.delivered_at is not None
                assert abs(s.delivered_at.timestamp() - t["deliveredAt"] / 1000) < 1


def test_429_is_waited_out_with_retry_after(manual: Simulator, tmp_path: Path) -> None:
    clock = manual.clock
    headers = {"username": "batcher", "authenticationtoken": manual.config.api_token}
    with client_for(manual, tmp_path) as api:
        api.search(["a"])
        clock.advance(1.5)
        # another client on this IP, outside batcher's limiter, takes the second
        assert httpx.get(manual.api_url + LIST, headers=headers).status_code == 200
        before = clock.time()
        assert api.search(["b"]) == []  # 429, Retry-After 1, waited, retried
        assert clock.time() - before >= 1.0
        assert api.status_counts == {200: 2, 429: 1} and api.requests == 3
    assert [r["status"] for r in requests_log(manual)] == [200, 200, 429, 200]
    # the penalty was told to the limiter: another process on the host waits for it too
    other = HostRateLimiter(tmp_path / "state" / "ratelimit.json", 1.0, clock=clock)
    with other.acquire():
        assert requests_log(manual)[-1]["mono"] + 1.0 <= clock.monotonic()


def test_429_gives_up_after_the_retries(manual: Simulator, tmp_path: Path) -> None:
    """A limiter that does not move the simulator's clock: every retry comes too soon."""
    frozen = ManualClock()
    with client_for(manual, tmp_path, clock=frozen, retries=2) as api:
        api.search(["a"])
        with pytest.raises(PlatformUnreachable, match=r"HTTP 429 .*gave up after 3 attempts") as err:
            api.search(["b"])
    assert err.value.exit_code == 4
    assert [r["status"] for r in requests_log(manual)] == [200, 429, 429, 429]


def test_retry_after_as_an_http_date(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2024, 1, 31, 12, tzinfo=UTC))
    answers = iter([httpx.Response(429, headers={"Retry-After": format_datetime(
        datetime(2024, 1, 31, 12, 0, 7, tzinfo=UTC), usegmt=True)}), httpx.Response(200, json={"smsStatuses": []})])
    transport = httpx.MockTransport(lambda request: next(answers))
    settings = ApiSettings(base_url="http://platform.test", username="u")
    limiter = HostRateLimiter(tmp_path / "ratelimit.json", 1.0, clock=clock)
    with StatusClient(settings, "t", limiter=limiter, clock=clock, transport=transport) as api:
        assert api.search(["x"]) == []
    assert clock.now() - datetime(2024, 1, 31, 12, tzinfo=UTC) >= timedelta(seconds=7)


def test_5xx_are_retried_with_backoff_and_jitter(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = make_sim(clock=ManualClock(), sent_delay=0, delivered_delay=0, api_5xx_rate=0.6, seed=4)
    upload(sim, rows(30))
    with client_for(sim, tmp_path) as api:
        found = [s for i in range(30) for s in api.search([f"c-{i}"])]
    assert len(found) == 30
    log = requests_log(sim)
    codes = [r["status"] for r in log]
    assert codes.count(200) == 30 and {500, 503, 504} & set(codes)
    assert api.requests == len(log) and sum(api.status_counts.values()) == len(log)
    assert_platform_rule_kept(log)


def test_5xx_to_the_end_is_unreachable_saying_how_long_it_tried(make_sim: Callable[..., Simulator],
                                                                 tmp_path: Path) -> None:
    clock = ManualClock()
    sim = make_sim(clock=clock, api_5xx_rate=1.0, seed=3)
    with client_for(sim, tmp_path, retries=3) as api:
        start = clock.monotonic()
        with pytest.raises(PlatformUnreachable, match=r"HTTP 50\d .*gave up after 4 attempts over \d+ s"):
            api.search(["x"])
        waited = clock.monotonic() - start
    # backoff 1, 2, 4 s, each drawn in [half, whole]
    assert 3.5 <= waited <= 7 + 3 * 1.1
    assert len(requests_log(sim)) == 4


def test_wrong_token_names_the_keys_never_the_token(manual: Simulator, tmp_path: Path) -> None:
    with client_for(manual, tmp_path, token="not-the-token-123") as api:
        with pytest.raises(AuthenticationError) as err:
            api.search(["x"])
    message = str(err.value)
    assert "401" in message and manual.api_url + SEARCH in message
    assert "[api] username" in message and "[api] token / token_file" in message
    assert "not-the-token-123" not in message
    assert err.value.exit_code == 2
    assert api.requests == 1  # not retried


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_api_is_reported_after_retries(tmp_path: Path) -> None:
    clock = ManualClock()
    settings = ApiSettings(base_url=f"http://127.0.0.1:{free_port()}", username="u", timeout=2, retries=2)
    limiter = HostRateLimiter(tmp_path / "ratelimit.json", 1.0, clock=clock)
    with StatusClient(settings, "t", limiter=limiter, clock=clock) as api:
        with pytest.raises(PlatformUnreachable, match=r"cannot connect .*gave up after 3 attempts over \d+ s") as err:
            api.search(["x"])
        assert api.requests == 3 and api.transport_errors == 3
        assert err.value.exit_code == 4
        # a diagnostic (batcher check) does not retry: one attempt, no wait
        probe = StatusClient(settings, "t", limiter=limiter, clock=clock, retries=0)
        before = clock.monotonic()
        with pytest.raises(PlatformUnreachable, match="gave up after 1 attempt over"):
            probe.probe()
        assert probe.requests == 1 and clock.monotonic() - before <= 1.1  # only the limiter's spacing


def test_check_reports_an_unreachable_api_at_once(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    sim = make_sim()
    ws = make_workspace(tmp_path / "work", host=sim.host, port=sim.sftp_port, username=sim.config.username,
                        password=sim.config.password, known_hosts=sim.known_hosts_path, remote_root=sim.config.root,
                        api_url=f"http://127.0.0.1:{free_port()}")
    res = ws.batcher("check", timeout=30)
    assert res.returncode == 4, res.stdout + res.stderr
    assert "status API" in res.stdout and "cannot connect" in res.stdout and "1 attempt" in res.stdout


def test_other_4xx_is_a_remote_error_with_a_short_excerpt(manual: Simulator, tmp_path: Path) -> None:
    settings = ApiSettings(base_url=manual.api_url + "/wrong/prefix", username="batcher")
    limiter = HostRateLimiter(tmp_path / "ratelimit.json", 1.0, clock=manual.clock)
    with StatusClient(settings, manual.config.api_token, limiter=limiter, clock=manual.clock) as api:
        with pytest.raises(RemoteError, match=r"/wrong/prefix/v1/sms/status/search: HTTP 404 Not Found: .*no such "):
            api.search(["x"])
        assert api.requests == 1
    huge = "<html>" + "proxy error " * 1000 + "secret-token</html>"
    transport = httpx.MockTransport(lambda request: httpx.Response(400, text=huge))
    with StatusClient(settings, "secret-token", limiter=limiter, clock=manual.clock, transport=transport) as api:
        with pytest.raises(RemoteError) as err:
            api.list_page()
    assert len(str(err.value)) < 350 and str(err.value).endswith("...")


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b"[1, 2]", b'{"smsStatuses": {"a": 1}}'])
def test_an_answer_that_is_not_a_status_object_is_a_remote_error(body: bytes, tmp_path: Path) -> None:
    clock = ManualClock()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    limiter = HostRateLimiter(tmp_path / "ratelimit.json", 1.0, clock=clock)
    settings = ApiSettings(base_url="http://platform.test", username="u")
    with StatusClient(settings, "t", limiter=limiter, clock=clock, transport=transport) as api:
        with pytest.raises(RemoteError, match=r"http://platform.test/v1/sms/status/list: .*HTTP 200"):
            api.list_page()
