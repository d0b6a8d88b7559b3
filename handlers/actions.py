"""Card buttons: Refresh, Show, Share in channel, Watch/Unwatch, and the console link."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.blocks import (
    ACTION_CONSOLE,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_SHOW,
    ACTION_UNWATCH,
    ACTION_WATCH,
)
from bot.chatops import WATCH_UNAVAILABLE, ChatOps


def _is_ephemeral(body: dict[str, Any]) -> bool:
    return bool(body.get("container", {}).get("is_ephemeral"))


def register(app: AsyncApp, chatops: ChatOps) -> None:
    @app.action(ACTION_REFRESH)
    async def refresh(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any],
                      respond: AsyncRespond) -> None:  # fmt: skip
        await ack()
        reply = await chatops.card(
            str(action.get("value", "")), ephemeral=_is_ephemeral(body), force=True
        )
        await respond(text=reply.message.text, blocks=reply.message.blocks, replace_original=True)

    @app.action(ACTION_SHOW)
    async def show(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any],
                   respond: AsyncRespond) -> None:  # fmt: skip
        await ack()
        reply = await chatops.card(str(action.get("value", "")), ephemeral=_is_ephemeral(body))
        await respond(text=reply.message.text, blocks=reply.message.blocks, replace_original=True)

    @app.action(ACTION_SHARE)
    async def share(ack: AsyncAck, action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        reply = await chatops.card(str(action.get("value", "")), ephemeral=False)
        if not reply.shareable:
            await respond(text=reply.message.text, blocks=reply.message.blocks,
                          response_type="ephemeral", replace_original=False)  # fmt: skip
            return
        await respond(text=reply.message.text, blocks=reply.message.blocks,
                      response_type="in_channel", replace_original=False)  # fmt: skip
        # The private copy has done its job once the channel sees the card.
        await respond(delete_original=True)

    @app.action(ACTION_WATCH)
    @app.action(ACTION_UNWATCH)
    async def watch(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(text=WATCH_UNAVAILABLE.text, blocks=WATCH_UNAVAILABLE.blocks,
                      response_type="ephemeral", replace_original=False)  # fmt: skip

    @app.action(ACTION_CONSOLE)
    async def console_link(ack: AsyncAck) -> None:
        # A URL button still sends an action; Slack shows an error unless it is acknowledged.
        await ack()
