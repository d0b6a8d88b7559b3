"""ChatOps.command: each `/dliconn` command reaches its feature; help and bad input are private."""

from __future__ import annotations

from typing import get_args

import pytest

from bot.blocks.actions import ACTION_HISTORY, ACTION_REFRESH, ACTION_SHARE, ACTION_WATCH
from bot.chat.chatops import _VERB_OF, help_reply, request_of
from bot.chat.parsing import (
    Command,
    Help,
    ListConnections,
    Show,
    Unwatch,
    Watch,
    Watches,
    parse_command,
)
from tests.fakes.chat import buttons, chat_parts, connection_id, failing, healthy, text_of

ORDERS = connection_id(1)
BILLING = connection_id(2)


async def test_each_command_reaches_its_feature() -> None:
    async with chat_parts(failing(ORDERS, "orders"), healthy(BILLING, "billing")) as parts:
        command = parts.chat.command
        show = await command(Show(ORDERS), ephemeral=True, channel="C1", user="U1")
        listed = await command(ListConnections("failed"), ephemeral=True, channel="C1", user="U1")
        watch = await command(Watch("billing"), ephemeral=True, channel="C1", user="U1")
        watches = await command(Watches(), ephemeral=True, channel="C1", user="U1")
        unwatch = await command(Unwatch("billing"), ephemeral=True, channel="C1", user="U1")
        after = await parts.watch.subscriptions.channel_subscriptions("C1")
    assert (ACTION_SHARE, ORDERS) in buttons(show.message)
    assert "orders" in text_of(listed.message) and "billing" not in text_of(listed.message)
    assert "Watching billing in this channel" in text_of(watch.message)
    assert "1 connection" in text_of(watches.message) and "billing" in text_of(watches.message)
    assert "Stopped watching billing" in text_of(unwatch.message)
    assert after == []
    assert all(r.shareable for r in (show, listed, watch, watches, unwatch))


async def test_a_card_asked_for_the_channel_has_no_share_button() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        reply = await parts.chat.command(Show(ORDERS), ephemeral=False, channel="C1", user="U1")
    actions = [action for action, _ in buttons(reply.message)]
    assert actions == [ACTION_REFRESH, ACTION_WATCH, ACTION_HISTORY]


async def test_help_and_bad_input_are_not_shareable() -> None:
    async with chat_parts() as parts:
        help_ = await parts.chat.command(Help(), ephemeral=True, channel="C1", user="U1")
        bad = await parts.chat.command(
            parse_command("frobnicate the thing"), ephemeral=True, channel="C1", user="U1"
        )
    assert not help_.shareable and not bad.shareable
    assert "/dliconn list" in text_of(help_.message)
    assert "I did not understand that" in text_of(bad.message)
    assert '"frobnicate"' in text_of(bad.message)


def test_help_reply_cuts_a_long_reason() -> None:
    text = text_of(help_reply("x" * 500))
    assert "x" * 101 not in text and "more characters" in text


@pytest.mark.parametrize(
    ("text", "verb"),
    [
        ("withvpc", "lookup"),
        ("route withvpc", "audit"),
        ("history withvpc 24h", "history"),
        ("list failed", "list"),
        ("watches", "list"),
        ("watch withvpc", "watch"),
        ("unwatch withvpc", "watch"),
        ("audit 5", "audit"),
        ("policy", "policy"),
        ("help", "help"),
    ],
)
def test_every_command_asks_the_guardrails_about_its_verb(text: str, verb: str) -> None:
    assert request_of(parse_command(text)) == verb


def test_every_kind_of_command_has_a_guardrail_verb() -> None:
    assert set(_VERB_OF) == set(get_args(Command))
