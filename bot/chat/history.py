"""`/dliconn history`: a connection's recorded transitions, within the channel's scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bot.blocks.history import (
    history_message,
    never_seen_message,
    not_recorded_message,
)
from bot.blocks.lists import choose_connection
from bot.blocks.message import Message
from bot.chat.context import ChatContext
from bot.chat.parsing import is_window, window_seconds
from bot.chat.replies import Reply, guarded
from bot.dli.ids import normalise_id
from bot.errors import NotFound
from bot.lookup.finder import Ambiguous
from bot.watch.state import WatchStore

#: Records read per page; the builder shows as many as fit Slack's limits.
PAGE_LIMIT: Final = 25
DEFAULT_WINDOW: Final = "7d"


@dataclass(frozen=True)
class ConnectionHistory:
    context: ChatContext
    #: Each project's watcher state (where its history is), by alias.
    states: Mapping[str, WatchStore]

    async def history(
        self, target: str, window: str = DEFAULT_WINDOW, *, channel: str, before: str | None = None
    ) -> Reply:
        return await guarded(target, lambda: self._history(target, window, channel, before))

    async def _history(self, target: str, window: str, channel: str, before: str | None) -> Message:
        # Looked up first, within the channel's scope: a connection of a project the channel
        # cannot see is not found, as everywhere, and its history is never read.
        found = await self.context.find(target, channel)
        if isinstance(found, Ambiguous):
            return choose_connection(found.matches, found.query, project_of=found.project_of)
        alias = found.project.alias if found.project else next(iter(self.states), None)
        store = self.states.get(alias) if alias is not None else None
        if store is None:
            raise NotFound(f"no watcher state for the project of {target!r}")
        window = window if is_window(window) else DEFAULT_WINDOW  # a button's value may lie
        now = self.context.clock()
        page = await store.history(
            normalise_id(found.connection.id),
            since=now.timestamp() - window_seconds(window),
            before=before,
            limit=PAGE_LIMIT,
        )
        if not page.recorded:
            return not_recorded_message(found.connection, found.project)
        if page.state is None and not page.records:
            return never_seen_message(found.connection, found.project)
        return history_message(found.connection, found.project, page, window=window, now=now)
