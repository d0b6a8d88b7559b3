"""The stores the Slack app and the watcher share: subscriptions and watcher state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from bot.errors import StoreUnavailable
from bot.metrics import Metrics
from bot.store import redis_client
from bot.watch.epoch import ResetTracker
from bot.watch.replicas import LocalBoard, RedisBoard, ReplicaBoard
from bot.watch.routes import ProjectRoutes, ProjectSubscriptions
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
    _clients: tuple[aioredis.Redis, ...] = ()
    #: What this process knows of resets of the state; shared by its watcher and /healthz.
    resets: ResetTracker = field(default_factory=ResetTracker)
    #: Where watcher replicas count each other (shared by every project's backend).
    board: ReplicaBoard = field(default_factory=LocalBoard)

    async def state_health(self) -> str:
        """For /healthz: "ok", "in memory", the last reset seen, or why it cannot tell."""
        if not self._clients:
            return "in memory"
        try:
            self.resets.observe(await self.state.epoch())
        except StoreUnavailable:
            return "unknown (Redis unreachable)"
        return self.resets.describe()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def build_watch_backends(
    redis_url: str | None,
    projects: Sequence[tuple[str, ProjectRoutes]],
    *,
    prefix: str = "dliconn:",
    timeout: float = 0.5,
    bulk_timeout: float = 5.0,
    metrics: Metrics | None = None,
) -> list[WatchBackend]:
    """One backend per (project id, routes), in order, all on one subscription store and one
    pair of Redis clients; closing the first closes them all.

    Connection ids are unique across projects, so one store holds every `/dliconn watch`; each
    project sees it through its routes. Watcher state stays per project id, under the keys a
    single-project deployment always used.

    Without a Redis URL every store is in memory. The Redis client fails fast (short timeouts,
    no retries), as bot.store.RedisStore's does. The watcher's reads of every subscription and
    of the whole state go through a second one allowed `bulk_timeout`: on a large project one
    reply is megabytes, which a busy host may not parse within `timeout`, and a watcher whose
    every such read times out never polls.
    """
    if not projects:
        raise ValueError("at least one project is needed")
    if not redis_url:
        shared: SubscriptionStore = MemorySubscriptionStore()
        clients: tuple[aioredis.Redis, ...] = ()
        states: list[WatchStore] = [MemoryWatchStore() for _ in projects]
        board: ReplicaBoard = LocalBoard()
    else:
        client = redis_client(redis_url, timeout=timeout)
        # Lazy: it connects on first use, so processes that never read in bulk never connect.
        bulk = redis_client(redis_url, timeout=bulk_timeout, max_connections=2)
        shared = RedisSubscriptionStore(client, prefix=prefix, bulk=bulk)
        clients = (client, bulk)
        board = RedisBoard(client, prefix=prefix)
        states = [
            RedisWatchStore(client, project_id, prefix=prefix, bulk=bulk)
            for project_id, _ in projects
        ]
    return [
        WatchBackend(
            ProjectSubscriptions(shared, routes),
            state,
            clients if index == 0 else (),
            ResetTracker(metrics),
            board,
        )
        for index, ((_, routes), state) in enumerate(zip(projects, states, strict=True))
    ]
