"""The simulator's status API: fields, both endpoints, auth, rate limit, retention."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from batcher.clock import ManualClock
from batcher.sim import Simulator
from tests.fixtures.sim import api_headers, batch_name, platform_file, sim_sftp, wait_for

SEARCH = "/v1/sms/status/search"
LIST = "/v1/sms/status/list"
FIELDS = {"id", "correlationId", "carrierId", "carrierName", "destination", "sentStatusCode", "sentStatus",
          "sentStatusAt", "sentStatusDate", "deliveredStatusCode", "deliveredStatus", "deliveredAt",
          "deliveredDate", "campaignId", "extraInfo"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}$")


def upload(sim: Simulator, rows: list[tuple[str, str, str]], seq: int = 1) -> str:
    name = batch_name("API", seq)
    with sim_sftp(sim) as sftp, sftp.open(f"/upload/{name}", "wb") as fh:
        fh.write(platform_file(rows))
    wait_for(lambda: (sim.root / "success" / name).exists(), message="file in success/")
    return name


@pytest.fixture
def fast(make_sim: Callable[..., Simulator]) -> Simulator:
    """No rate limit, so tests can ask several questions quickly."""
    return make_sim(rate_limit_per_second=0)


def test_search_returns_every_documented_field(fast: Simulator) -> None:
    upload(fast, [("5511900000010", "hello", "c-1"), ("5511900000021", "x", "")])
    with httpx.Client(base_url=fast.api_url, headers=api_headers(fast)) as client:
        wait_for(lambda: fast.statuses() and all(s["deliveredStatusCode"] for s in fast.statuses()),
                 message="delivered statuses")
        r = client.post(SEARCH, json={"correlationIds": ["c-1"]})
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        (status,) = r.json()["smsStatuses"]
        assert set(status) == FIELDS
        assert status["correlationId"] == "c-1"
        assert status["destination"] == "5511900000010"
        assert (status["carrierId"], status["carrierName"]) == (1, "VIVO")
        assert (status["sentStatusCode"], status["sentStatus"]) == (2, "SENT_SUCCESS")
        assert (status["deliveredStatusCode"], status["deliveredStatus"]) == (4, "DELIVERED_SUCCESS")
        assert isinstance(status["sentStatusAt"], int) and isinstance(status["deliveredAt"], int)
        assert status["deliveredAt"] >= status["sentStatusAt"]
        assert abs(status["sentStatusAt"] / 1000 - time.time()) < 30
        for key in ("sentStatusDate", "deliveredDate"):
            assert DATE_RE.match(status[key]), status[key]
        parsed = datetime.strptime(status["sentStatusDate"], "%Y-%m-%dT%H:%M:%S%z")
        assert int(parsed.timestamp()) == status["sentStatusAt"] // 1000
        assert status["campaignId"] is None and status["extraInfo"] is None
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", status["id"])
        # by id, on the same keep-alive connection; the row without correlationId has ""
        other = next(s for s in fast.statuses() if s["destination"] == "5511900000021")
        assert other["correlationId"] == ""
        r = client.post(SEARCH, json={"ids": [other["id"]], "correlationIds": []})
        assert [s["id"] for s in r.json()["smsStatuses"]] == [other["id"]]
        r = client.post(SEARCH, json={"ids": [status["id"]], "correlationIds": ["c-1"]})
        assert len(r.json()["smsStatuses"]) == 1
        r = client.post(SEARCH, json={"correlationIds": ["unknown"]})
        assert r.json() == {"smsStatuses": []}


def test_not_queryable_before_sent_delay(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit_per_second=0, sent_delay=1.0, delivered_delay=1.5)
    upload(sim, [("5511900000010", "hello", "early")])
    with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
        assert client.post(SEARCH, json={"correlationIds": ["early"]}).json() == {"smsStatuses": []}
        assert client.get(LIST).json() == {"smsStatuses": []}
        wait_for(lambda: client.post(SEARCH, json={"correlationIds": ["early"]}).json()["smsStatuses"],
                 message="sent status")


def test_list_returns_each_level_once(fast: Simulator) -> None:
    upload(fast, [("5511900000010", "a", "del"), ("5511900000998", "b", "oi"), ("5511900000101", "c", "exp")])
    with httpx.Client(base_url=fast.api_url, headers=api_headers(fast)) as client:
        seen: list[dict] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(s["deliveredStatusCode"] for s in seen):
            seen += client.get(LIST).json()["smsStatuses"]
            time.sleep(0.05)
        time.sleep(0.2)
        seen += client.get(LIST).json()["smsStatuses"]
        by_corr: dict[str, list[dict]] = {}
        for s in seen:
            by_corr.setdefault(s["correlationId"], []).append(s)
        assert set(by_corr) == {"del", "oi", "exp"}
        assert len(by_corr["oi"]) == 1 and len(by_corr["exp"]) == 1
        assert by_corr["oi"][0]["carrierName"] == "OI" and by_corr["exp"][0]["sentStatusCode"] == 101
        levels = [s["deliveredStatusCode"] for s in by_corr["del"]]
        assert levels in ([None, 4], [4])  # sent level first (if polled in time), then delivered
        assert client.get(LIST).json() == {"smsStatuses": []}  # consumed
        # /list consuming does not affect search
        assert len(client.post(SEARCH, json={"correlationIds": ["del", "oi", "exp"]}).json()["smsStatuses"]) == 3


def test_list_returns_sent_then_delivered(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit_per_second=0, sent_delay=0.1, delivered_delay=1.0)
    upload(sim, [("5511900000010", "a", "two-levels")])
    with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
        first = wait_for(lambda: client.get(LIST).json()["smsStatuses"], message="sent level")
        assert first[0]["deliveredStatusCode"] is None and first[0]["deliveredAt"] is None
        second = wait_for(lambda: client.get(LIST).json()["smsStatuses"], message="delivered level")
        assert second[0]["id"] == first[0]["id"] and second[0]["deliveredStatusCode"] == 4


def test_wrong_credentials_401(fast: Simulator) -> None:
    for headers in ({}, {"username": "batcher"}, {"username": "batcher", "authenticationtoken": "nope"},
                    {"username": "other", "authenticationtoken": fast.config.api_token}):
        r = httpx.get(fast.api_url + LIST, headers=headers)
        assert r.status_code == 401
        assert r.json()["status"] == 401
        r = httpx.post(fast.api_url + SEARCH, headers=headers, json={"ids": []})
        assert r.status_code == 401
    log = fast.request_log_path.read_text()
    assert fast.config.api_token not in log and "nope" not in log


def test_bad_requests(fast: Simulator) -> None:
    with httpx.Client(base_url=fast.api_url, headers=api_headers(fast)) as client:
        assert client.post(SEARCH, content=b"{not json").status_code == 400
        assert client.post(SEARCH, json=["a"]).status_code == 400
        assert client.post(SEARCH, json={}).status_code == 400
        assert client.post(SEARCH, json={"ids": "abc"}).status_code == 400
        assert client.post(SEARCH, json={"ids": [1, 2]}).status_code == 400
        assert client.post(SEARCH, content=b"\xff\xfe").status_code == 400
        assert client.post(SEARCH, json={"ids": [], "extra": 1}).status_code == 200
        assert client.get("/v1/sms/status/nope").status_code == 404
        assert client.get("/").status_code == 404
        assert client.get(SEARCH).status_code == 405
        assert client.post(LIST).status_code == 405
        # still serving on the same connection
        assert client.get(LIST).status_code == 200


def test_rate_limit_429_with_retry_after(make_sim: Callable[..., Simulator]) -> None:
    clock = ManualClock()  # requests arrive "at the same instant" until the test moves time
    sim = make_sim(clock=clock)
    assert sim.config.rate_limit_per_second == 1.0
    with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
        assert client.get(LIST).status_code == 200
        r = client.post(SEARCH, json={"ids": ["x"]})
        assert r.status_code == 429
        retry = int(r.headers["Retry-After"])
        assert retry >= 1
        clock.advance(retry)
        assert client.post(SEARCH, json={"ids": ["x"]}).status_code == 200
        # the limit is per IP: 401s and 404s do not count, 429s do
        assert client.get(LIST).status_code == 429
        clock.advance(0.3)
        assert client.get(LIST).status_code == 429  # the refused retry pushed the window
        clock.advance(0.9)
        assert client.get(LIST).status_code == 429  # 1.2 s after the 200, but 0.9 s after the last 429
        clock.advance(1.5)
        assert client.get(LIST).status_code == 200
    statuses = [json.loads(line)["status"] for line in sim.request_log_path.read_text().splitlines()]
    assert statuses == [200, 429, 200, 429, 429, 429, 200]


def test_unauthorised_requests_do_not_count(sim: Simulator) -> None:
    with httpx.Client(base_url=sim.api_url) as client:
        for _ in range(3):
            assert client.get(LIST).status_code == 401
        assert client.get(LIST, headers=api_headers(sim)).status_code == 200


def test_retention_and_advance_clock(fast: Simulator) -> None:
    upload(fast, [("5511900000010", "a", "old")])
    wait_for(lambda: fast.statuses(), message="statuses")
    with httpx.Client(base_url=fast.api_url, headers=api_headers(fast)) as client:
        fast.advance_clock(3 * 86400 - 60)
        assert len(client.post(SEARCH, json={"correlationIds": ["old"]}).json()["smsStatuses"]) == 1
        fast.advance_clock(120)
        assert client.post(SEARCH, json={"correlationIds": ["old"]}).json() == {"smsStatuses": []}
        assert client.get(LIST).json() == {"smsStatuses": []}
    assert fast.statuses() == []


def test_advance_clock_makes_delays_pass(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(sent_delay=600, delivered_delay=3600)
    upload(sim, [("5511900000010", "a", "slow")])
    assert sim.statuses() == []
    sim.advance_clock(601)
    (status,) = sim.statuses()
    assert status["sentStatusCode"] == 2 and status["deliveredStatusCode"] is None
    sim.advance_clock(3000)
    assert sim.statuses()[0]["deliveredStatusCode"] == 4


def test_request_log_lines(fast: Simulator) -> None:
    with httpx.Client(base_url=fast.api_url, headers=api_headers(fast)) as client:
        client.post(SEARCH, json={"ids": ["a", "b"], "correlationIds": ["c"]})
        client.get(LIST)
    records = [json.loads(line) for line in fast.request_log_path.read_text().splitlines()]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [("POST", SEARCH, 200), ("GET", LIST, 200)]
    assert records[0]["client"] == "127.0.0.1"
    assert (records[0]["ids"], records[0]["correlationIds"], records[0]["returned"]) == (2, 1, 0)
    assert isinstance(records[0]["time"], float)


def test_raw_http_keep_alive_and_content_length(fast: Simulator) -> None:
    body = json.dumps({"ids": ["x"]}).encode()
    head = (f"POST {SEARCH} HTTP/1.1\r\nHost: x\r\nusername: batcher\r\nauthenticationtoken: "
            f"{fast.config.api_token}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", fast.api_port), timeout=5) as s:
        s.sendall(head + body + head + body)  # two pipelined requests on one connection
        data = b""
        while data.count(b"HTTP/1.1 200") < 2:
            chunk = s.recv(65536)
            assert chunk
            data += chunk
    assert data.count(b'{"smsStatuses": []}') == 2


def test_list_returns_a_page_per_call_in_order(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit_per_second=0, sent_delay=0, delivered_delay=0, list_page=4)
    assert sim.config.list_page == 4
    upload(sim, [(f"55119000000{i:02d}", "x", f"p-{i}") for i in range(10)])
    with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
        pages = [[s["correlationId"] for s in client.get(LIST).json()["smsStatuses"]] for _ in range(4)]
        upload(sim, [("5511900000050", "x", "late")], seq=2)
        late = client.get(LIST).json()["smsStatuses"]
    assert pages == [[f"p-{i}" for i in range(4)], [f"p-{i}" for i in range(4, 8)], ["p-8", "p-9"], []]
    assert [s["correlationId"] for s in late] == ["late"]
    records = [json.loads(line) for line in sim.request_log_path.read_text().splitlines()]
    assert [r["returned"] for r in records] == [4, 4, 2, 0, 1]


def test_list_page_default_is_1000_and_0_means_unpaged(make_sim: Callable[..., Simulator]) -> None:
    rows = [(f"55119{i:08d}", "x", f"u-{i}") for i in range(1200)]
    for page, expected in ((None, [1000, 200, 0]), (0, [1200, 0, 0])):
        sim = make_sim(rate_limit_per_second=0, sent_delay=0, delivered_delay=0,
                       **({} if page is None else {"list_page": page}))
        upload(sim, rows)
        with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
            assert [len(client.get(LIST).json()["smsStatuses"]) for _ in range(3)] == expected


def test_list_pages_carry_a_later_delivered_level(make_sim: Callable[..., Simulator]) -> None:
    clock = ManualClock()
    sim = make_sim(clock=clock, rate_limit_per_second=0, sent_delay=1, delivered_delay=5, list_page=2)
    upload(sim, [("5511900000010", "x", "a"), ("5511900000998", "x", "oi"), ("5511900000021", "x", "b")])
    with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
        def page() -> list[tuple[str, int | None]]:
            return [(s["correlationId"], s["deliveredStatusCode"]) for s in client.get(LIST).json()["smsStatuses"]]
        assert page() == []
        clock.advance(1)
        assert (page(), page(), page()) == ([("a", None), ("oi", None)], [("b", None)], [])
        clock.advance(4)
        assert (page(), page()) == ([("a", 4), ("b", 4)], [])  # the Oi message has nothing more to say


def test_search_by_many_ids_is_indexed_and_keeps_creation_order(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(rate_limit_per_second=0, sent_delay=0, delivered_delay=0)
    upload(sim, [(f"55119{i:08d}", "x", f"o-{i}") for i in range(3000)])
    ids = {s["correlationId"]: s["id"] for s in sim.statuses()}
    with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
        started = time.perf_counter()
        r = client.post(SEARCH, json={"correlationIds": [f"o-{i}" for i in reversed(range(1000))],
                                      "ids": [ids["o-2999"].upper()]})
        took = time.perf_counter() - started
    got = [s["correlationId"] for s in r.json()["smsStatuses"]]
    assert got == [f"o-{i}" for i in range(1000)] + ["o-2999"]
    assert took < 2.0


def sloppy_answer(sim: Simulator) -> bytes:
    upload(sim, [("5511900000010", "x", "s-1"), ("5511900000998", "x", "s-2"), ("5511900000104", "x", "s-3"),
                 ("5511900000202", "x", "s-4")])
    with httpx.Client(base_url=sim.api_url, headers=api_headers(sim)) as client:
        return client.post(SEARCH, json={"correlationIds": ["s-1", "s-2", "s-3", "s-4"]}).content


def test_sloppy_json_fault_is_sloppy_and_seeded(make_sim: Callable[..., Simulator]) -> None:
    kw = {"clock": ManualClock(), "rate_limit_per_second": 0, "sent_delay": 0, "delivered_delay": 0,
          "api_sloppy_json": True}
    first = sloppy_answer(make_sim(seed=5, **kw))
    assert first == sloppy_answer(make_sim(seed=5, **kw))  # the same seed, the same answer
    assert first != sloppy_answer(make_sim(seed=6, **kw))
    body = json.loads(first)
    statuses = body["smsStatuses"]
    assert set(body) - {"smsStatuses"}  # an unknown key beside the wrapper
    assert all(v is not None for s in statuses for v in s.values())  # null fields omitted
    assert all(set(s) - FIELDS for s in statuses)  # unknown fields
    assert any(isinstance(s.get("sentStatusCode"), str) for s in statuses)
    assert not any("deliveredStatusCode" in s for s in statuses if s["correlationId"] in ("s-2", "s-4"))
    for s in statuses:
        assert int(s["sentStatusCode"]) in (2, 202)
        assert DATE_RE.match(s["sentStatusDate"])
