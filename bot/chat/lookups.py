"""Looking connections up for a person: cards, lists, and cards for ids named in free text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.blocks.card import WatchState, connection_card
from bot.blocks.lists import choose_connection, connection_list
from bot.blocks.message import Message
from bot.chat.parsing import ListFilter, find_connection_ids, find_names, strip_mention
from bot.chat.replies import Reply, guarded
from bot.dli.ids import normalise_id
from bot.dli.models import Connection
from bot.errors import DliError, NotFound, StoreUnavailable
from bot.lookup.cache import ConnectionLookup, Lookup
from bot.lookup.finder import Ambiguous, ConnectionFinder
from bot.watch.subscriptions import SubscriptionStore

log = logging.getLogger(__name__)

MAX_FULL_CARDS = 5
ConsoleUrl = Callable[[Connection], str | None]


class Lookups:
    """Cards and lists, the same wherever they are asked for (command, mention, button, console)."""

    def __init__(
        self,
        finder: ConnectionFinder,
        subscriptions: SubscriptionStore,
        *,
        console_url: ConsoleUrl,
        clock: Callable[[], datetime],
        demo: bool,
    ) -> None:
        self._finder = finder
        self._subscriptions = subscriptions
        self._console_url = console_url
        self._clock = clock
        self._demo = demo

    async def card(
        self, target: str, *, ephemeral: bool, channel: str | None = None, force: bool = False
    ) -> Reply:
        """One connection by id or name: its card, a shortlist, or an explained error."""
        return await guarded(target, lambda: self._card(target, ephemeral, channel, force))

    async def listing(self, which: ListFilter) -> Reply:
        return await guarded(None, lambda: self._listing(which))

    async def mention_cards(self, text: str, *, with_names: bool, channel: str) -> list[Message]:
        """Cards for every connection id (and, for mentions, known name) in free text.

        Up to MAX_FULL_CARDS full cards; the rest as one compact list. Empty when nothing in the
        text looks like a connection.
        """
        text = strip_mention(text)
        targets: list[str] = find_connection_ids(text)
        if with_names:
            known = await self._known_connections()
            ids_by_name: dict[str, list[str]] = {}
            for c in known:
                if c.name:
                    ids_by_name.setdefault(c.name.lower(), []).append(normalise_id(c.id))
            for name in find_names(text, [c.name for c in known if c.name]):
                # A connection named and also pasted by id gets one card, not two; a name that
                # several connections share stays a name, so the card lists them to choose.
                ids = ids_by_name.get(name.lower(), [])
                target = ids[0] if len(ids) == 1 else name
                if target not in targets:
                    targets.append(target)
        if not targets:
            return []
        cards = [
            (await self.card(t, ephemeral=False, channel=channel)).message
            for t in targets[:MAX_FULL_CARDS]
        ]
        rest = targets[MAX_FULL_CARDS:]
        if rest:
            cards.append((await guarded(None, lambda: self._compact(rest))).message)
        return cards

    async def _card(
        self, target: str, ephemeral: bool, channel: str | None, force: bool
    ) -> Message:
        found = await self._finder.find(target, force=force)
        if isinstance(found, Ambiguous):
            return choose_connection(found.matches, found.query)
        return await self._render_card(found, ephemeral=ephemeral, channel=channel)

    async def _render_card(self, found: Lookup, *, ephemeral: bool, channel: str | None) -> Message:
        return connection_card(
            found,
            now=self._clock(),
            console_url=self._console_url(found.connection),
            watch_state=await self._watch_state(channel, found.connection.id),
            ephemeral=ephemeral,
            demo=self._demo,
        )

    async def _watch_state(self, channel: str | None, connection_id: str) -> WatchState:
        if channel is None:
            return "not_watching"
        try:
            watching = await self._subscriptions.watches(channel, normalise_id(connection_id))
        except StoreUnavailable:
            return "not_watching"
        return "watching" if watching else "not_watching"

    async def _listing(self, which: ListFilter) -> Message:
        snap = await self._finder.snapshot()
        chosen = [c for c in snap.connections if matches_filter(c, which)]
        return connection_list(
            chosen,
            filter_label=which,
            now=self._clock(),
            source="live",
            fetched_at=snap.fetched_at,
            request_id=snap.request_id,
            demo=self._demo,
        )

    async def _compact(self, targets: Sequence[str]) -> Message:
        snap = await self._finder.snapshot()
        wanted = {t.lower() for t in targets}
        chosen = [c for c in snap.connections if c.id.lower() in wanted or c.name.lower() in wanted]
        return connection_list(
            chosen,
            filter_label="also mentioned",
            now=self._clock(),
            fetched_at=snap.fetched_at,
            request_id=snap.request_id,
            demo=self._demo,
        )

    async def _known_connections(self) -> Sequence[Connection]:
        try:
            snap = await self._finder.snapshot()
        except DliError as exc:
            # Names are a convenience; ids in the same text must still be answered.
            log.info("connection names unavailable for mention scanning: %s", exc)
            return []
        return snap.connections


async def lookup_many(
    lookup: ConnectionLookup, connection_ids: Sequence[str]
) -> dict[str, Connection | DliError | None]:
    """Current copies (cached when fresh) of many connections; None for ones DLI lacks, the
    error for ones DLI could not be asked about (one failure must not hide the others)."""

    async def one(connection_id: str) -> Connection | DliError | None:
        try:
            return (await lookup.lookup(connection_id)).connection
        except NotFound:
            return None
        except DliError as exc:
            return exc

    results = await asyncio.gather(*(one(c) for c in connection_ids))
    return dict(zip(connection_ids, results, strict=True))


def matches_filter(connection: Connection, which: ListFilter) -> bool:
    if which == "failed":
        return bool(connection.failed)
    if which == "active":
        return connection.status.upper() == "ACTIVE"
    if which == "deleted":
        return connection.is_deleted
    return True
