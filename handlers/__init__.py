"""Thin Slack listeners; `register_handlers` wires them onto a Bolt app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from handlers.common import Kit


def register_handlers(app: AsyncApp, kit: Kit) -> None:
    # Imported here, not at package import: bot.chatops uses the pure `handlers.parsing`, and
    # importing the listener modules eagerly would make that a cycle.
    from handlers import actions, commands, home, mentions

    commands.register(app, kit)
    mentions.register(app, kit)
    actions.register(app, kit)
    home.register(app, kit)
