"""Thin Slack listeners; `register_handlers` wires them onto a Bolt app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.chatops import ChatOps
    from bot.config import Settings
    from bot.dedupe import EventDedupe


def register_handlers(
    app: AsyncApp, chatops: ChatOps, settings: Settings, dedupe: EventDedupe
) -> None:
    # Imported here, not at package import: bot.chatops uses the pure `handlers.parsing`, and
    # importing the listener modules eagerly would make that a cycle.
    from handlers import actions, commands, mentions

    commands.register(app, chatops, settings)
    mentions.register(app, chatops, settings, dedupe)
    actions.register(app, chatops)
