"""A per-project lease, so that of several watcher replicas exactly one polls and posts.

The holder renews it every interval; when the holder dies, the lease expires and another
replica takes it. Redis: SET NX PX to take it, Lua compare-and-renew / compare-and-delete so a
replica can never extend or drop a lease someone else holds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

from bot.store import redis_backed

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lease_ttl_for(interval: float) -> float:
    """How long a lease lasts so a dead holder is replaced within max(30 s, 3 intervals).

    A standby tries once per interval, so takeover happens at most one interval after expiry.
    """
    return max(30.0, 3 * interval) - interval


class Lease(Protocol):
    token: str

    async def acquire(self) -> bool:
        """Take the lease, or renew it when this holder has it; True while held."""
        ...

    async def release(self) -> None: ...


@redis_backed
class RedisLease:
    def __init__(self, client: aioredis.Redis, key: str, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("a lease needs a positive ttl")
        self.key = key
        self.token = uuid.uuid4().hex
        self._redis = client
        self._ttl_ms = max(1, round(ttl * 1000))
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self) -> bool:
        if await self._renew(keys=[self.key], args=[self.token, self._ttl_ms]):
            return True
        return bool(await self._redis.set(self.key, self.token, nx=True, px=self._ttl_ms))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.token])


class MemoryLease:
    """The same rules inside one process (several watchers sharing one `board`)."""

    def __init__(
        self,
        board: dict[str, tuple[str, float]],
        key: str,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.token = uuid.uuid4().hex
        self._board = board
        self._ttl = ttl
        self._clock = clock

    def holder(self) -> str | None:
        entry = self._board.get(self.key)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    async def acquire(self) -> bool:
        if self.holder() not in (None, self.token):
            return False
        self._board[self.key] = (self.token, self._clock() + self._ttl)
        return True

    async def release(self) -> None:
        if self.holder() == self.token:
            del self._board[self.key]
