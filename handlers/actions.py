"""Buttons on cards and alerts: Refresh, Show, Share, Watch/Unwatch, Mute, Acknowledge, console."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.actions import (
    ACTION_ACK,
    ACTION_CONSOLE,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_SHOW,
    ACTION_UNWATCH,
    ACTION_WATCH,
    ALERT_ACTIONS,
    MUTE_ACTION_PATTERN,
)
from bot.chat.chatops import Reply
from bot.slack.client import call_slack, message_kwargs
from handlers.common import Kit, ack_now, channel_of, user_of


def _is_ephemeral(body: dict[str, Any]) -> bool:
    return bool((body.get("container") or {}).get("is_ephemeral"))


def _is_alert(body: dict[str, Any]) -> bool:
    """A click on an alert (open or resolved): replacing it with a card would lose the alert."""
    return any(
        block.get("block_id") == ALERT_ACTIONS
        for block in (body.get("message") or {}).get("blocks", [])
    )


def register(app: AsyncApp, kit: Kit) -> None:
    async def tell(body: dict[str, Any], reply: Reply) -> None:
        """A private answer to the person who clicked, leaving the message as it was."""
        await kit.responder(
            str(body.get("response_url", "")),
            reply.message,
            response_type="ephemeral",
            replace_original=False,
        )

    async def refresh(action: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        connection_id = str(action.get("value", ""))
        if _is_alert(body):
            reply = await kit.chatops.card(
                connection_id, ephemeral=False, channel=channel_of(body), force=True
            )
            if not reply.shareable:
                await tell(body, reply)
                return
            message = body.get("message") or {}
            await call_slack(
                kit.metrics, "chat.postMessage", client.chat_postMessage,
                channel=channel_of(body), thread_ts=message.get("thread_ts") or message.get("ts"),
                **message_kwargs(reply.message),
            )  # fmt: skip
            return
        reply = await kit.chatops.card(
            connection_id, ephemeral=_is_ephemeral(body), channel=channel_of(body), force=True
        )
        await kit.responder(str(body.get("response_url", "")), reply.message,
                            replace_original=True)  # fmt: skip

    async def show(action: dict[str, Any], body: dict[str, Any]) -> None:
        reply = await kit.chatops.card(
            str(action.get("value", "")), ephemeral=_is_ephemeral(body), channel=channel_of(body)
        )
        await kit.responder(str(body.get("response_url", "")), reply.message,
                            replace_original=True)  # fmt: skip

    async def share(action: dict[str, Any], body: dict[str, Any]) -> None:
        reply = await kit.chatops.card(
            str(action.get("value", "")), ephemeral=False, channel=channel_of(body)
        )
        if not reply.shareable:
            await tell(body, reply)
            return
        url = str(body.get("response_url", ""))
        if await kit.responder(url, reply.message, response_type="in_channel",
                               replace_original=False):  # fmt: skip
            # The private copy has done its job once the channel sees the card.
            await kit.responder(url, delete_original=True)

    async def watch(action: dict[str, Any], body: dict[str, Any]) -> None:
        reply = await kit.chatops.watch(
            str(action.get("value", "")), channel=channel_of(body), user=user_of(body)
        )
        await tell(body, reply)

    async def unwatch(action: dict[str, Any], body: dict[str, Any]) -> None:
        reply = await kit.chatops.unwatch(str(action.get("value", "")), channel=channel_of(body))
        await tell(body, reply)

    async def mute(action: dict[str, Any], body: dict[str, Any]) -> None:
        connection_id, _, hours = str(action.get("value", "")).partition("|")
        reply = await kit.chatops.mute(
            connection_id,
            int(hours) if hours.isdigit() else 1,
            channel=channel_of(body),
            user=user_of(body),
        )
        await tell(body, reply)

    async def acknowledge(action: dict[str, Any], body: dict[str, Any]) -> None:
        reply = await kit.chatops.acknowledge(
            str(action.get("value", "")), channel=channel_of(body), user=user_of(body)
        )
        await tell(body, reply)

    kit.on(app.action(ACTION_REFRESH), refresh)
    kit.on(app.action(ACTION_SHOW), show)
    kit.on(app.action(ACTION_SHARE), share)
    kit.on(app.action(ACTION_WATCH), watch)
    kit.on(app.action(ACTION_UNWATCH), unwatch)
    kit.on(app.action(re.compile(MUTE_ACTION_PATTERN)), mute)
    kit.on(app.action(ACTION_ACK), acknowledge)
    # A URL button still sends an action; Slack shows an error unless it is acknowledged.
    app.action(ACTION_CONSOLE)(ack_now)
