"""`@dliconn …` mentions and incident-channel messages: threaded cards for the ids they contain."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.guardrails import refusal
from bot.blocks.message import Message
from bot.blocks.replies import help_message
from bot.chat.parsing import find_connection_ids, help_text
from bot.i18n import _, speaking
from bot.slack.client import call_slack, message_kwargs
from bot.slack.facts import asking
from bot.slack.kit import Kit


def nothing_found() -> str:
    """The answer to a mention naming no connection: what was not seen, then the help."""
    seen = _("I did not see a connection id or a known connection name in that message.")
    return seen + "\n\n" + help_text()


async def on_mention(
    kit: Kit, event: dict[str, Any], client: AsyncWebClient, body: dict[str, Any] | None = None
) -> None:
    if not await _permitted(kit, client, event, body):
        return
    channel = str(event.get("channel", ""))
    # In the language of who mentioned the bot (Kit chose it): they asked, in their words.
    cards = await kit.chat.lookups.mention_cards(
        str(event.get("text", "")), with_names=True, channel=channel
    )
    replies = cards or [help_message(nothing_found())]
    await _reply_in_thread(kit, client, event, replies)


async def on_message(
    kit: Kit,
    event: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
    body: dict[str, Any] | None = None,
) -> None:
    text = str(event.get("text", ""))
    bot_user = context.bot_user_id
    if (
        # Kit already dropped these at the ack (its `ignore`); asked again so the listener is
        # right on its own, as the unit tests call it.
        unanswered(kit, event)
        # A mention is answered by on_mention; answering here too would reply twice.
        or (bot_user and f"<@{bot_user}>" in text)
        or not await _permitted(kit, client, event, body)
    ):
        return
    channel = str(event.get("channel", ""))
    # Nobody asked the bot: the channel's feature answers, in the channel's language.
    with speaking(kit.languages.of_channel(channel)):
        cards = await kit.chat.lookups.mention_cards(text, with_names=False, channel=channel)
    await _reply_in_thread(kit, client, event, cards)


def unanswered(kit: Kit, event: dict[str, Any]) -> bool:
    """A channel message the bot never answers, whoever wrote it."""
    return bool(
        event.get("channel") not in kit.settings.incident_channels
        # Bots (this one included) and edits/joins/etc. never trigger a reply.
        or event.get("bot_id")
        or event.get("subtype")
        # Only a message with an id is answered (and so, maybe, refused).
        or not find_connection_ids(str(event.get("text", "")))
    )


async def _permitted(
    kit: Kit, client: AsyncWebClient, event: dict[str, Any], body: dict[str, Any] | None
) -> bool:
    """The guardrails' answer for a lookup; a refusal goes privately to the person, in thread."""
    asked = asking(body or {}, event)
    checked = await kit.check("lookup", asked)
    if checked.allowed:
        return True
    # To the person alone: in their language, even where the channel's is spoken.
    with speaking(await kit.reader_language(asked)):
        message = refusal(checked.decision)
    await call_slack(
        kit.metrics, "chat.postEphemeral", client.chat_postEphemeral,
        channel=event.get("channel"), user=event.get("user"),
        thread_ts=event.get("thread_ts") or event.get("ts"), **message_kwargs(message),
    )  # fmt: skip
    return False


async def _reply_in_thread(
    kit: Kit, client: AsyncWebClient, event: dict[str, Any], cards: list[Message]
) -> None:
    thread = event.get("thread_ts") or event.get("ts")
    for card in cards:
        await call_slack(
            kit.metrics, "chat.postMessage", client.chat_postMessage,
            channel=event.get("channel"), thread_ts=thread, **message_kwargs(card),
        )  # fmt: skip


def register(app: AsyncApp, kit: Kit) -> None:
    kit.on(app.event("app_mention"), on_mention)
    # Every message of every channel the bot is in arrives here: the ones it never answers
    # cost no Redis claim and no task.
    kit.on(
        app.event("message"),
        on_message,
        for_reader=False,
        ignore=lambda body: unanswered(kit, body.get("event") or {}),
    )
