"""The Home tab: only the reader's channels, failing closed, and partial when DLI is."""

from __future__ import annotations

import asyncio

from bot.chat.home import CHECKS_AT_ONCE
from bot.config import ChannelConfig, Guardrails
from bot.policy import ChannelFacts, Decision, Person, decide
from tests.fakes.chat import (
    UNAVAILABLE,
    ChatParts,
    chat_parts,
    connection_id,
    failing,
    healthy,
    storage_down,
    text_of,
)
from tests.helpers import until

ORDERS = connection_id(1)
BILLING = connection_id(2)
SECRET = connection_id(3)


async def watched_in(parts: ChatParts, *pairs: tuple[str, str]) -> None:
    for channel, cid in pairs:
        await parts.watch.subscriptions.subscribe(channel, cid, f"name-of-{cid[:8]}", "U1")


CONNECTIONS = (
    failing(ORDERS, "orders"),
    healthy(BILLING, "billing"),
    healthy(SECRET, "private-thing"),
)


async def test_only_the_connections_watched_in_the_readers_channels_are_shown() -> None:
    async with chat_parts(*CONNECTIONS) as parts:
        await watched_in(
            parts, ("C0INCIDENT", ORDERS), ("G0PRIVATE", ORDERS), ("C0BILLING", BILLING),
            ("G0PRIVATE", SECRET),
        )  # fmt: skip
        view = await parts.chat.home.view({"C0INCIDENT", "C0BILLING", "C0OTHER"})
    assert view["type"] == "home"
    text = text_of(view)
    assert "2 connections watched · 1 with FAILED queues" in text
    assert "orders" in text and "billing" in text
    assert "private-thing" not in text
    assert "etl_queue FAILED" in text
    assert text.index("orders") < text.index("billing")  # FAILED first
    # Only the reader's channels are named, not the private one they are not in.
    [orders_entry] = [entry for entry in text.split("\n\n") if "orders" in entry]
    assert "watched in" in orders_entry and "C0INCIDENT" in orders_entry
    assert "G0PRIVATE" not in text


async def test_no_channel_list_from_slack_shows_nothing() -> None:
    async with chat_parts(*CONNECTIONS) as parts:
        await watched_in(parts, ("C1", ORDERS), ("GPRIVATE", SECRET))
        asked = len(parts.dli.requests)
        view = await parts.chat.home.view(None)
        assert len(parts.dli.requests) == asked
    text = text_of(view)
    assert "Slack would not say which channels you are in" in text
    assert "orders" not in text and "private-thing" not in text


async def test_a_reader_in_no_watching_channel_is_told_how_to_start() -> None:
    async with chat_parts(*CONNECTIONS) as parts:
        await watched_in(parts, ("C1", ORDERS))
        view = await parts.chat.home.view(set())
    assert "No connection is watched in your channels yet" in text_of(view)
    assert "orders" not in text_of(view)


async def test_storage_down_is_a_note_not_an_error() -> None:
    async with chat_parts(*CONNECTIONS, watch=storage_down()) as parts:
        view = await parts.chat.home.view({"C1"})
    assert "Storage is unreachable" in text_of(view)


async def test_connections_dli_cannot_be_asked_about_are_left_out_and_counted() -> None:
    async with chat_parts(*CONNECTIONS) as parts:
        await watched_in(parts, ("C1", ORDERS), ("C1", BILLING), ("C1", SECRET))
        parts.dli.fail(UNAVAILABLE, request_id="req-b", connection_id=BILLING)
        view = await parts.chat.home.view({"C1"})
    text = text_of(view)
    assert "orders" in text and "private-thing" in text
    assert "billing" not in text
    assert "DLI could not be asked about 1 of the watched connections" in text


# The reader's channels that watch something, each refused by the guardrails for its own reason
# (C0OPEN is not): the tab says how many for each reason, with what to do.
REFUSED: dict[str, tuple[ChannelFacts, ChannelConfig]] = {
    "C0QUIET": (ChannelFacts("C0QUIET", external=None), ChannelConfig()),
    "C0SHARED": (ChannelFacts("C0SHARED", external=True), ChannelConfig()),
    "C0PARTNER": (ChannelFacts("C0PARTNER", external=True), ChannelConfig()),
    "C0GONE": (ChannelFacts("C0GONE", external=None, unseen="not_member"), ChannelConfig()),
    "G0GROUPDM": (
        ChannelFacts("G0GROUPDM", external=None, unseen="missing_scope"),
        ChannelConfig(),
    ),
    "C0LOOKUPS": (ChannelFacts("C0LOOKUPS"), ChannelConfig(allow=["lookup"])),
}


async def permitted(channel_id: str) -> Decision:
    facts, rules = REFUSED.get(channel_id, (ChannelFacts(channel_id), ChannelConfig()))
    return decide(Guardrails(), rules, "list", facts, Person("U1"))


async def test_channels_the_guardrails_leave_out_are_counted_by_reason_not_called_unwatched() -> (
    None
):
    async with chat_parts(*CONNECTIONS) as parts:
        await watched_in(
            parts, *((c, ORDERS) for c in REFUSED), ("C0OPEN", BILLING), ("C0UNWATCHED", ORDERS)
        )
        some = await parts.chat.home.view({*REFUSED, "C0OPEN"}, permitted=permitted)
        for refused in REFUSED:
            alone = await parts.chat.home.view({refused}, permitted=permitted)
            assert "No connection is watched" not in text_of(alone), refused
            assert "Nothing can be shown here (see below)" in text_of(alone), refused
            assert "1 of your channels that watch something is left out" in text_of(alone)
    text = text_of(some)
    assert "billing" in text and "orders" not in text
    assert "6 of your channels that watch something are left out" in text
    assert "2 are shared with another organisation (guardrails.external_channels)" in text
    assert "1 does not allow listing connections (its allow in dliconn.toml)" in text
    assert "the bot cannot see or is no longer in 1 of them: invite it back" in text
    assert "the bot's Slack app lacks the permission to see 1 of them: re-install it" in text
    assert "Slack would not say whether 1 is shared with another organisation" in text


async def test_a_refusal_the_tab_has_no_words_for_is_still_counted() -> None:
    async def not_an_operator(channel_id: str) -> Decision:
        rules = ChannelConfig(operators=["U0SOMEONE"])
        return decide(Guardrails(), rules, "watch", ChannelFacts(channel_id), Person("U1"))

    async with chat_parts(*CONNECTIONS) as parts:
        await watched_in(parts, ("C1", ORDERS))
        view = await parts.chat.home.view({"C1"}, permitted=not_an_operator)
    assert "1 refused by the guardrails (/dliconn policy there says why)" in text_of(view)
    assert "No connection is watched" not in text_of(view)


async def test_the_tab_asks_the_guardrails_about_a_few_channels_at_a_time() -> None:
    channels = [f"C0CH{n:02d}" for n in range(3 * CHECKS_AT_ONCE)]
    in_flight, most, opened = 0, 0, asyncio.Event()

    async def permitted(channel_id: str) -> Decision:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await opened.wait()  # held: every check the tab starts is in flight at once
        in_flight -= 1
        return decide(Guardrails(), ChannelConfig(), "list", ChannelFacts(channel_id), Person("U1"))

    async with chat_parts(*CONNECTIONS) as parts:
        await watched_in(parts, *((c, ORDERS) for c in channels))
        tab = asyncio.create_task(parts.chat.home.view(set(channels), permitted=permitted))

        async def started() -> bool:
            return in_flight >= CHECKS_AT_ONCE

        await until(started)  # all it starts start at once: more would be in flight here
        opened.set()
        view = await tab
    assert most == CHECKS_AT_ONCE
    assert "orders" in text_of(view)
