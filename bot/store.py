"""Key-value stores with expiry (memory, Redis), the one rule turning Redis failures into
StoreUnavailable, and a wrapper that makes outages misses."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bot.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")
C = TypeVar("C", bound=type)

#: What a Redis outage looks like from redis-py: its own errors, plus the socket-level ones
#: (OSError, TimeoutError) it lets through. Only code talking to Redis is judged by this, so an
#: OSError from anywhere else stays a bug.
_REDIS_FAILURES: tuple[type[Exception], ...] = (RedisError, OSError)


def _translated(method: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except _REDIS_FAILURES as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    return call


def redis_backed(cls: C) -> C:
    """Class decorator for a store that talks to Redis: every coroutine method (inherited ones
    too) raises StoreUnavailable, with redis-py's error as `__cause__`, instead of a Redis or
    socket error. Errors a method handles itself (a transaction's WatchError) never reach it.
    """
    for name, method in inspect.getmembers(cls, inspect.iscoroutinefunction):
        setattr(cls, name, _translated(method))
    return cls


class KeyValueStore(Protocol):
    """Bytes by string key, each with an optional time to live in seconds (must be > 0).

    A store that cannot reach its backend raises StoreUnavailable, and nothing else for that.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        """Store only when the key is absent; True when this call stored it (a claim, a lock)."""
        ...

    async def delete(self, key: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """A dict with expiry for one process (no REDIS_URL, and unit tests)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, tuple[bytes, float]] = {}  # key -> (value, expires at; inf = never)
        self._sweep_at_size = 1024

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at <= self._clock():
            del self._items[key]
            return None
        return value

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._items[key] = (value, self._expiry(ttl))
        if len(self._items) >= self._sweep_at_size:
            self._sweep()

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl=ttl)
        return True

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def aclose(self) -> None:
        self._items.clear()

    def _expiry(self, ttl: float | None) -> float:
        if ttl is None:
            return math.inf
        _check_ttl(ttl)
        return self._clock() + ttl

    def _sweep(self) -> None:
        # Expired keys nobody reads again would otherwise stay forever; sweeping when the dict
        # has doubled keeps the cost amortised O(1) per write.
        now = self._clock()
        self._items = {k: item for k, item in self._items.items() if item[1] > now}
        self._sweep_at_size = max(1024, 2 * len(self._items))


def redis_client(url: str, *, timeout: float = 0.5, max_connections: int = 64) -> aioredis.Redis:
    """A Redis client that fails fast and queues for connections instead of failing.

    Every caller has a fallback for a Redis failure, so a retry loop (redis-py's `Redis()`
    default is ten attempts with backoff, and defaults differ between versions) would only turn
    an outage into seconds of waiting per command. Under a burst the pool makes callers wait up
    to `timeout` for a free connection: redis-py's default pool raises "Too many connections"
    at once, which would look like an outage and throw the cache away.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    # from_pool: closing the client closes the pool too.
    return aioredis.Redis.from_pool(pool)


@redis_backed
class RedisStore:
    """The same interface on redis.asyncio, every key under one prefix (deployment namespace)."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "dliconn:", owns_client: bool = False
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "dliconn:", timeout: float = 0.5) -> RedisStore:
        return cls(redis_client(url, timeout=timeout), prefix=prefix, owns_client=True)

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(self._prefix + key)
        return _as_bytes(value)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self._client.set(self._prefix + key, value, px=_millis(ttl))

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        stored = await self._client.set(self._prefix + key, value, px=_millis(ttl), nx=True)
        return bool(stored)

    async def delete(self, key: str) -> None:
        await self._client.delete(self._prefix + key)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


@dataclass(eq=False)
class SafeStore:
    """Any store, but an outage is a miss or a skipped write: the bot keeps answering without it.

    The outage is logged once (a warning when it starts, an info when it ends). While the store
    is down, calls skip it for `retry_after` seconds before one probes again, so a store that
    hangs instead of refusing costs one timeout per period rather than one per call.
    """

    inner: KeyValueStore
    _: KW_ONLY
    name: str = "Redis"
    retry_after: float = 1.0
    # set_if_absent's answer during an outage: True prefers doing work twice (dedupe) to never
    # doing it; a caller guarding something that must not run twice passes False.
    claim_when_down: bool = True
    clock: Callable[[], float] = time.monotonic
    _down: bool = field(default=False, init=False)
    _probe_at: float = field(default=0.0, init=False)

    @property
    def healthy(self) -> bool:
        return not self._down

    async def get(self, key: str) -> bytes | None:
        return await self._guard(lambda: self.inner.get(key), None)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self._guard(lambda: self.inner.set(key, value, ttl=ttl), None)

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        return await self._guard(
            lambda: self.inner.set_if_absent(key, value, ttl=ttl), self.claim_when_down
        )

    async def delete(self, key: str) -> None:
        await self._guard(lambda: self.inner.delete(key), None)

    async def aclose(self) -> None:
        # Always release the connections, even inside an outage's skip window: skipping here
        # would leak pooled sockets at shutdown.
        with contextlib.suppress(StoreUnavailable):
            await self.inner.aclose()

    async def _guard(self, call: Callable[[], Awaitable[T]], fallback: T) -> T:
        if self._down and self.clock() < self._probe_at:
            return fallback
        try:
            result = await call()
        except StoreUnavailable as exc:
            self._probe_at = self.clock() + self.retry_after
            if not self._down:
                self._down = True
                log.warning("%s unavailable, continuing without it: %s", self.name, exc)
            return fallback
        if self._down:
            self._down = False
            log.info("%s is back", self.name)
        return result


def make_safe(store: KeyValueStore) -> SafeStore:
    """The store itself when it is already safe, else wrapped: safety is never doubled."""
    return store if isinstance(store, SafeStore) else SafeStore(store)


def _check_ttl(ttl: float) -> None:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")


def _millis(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    _check_ttl(ttl)
    return max(1, math.ceil(ttl * 1000))


def _as_bytes(value: object) -> bytes | None:
    # A client built with decode_responses=True hands back str; the interface promises bytes.
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"unexpected Redis value type {type(value).__name__}")
