"""The `/dliconn` slash command: ack at once, then answer through response_url."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.chat.parsing import parse_command
from bot.slack.kit import Kit

COMMAND = "/dliconn"


async def answer(kit: Kit, command: dict[str, Any]) -> None:
    response_type = kit.settings.dliconn_response_type
    reply = await kit.chat.command(
        parse_command(str(command.get("text", ""))),
        ephemeral=response_type == "ephemeral",
        channel=str(command.get("channel_id", "")),
        user=str(command.get("user_id", "")),
    )
    # Help and errors stay with the person who asked, whatever the configured default.
    await kit.responder(
        str(command.get("response_url", "")),
        reply.message,
        response_type=response_type if reply.shareable else "ephemeral",
    )


def register(app: AsyncApp, kit: Kit) -> None:
    kit.on(app.command(COMMAND), answer)
