"""The platform's status API (SPEC 1.2, 4.4), as a typed client that knows nothing of
the store or of message states:

    api.py        `StatusClient`: search (chunked), list / drain (paged), probe; errors
                  translated at this boundary; the only module importing httpx
    models.py     `PlatformStatus`, the wire model, parsed tolerantly in one call
    ratelimit.py  `RateLimiter` protocol and `HostRateLimiter`, one request rate for
                  every batcher process on the host (state in the state dir)

    limiter = HostRateLimiter.for_settings(settings)
    with StatusClient(settings.api, settings.api_token(), limiter=limiter) as client:
        statuses = client.search(correlation_ids)
"""

from __future__ import annotations

from .api import LIST_PATH, SEARCH_PATH, StatusClient
from .models import MalformedAnswer, ParsedStatuses, PlatformStatus, parse_statuses
from .ratelimit import MAX_PENALTY, STATE_NAME, HostRateLimiter, RateLimiter

__all__ = [
    "LIST_PATH",
    "MAX_PENALTY",
    "SEARCH_PATH",
    "STATE_NAME",
    "HostRateLimiter",
    "MalformedAnswer",
    "ParsedStatuses",
    "PlatformStatus",
    "RateLimiter",
    "StatusClient",
    "parse_statuses",
]
