"""Thin Slack listeners; `register_handlers` wires them onto a Bolt app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.kit import Kit
from handlers import actions, commands, home, mentions, views


def register_handlers(app: AsyncApp, kit: Kit) -> None:
    commands.register(app, kit)
    mentions.register(app, kit)
    actions.register(app, kit)
    home.register(app, kit)
    views.register(app, kit)
