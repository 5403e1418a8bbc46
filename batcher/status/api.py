"""Client of the platform's status API (SPEC 1.2, 4.4): the only module speaking HTTP.

    client = StatusClient(settings.api, settings.api_token(), limiter=limiter)
    client.search(correlation_ids)   # POST /v1/sms/status/search, chunked
    for page in client.drain(): ...  # GET /v1/sms/status/list until a short page
    client.probe()                   # one harmless search (for `batcher check`)

Every request, retries included, goes through the host's `RateLimiter`, which holds
the turn until the answer is in. It knows nothing of the store or of message states.

Search: the ids and correlationIds asked for (deduplicated, empty ones dropped) are
sent `api.max_ids_per_query` at a time, ids and correlationIds together, one request
per chunk: N ids cost exactly ceil(N / max_ids_per_query) requests.

List: `/list` returns only statuses it has not returned before, at most a page per
call. `drain()` asks again while the answer is a full page (`api.list_page_size`
items): an answer shorter than a page means nothing more was waiting. So S waiting
statuses cost ceil(S / page) requests, plus one (empty) when S is a whole number of
pages. A `list_page_size` larger than the platform's page only ends a drain early (the
next pass continues); a smaller one costs one extra request at the end.

Errors are translated here, and only here:
- 401/403 -> `AuthenticationError` naming the URL and the config keys to check
  (`[api] username`, `[api] token` / `token_file`), never the token;
- 429 -> wait `Retry-After` (seconds or an HTTP date; missing: 1 s), told to the
  limiter so that no process on the host sends before then, and retry;
- 5xx, timeouts, connection errors -> retry with exponential backoff and jitter
  (1, 2, 4 ... 30 s, each drawn in [half, whole]). A `/list` answer lost on the way
  (a timeout after the platform sent it) is lost for good: `/list` consumed it. That is
  the platform's design; search mode has no such gap;
- after `api.retries` retries -> `PlatformUnreachable` (exit 4) saying what failed,
  how many attempts and how long it tried; other 4xx (and an answer that is not a
  JSON object) -> `RemoteError` (exit 4) with a short excerpt of the body.
All waiting is on the `Clock`, so tests move a `ManualClock` instead of sleeping.
An httpx transport can be injected for faults a real server cannot produce.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import AuthenticationError, PlatformUnreachable, RemoteError
from ..settings import ApiSettings
from .models import MalformedAnswer, PlatformStatus, parse_statuses
from .ratelimit import MAX_PENALTY, RateLimiter

__all__ = ["LIST_PATH", "SEARCH_PATH", "StatusClient"]

SEARCH_PATH = "/v1/sms/status/search"
LIST_PATH = "/v1/sms/status/list"
BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
DEFAULT_RETRY_AFTER = 1.0
EXCERPT = 200
PROBE_ID = "batcher-check"  # a correlationId batcher never generates: the probe finds nothing


class StatusClient:
    """The status API for one account. Not thread-safe; one per job.

    Counters for benchmarks and reports: `requests` (sent, retries included),
    `status_counts` (HTTP status -> answers), `transport_errors` (timeouts and
    connection failures), `statuses_received`, `statuses_skipped` (list items that
    were not a status object)."""

    def __init__(self, settings: ApiSettings, token: str | None, *, limiter: RateLimiter,
                 clock: Clock = SYSTEM_CLOCK, transport: httpx.BaseTransport | None = None,
                 retries: int | None = None) -> None:
        self.settings = settings
        self.limiter = limiter
        self.clock = clock
        self.retries = settings.retries if retries is None else retries
        self._token = token or ""
        self._rng = random.Random()
        headers = {"username": settings.username, "authenticationtoken": self._token,
                   "content-type": "application/json", "accept": "application/json"}
        self._http = httpx.Client(base_url=settings.base_url, headers=headers, timeout=settings.timeout,
                                  transport=transport)
        self.requests = 0
        self.status_counts: Counter[int] = Counter()
        self.transport_errors = 0
        self.statuses_received = 0
        self.statuses_skipped = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> StatusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API -----------------------------------------------------------------------
    def search(self, correlation_ids: Sequence[str], ids: Sequence[str] = ()) -> list[PlatformStatus]:
        """The statuses of these messages (those the platform knows), every chunk asked."""
        return [status for chunk in self.search_chunks(correlation_ids, ids) for status in chunk]

    def search_chunks(self, correlation_ids: Iterable[str], ids: Iterable[str] = ()) -> Iterator[list[PlatformStatus]]:
        """`search`, one list per request, so a caller can record each chunk as it comes."""
        wanted = [("ids", i) for i in dict.fromkeys(ids) if i]
        wanted += [("correlationIds", c) for c in dict.fromkeys(correlation_ids) if c]
        size = self.settings.max_ids_per_query
        for start in range(0, len(wanted), size):
            body: dict[str, list[str]] = {"ids": [], "correlationIds": []}
            for key, value in wanted[start:start + size]:
                body[key].append(value)
            yield self._statuses("POST", SEARCH_PATH, body)

    def list_page(self) -> list[PlatformStatus]:
        """One `GET /list`: statuses not returned by it before (it consumes them)."""
        return self._statuses("GET", LIST_PATH, None)

    def drain(self, *, max_pages: int | None = None) -> Iterator[list[PlatformStatus]]:
        """`GET /list` until an answer shorter than `api.list_page_size` (or `max_pages`)."""
        pages = 0
        while max_pages is None or pages < max_pages:
            pages += 1
            before = self.statuses_received + self.statuses_skipped
            page = self.list_page()
            if page:
                yield page
            if self.statuses_received + self.statuses_skipped - before < self.settings.list_page_size:
                return

    def probe(self) -> None:
        """One harmless search: the URL answers and the credentials are accepted."""
        self._statuses("POST", SEARCH_PATH, {"ids": [], "correlationIds": [PROBE_ID]})

    # -- HTTP --------------------------------------------------------------------------
    def _statuses(self, method: str, path: str, body: dict[str, Any] | None) -> list[PlatformStatus]:
        response = self._request(method, path, None if body is None else json.dumps(body).encode())
        try:
            parsed = parse_statuses(response.content)
        except MalformedAnswer as exc:
            raise RemoteError(f"{self._url(path)}: {exc} (HTTP {response.status_code}: "
                              f"{self._excerpt(response)})") from None
        self.statuses_received += len(parsed.statuses)
        self.statuses_skipped += parsed.skipped
        return parsed.statuses

    def _request(self, method: str, path: str, content: bytes | None) -> httpx.Response:
        url = self._url(path)
        started = self.clock.monotonic()
        backoff = BACKOFF_START
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            with self.limiter.acquire():
                self.requests += 1
                try:
                    response = self._http.request(method, path, content=content)
                except httpx.TimeoutException:
                    failure = f"timed out after {self.settings.timeout:g} s"
                except httpx.RequestError as exc:
                    what = ("cannot connect" if isinstance(exc, httpx.ConnectError)
                            else "connection lost" if isinstance(exc, httpx.TransportError) else "request failed")
                    failure = f"{what} ({type(exc).__name__}: {_one_line(str(exc)) or 'no detail'})"
            pause = 0.0
            if response is None:
                self.transport_errors += 1
                pause = backoff
            else:
                code = response.status_code
                self.status_counts[code] += 1
                if 200 <= code < 300:
                    return response
                if code in (401, 403):
                    raise AuthenticationError(
                        f"{url}: the status API refused the credentials (HTTP {code} {response.reason_phrase}); "
                        f"check [api] username (now {self.settings.username!r}) and [api] token / token_file")
                failure = f"HTTP {code} {response.reason_phrase}".rstrip()
                if code == 429:
                    wait = self._retry_after(response)
                    self.limiter.penalize(wait)  # nobody on the host sends before then
                    if wait > MAX_PENALTY:
                        raise PlatformUnreachable(f"{url}: {failure}; the platform asks to wait {wait:.0f} s")
                elif code >= 500:
                    pause = backoff
                else:
                    raise RemoteError(f"{url}: {failure}: {self._excerpt(response)}")
            if attempt > self.retries:
                tried = self.clock.monotonic() - started
                raise PlatformUnreachable(f"{url}: {failure}; gave up after {attempt} attempt"
                                          f"{'s' if attempt > 1 else ''} over {tried:.0f} s")
            if pause:
                self.clock.sleep(pause * self._rng.uniform(0.5, 1.0))
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _retry_after(self, response: httpx.Response) -> float:
        value = response.headers.get("retry-after", "").strip()
        if not value:
            return DEFAULT_RETRY_AFTER
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            return DEFAULT_RETRY_AFTER
        return max(0.0, when.timestamp() - self.clock.time())

    def _excerpt(self, response: httpx.Response) -> str:
        text = _one_line(response.content[: EXCERPT * 4].decode("utf-8", "replace"))
        if self._token:
            text = text.replace(self._token, "***")
        if not text:
            return "(empty body)"
        return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."

    def _url(self, path: str) -> str:
        return f"{self.settings.base_url}{path}"


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f\s]+", " ", text).strip()
