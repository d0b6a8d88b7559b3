"""Which channels watch which connections: Redis (shared by every process) or memory (one).

Besides explicit subscriptions (`/dliconn watch`), `static_channels` (from configuration) get
every connection of the project. A channel the bot can no longer post to is paused: it keeps its
subscriptions but gets nothing until someone subscribes in it again (which resumes it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Final, Protocol

import redis.asyncio as aioredis

from bot.store import redis_backed

SUBSCRIPTION_KEYS: Final = "watch:v1:sub:"

_UNSUBSCRIBE = """
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
redis.call('SET', KEYS[4], ARGV[3])
return removed
"""


def _new_generation() -> str:
    # A random token rather than a counter: after a Redis failover or restart loses writes, a
    # counter can climb back to a number this process cached with other subscriptions behind it.
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Subscription:
    channel: str
    connection_id: str
    connection_name: str
    user: str
    since: float  # epoch seconds


class SubscriptionStore(Protocol):
    """What the Slack handlers and the watcher share. Connection ids are stored as given:
    the caller validates (looks the connection up) before subscribing."""

    static_channels: frozenset[str]

    async def subscribe(
        self, channel: str, connection_id: str, connection_name: str, user: str
    ) -> bool:
        """True when this created the subscription; subscribing twice keeps the first one."""
        ...

    async def unsubscribe(self, channel: str, connection_id: str) -> bool: ...

    async def channel_subscriptions(self, channel: str) -> list[Subscription]: ...

    async def subscriptions_to(self, connection_id: str) -> list[Subscription]:
        """Every channel's subscription to one connection (paused channels' too), oldest first."""
        ...

    async def watches(self, channel: str, connection_id: str) -> bool:
        """Whether `channel` has subscribed to the connection itself (what Unwatch can undo)."""
        ...

    async def all_watched(self) -> dict[str, frozenset[str]]:
        """Explicitly watched connection id -> its unpaused channels (static ones included)."""
        ...

    async def pause(self, channel: str, reason: str) -> None: ...

    async def is_paused(self, channel: str) -> bool: ...

    async def paused(self) -> dict[str, str]:
        """Paused channel -> why."""
        ...

    async def aclose(self) -> None: ...


class _Composed:
    """The static-channel and pause rules, on top of each backend's raw explicit data."""

    static_channels: frozenset[str]

    async def _explicit_all(self) -> dict[str, set[str]]:
        raise NotImplementedError

    async def paused(self) -> dict[str, str]:
        raise NotImplementedError

    async def all_watched(self) -> dict[str, frozenset[str]]:
        return self._compose(await self._explicit_all(), await self.paused())

    def _compose(
        self, explicit: dict[str, set[str]], paused: Iterable[str]
    ) -> dict[str, frozenset[str]]:
        static, skip = self.static_channels, frozenset(paused)
        # Connections watched from the same channels share one set: thousands of connections
        # are watched from a handful of channel combinations.
        shared: dict[frozenset[str], frozenset[str]] = {}
        watched = {}
        for connection_id, channels in explicit.items():
            unpaused = frozenset(c for c in channels | static if c not in skip)
            watched[connection_id] = shared.setdefault(unpaused, unpaused)
        return watched

    async def is_paused(self, channel: str) -> bool:
        return channel in await self.paused()


class MemorySubscriptionStore(_Composed):
    def __init__(
        self,
        *,
        static_channels: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.static_channels = frozenset(static_channels)
        self._clock = clock
        self._by_channel: dict[str, dict[str, Subscription]] = {}
        self._paused: dict[str, str] = {}

    async def subscribe(
        self, channel: str, connection_id: str, connection_name: str, user: str
    ) -> bool:
        self._paused.pop(channel, None)
        mine = self._by_channel.setdefault(channel, {})
        if connection_id in mine:
            return False
        mine[connection_id] = Subscription(
            channel, connection_id, connection_name, user, self._clock()
        )
        return True

    async def unsubscribe(self, channel: str, connection_id: str) -> bool:
        return self._by_channel.get(channel, {}).pop(connection_id, None) is not None

    async def channel_subscriptions(self, channel: str) -> list[Subscription]:
        return sorted(self._by_channel.get(channel, {}).values(), key=lambda s: s.since)

    async def subscriptions_to(self, connection_id: str) -> list[Subscription]:
        found = [subs[connection_id] for subs in self._by_channel.values() if connection_id in subs]
        return sorted(found, key=lambda s: s.since)

    async def watches(self, channel: str, connection_id: str) -> bool:
        return connection_id in self._by_channel.get(channel, {})

    async def _explicit_all(self) -> dict[str, set[str]]:
        watched: dict[str, set[str]] = {}
        for channel, subs in self._by_channel.items():
            for connection_id in subs:
                watched.setdefault(connection_id, set()).add(channel)
        return watched

    async def pause(self, channel: str, reason: str) -> None:
        self._paused[channel] = reason

    async def paused(self) -> dict[str, str]:
        return dict(self._paused)

    async def aclose(self) -> None:
        return None


@redis_backed
class RedisSubscriptionStore(_Composed):
    """Keys: `sub:chan:<channel>` hash id -> record, `sub:conn:<id>` set of channels,
    `sub:watched` set of ids, `sub:paused` hash channel -> reason, `sub:generation` token
    (all under the prefix).

    Every subscribe and unsubscribe renews the generation in the same step, so `all_watched`
    reads every connection's channels again only when the generation or the paused channels
    differ from what it last read (the watcher asks every cycle; they rarely change). `bulk`
    (default: `client`) reads all subscriptions: many replies, so it may need a longer timeout.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = "dliconn:",
        static_channels: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        bulk: aioredis.Redis | None = None,
    ) -> None:
        self.static_channels = frozenset(static_channels)
        self._redis = client
        self._bulk = bulk or client
        self._keys = prefix + SUBSCRIPTION_KEYS
        self._clock = clock
        self._unsubscribe = client.register_script(_UNSUBSCRIBE)
        # The (generation, paused channels) all_watched last read, and what it made of them.
        self._read_at: tuple[object, frozenset[str]] | None = None
        self._watched_then: dict[str, frozenset[str]] = {}

    def _chan(self, channel: str) -> str:
        return f"{self._keys}chan:{channel}"

    def _conn(self, connection_id: str) -> str:
        return f"{self._keys}conn:{connection_id}"

    @property
    def _watched(self) -> str:
        return f"{self._keys}watched"

    @property
    def _paused_key(self) -> str:
        return f"{self._keys}paused"

    @property
    def _generation(self) -> str:
        return f"{self._keys}generation"

    async def subscribe(
        self, channel: str, connection_id: str, connection_name: str, user: str
    ) -> bool:
        record = Subscription(channel, connection_id, connection_name, user, self._clock())
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._chan(channel), connection_id, json.dumps(asdict(record)))
            pipe.sadd(self._conn(connection_id), channel)
            pipe.sadd(self._watched, connection_id)
            pipe.hdel(self._paused_key, channel)
            pipe.set(self._generation, _new_generation())
            created, *_ = await pipe.execute()
        return bool(created)

    async def unsubscribe(self, channel: str, connection_id: str) -> bool:
        keys = [self._chan(channel), self._conn(connection_id), self._watched, self._generation]
        removed = await self._unsubscribe(
            keys=keys, args=[connection_id, channel, _new_generation()]
        )
        return bool(removed)

    async def watches(self, channel: str, connection_id: str) -> bool:
        return bool(await self._redis.hexists(self._chan(channel), connection_id))

    async def channel_subscriptions(self, channel: str) -> list[Subscription]:
        raw = await self._redis.hgetall(self._chan(channel))
        subs = [Subscription(**json.loads(value)) for value in raw.values()]
        return sorted(subs, key=lambda s: s.since)

    async def subscriptions_to(self, connection_id: str) -> list[Subscription]:
        channels = sorted(_text(c) for c in await self._redis.smembers(self._conn(connection_id)))
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel in channels:
                pipe.hget(self._chan(channel), connection_id)
            records = await pipe.execute()
        subs = [Subscription(**json.loads(r)) for r in records if r is not None]
        return sorted(subs, key=lambda s: s.since)

    async def all_watched(self) -> dict[str, frozenset[str]]:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._generation)
            pipe.hgetall(self._paused_key)
            generation, raw_paused = await pipe.execute()
        paused = frozenset(_text(c) for c in raw_paused)
        # None: written by a release that kept no generation, so it cannot tell what changed.
        if generation is None or (generation, paused) != self._read_at:
            # Read after the generation: a change made meanwhile bumps it, and is read next time.
            self._watched_then = self._compose(await self._explicit_all(), paused)
            self._read_at = generation, paused
        return dict(self._watched_then)

    async def _explicit_all(self) -> dict[str, set[str]]:
        ids = sorted(_text(i) for i in await self._bulk.smembers(self._watched))
        async with self._bulk.pipeline(transaction=False) as pipe:
            for connection_id in ids:
                pipe.smembers(self._conn(connection_id))
            members = await pipe.execute()
        return {i: {_text(c) for c in m} for i, m in zip(ids, members, strict=True) if m}

    async def pause(self, channel: str, reason: str) -> None:
        await self._redis.hset(self._paused_key, channel, reason)

    async def paused(self) -> dict[str, str]:
        raw = await self._redis.hgetall(self._paused_key)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def aclose(self) -> None:
        return None  # the client belongs to whoever built it


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
