"""The `/dliconn` slash command: ack at once, then answer through response_url."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.chatops import ChatOps
from bot.config import Settings
from handlers.parsing import parse_command

COMMAND = "/dliconn"


def register(app: AsyncApp, chatops: ChatOps, settings: Settings) -> None:
    response_type = settings.dliconn_response_type

    @app.command(COMMAND)
    async def dliconn(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        # Ack first and empty: Slack's 3-second deadline must hold however slow DLI is.
        await ack()
        reply = await chatops.command(
            parse_command(str(command.get("text", ""))), ephemeral=response_type == "ephemeral"
        )
        # Help and errors stay with the person who asked, whatever the configured default.
        await respond(
            text=reply.message.text,
            blocks=reply.message.blocks,
            response_type=response_type if reply.shareable else "ephemeral",
        )
