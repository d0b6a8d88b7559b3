"""Watching (watch, unwatch, watches, mute, acknowledge) over the real finder and memory stores."""

from __future__ import annotations

import time

from bot.blocks.actions import ACTION_SHOW
from tests.fakes.chat import (
    UNAVAILABLE,
    ChatParts,
    buttons,
    chat_parts,
    chat_settings,
    connection_id,
    failing,
    healthy,
    open_alert,
    storage_down,
    text_of,
)

ORDERS = connection_id(1)
BILLING = connection_id(2)
GONE = connection_id(3)
ELSEWHERE = connection_id(4)


async def subscribed(parts: ChatParts, channel: str) -> dict[str, tuple[str, str]]:
    """What the store holds for `channel`: connection id -> (name, who subscribed)."""
    subs = await parts.watch.subscriptions.channel_subscriptions(channel)
    return {s.connection_id: (s.connection_name, s.user) for s in subs}


async def test_watch_subscribes_the_channel_once() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        first = await parts.chat.watching.watch(ORDERS.upper(), channel="C1", user="U1")
        again = await parts.chat.watching.watch("orders", channel="C1", user="U2")
        assert await subscribed(parts, "C1") == {ORDERS: ("orders", "U1")}
        assert await subscribed(parts, "C2") == {}
    assert first.shareable
    assert "Watching orders in this channel" in text_of(first.message)
    assert "FAILED right now" not in text_of(first.message)
    assert "orders is already watched in this channel" in text_of(again.message)


async def test_watching_a_connection_that_is_failing_now_says_so() -> None:
    async with chat_parts(failing(ORDERS, "orders")) as parts:
        reply = await parts.chat.watching.watch(ORDERS, channel="C1", user="U1")
        assert ORDERS in await subscribed(parts, "C1")
    assert "1 of its queues and pools are FAILED right now" in text_of(reply.message)


async def test_a_deleted_connection_is_not_watched() -> None:
    deleted = healthy(GONE, "old", status="DELETED", available_queue_info=[])
    async with chat_parts(deleted) as parts:
        reply = await parts.chat.watching.watch(GONE, channel="C1", user="U1")
        assert await subscribed(parts, "C1") == {}
    assert "old is DELETED" in text_of(reply.message)


async def test_unknown_or_unreadable_connections_are_refused_with_the_reason() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        unknown = await parts.chat.watching.watch(GONE, channel="C1", user="U1")
        parts.dli.fail(UNAVAILABLE, request_id="req-down")
        unreadable = await parts.chat.watching.watch(ORDERS, channel="C1", user="U1")
        assert await subscribed(parts, "C1") == {}
    assert not unknown.shareable and not unreadable.shareable
    assert f"No connection {GONE} was found" in text_of(unknown.message)
    assert "DLI is unreachable" in text_of(unreadable.message)
    assert "req-down" in text_of(unreadable.message)


async def test_watching_an_ambiguous_name_asks_which_and_subscribes_nothing() -> None:
    async with chat_parts(healthy(ORDERS, "orders-a"), healthy(BILLING, "orders-b")) as parts:
        reply = await parts.chat.watching.watch("orders", channel="C1", user="U1")
        assert await subscribed(parts, "C1") == {}
    assert {value for action, value in buttons(reply.message) if action == ACTION_SHOW} == {
        ORDERS,
        BILLING,
    }


async def test_unwatch_by_id_or_by_name_needs_no_dli() -> None:
    async with chat_parts(healthy(ORDERS, "orders"), healthy(BILLING, "billing")) as parts:
        await parts.chat.watching.watch(ORDERS, channel="C1", user="U1")
        await parts.chat.watching.watch(BILLING, channel="C1", user="U1")
        await parts.chat.watching.watch(BILLING, channel="C2", user="U1")
        parts.dli.fail(UNAVAILABLE, request_id="req-down")
        asked = len(parts.dli.requests)
        by_id = await parts.chat.watching.unwatch(ORDERS.upper(), channel="C1")
        by_name = await parts.chat.watching.unwatch("Billing", channel="C1")
        assert await subscribed(parts, "C1") == {}
        assert BILLING in await subscribed(parts, "C2")
        assert len(parts.dli.requests) == asked
    assert "Stopped watching orders here" in text_of(by_id.message)
    assert "Stopped watching billing here" in text_of(by_name.message)


async def test_unwatch_of_what_is_not_watched_says_so() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        await parts.chat.watching.watch(ORDERS, channel="C2", user="U1")
        reply = await parts.chat.watching.unwatch(ORDERS, channel="C1")
        assert ORDERS in await subscribed(parts, "C2")
    assert f"{ORDERS} is not watched in this channel" in text_of(reply.message)


async def test_watches_lists_health_and_what_dli_no_longer_knows_or_cannot_say() -> None:
    async with chat_parts(
        failing(ORDERS, "orders"), healthy(BILLING, "billing"), healthy(GONE, "old")
    ) as parts:
        for target in (ORDERS, BILLING, GONE):
            await parts.chat.watching.watch(target, channel="C1", user="U1")
        # Subscribed by another replica: never looked up (and so never cached) here.
        await parts.watch.subscriptions.subscribe("C1", ELSEWHERE, "replica-added", "U2")
        parts.dli.remove(GONE)
        parts.clock.advance(parts.settings.dliconn_cache_ttl + 1)
        parts.dli.fail(UNAVAILABLE, request_id="req-e", connection_id=ELSEWHERE)
        reply = await parts.chat.watching.watches(channel="C1")
    assert reply.shareable
    text = text_of(reply.message)
    assert "4 connections · 1 with FAILED queues" in text
    lines = text.splitlines()
    assert any("orders" in line and "1 of 3 FAILED" in line for line in lines)
    assert any("billing" in line and "ACTIVE" in line for line in lines)
    assert any("old" in line and "not found in DLI" in line for line in lines)
    assert any("replica-added" in line and "health unknown" in line for line in lines)
    # FAILED first.
    assert text.index("orders") < text.index("billing")


async def test_watches_of_an_empty_channel_says_how_to_start() -> None:
    async with chat_parts() as parts:
        reply = await parts.chat.watching.watches(channel="C1")
    assert "Nothing is watched here yet" in text_of(reply.message)


async def test_watches_notes_a_watch_everything_channel_and_a_paused_one() -> None:
    settings = chat_settings(dliconn_watch_all_channels="CALL")
    async with chat_parts(healthy(ORDERS, "orders"), settings=settings) as parts:
        await parts.chat.watching.watch(ORDERS, channel="C1", user="U1")
        await parts.watch.subscriptions.pause("C1", "not_in_channel")
        everything = text_of((await parts.chat.watching.watches(channel="CALL")).message)
        paused = text_of((await parts.chat.watching.watches(channel="C1")).message)
    assert "receives alerts for every connection" in everything
    assert "paused" not in everything
    assert "Alerts here are paused" in paused
    assert "receives alerts for every" not in paused


async def test_watching_again_resumes_a_paused_channel() -> None:
    async with chat_parts(healthy(ORDERS, "orders"), healthy(BILLING, "billing")) as parts:
        await parts.chat.watching.watch(ORDERS, channel="C1", user="U1")
        await parts.watch.subscriptions.pause("C1", "not_in_channel")
        await parts.chat.watching.watch(BILLING, channel="C1", user="U1")
        assert not await parts.watch.subscriptions.is_paused("C1")


async def test_storage_down_is_explained_not_raised() -> None:
    async with chat_parts(healthy(ORDERS, "orders"), watch=storage_down()) as parts:
        watch = await parts.chat.watching.watch(ORDERS, channel="C1", user="U1")
        listing = await parts.chat.watching.watches(channel="C1")
    for reply in (watch, listing):
        assert not reply.shareable
        assert "storage (Redis) is unreachable" in text_of(reply.message)


async def test_mute_is_stored_for_this_connection_and_channel() -> None:
    async with chat_parts() as parts:
        before = time.time()
        reply = await parts.chat.watching.mute(ORDERS, 4, channel="C1", user="U07ALICE")
        mutes = await parts.watch.state.mutes(now=time.time())
    assert list(mutes) == [(ORDERS, "C1")]
    mute = mutes[(ORDERS, "C1")]
    assert mute.user == "U07ALICE"
    assert before + 4 * 3600 <= mute.until <= time.time() + 4 * 3600
    assert "muted here for 4 h" in text_of(reply.message)


async def test_acknowledge_records_who_and_queues_the_alert_update() -> None:
    async with chat_parts() as parts:
        incident = await open_alert(parts.watch.state, ORDERS, "C1")
        reply = await parts.chat.watching.acknowledge(ORDERS, channel="C1", user="U07ALICE")
        assert await parts.watch.state.acknowledged_by(incident, "C1") == "U07ALICE"
        [update] = await parts.watch.state.pending()
    assert (update.kind, update.incident_id, update.channel) == ("refresh", incident, "C1")
    assert "Acknowledged by @U07ALICE" in text_of(reply.message)


async def test_acknowledge_with_nothing_open_here_changes_nothing() -> None:
    async with chat_parts() as parts:
        incident = await open_alert(parts.watch.state, ORDERS, "C1")
        reply = await parts.chat.watching.acknowledge(ORDERS, channel="C2", user="U07ALICE")
        assert await parts.watch.state.acknowledged_by(incident, "C2") is None
        assert await parts.watch.state.acknowledged_by(incident, "C1") is None
        assert await parts.watch.state.pending() == []
    assert "Nothing is open for that connection here" in text_of(reply.message)
