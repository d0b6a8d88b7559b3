"""A per-project lease, so that of several watcher replicas exactly one polls and posts.

The lease is short (`LEASE_TTL`) and renewed often by a `LeaseKeeper` task of its own, apart
from polling: however long the poll interval or a cycle, a dead holder is replaced within about
`LEASE_TTL + LEASE_TTL / 3`. The keeper also says until when this holder may act: from the
moment a renewal was *sent*, less a margin, so the holder stops posting before Redis can let
the lease expire and pass to another replica, even when Redis stops answering or the event
loop stalls. Redis: SET NX PX to take it, Lua compare-and-renew / compare-and-delete so a
replica can never extend or drop a lease someone else holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Final, Protocol

import redis.asyncio as aioredis

from bot.errors import StoreUnavailable
from bot.store import redis_backed

log = logging.getLogger(__name__)

#: Seconds a lease lasts without renewal. Takeover after a holder dies: at most this plus one
#: renewal period (a standby tries as often as a holder renews), about 8 s, at any interval.
LEASE_TTL: Final = 6.0

# 1: renewed; 0: someone else holds it; -1: nobody does (expired, or the store lost it).
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if holder then return 0 end
return -1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def renewal_period(ttl: float) -> float:
    """How often a holder renews (and a standby tries): three chances per lifetime."""
    return ttl / 3


def safety_margin(ttl: float) -> float:
    """How long before the lease could expire in Redis its holder stops acting on it."""
    return ttl / 6


class Lease(Protocol):
    token: str
    #: The last acquire found no lease although this holder's had not run out: the store lost it.
    vanished: bool

    async def acquire(self) -> bool:
        """Take the lease, or renew it when this holder has it; True while held."""
        ...

    async def release(self) -> None: ...


@redis_backed
class RedisLease:
    def __init__(
        self,
        client: aioredis.Redis,
        key: str,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0:
            raise ValueError("a lease needs a positive ttl")
        self.key = key
        self.token = uuid.uuid4().hex
        self.vanished = False
        self._redis = client
        self._ttl = ttl
        self._ttl_ms = max(1, round(ttl * 1000))
        self._clock = clock
        self._expires = 0.0  # by the local clock, counted from when the last renewal was sent
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self) -> bool:
        sent = self._clock()
        renewed = int(await self._renew(keys=[self.key], args=[self.token, self._ttl_ms]))
        # Only Redis losing data (a restart without persistence, a failover to an empty
        # replica, an eviction) removes a lease before its time: a release is the holder's own.
        self.vanished = renewed == -1 and sent < self._expires - safety_margin(self._ttl)
        held = renewed == 1 or (
            renewed == -1
            and bool(await self._redis.set(self.key, self.token, nx=True, px=self._ttl_ms))
        )
        self._expires = sent + self._ttl if held else 0.0
        return held

    async def release(self) -> None:
        self._expires = 0.0
        await self._release(keys=[self.key], args=[self.token])


class MemoryLease:
    """The same rules inside one process (several watchers sharing one `board`)."""

    vanished = False  # process memory loses nothing behind its holder's back

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


class LeaseKeeper:
    """Takes and renews one lease every `renewal_period(ttl)` until stopped, and says whether
    this process may act on it right now (`valid`). `changed` is set (and `on_change` called)
    whenever it is taken or lost, so loops waiting an interval can start at once."""

    def __init__(
        self,
        lease: Lease,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] | None = None,
        may_take: Callable[[], bool] | None = None,
        name: str = "",
    ) -> None:
        self.lease = lease
        self._what = f"watcher lease for project {name}" if name else "watcher lease"
        self.changed = asyncio.Event()
        # Asked before trying to take the lease it does not hold (replicas sharing projects);
        # after a ttl of being held back it tries anyway, so no project is left unwatched.
        self._may_take = may_take
        self._held_back_since: float | None = None
        self._ttl = ttl
        self._clock = clock
        self._on_change = on_change
        self._valid_until = 0.0
        self._held = False
        self._store_down = False

    @property
    def token(self) -> str:
        return self.lease.token

    def valid(self) -> bool:
        """True while the lease is surely still ours in the store: a renewal was sent less
        than ttl - margin ago and succeeded. Checked right before every post."""
        return self._clock() < self._valid_until

    @property
    def held(self) -> bool:
        return self._held

    def _holds_back(self, now: float) -> bool:
        if self._held or self._may_take is None or self._may_take():
            self._held_back_since = None
            return False
        if self._held_back_since is None:
            self._held_back_since = now
        return now - self._held_back_since < self._ttl

    async def release(self) -> None:
        """Give the lease up now (another replica should take it): stop acting on it first."""
        self._valid_until = 0.0
        self._held_back_since = self._clock()  # let another replica take it first
        self._set_held(False)
        log.info("%s given back", self._what)
        await self.lease.release()

    def _set_held(self, held: bool) -> None:
        if held != self._held:
            log.info("%s %s", self._what, "taken" if held else "lost")
            self._held = held
            self.changed.set()
            if self._on_change is not None:
                self._on_change()

    async def renew_once(self) -> bool:
        sent = self._clock()
        if self._holds_back(sent):
            return False
        try:
            held = await self.lease.acquire()
        except StoreUnavailable as exc:
            held = False
            if not self._store_down:
                log.warning("cannot renew the watcher lease: %s", exc)
                self._store_down = True
        else:
            if self._store_down:
                log.info("the watcher lease store is reachable again")
                self._store_down = False
            if self.lease.vanished:
                log.error(
                    "the watcher lease vanished from Redis before it could expire: Redis lost "
                    "data (restarted without persistence, failed over to an empty replica, or "
                    "evicted keys)"
                )
        self._valid_until = sent + self._ttl - safety_margin(self._ttl) if held else 0.0
        self._set_held(held)
        return held

    async def run(self, stop: asyncio.Event) -> None:
        period = renewal_period(self._ttl)
        while not stop.is_set():
            started = self._clock()
            await self.renew_once()
            remaining = started + period - self._clock()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, remaining))
