"""The stores the Slack app and the watcher share: subscriptions and watcher state."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.store import redis_client
from bot.watch.state import MemoryWatchStore, RedisWatchStore, WatchStore
from bot.watch.subscriptions import (
    MemorySubscriptionStore,
    RedisSubscriptionStore,
    SubscriptionStore,
)


@dataclass
class WatchBackend:
    """The stores the Slack app (subscriptions, mute, acknowledge) and the watcher share."""

    subscriptions: SubscriptionStore
    state: WatchStore
    _client: aioredis.Redis | None = None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def build_watch_backend(
    redis_url: str | None,
    project_id: str,
    *,
    prefix: str = "dliconn:",
    static_channels: Iterable[str] = (),
    timeout: float = 0.5,
) -> WatchBackend:
    """Redis-backed stores when a URL is given (shared by every process), else in memory.

    The client fails fast (short timeouts, no retries), as bot.store.RedisStore's does.
    """
    if not redis_url:
        return WatchBackend(
            MemorySubscriptionStore(static_channels=static_channels), MemoryWatchStore()
        )
    client = redis_client(redis_url, timeout=timeout)
    return WatchBackend(
        RedisSubscriptionStore(client, prefix=prefix, static_channels=static_channels),
        RedisWatchStore(client, project_id, prefix=prefix),
        client,
    )
