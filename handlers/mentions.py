"""`@dliconn …` mentions and incident-channel messages: threaded cards for the ids they contain."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext, AsyncSay

from bot.blocks import Message, help_message
from bot.chatops import ChatOps
from bot.config import Settings
from bot.dedupe import EventDedupe
from handlers.parsing import HELP_TEXT

NOTHING_FOUND = (
    "I did not see a connection id or a known connection name in that message.\n\n" + HELP_TEXT
)


def register(app: AsyncApp, chatops: ChatOps, settings: Settings, dedupe: EventDedupe) -> None:
    incident_channels = settings.incident_channels

    async def reply_in_thread(event: dict[str, Any], say: AsyncSay, cards: list[Message]) -> None:
        thread = event.get("thread_ts") or event.get("ts")
        for card in cards:
            await say(text=card.text, blocks=card.blocks, thread_ts=thread)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: AsyncSay, context: AsyncBoltContext) -> None:
        cards = await chatops.mention_cards(str(event.get("text", "")), with_names=True)
        await reply_in_thread(event, say, cards or [help_message(NOTHING_FOUND)])
        await _finish(context, dedupe)

    @app.event("message")
    async def on_message(event: dict[str, Any], say: AsyncSay, context: AsyncBoltContext) -> None:
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
        cards = await chatops.mention_cards(text, with_names=False)
        await reply_in_thread(event, say, cards)
        await _finish(context, dedupe)


async def _finish(context: AsyncBoltContext, dedupe: EventDedupe) -> None:
    event_id = context.get("event_id")
    if isinstance(event_id, str):
        await dedupe.finish(event_id)
