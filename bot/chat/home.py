"""The Home tab's content: the connections watched in the reader's channels, FAILED first."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Final

from bot.blocks.home import home_view
from bot.chat.context import ChatContext
from bot.chat.lookups import lookup_many
from bot.dli.ids import normalise_id
from bot.errors import DliError, StoreUnavailable
from bot.i18n import _, ngettext
from bot.lookup.cache import Lookup
from bot.policy import Decision, Why

log = logging.getLogger(__name__)

#: How many channels' guardrails the Home tab asks Slack about at once.
CHECKS_AT_ONCE: Final = 8


@dataclass(frozen=True)
class HomeTab:
    context: ChatContext

    async def view(
        self,
        user_channels: Collection[str] | None,
        *,
        permitted: Callable[[str], Awaitable[Decision]] | None = None,
    ) -> dict[str, Any]:
        """The Home tab: connections watched in the user's channels.

        `None` means Slack would not say which channels the user is in. Then nothing is shown:
        listing every watched connection would show private channels' subscriptions to anyone.
        `permitted` (the guardrails' decision) leaves out the channels where the user may not
        look up, and the tab says how many were left out and why: "nothing is watched" would be
        false there.
        """
        if user_channels is None:
            return home_view(
                [],
                now=self.context.clock(),
                note=_(
                    ":warning: Slack would not say which channels you are in, so nothing is "
                    "shown. Try again in a minute; if it persists, the app may lack the "
                    "`channels:read` / `groups:read` scopes."
                ),
            )
        try:
            watched = await self.context.subscriptions.all_watched()
        except StoreUnavailable:
            unreachable = _(":warning: Storage is unreachable.")
            return home_view([], now=self.context.clock(), note=unreachable)
        mine = frozenset(user_channels)
        notes: list[str] = []
        if permitted is not None:
            # Only channels that watch something are asked about: each may be a Slack call.
            candidates = frozenset().union(*watched.values()) & mine if watched else frozenset()
            asked = sorted(candidates)
            # A few at a time: a person in many channels must not send Slack a burst of
            # conversations.info calls on every tab open (cached, but cold after a minute).
            gate = asyncio.Semaphore(CHECKS_AT_ONCE)

            async def decided(channel: str) -> Decision:
                async with gate:
                    return await permitted(channel)

            decisions = await asyncio.gather(*(decided(c) for c in asked))
            mine = frozenset(c for c, d in zip(asked, decisions, strict=True) if d.allowed)
            refused = Counter(d.why for d in decisions if not d.allowed)
            if refused:
                notes.append(_left_out(refused))
        watched = {cid: chans & mine for cid, chans in watched.items() if chans & mine}
        # Only the projects some of those channels may see are asked (None: one sees them all).
        scopes = [self.context.scope(c) for c in sorted(mine)]
        visible = (
            None if any(v is None for v in scopes) else sorted({a for v in scopes for a in v or ()})
        )
        found = await lookup_many(self.context.directory, list(watched), visible=visible)
        entries, project_of = [], {}
        for cid, result in found.items():
            if not isinstance(result, Lookup):
                continue
            # Only the channels that may see the connection's project count it as theirs.
            alias = result.project.alias if result.project else None
            channels = sorted(c for c in watched[cid] if self._sees(c, alias))
            if channels:
                entries.append((result.connection, channels))
                if result.project is not None:
                    project_of[normalise_id(cid)] = result.project
        unread = sum(isinstance(c, DliError) for c in found.values())
        if unread:
            # A tab is not a request that can be answered with an error: show what is known.
            log.warning("Home tab: %d watched connection(s) could not be read from DLI", unread)
            left_out = _(
                ":warning: DLI could not be asked about {count} of the watched connections just "
                "now; they are left out."
            )
            notes.append(left_out.format(count=unread))
        return home_view(
            entries,
            project_of=project_of,
            now=self.context.clock(),
            note="\n".join(notes) or None,
            demo=self.context.demo,
        )

    def _sees(self, channel: str, alias: str | None) -> bool:
        visible = self.context.scope(channel)
        return visible is None or alias is None or alias in visible


def _left_out(refused: Counter[Why | None]) -> str:
    """How many of the reader's watching channels the guardrails left out, by reason, with what
    to do about each."""
    total = sum(refused.values())
    lines = [
        ngettext(
            ":warning: {count} of your channels that watch something is left out:",
            ":warning: {count} of your channels that watch something are left out:",
            total,
        ).format(count=total)
    ]
    for why, count in sorted(refused.items(), key=lambda item: -item[1]):
        lines.append("• " + _reason(why, count).format(count=count))
    return "\n".join(lines)


def _reason(why: Why | None, count: int) -> str:
    match why:
        case "external_channel":
            return ngettext(
                "{count} is shared with another organisation (`guardrails.external_channels`)",
                "{count} are shared with another organisation (`guardrails.external_channels`)",
                count,
            )
        case "verb_not_allowed":
            return ngettext(
                "{count} does not allow listing connections (its `allow` in dliconn.toml)",
                "{count} do not allow listing connections (their `allow` in dliconn.toml)",
                count,
            )
        case "sharing_unseen":
            return _("the bot cannot see or is no longer in {count} of them: invite it back")
        case "sharing_no_scope":
            return _(
                "the bot's Slack app lacks the permission to see {count} of them: re-install it "
                "from manifest.yml"
            )
        case "sharing_unknown":
            return ngettext(
                "Slack would not say whether {count} is shared with another organisation; try "
                "again in a minute",
                "Slack would not say whether {count} are shared with another organisation; try "
                "again in a minute",
                count,
            )
        case _:
            return _("{count} refused by the guardrails (`/dliconn policy` there says why)")
