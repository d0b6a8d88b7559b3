"""Looking connections up for a person: cards, lists, and cards for ids named in free text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.blocks.card import WatchState, connection_card
from bot.blocks.lists import choose_connection, connection_list
from bot.blocks.message import Message
from bot.chat.context import ChatContext
from bot.chat.parsing import ListFilter, find_connection_ids, find_names, strip_mention
from bot.chat.replies import Reply, guarded
from bot.dli.ids import normalise_id
from bot.dli.models import Connection
from bot.errors import DliError, NotFound, StoreUnavailable, Unavailable, dli_problem
from bot.i18n import _
from bot.lookup.cache import Freshness, Lookup, ProjectRef, Source
from bot.lookup.finder import Ambiguous, Snapshot
from bot.lookup.projects import Directory, NotFoundAnywhere, ProjectFailure

log = logging.getLogger(__name__)

MAX_FULL_CARDS = 5
ConsoleUrl = Callable[[Lookup], str | None]


@dataclass(frozen=True)
class Lookups:
    """Cards and lists, the same wherever they are asked for (command, mention, button, console),
    drawn from the projects the asking channel may see and no others."""

    context: ChatContext
    console_url: ConsoleUrl
    #: Whether a channel may run connectivity tests (its cards then offer one).
    can_test: Callable[[str], bool] = lambda channel: False

    async def card(
        self, target: str, *, ephemeral: bool, channel: str | None = None, force: bool = False
    ) -> Reply:
        """One connection by id or name: its card, a shortlist, or an explained error."""
        return await guarded(target, lambda: self._card(target, ephemeral, channel, force))

    async def listing(self, which: ListFilter, *, channel: str | None = None) -> Reply:
        return await guarded(None, lambda: self._listing(which, channel))

    async def mention_cards(self, text: str, *, with_names: bool, channel: str) -> list[Message]:
        """Cards for every connection id (and, for mentions, known name) in free text.

        Up to MAX_FULL_CARDS full cards; the rest as one compact list. Empty when nothing in the
        text looks like a connection.
        """
        text = strip_mention(text)
        targets: list[str] = find_connection_ids(text)
        if with_names:
            known = await self._known_connections(channel)
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
            cards.append((await guarded(None, lambda: self._compact(rest, channel))).message)
        return cards

    async def _card(
        self, target: str, ephemeral: bool, channel: str | None, force: bool
    ) -> Message:
        found = await self.context.directory.find(
            target, visible=self.context.scope(channel), force=force
        )
        if isinstance(found, Ambiguous):
            return choose_connection(found.matches, found.query, project_of=found.project_of)
        return await self._render_card(found, ephemeral=ephemeral, channel=channel)

    async def _render_card(self, found: Lookup, *, ephemeral: bool, channel: str | None) -> Message:
        return connection_card(
            found,
            now=self.context.clock(),
            console_url=self.console_url(found),
            watch_state=await self._watch_state(channel, found.connection.id),
            ephemeral=ephemeral,
            demo=self.context.demo,
            can_test=channel is not None and self.can_test(channel),
        )

    async def _watch_state(self, channel: str | None, connection_id: str) -> WatchState:
        if channel is None:
            return "not_watching"
        try:
            watching = await self.context.subscriptions.watches(
                channel, normalise_id(connection_id)
            )
        except StoreUnavailable:
            return "not_watching"
        return "watching" if watching else "not_watching"

    async def _listing(self, which: ListFilter, channel: str | None) -> Message:
        listed = await self._listed(channel)
        chosen = [c for c in listed.connections if matches_filter(c, which)]
        return connection_list(
            chosen,
            # `failed`, `active`, `deleted` as typed (a filter word); "all" is not typed.
            filter_label=_("all") if which == "all" else which,
            now=self.context.clock(),
            freshness=listed.freshness("live"),
            demo=self.context.demo,
            project_of=listed.project_of,
            unlisted=listed.unlisted,
        )

    async def _compact(self, targets: Sequence[str], channel: str | None) -> Message:
        listed = await self._listed(channel)
        wanted = {t.lower() for t in targets}
        chosen = [
            c
            for c in listed.connections
            if normalise_id(c.id) in wanted or c.name.lower() in wanted
        ]
        return connection_list(
            chosen,
            filter_label=_("also mentioned"),
            now=self.context.clock(),
            freshness=listed.freshness(None),
            demo=self.context.demo,
            project_of=listed.project_of,
            unlisted=listed.unlisted,
        )

    async def _known_connections(self, channel: str | None) -> Sequence[Connection]:
        try:
            return (await self._listed(channel)).connections
        except DliError as exc:
            # Names are a convenience; ids in the same text must still be answered.
            log.info("connection names unavailable for mention scanning: %s", exc)
            return []

    async def _listed(self, channel: str | None) -> Listed:
        """Every visible project's connections; an error only when no project could be listed."""
        listed = await self.context.directory.snapshots(visible=self.context.scope(channel))
        snaps = [s for s in listed if isinstance(s, Snapshot)]
        failures = [f for f in listed if isinstance(f, ProjectFailure)]
        if failures and not snaps:
            raise failures[0].error
        connections = [c for snap in snaps for c in snap.connections]
        single = snaps[0] if len(snaps) == 1 and not failures else None
        return Listed(
            connections,
            project_of={
                normalise_id(c.id): snap.project
                for snap in snaps
                if snap.project is not None
                for c in snap.connections
            },
            unlisted=[(f.project, dli_problem(f.error.kind)) for f in failures],
            fetched_at=min((s.fetched_at for s in snaps), default=self.context.clock()),
            request_id=single.request_id if single else None,
        )


@dataclass(frozen=True)
class Listed:
    """The connections of every visible project, which project each is in, and which projects
    could not be listed."""

    connections: Sequence[Connection]
    project_of: Mapping[str, ProjectRef]
    unlisted: Sequence[tuple[ProjectRef, str]]
    fetched_at: datetime
    request_id: str | None

    def freshness(self, source: Source | None) -> Freshness:
        return Freshness(source, self.fetched_at, self.request_id)


async def lookup_many(
    directory: Directory,
    connection_ids: Sequence[str],
    *,
    visible: Sequence[str] | None = None,
) -> dict[str, Lookup | DliError | None]:
    """Current copies (cached when fresh) of many connections; None for ones no visible project
    has, the error for ones DLI could not be asked about (one failure must not hide the others)."""

    async def one(connection_id: str) -> Lookup | DliError | None:
        try:
            return await directory.lookup(connection_id, visible=visible)
        except NotFoundAnywhere as exc:
            return None if not exc.unreachable else Unavailable(str(exc))
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
