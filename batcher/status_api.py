"""Client of the platform's status API (SPEC 1.2), the only module speaking HTTP.

Errors are translated at this boundary: 401/403 -> AuthenticationError, connection
failures, timeouts and 5xx after retries -> PlatformUnreachable; 429 is waited out
(honouring Retry-After). The token is sent as a header and never logged.
An httpx transport can be injected for tests of faults a real server cannot produce.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from .errors import AuthenticationError, PlatformUnreachable
from .settings import ApiSettings

__all__ = ["LIST_PATH", "SEARCH_PATH", "StatusApi"]

SEARCH_PATH = "/v1/sms/status/search"
LIST_PATH = "/v1/sms/status/list"
RETRYABLE = {429, 500, 502, 503, 504}


class StatusApi:
    def __init__(
        self,
        settings: ApiSettings,
        token: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.retries = retries
        self.sleep = sleep
        headers = {"username": settings.username, "authenticationtoken": token or ""}
        self.client = httpx.Client(
            base_url=settings.base_url, headers=headers, timeout=settings.timeout, transport=transport
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> StatusApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, correlation_ids: list[str], ids: list[str] | None = None) -> list[dict[str, Any]]:
        body = {"ids": ids or [], "correlationIds": correlation_ids}
        return self._statuses(self._request("POST", SEARCH_PATH, json=body))

    def list_new(self) -> list[dict[str, Any]]:
        return self._statuses(self._request("GET", LIST_PATH))

    def probe(self) -> None:
        """One harmless search: proves the URL is reachable and the credentials accepted."""
        self.search([])

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.settings.base_url}{path}"
        delay = 1.0
        last = ""
        for attempt in range(self.retries + 1):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TimeoutException:
                last = f"timed out after {self.settings.timeout:.0f} s"
            except httpx.TransportError as exc:
                last = f"cannot connect ({exc.__class__.__name__}: {exc})"
            else:
                if response.status_code in (401, 403):
                    raise AuthenticationError(
                        f"{url}: the status API refused the credentials (HTTP {response.status_code}); "
                        "check [api] username and token (or token_file)"
                    )
                if response.status_code not in RETRYABLE:
                    if response.status_code >= 400:
                        raise PlatformUnreachable(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
                    return response
                last = f"HTTP {response.status_code}"
                if response.status_code == 429:
                    retry_after = _retry_after(response)
                    if attempt < self.retries:
                        self.sleep(retry_after)
                    continue
            if attempt < self.retries:
                self.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise PlatformUnreachable(f"{url}: {last} (after {self.retries + 1} attempts)")

    @staticmethod
    def _statuses(response: httpx.Response) -> list[dict[str, Any]]:
        try:
            data = response.json()
        except ValueError:
            raise PlatformUnreachable(f"{response.request.url}: the answer is not JSON") from None
        statuses = data.get("smsStatuses") if isinstance(data, dict) else None
        return [s for s in statuses or [] if isinstance(s, dict)]


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0
