"""Which channels an alert about one project's connection goes to, besides explicit watches.

A deployment's configuration (dliconn.toml, DLICONN_WATCH_ALL_CHANNELS) gives each project its
routes: channels that watch every connection of the project (`watch_all`), channels that watch
the connections carrying some DLI tags (`watch_tags`), and channels that may not see the project
at all, which get nothing about it even if someone watched one of its connections there before
the scope changed. Routes are configuration, so they survive any loss of Redis data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from bot.watch.subscriptions import Subscription, SubscriptionStore

#: A tag set as the list API's `tags` filter takes it, in a stable order.
TagSet = tuple[tuple[str, str], ...]


_T = TypeVar("_T")


def tag_set(tags: Mapping[str, str]) -> TagSet:
    return tuple(sorted(tags.items()))


async def each_tag_set(
    tag_sets: Iterable[TagSet], list_one: Callable[[TagSet], Awaitable[_T]]
) -> dict[TagSet, _T]:
    """`list_one(tags)` for every tag set, all at once: with DLI slow or down (each list then
    runs its whole retry cycle) the answer waits for one such cycle, not one per tag set."""
    sets = list(tag_sets)
    return dict(zip(sets, await asyncio.gather(*map(list_one, sets)), strict=True))


@dataclass(frozen=True)
class ProjectRoutes:
    """One project's configured routes."""

    alias: str
    watch_all: frozenset[str] = frozenset()
    #: Tag set -> the channels that watch the connections carrying every tag of it.
    by_tags: Mapping[TagSet, frozenset[str]] = field(default_factory=dict)
    #: Channels whose configured scope leaves this project out.
    hidden_from: frozenset[str] = frozenset()

    def sees(self, channel: str) -> bool:
        return channel not in self.hidden_from


class ProjectSubscriptions:
    """The deployment's one subscription store, as one project's watcher and alerts see it:
    its `watch_all` channels are static, and channels that may not see it are left out."""

    def __init__(self, shared: SubscriptionStore, routes: ProjectRoutes) -> None:
        self.shared = shared
        self.routes = routes
        self.static_channels = frozenset(c for c in routes.watch_all if routes.sees(c))
        self._seen: tuple[dict[str, frozenset[str]], frozenset[str]] | None = None
        self._made: dict[str, frozenset[str]] = {}

    async def subscribe(
        self, channel: str, connection_id: str, connection_name: str, user: str
    ) -> bool:
        return await self.shared.subscribe(channel, connection_id, connection_name, user)

    async def unsubscribe(self, channel: str, connection_id: str) -> bool:
        return await self.shared.unsubscribe(channel, connection_id)

    async def channel_subscriptions(self, channel: str) -> list[Subscription]:
        return await self.shared.channel_subscriptions(channel)

    async def subscriptions_to(self, connection_id: str) -> list[Subscription]:
        return await self.shared.subscriptions_to(connection_id)

    async def watches(self, channel: str, connection_id: str) -> bool:
        return await self.shared.watches(channel, connection_id)

    async def all_watched(self) -> dict[str, frozenset[str]]:
        # The shared store leaves paused channels out of the explicit watches; the project's
        # watch_all channels must leave them out too, or a paused one would still be planned.
        explicit, paused = await self.shared.all_watched(), frozenset(await self.shared.paused())
        if (explicit, paused) != self._seen:
            routes, static = self.routes, self.static_channels - paused
            shared: dict[frozenset[str], frozenset[str]] = {}
            made = {}
            for connection_id, channels in explicit.items():
                # The shared store adds no static channels of its own (it has none).
                kept = frozenset(c for c in channels if routes.sees(c)) | static
                made[connection_id] = shared.setdefault(kept, kept)
            self._seen, self._made = (explicit, paused), made
        return dict(self._made)

    async def pause(self, channel: str, reason: str) -> None:
        await self.shared.pause(channel, reason)

    async def is_paused(self, channel: str) -> bool:
        return await self.shared.is_paused(channel)

    async def paused(self) -> dict[str, str]:
        return await self.shared.paused()

    async def aclose(self) -> None:
        return None  # the shared store is closed by whoever built it
