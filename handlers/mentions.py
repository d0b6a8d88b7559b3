"""`@dliconn …` mentions and incident-channel messages: threaded cards for the ids they contain."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.message import Message
from bot.blocks.replies import help_message
from bot.chat.parsing import HELP_TEXT
from bot.slack.client import call_slack, message_kwargs
from handlers.common import Kit

NOTHING_FOUND = (
    "I did not see a connection id or a known connection name in that message.\n\n" + HELP_TEXT
)


def register(app: AsyncApp, kit: Kit) -> None:
    incident_channels = kit.settings.incident_channels

    async def reply_in_thread(
        client: AsyncWebClient, event: dict[str, Any], cards: list[Message]
    ) -> None:
        thread = event.get("thread_ts") or event.get("ts")
        for card in cards:
            await call_slack(
                kit.metrics, "chat.postMessage", client.chat_postMessage,
                channel=event.get("channel"), thread_ts=thread, **message_kwargs(card),
            )  # fmt: skip

    async def on_mention(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        cards = await kit.chatops.mention_cards(
            str(event.get("text", "")), with_names=True, channel=str(event.get("channel", ""))
        )
        await reply_in_thread(client, event, cards or [help_message(NOTHING_FOUND)])
        await _finish(context, kit)

    async def on_message(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        text = str(event.get("text", ""))
        bot_user = context.bot_user_id
        if (
            event.get("channel") not in incident_channels
            # Bots (this one included) and edits/joins/etc. never trigger a reply.
            or event.get("bot_id")
            or event.get("subtype")
            # A mention is answered by on_mention; answering here too would reply twice.
            or (bot_user and f"<@{bot_user}>" in text)
        ):
            return
        cards = await kit.chatops.mention_cards(
            text, with_names=False, channel=str(event.get("channel", ""))
        )
        await reply_in_thread(client, event, cards)
        await _finish(context, kit)

    kit.on(app.event("app_mention"), on_mention)
    kit.on(app.event("message"), on_message)


async def _finish(context: AsyncBoltContext, kit: Kit) -> None:
    event_id = context.get("event_id")
    if isinstance(event_id, str):
        await kit.dedupe.finish(event_id)
