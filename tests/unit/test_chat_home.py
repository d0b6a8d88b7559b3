"""The Home tab: only the reader's channels, failing closed, and partial when DLI is."""

from __future__ import annotations

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


async def test_channels_whose_sharing_slack_would_not_tell_are_counted_not_called_unwatched() -> (
    None
):
    channel = ChannelFacts("C0QUIET", external=None)
    shared = ChannelFacts("C0SHARED", external=True)

    async def permitted(channel_id: str) -> Decision:
        facts = {"C0QUIET": channel, "C0SHARED": shared}.get(channel_id, ChannelFacts(channel_id))
        return decide(Guardrails(), ChannelConfig(), "list", facts, Person("U1"))

    async with chat_parts(*CONNECTIONS) as parts:
        await watched_in(parts, ("C0QUIET", ORDERS), ("C0SHARED", SECRET), ("C0OPEN", BILLING))
        some = await parts.chat.home.view({"C0QUIET", "C0SHARED", "C0OPEN"}, permitted=permitted)
        none = await parts.chat.home.view({"C0QUIET"}, permitted=permitted)
    text = text_of(some)
    assert "billing" in text and "orders" not in text and "private-thing" not in text
    # Only the one Slack would not describe is counted; the Slack Connect one is simply refused.
    assert "Slack would not say whether 1 of your channels is shared" in text
    assert "No connection is watched" not in text_of(none)
    assert "Nothing can be shown just now" in text_of(none)
