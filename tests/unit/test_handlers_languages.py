"""Which language each listener writes in: what goes to the person in theirs (Kit.on sets it;
here `speaking` stands in for it), what is posted for everyone in the channel's `locale`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import pytest

from bot.blocks import replies
from bot.blocks.actions import ACTION_REFRESH, ACTION_SHARE, TEST_ADDRESS_INPUT
from bot.blocks.message import Message
from bot.chat.conntest import Origin
from bot.config import ChannelConfig, load_deployment
from bot.i18n import Locale, current_locale, speaking
from bot.local.wire import app_mention_event, view_submission_body
from bot.lookup.cache import Lookup
from bot.slack.facts import SlackFacts
from bot.slack.languages import Languages
from handlers import actions, commands, mentions, views
from tests.fakes.chat import address_modal, chat_settings, text_of
from tests.unit.test_handlers import (
    CHANNEL,
    GONE,
    ORDERS,
    USER,
    Harness,
    click,
    command,
    harness,
)

EN, ZH = "Watching orders in this channel", "此频道开始关注"
HELP_EN, HELP_ZH = "looks up DLI enhanced datasource connections", "用于查询 DLI 增强型跨源连接"


@asynccontextmanager
async def speaking_harness(
    channel_locale: Locale, *, response_type: str = "ephemeral"
) -> AsyncIterator[tuple[Harness, list[Locale]]]:
    """The handlers' harness with CHANNEL in `channel_locale`, and the language each card was
    written in (recorded as the card asks for its console link)."""
    settings = chat_settings(dliconn_response_type=response_type)
    deployment = load_deployment(settings)
    deployment = deployment.model_copy(
        update={"channels": {CHANNEL: ChannelConfig(locale=channel_locale)}}
    )
    async with harness(settings, deployment) as h:
        cards: list[Locale] = []

        def console_url(found: Lookup) -> str | None:
            cards.append(current_locale())
            return None

        lookups = replace(h.kit.chat.lookups, console_url=console_url)
        languages = Languages(deployment, "en", SlackFacts(h.client, h.parts.metrics))
        kit = replace(h.kit, chat=replace(h.kit.chat, lookups=lookups), languages=languages)
        yield replace(h, kit=kit), cards


async def test_a_command_answered_in_channel_is_in_the_askers_language() -> None:
    # The channel speaks Chinese; the person who asked reads English (Kit's default here).
    async with speaking_harness("zh-CN", response_type="in_channel") as (h, _):
        await commands.answer(h.kit, command("watch orders"))
        await commands.answer(h.kit, command("help"))
        await commands.answer(h.kit, command("frobnicate the thing"))
        watched, help_, bad = h.responder.sent
    assert watched.response_type == "in_channel"
    assert watched.message is not None and EN in text_of(watched.message)
    # Help and errors stay with the person, in their language too.
    assert help_.response_type == bad.response_type == "ephemeral"
    assert help_.message is not None and HELP_EN in text_of(help_.message)
    assert bad.message is not None and 'unknown command: "frobnicate"' in text_of(bad.message)


async def test_a_private_command_reply_is_in_the_askers_language_whatever_the_channel() -> None:
    async with speaking_harness("en") as (h, _):
        with speaking("zh-CN"):
            await commands.answer(h.kit, command("watch orders"))
            await commands.answer(h.kit, command("help"))
        watched, help_ = h.responder.sent
    assert watched.response_type == "ephemeral"
    assert watched.message is not None and ZH in text_of(watched.message)
    assert help_.message is not None and HELP_ZH in text_of(help_.message)


async def test_a_chinese_readers_in_channel_command_in_an_english_channel() -> None:
    async with speaking_harness("en", response_type="in_channel") as (h, _):
        with speaking("zh-CN"):
            await commands.answer(h.kit, command("watch orders"))
            await commands.answer(h.kit, command("help"))
        watched, help_ = h.responder.sent
    assert watched.message is not None and ZH in text_of(watched.message)
    assert help_.message is not None and HELP_ZH in text_of(help_.message)


async def test_share_posts_the_card_in_the_channels_language() -> None:
    async with speaking_harness("en") as (h, cards):
        action, body = click(ACTION_SHARE, ORDERS, ephemeral=True)
        with speaking("zh-CN"):
            await actions.share(h.kit, action, body)
        shared, _removed = h.responder.sent
    assert shared.response_type == "in_channel"
    assert cards == ["en"]


async def test_a_shared_card_that_cannot_be_shown_is_explained_in_the_clickers_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    explained: list[Locale] = []

    def error_message(kind: str, **details: Any) -> Message:
        explained.append(current_locale())
        return replies.error_message(kind, **details)

    monkeypatch.setattr("bot.chat.replies.error_message", error_message)
    async with speaking_harness("en") as (h, _):
        action, body = click(ACTION_SHARE, GONE, ephemeral=True)
        with speaking("zh-CN"):
            await actions.share(h.kit, action, body)
        [told] = h.responder.sent
    assert told.response_type == "ephemeral" and explained == ["zh-CN"]
    assert told.message is not None and GONE in text_of(told.message)


async def test_refresh_writes_the_card_in_the_clickers_language_public_or_private() -> None:
    async with speaking_harness("zh-CN") as (h, cards):
        with speaking("en"):
            await actions.refresh(h.kit, *click(ACTION_REFRESH, ORDERS), h.client)
            await actions.refresh(h.kit, *click(ACTION_REFRESH, ORDERS, ephemeral=True), h.client)
    assert cards == ["en", "en"]


async def test_mention_replies_in_the_thread_are_in_the_language_of_who_mentioned() -> None:
    # The channel speaks Chinese; Kit chose each reader's language (as `speaking` here).
    async with speaking_harness("zh-CN") as (h, cards):
        with speaking("en"):
            await mentions.on_mention(h.kit, app_mention_event("hello", channel=CHANNEL), h.client)
        with speaking("zh-CN"):
            await mentions.on_mention(h.kit, app_mention_event("hello", channel=CHANNEL), h.client)
            await mentions.on_mention(
                h.kit, app_mention_event(f"is {ORDERS} ok?", channel=CHANNEL), h.client
            )
        english, chinese, card = h.posts()
    assert "did not see" in text_of(english) and HELP_ZH not in text_of(english)
    assert HELP_ZH in text_of(chinese) and "这条消息中没有连接 ID" in text_of(chinese)
    assert cards == ["zh-CN"] and ORDERS in text_of(card)


class Args:
    """What Kit.on reads of Bolt's AsyncArgs: the body, and the ack."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.acked: dict[str, Any] | None = None

    async def ack(self, **kwargs: Any) -> None:
        self.acked = kwargs


async def test_a_modals_input_errors_are_in_the_readers_language() -> None:
    async with speaking_harness("en") as (h, _):
        h.slack.locales[USER] = "zh-CN"
        registered: list[Any] = []
        h.kit.on(registered.append, views.test_submitted, refuse=views.refuse_bad_input)
        [ack_and_start] = registered
        modal = address_modal(Origin(CHANNEL, ORDERS))
        form = view_submission_body(modal, {TEST_ADDRESS_INPUT: "db:0"}, user_id=USER)
        args = Args(json.loads(parse_qs(form)["payload"][0]))
        await ack_and_start(args)
    assert args.acked is not None and args.acked["response_action"] == "errors"
    assert args.acked["errors"][TEST_ADDRESS_INPUT] == "端口必须是 1 到 65535 之间的数字。"
    assert h.kit.inflight.count == 0  # refused in the ack: no work started
