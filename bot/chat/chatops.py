"""The features together, and the `/dliconn` grammar's dispatch onto them.

Every Slack surface (slash command, mention, incident channel, buttons, Home tab) and the console
go through these features, so a card looks the same wherever it is asked for and an error is
explained the same way (`bot.chat.replies.guarded`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks.message import Message
from bot.blocks.replies import error_message, help_message
from bot.chat.conntest import ConnTest
from bot.chat.home import HomeTab
from bot.chat.lookups import Lookups
from bot.chat.parsing import (
    HELP_TEXT,
    Command,
    ConnectivityTest,
    Help,
    ListConnections,
    Route,
    Show,
    Unwatch,
    Watch,
    Watches,
)
from bot.chat.replies import Reply
from bot.chat.routing import Routing
from bot.chat.watching import Watching


@dataclass(frozen=True)
class ChatOps:
    lookups: Lookups
    watching: Watching
    home: HomeTab
    routing: Routing
    conntest: ConnTest

    async def command(self, command: Command, *, ephemeral: bool, channel: str, user: str) -> Reply:
        """The whole answer to one `/dliconn …`."""
        match command:
            case Show(target=target):
                return await self.lookups.card(target, ephemeral=ephemeral, channel=channel)
            case ListConnections(filter=which):
                return await self.lookups.listing(which, channel=channel)
            case Watch(target=target):
                return await self.watching.watch(target, channel=channel, user=user)
            case Unwatch(target=target):
                return await self.watching.unwatch(target, channel=channel)
            case Watches():
                return await self.watching.watches(channel=channel)
            case Route(target=target):
                return await self.routing.route(target, channel=channel)
            case ConnectivityTest(target=target, queue=queue, address=address):
                return await self.conntest.test(target, queue, address, channel=channel, user=user)
            case Help(reason=reason):
                return Reply(help_reply(reason), shareable=False)
        return Reply(help_reply(None), shareable=False)  # pragma: no cover - match is exhaustive


def help_reply(reason: str | None) -> Message:
    """The help text, or why the input was not understood."""
    if reason is None:
        return help_message(HELP_TEXT)
    return error_message("bad_input", subject=reason, hint=None)
