"""Watcher replicas sharing the projects' leases: each takes at most its fair share.

With one lease per project, the first replica to start would hold them all. Instead every
replica heartbeats on a board (a Redis sorted set scored by expiry, on Redis's clock) and counts
the live ones; it takes a free lease only while it holds fewer than ceil(projects / replicas),
and gives one lease back per heartbeat while it holds more than that (twice in a row, so one
count taken while a replica was starting or dying moves nothing).

Takeover is not weakened: a heartbeat lives `2/3` of a lease ttl, so by the time a dead
replica's leases expire it no longer counts, and the survivors' share covers every project.
A keeper held back for a whole ttl tries anyway (bot.watch.lease), so no project stays unwatched
when replicas disagree for a moment about how many they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Sequence
from typing import Final, Protocol

import redis.asyncio as aioredis

from bot.errors import StoreUnavailable
from bot.store import redis_backed
from bot.watch.lease import LeaseKeeper, renewal_period

log = logging.getLogger(__name__)

REPLICAS_KEY: Final = "watch:v1:replicas"

# Record this replica until now + ttl, forget the expired ones, count the rest (Redis's clock,
# so replicas on hosts whose clocks disagree still agree on who is alive).
_BEAT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
return redis.call('ZCARD', KEYS[1])
"""


class ReplicaBoard(Protocol):
    async def beat(self, ttl: float) -> int:
        """Say this replica is alive for `ttl` seconds; how many replicas are."""
        ...

    async def leave(self) -> None: ...


class LocalBoard:
    """Without Redis only this process watches."""

    async def beat(self, ttl: float) -> int:
        return 1

    async def leave(self) -> None:
        return None


@redis_backed
class RedisBoard:
    def __init__(self, client: aioredis.Redis, *, prefix: str = "dliconn:") -> None:
        self.key = prefix + REPLICAS_KEY
        self.replica = uuid.uuid4().hex
        self._redis = client
        self._beat = client.register_script(_BEAT)

    async def beat(self, ttl: float) -> int:
        ttl_ms = max(1, round(ttl * 1000))
        return int(await self._beat(keys=[self.key], args=[self.replica, ttl_ms]))

    async def leave(self) -> None:
        await self._redis.zrem(self.key, self.replica)


def fair_share(projects: int, replicas: int) -> int:
    return math.ceil(projects / max(1, replicas))


class Spread:
    """This replica's side of sharing: how many leases it may hold, and giving extras back."""

    def __init__(self, board: ReplicaBoard, projects: int, ttl: float) -> None:
        self.board = board
        self.keepers: Sequence[LeaseKeeper] = ()
        self.replicas = 1
        self._projects = projects
        self._ttl = ttl
        self._over = False

    @property
    def share(self) -> int:
        return fair_share(self._projects, self.replicas)

    def held(self) -> int:
        return sum(1 for k in self.keepers if k.held)

    def may_take(self) -> bool:
        return self.held() < self.share

    async def beat(self) -> None:
        """One heartbeat; gives one lease back when this replica held too many twice running."""
        try:
            self.replicas = max(1, await self.board.beat(2 * renewal_period(self._ttl)))
        except StoreUnavailable as exc:
            log.warning("cannot count watcher replicas: %s", exc)
            return
        over = self.held() > self.share
        if over and self._over:
            keeper = next(k for k in reversed(self.keepers) if k.held)
            log.info(
                "holding %d of %d projects with %d replicas: giving one back",
                self.held(),
                self._projects,
                self.replicas,
            )
            with contextlib.suppress(StoreUnavailable):
                await keeper.release()
        self._over = over

    async def run(self, stop: asyncio.Event) -> None:
        period = renewal_period(self._ttl)
        try:
            while not stop.is_set():
                await self.beat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=period)
        finally:
            with contextlib.suppress(StoreUnavailable):
                await self.board.leave()
