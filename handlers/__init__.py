"""Thin Slack listeners; `register_handlers` wires them onto a Bolt app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import actions, commands, home, mentions
from handlers.common import Kit


def register_handlers(app: AsyncApp, kit: Kit) -> None:
    commands.register(app, kit)
    mentions.register(app, kit)
    actions.register(app, kit)
    home.register(app, kit)
