"""What the bot says: turns a parsed request into a reply Message, mapping every error in one place.

Every Slack surface (slash command, mention, incident channel, buttons) and the console go through
`ChatOps`, so a card looks the same wherever it is asked for, and an error is explained the same
way: expected DLI errors become a short message with a hint; anything else is logged with a short
correlation id that the person is shown, never a traceback.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.blocks import (
    Message,
    WatchState,
    choose_connection,
    connection_card,
    connection_list,
    error_message,
    help_message,
)
from bot.cache import Lookup
from bot.dli.models import Connection
from bot.errors import DliError, NotFound
from bot.finder import Ambiguous
from bot.services import Services
from handlers.parsing import (
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

log = logging.getLogger(__name__)

MAX_FULL_CARDS = 5

WATCH_UNAVAILABLE = Message(
    text="Watching is not available yet in this deployment.",
    blocks=[
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": ":construction: Watching connections is not available yet in this "
                "deployment. Use `/dliconn <id>` to look one up.",
            },
        }
    ],
)


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
        self._console_url = console_url or (lambda _: None)
        self._clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ entry points

    async def command(self, command: Command, *, ephemeral: bool) -> Reply:
        """The whole answer to one `/dliconn …`."""
        match command:
            case Show(target=target):
                return await self.card(target, ephemeral=ephemeral)
            case ListConnections(filter=which):
                return await self.listing(which)
            case Watch() | Unwatch() | Watches():
                return Reply(WATCH_UNAVAILABLE, shareable=False)
            case Help(reason=reason):
                return Reply(self.help(reason), shareable=False)
        return Reply(self.help(None), shareable=False)  # pragma: no cover - match is exhaustive

    async def card(self, target: str, *, ephemeral: bool, force: bool = False) -> Reply:
        """One connection by id or name: its card, a shortlist, or an explained error."""
        return await self._guard(target, lambda: self._card(target, ephemeral, force))

    async def listing(self, which: ListFilter) -> Reply:
        return await self._guard(None, lambda: self._listing(which))

    async def mention_cards(self, text: str, *, with_names: bool) -> list[Message]:
        """Cards for every connection id (and, for mentions, known name) in free text.

        Up to MAX_FULL_CARDS full cards; the rest as one compact list. Empty when nothing in the
        text looks like a connection.
        """
        text = strip_mention(text)
        targets: list[str] = find_connection_ids(text)
        if with_names:
            names = await self._known_names()
            targets += find_names(text, names)
        if not targets:
            return []
        cards = [(await self.card(t, ephemeral=False)).message for t in targets[:MAX_FULL_CARDS]]
        rest = targets[MAX_FULL_CARDS:]
        if rest:
            cards.append((await self._guard(None, lambda: self._compact(rest))).message)
        return cards

    def help(self, reason: str | None) -> Message:
        if reason is None:
            return help_message(HELP_TEXT)
        return error_message("bad_input", subject=reason[:100], hint=None)

    # ------------------------------------------------------------------ the work

    async def _card(self, target: str, ephemeral: bool, force: bool) -> Message:
        found = await self._services.finder.find(target, force=force)
        if isinstance(found, Ambiguous):
            return choose_connection(found.matches, found.query)
        return self._render_card(found, ephemeral=ephemeral)

    def _render_card(self, found: Lookup, *, ephemeral: bool) -> Message:
        return connection_card(
            found,
            now=self._clock(),
            console_url=self._console_url(found.connection),
            watch_state=self._watch_state(),
            ephemeral=ephemeral,
            demo=self._services.demo,
        )

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

    async def _known_names(self) -> list[str]:
        try:
            snap = await self._services.finder.snapshot()
        except DliError as exc:
            # Names are a convenience; ids in the same text must still be answered.
            log.info("connection names unavailable for mention scanning: %s", exc)
            return []
        return [c.name for c in snap.connections if c.name]

    def _watch_state(self) -> WatchState:
        return "unavailable"

    async def _guard(self, subject: str | None, work: Callable[[], Awaitable[Message]]) -> Reply:
        """The one place errors become replies."""
        try:
            return Reply(await work(), shareable=True)
        except NotFound as exc:
            failure = error_message("not_found", subject=subject, request_id=exc.request_id)
        except DliError as exc:
            log.warning("DLI %s while answering about %r: %s", exc.kind, subject, exc)
            failure = error_message(exc.kind, subject=subject, request_id=exc.request_id)
        except Exception:
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
