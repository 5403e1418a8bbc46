"""The status API (SPEC 1.2) over plain HTTP/1.1 on asyncio streams.

    POST /v1/sms/status/search   {"ids": [...], "correlationIds": [...]}
    GET  /v1/sms/status/list     statuses not returned by /list before
    -> 200 {"smsStatuses": [ {status}, ... ]}

Order of checks for each request: unknown path 404 (wrong method 405), missing or wrong
`username`/`authenticationtoken` headers 401, rate limit 429 (`Retry-After`, whole
seconds, at least 1), injected 5xx (`api_5xx_rate`), malformed body 400.

Rate limit: `rate_limit_per_second` per client IP (0 or less: no limit). Every request that gets past 404 and
401 counts, whatever its answer (200, 400, injected 5xx, and 429 itself): a client that
retries before `Retry-After` is refused again and pushes its window further. Requests
answered 404/405/401 do not count.

/list returns at most `list_page` statuses per call (oldest first); the rest wait for the
next calls. With `Faults.api_sloppy_json` every answer is written sloppily (see
`sloppy`): the client must read it all the same.

Search body: a JSON object; `ids` and `correlationIds` are optional lists of strings but
at least one must be present; unknown keys are ignored; empty strings match nothing.

Keep-alive is supported (HTTP/1.1 default, `Connection: close` honoured); request bodies
need Content-Length (chunked bodies are answered 411). Each request is appended to the
request log (JSON lines: time, client, method, path, status, body summary); credentials
are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
from pathlib import Path
from random import Random
from typing import Any

from ..clock import Clock
from .config import SimConfig
from .faults import seeded
from .statuses import StatusStore

__all__ = ["ApiServer", "sloppy"]

log = logging.getLogger("batcher.sim.api")

SEARCH = "/v1/sms/status/search"
LIST = "/v1/sms/status/list"
MAX_BODY = 16 * 1024 * 1024
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class _Response:
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
                 summary: dict[str, Any] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.summary = summary or {}


def _error(status: int, message: str, **headers: str) -> _Response:
    return _Response(status, {"status": status, "error": REASONS.get(status, ""), "message": message}, headers)


class ApiServer:
    def __init__(self, config: SimConfig, store: StatusStore, rng: Random, log_path: Path, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.rng = rng
        self.sloppy_rng = seeded(config.faults.seed, "sloppy")
        self.log_path = log_path
        self._last_request: dict[str, float] = {}  # client ip -> monotonic time of the last counted request
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.config.host, self.config.api_port,
                                                  reuse_address=True)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._conns):
                task.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            await self._server.wait_closed()

    # -- HTTP plumbing ---------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                keep_alive = await self._one(head, reader, writer, client)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # stop() with a keep-alive client still connected: end quietly (asyncio's
            # stream callback logs a traceback for a connection task left cancelled)
            return
        finally:
            self._conns.discard(task)
            writer.close()

    async def _one(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   client: str) -> bool:
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            await self._send(writer, _error(400, "malformed request line"), False)
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            resp = _error(411, "send the body with Content-Length")
            self._log(client, method, target, resp)
            await self._send(writer, resp, False)
            return False
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            resp = _error(400 if length < 0 else 413, "bad Content-Length")
            self._log(client, method, target, resp)
            await self._send(writer, resp, False)
            return False
        body = await reader.readexactly(length) if length else b""
        if self.config.faults.api_latency:
            await asyncio.sleep(self.config.faults.api_latency)
        resp = self._handle(method, target.split("?", 1)[0], headers, body, client)
        self._log(client, method, target, resp)
        await self._send(writer, resp, keep_alive)
        return keep_alive

    async def _send(self, writer: asyncio.StreamWriter, resp: _Response, keep_alive: bool) -> None:
        payload = json.dumps(resp.body).encode()
        head = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, '')}",
                "Content-Type: application/json",
                f"Content-Length: {len(payload)}",
                f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await writer.drain()

    def _log(self, client: str, method: str, target: str, resp: _Response) -> None:
        record = {"time": self.clock.time(), "mono": self.clock.monotonic(), "client": client,
                  "method": method, "path": target, "status": resp.status, **resp.summary}
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    # -- the API itself --------------------------------------------------------------
    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes, client: str) -> _Response:
        allowed = {SEARCH: "POST", LIST: "GET"}.get(path)
        if allowed is None:
            return _error(404, f"no such endpoint: {path}")
        if method != allowed:
            return _error(405, f"{path} accepts {allowed}", Allow=allowed)
        cfg = self.config
        user_ok = hmac.compare_digest(headers.get("username", "").encode(), cfg.api_username.encode())
        token_ok = hmac.compare_digest(headers.get("authenticationtoken", "").encode(), cfg.api_token.encode())
        if not (user_ok and token_ok):
            return _error(401, "missing or wrong username / authenticationtoken headers")
        interval = 1.0 / cfg.rate_limit_per_second if cfg.rate_limit_per_second > 0 else 0.0
        now = self.clock.monotonic()
        last = self._last_request.get(client)
        self._last_request[client] = now  # a 429 counts too
        if interval and last is not None and now - last < interval:
            retry = max(1, math.ceil(interval))
            return _error(429, f"rate limit: {cfg.rate_limit_per_second:g} request(s) per second per IP",
                          **{"Retry-After": str(retry)})
        if cfg.faults.api_5xx_rate and self.rng.random() < cfg.faults.api_5xx_rate:
            code = self.rng.choice((500, 503, 504))
            return _error(code, "simulated server error (api_5xx_rate)")
        if path == LIST:
            statuses = self.store.take_unlisted(cfg.list_page if cfg.list_page > 0 else None)
            return self._statuses(statuses, {"returned": len(statuses)})
        try:
            query = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, "body is not JSON")
        if not isinstance(query, dict) or not ({"ids", "correlationIds"} & query.keys()):
            return _error(400, 'expected {"ids": [...], "correlationIds": [...]}')
        ids = query.get("ids") or []
        corr = query.get("correlationIds") or []
        if not (isinstance(ids, list) and isinstance(corr, list)
                and all(isinstance(x, str) for x in ids + corr)):
            return _error(400, "ids and correlationIds must be lists of strings")
        statuses = self.store.search(ids, corr)
        return self._statuses(statuses, {"ids": len(ids), "correlationIds": len(corr), "returned": len(statuses)})

    def _statuses(self, statuses: list[dict[str, Any]], summary: dict[str, Any]) -> _Response:
        if not self.config.faults.api_sloppy_json:
            return _Response(200, {"smsStatuses": statuses}, summary=summary)
        body = {"smsStatuses": [sloppy(s, self.sloppy_rng) for s in statuses], "pageSize": len(statuses)}
        return _Response(200, body, summary=summary)


_AS_TEXT = ("carrierId", "sentStatusCode", "deliveredStatusCode", "sentStatusAt", "deliveredAt")


def sloppy(status: dict[str, Any], rng: Random) -> dict[str, Any]:
    """One status as a careless server writes it (the same facts, read tolerantly)."""
    out = {k: v for k, v in status.items() if v is not None}
    for key in _AS_TEXT:
        if key in out and rng.random() < 0.5:
            out[key] = rng.choice(("{}", " {} ", "{} ")).format(out[key])
    if rng.random() < 0.25:
        out.pop("sentStatusAt", None)
        out.pop("deliveredAt", None)
    out["subAccount"] = "sim"
    if rng.random() < 0.5:
        out["mt"] = {"id": out.get("id"), "source": "batcher-sim"}
    return out
