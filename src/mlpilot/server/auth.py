"""Bearer API keys for the REST server, checked against their hashes with a short cache.

A verified key is cached for ``ttl`` seconds (so a revoked key stops working within that time)
and the database is asked only on a cache miss, off the event loop.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request

from mlpilot.pipeline.apikeys import (
    ApiKey,
    AuthenticationError,
    ForbiddenError,
    authenticate,
)
from mlpilot.store.handle import StoreHandle

_MAX_CACHED = 1024  # distinct headers remembered (cleared when full: a flood of bad keys)
ANONYMOUS = ApiKey("anonymous", "admin", None, "no-auth", None)  # type: ignore[arg-type]


class KeyChecker:
    """Checks ``Authorization: Bearer KEY`` for a scope (or lets all through with no auth)."""

    def __init__(self, store: StoreHandle, *, enabled: bool = True, ttl: float = 10.0) -> None:
        self.store = store
        self.enabled = enabled
        self.ttl = ttl
        self._cache: dict[str, tuple[ApiKey, float]] = {}

    async def check(self, request: Request, scope: str) -> ApiKey:
        """The key of ``request`` if it allows ``scope``; 401 or 403 errors otherwise."""
        if not self.enabled:
            return ANONYMOUS
        return await self.check_header(request.headers.get("authorization", ""), scope)

    async def check_header(self, header: str, scope: str) -> ApiKey:
        """Like :meth:`check`, from the raw ``Authorization`` header value."""
        if not self.enabled:
            return ANONYMOUS
        cached = self._cache.get(header)  # keyed by the raw header: no hashing on a hit
        if cached is not None and cached[1] > time.monotonic():
            key = cached[0]
        else:
            kind, _, secret = header.partition(" ")
            secret = secret.strip() if kind.lower() == "bearer" else ""
            key = await asyncio.to_thread(authenticate, self.store, secret or None)
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[header] = (key, time.monotonic() + self.ttl)
        if not key.allows(scope):
            raise ForbiddenError(f"the API key {key.name!r} has scope {key.scope!r}, which "
                                 f"does not allow this action",
                                 expected=f"a key with scope {scope!r} or 'admin'",
                                 fix=f"create one with `mlpilot apikey create --name NAME "
                                     f"--scope {scope}`")
        return key


__all__ = ["AuthenticationError", "ForbiddenError", "KeyChecker"]
