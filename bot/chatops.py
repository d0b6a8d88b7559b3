"""What the bot says: turns a parsed request into a reply Message, mapping every error in one place.

Every Slack surface (slash command, mention, incident channel, buttons, Home tab) and the console
go through `ChatOps`, so a card looks the same wherever it is asked for, and an error is explained
the same way: expected DLI errors become a short message with a hint; a storage outage says so;
anything else is logged with a short correlation id that the person is shown, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.blocks import (
    Message,
    WatchState,
    choose_connection,
    code,
    connection_card,
    connection_list,
    error_message,
    help_message,
    home_view,
    notice,
    watches_message,
)
from bot.cache import Lookup
from bot.dli.models import Connection
from bot.errors import DliError, NotFound
from bot.finder import Ambiguous
from bot.parsing import (
    HELP_TEXT,
    Command,
    Help,
    ListConnections,
    ListFilter,
    Show,
    Unwatch,
    Watch,
    Watches,
    find_connection_ids,
    find_names,
    strip_mention,
)
from bot.services import Services
from bot.store import STORE_ERRORS
from bot.watch.subscriptions import Subscription

log = logging.getLogger(__name__)

MAX_FULL_CARDS = 5


@dataclass(frozen=True)
class Reply:
    """A message plus whether it is a result worth showing the channel (not help or an error)."""

    message: Message
    shareable: bool


def correlation_id() -> str:
    """Short enough to read out over a call, unique enough to grep the logs for."""
    return secrets.token_hex(4)


class ChatOps:
    def __init__(
        self,
        services: Services,
        *,
        console_url: Callable[[Connection], str | None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._services = services
        self._subscriptions = services.watch.subscriptions
        self._state = services.watch.state
        self._console_url = console_url or (lambda _: None)
        self._clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ entry points

    async def command(self, command: Command, *, ephemeral: bool, channel: str, user: str) -> Reply:
        """The whole answer to one `/dliconn …`."""
        match command:
            case Show(target=target):
                return await self.card(target, ephemeral=ephemeral, channel=channel)
            case ListConnections(filter=which):
                return await self._guard(None, lambda: self._listing(which))
            case Watch(target=target):
                return await self.watch(target, channel=channel, user=user)
            case Unwatch(target=target):
                return await self.unwatch(target, channel=channel)
            case Watches():
                return await self._guard(None, lambda: self._watches(channel))
            case Help(reason=reason):
                return Reply(self.help(reason), shareable=False)
        return Reply(self.help(None), shareable=False)  # pragma: no cover - match is exhaustive

    async def card(
        self, target: str, *, ephemeral: bool, channel: str | None = None, force: bool = False
    ) -> Reply:
        """One connection by id or name: its card, a shortlist, or an explained error."""
        return await self._guard(target, lambda: self._card(target, ephemeral, channel, force))

    async def watch(self, target: str, *, channel: str, user: str) -> Reply:
        return await self._guard(target, lambda: self._watch(target, channel, user))

    async def unwatch(self, target: str, *, channel: str) -> Reply:
        return await self._guard(target, lambda: self._unwatch(target, channel))

    async def mute(self, connection_id: str, hours: int, *, channel: str, user: str) -> Reply:
        async def work() -> Message:
            await self._state.mute(connection_id, channel, time.time() + hours * 3600, user)
            return notice(
                f":mute: Alerts for {code(connection_id, 60)} are muted here for {hours} h "
                f"(by <@{user}>).",
                fallback=f"Muted for {hours} h",
            )

        return await self._guard(connection_id, work)

    async def acknowledge(self, connection_id: str, *, channel: str, user: str) -> Reply:
        async def work() -> Message:
            incidents = await self._state.acknowledge(connection_id, channel, user)
            if not incidents:
                return notice(
                    ":information_source: Nothing is open for that connection here any more.",
                    fallback="Nothing to acknowledge",
                )
            return notice(
                f":eyes: Acknowledged by <@{user}>; the alert now shows it.",
                fallback="Acknowledged",
            )

        return await self._guard(connection_id, work)

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
                    ids_by_name.setdefault(c.name.lower(), []).append(c.id.lower())
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
            cards.append((await self._guard(None, lambda: self._compact(rest))).message)
        return cards

    async def home(self, user_channels: Collection[str] | None) -> dict[str, Any]:
        """The Home tab: connections watched in the user's channels.

        `None` means Slack would not say which channels the user is in. Then nothing is shown:
        listing every watched connection would show private channels' subscriptions to anyone.
        """
        if user_channels is None:
            return home_view(
                [],
                now=self._clock(),
                note=":warning: Slack would not say which channels you are in, so nothing is "
                "shown. Try again in a minute; if it persists, the app may lack the "
                "`channels:read` / `groups:read` scopes.",
            )
        try:
            watched = await self._subscriptions.all_watched()
        except STORE_ERRORS:
            return home_view([], now=self._clock(), note=":warning: Storage is unreachable.")
        mine = frozenset(user_channels)
        watched = {cid: chans & mine for cid, chans in watched.items() if chans & mine}
        found = await self._lookup_many(list(watched))
        entries = [
            (c, sorted(watched[cid])) for cid, c in found.items() if isinstance(c, Connection)
        ]
        notes: list[str] = []
        unread = sum(isinstance(c, DliError) for c in found.values())
        if unread:
            # A tab is not a request that can be answered with an error: show what is known.
            log.warning("Home tab: %d watched connection(s) could not be read from DLI", unread)
            notes.append(f":warning: DLI could not be asked about {unread} of the watched "
                         "connections just now; they are left out.")  # fmt: skip
        return home_view(
            entries, now=self._clock(), note="\n".join(notes) or None, demo=self._services.demo
        )

    def help(self, reason: str | None) -> Message:
        if reason is None:
            return help_message(HELP_TEXT)
        return error_message("bad_input", subject=reason[:100], hint=None)

    # ------------------------------------------------------------------ the work

    async def _card(
        self, target: str, ephemeral: bool, channel: str | None, force: bool
    ) -> Message:
        found = await self._services.finder.find(target, force=force)
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
            demo=self._services.demo,
        )

    async def _watch_state(self, channel: str | None, connection_id: str) -> WatchState:
        if channel is None:
            return "not_watching"
        try:
            watching = await self._subscriptions.watches(channel, connection_id.lower())
        except STORE_ERRORS:
            return "not_watching"
        return "watching" if watching else "not_watching"

    async def _listing(self, which: ListFilter) -> Message:
        snap = await self._services.finder.snapshot()
        chosen = [c for c in snap.connections if _matches_filter(c, which)]
        return connection_list(
            chosen,
            filter_label=which,
            now=self._clock(),
            source="live",
            fetched_at=snap.fetched_at,
            request_id=snap.request_id,
            demo=self._services.demo,
        )

    async def _compact(self, targets: Sequence[str]) -> Message:
        snap = await self._services.finder.snapshot()
        wanted = {t.lower() for t in targets}
        chosen = [c for c in snap.connections if c.id.lower() in wanted or c.name.lower() in wanted]
        return connection_list(
            chosen,
            filter_label="also mentioned",
            now=self._clock(),
            fetched_at=snap.fetched_at,
            request_id=snap.request_id,
            demo=self._services.demo,
        )

    async def _watch(self, target: str, channel: str, user: str) -> Message:
        found = await self._services.finder.find(target)
        if isinstance(found, Ambiguous):
            return choose_connection(found.matches, found.query)
        connection = found.connection
        name = code(connection.name or connection.id, 80)
        if connection.is_deleted:
            return notice(
                f":black_circle: {name} is DELETED; there is nothing left to watch.",
                fallback="That connection is deleted",
            )
        new = await self._subscriptions.subscribe(
            channel, connection.id.lower(), connection.name, user
        )
        if not new:
            return notice(
                f":eyes: {name} is already watched in this channel.",
                fallback="Already watched here",
            )
        failing = len(connection.failed)
        now_line = (
            f" {failing} of its queues and pools are FAILED right now; the alert follows shortly."
            if failing
            else ""
        )
        return notice(
            f":eyes: Watching {name} in this channel (by <@{user}>). I will post here when one of "
            f"its queues or elastic resource pools turns FAILED, and in the alert's thread when "
            f"it recovers.{now_line}",
            fallback="Watching it in this channel",
            context=[
                "Alerts need @dliconn in this channel (`/invite @dliconn` if it is not). "
                "Stop with `/dliconn unwatch`; see all with `/dliconn watches`."
            ],
        )

    async def _unwatch(self, target: str, channel: str) -> Message:
        # No DLI call: unwatching must work while DLI is down and for deleted connections.
        subscriptions = await self._subscriptions.channel_subscriptions(channel)
        wanted = target.strip().lower()
        matches = [
            s
            for s in subscriptions
            if s.connection_id.lower() == wanted or s.connection_name.lower() == wanted
        ]
        if not matches:
            what = code(target, 80)
            return notice(
                f":information_source: {what} is not watched in this channel.",
                fallback="Not watched here",
                context=["`/dliconn watches` lists what is."],
            )
        for subscription in matches:
            await self._subscriptions.unsubscribe(channel, subscription.connection_id)
        names = ", ".join(code(s.connection_name or s.connection_id, 80) for s in matches)
        return notice(f":no_bell: Stopped watching {names} here.", fallback="Stopped watching")

    async def _watches(self, channel: str) -> Message:
        # The subscriptions are ours: they are listed even while DLI cannot say how they are.
        subscriptions = await self._subscriptions.channel_subscriptions(channel)
        found = await self._lookup_many([s.connection_id for s in subscriptions])
        watched = [c for c in found.values() if isinstance(c, Connection)]
        missing, unknown = [], []
        for s in subscriptions:
            result = found.get(s.connection_id)
            if result is None:
                missing.append((s.connection_name, s.connection_id))
            elif isinstance(result, DliError):
                unknown.append((s.connection_name, s.connection_id))
        notes = await self._channel_notes(channel, subscriptions)
        return watches_message(
            watched,
            missing,
            unknown=unknown,
            now=self._clock(),
            notes=notes,
            demo=self._services.demo,
        )

    async def _channel_notes(self, channel: str, subscriptions: list[Subscription]) -> list[str]:
        notes = []
        if channel in self._services.settings.watch_all_channels:
            notes.append(":satellite: This channel receives alerts for *every* connection.")
        if await self._subscriptions.is_paused(channel):
            notes.append(
                ":pause_button: Alerts here are paused: the bot could not post (was it removed "
                "from the channel?). Watching again resumes them."
            )
        return notes

    async def _lookup_many(
        self, connection_ids: Sequence[str]
    ) -> dict[str, Connection | DliError | None]:
        """Current copies (cached when fresh) of many connections; None for ones DLI lacks, the
        error for ones DLI could not be asked about (one failure must not hide the others)."""

        async def one(connection_id: str) -> Connection | DliError | None:
            try:
                return (await self._services.lookup.lookup(connection_id)).connection
            except NotFound:
                return None
            except DliError as exc:
                return exc

        results = await asyncio.gather(*(one(c) for c in connection_ids))
        return dict(zip(connection_ids, results, strict=True))

    async def _known_connections(self) -> Sequence[Connection]:
        try:
            snap = await self._services.finder.snapshot()
        except DliError as exc:
            # Names are a convenience; ids in the same text must still be answered.
            log.info("connection names unavailable for mention scanning: %s", exc)
            return []
        return snap.connections

    async def _guard(self, subject: str | None, work: Callable[[], Awaitable[Message]]) -> Reply:
        """The one place errors become replies."""
        try:
            return Reply(await work(), shareable=True)
        except NotFound as exc:
            failure = error_message("not_found", subject=subject, request_id=exc.request_id)
        except DliError as exc:
            log.warning("DLI %s while answering about %r: %s", exc.kind, subject, exc)
            failure = error_message(exc.kind, subject=subject, request_id=exc.request_id)
        except STORE_ERRORS as exc:
            log.warning("storage unavailable while answering about %r: %s", subject, exc)
            failure = error_message("store_unavailable", subject=subject)
        except Exception:  # broad: a bug still gets the person an answer, with a reference
            ref = correlation_id()
            log.exception("unexpected error [ref %s] while answering about %r", ref, subject)
            failure = error_message("unexpected", subject=subject, correlation_id=ref)
        return Reply(failure, shareable=False)


def _matches_filter(connection: Connection, which: ListFilter) -> bool:
    if which == "failed":
        return bool(connection.failed)
    if which == "active":
        return connection.status.upper() == "ACTIVE"
    if which == "deleted":
        return connection.is_deleted
    return True
