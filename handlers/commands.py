"""The `/dliconn` slash command: ack at once, then answer through response_url."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.blocks.guardrails import refusal
from bot.chat.chatops import request_of
from bot.chat.parsing import parse_command
from bot.slack.facts import asking
from bot.slack.kit import Kit

COMMAND = "/dliconn"


async def answer(kit: Kit, command: dict[str, Any]) -> None:
    response_type = kit.settings.dliconn_response_type
    parsed = parse_command(str(command.get("text", "")))
    url = str(command.get("response_url", ""))
    checked = await kit.check(request_of(parsed), asking(command))
    if not checked.allowed:
        # A refusal changes nothing, looks nothing up, and stays with the person.
        await kit.responder(url, refusal(checked.decision), response_type="ephemeral")
        return
    # A reply to the person who asked, in their language (Kit chose it), even where it is
    # posted in_channel: as a mention's answer is.
    reply = await kit.chat.command(
        parsed,
        ephemeral=response_type == "ephemeral",
        channel=str(command.get("channel_id", "")),
        user=str(command.get("user_id", "")),
        facts=(checked.channel, checked.person),
    )
    # Help and errors stay with the person who asked, whatever the configured default.
    await kit.responder(
        url, reply.message, response_type=response_type if reply.shareable else "ephemeral"
    )


def register(app: AsyncApp, kit: Kit) -> None:
    kit.on(app.command(COMMAND), answer)
