"""The features together, and the `/dliconn` grammar's dispatch onto them.

Every Slack surface (slash command, mention, incident channel, buttons, Home tab) and the console
go through these features, so a card looks the same wherever it is asked for and an error is
explained the same way (`bot.chat.replies.guarded`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.blocks.message import Message
from bot.blocks.replies import error_message, help_message
from bot.chat.audit import AuditTrail
from bot.chat.conntest import ConnTest
from bot.chat.history import ConnectionHistory
from bot.chat.home import HomeTab
from bot.chat.lookups import Lookups
from bot.chat.parsing import (
    Audit,
    Command,
    ConnectivityTest,
    Help,
    History,
    ListConnections,
    Policy,
    Route,
    Show,
    Unwatch,
    Watch,
    Watches,
    help_text,
)
from bot.chat.policy import PolicyView
from bot.chat.replies import Reply, privately
from bot.chat.routing import Routing
from bot.chat.watching import Watching
from bot.policy import ChannelFacts, Person, Request


@dataclass(frozen=True)
class ChatOps:
    lookups: Lookups
    watching: Watching
    home: HomeTab
    routing: Routing
    policy: PolicyView
    audit: AuditTrail
    history: ConnectionHistory
    conntest: ConnTest

    async def command(
        self,
        command: Command,
        *,
        ephemeral: bool,
        channel: str,
        user: str,
        facts: tuple[ChannelFacts, Person] | None = None,
    ) -> Reply:
        """The whole answer to one `/dliconn …`, once the guardrails allowed it (`facts`: what
        they were told about the channel and the person; `policy` shows them)."""
        match command:
            case Show(target=target):
                return await self.lookups.card(target, ephemeral=ephemeral, channel=channel)
            case ListConnections(filter=which):
                return await self.lookups.listing(which, channel=channel)
            case Watch(target=target):
                return await self.watching.watch(target, channel=channel, user=user)
            case Unwatch(target=target):
                return await self.watching.unwatch(target, channel=channel, user=user)
            case Watches():
                return await self.watching.watches(channel=channel)
            case Route(target=target):
                return await self.routing.route(target, channel=channel)
            case Policy():
                seen = facts or (ChannelFacts(channel, external=None), Person(user))
                with privately():  # it names people: it is for the asker only
                    return self.policy.describe(*seen)
            case Audit(count=count):
                return await self.audit.recent(channel, count)
            case History(target=target, window=window):
                return await self.history.history(target, window, channel=channel)
            case ConnectivityTest(target=target, queue=queue, address=address):
                return await self.conntest.test(target, queue, address, channel=channel, user=user)
            case Help(reason=reason):
                return Reply(help_reply(reason), shareable=False)
        return Reply(help_reply(None), shareable=False)  # pragma: no cover - match is exhaustive


#: What the guardrails are asked about for each kind of command.
_VERB_OF: Final[dict[type[Command], Request]] = {
    Show: "lookup",
    # It names other channels and who watches there: as much an operator's matter as the
    # audit trail (and so refused where Slack Connect may only read).
    Route: "audit",
    History: "history",
    ListConnections: "list",
    Watches: "list",
    Watch: "watch",
    Unwatch: "watch",
    ConnectivityTest: "test",
    Audit: "audit",
    # They show no connection data; the policy view needs the person's groups (what they may do).
    Help: "help",
    Policy: "policy",
}


def request_of(command: Command) -> Request:
    """What the guardrails are asked about for a command."""
    return _VERB_OF[type(command)]


def help_reply(reason: str | None) -> Message:
    """The help text, or why the input was not understood (a reason `parse_command` wrote in
    the asker's language, echoing their input exactly): for the asker only."""
    with privately():
        if reason is None:
            return help_message(help_text())
        return error_message("bad_input", subject=reason, hint=None)
