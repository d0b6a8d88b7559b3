"""What every chat feature reads: the projects' lookups, the subscriptions, the clock, and which
projects a channel may see."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.lookup.cache import Lookup
from bot.lookup.finder import Ambiguous
from bot.lookup.projects import Directory
from bot.watch.subscriptions import SubscriptionStore

#: The projects a channel may see (None: every project); None for the channel means no channel
#: (the console's and the CLI's own lookups).
Scope = Callable[[str | None], Sequence[str] | None]


def everything(_: str | None) -> Sequence[str] | None:
    return None


@dataclass(frozen=True)
class ChatContext:
    directory: Directory
    subscriptions: SubscriptionStore
    clock: Callable[[], datetime]
    demo: bool
    scope: Scope = everything

    async def find(
        self, target: str, channel: str | None, *, force: bool = False
    ) -> Lookup | Ambiguous:
        """An id, name or `alias/name`, among the projects `channel` may see."""
        return await self.directory.find(target, visible=self.scope(channel), force=force)
