"""Lookups (cards, lists, mention cards) over the real cache and finder, DLI in-process."""

from __future__ import annotations

import pytest

from bot.blocks.actions import (
    ACTION_HISTORY,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_SHOW,
    ACTION_UNWATCH,
    ACTION_WATCH,
)
from bot.chat.lookups import MAX_FULL_CARDS, lookup_many
from bot.chat.parsing import ListFilter
from bot.errors import Unavailable
from tests.fakes.chat import (
    AUTH_FAILED,
    THROTTLED,
    UNAVAILABLE,
    Failure,
    buttons,
    chat_parts,
    connection_id,
    failing,
    healthy,
    text_of,
)
from tests.slack_limits import rich_elements

ORDERS = connection_id(1)
BILLING = connection_id(2)
GONE = connection_id(3)


async def test_a_card_by_id_shows_the_failed_queue_and_its_buttons() -> None:
    async with chat_parts(failing(ORDERS, "orders-mysql")) as parts:
        reply = await parts.chat.lookups.card(ORDERS, ephemeral=True, channel="C1")
    assert reply.shareable
    text = text_of(reply.message)
    assert "orders-mysql" in text
    assert "etl_queue" in text and "route table quota exceeded" in text
    assert "Live from DLI" in text
    assert buttons(reply.message) == [
        (ACTION_REFRESH, ORDERS),
        (ACTION_WATCH, ORDERS),
        (ACTION_HISTORY, ORDERS),
        (ACTION_SHARE, ORDERS),
    ]


async def test_a_card_by_name_is_the_one_connection_of_that_name() -> None:
    async with chat_parts(healthy(ORDERS, "orders"), healthy(BILLING, "orders-archive")) as parts:
        reply = await parts.chat.lookups.card("ORDERS", ephemeral=False, channel="C1")
    assert reply.shareable
    assert "orders" in text_of(reply.message)
    assert ORDERS in text_of(reply.message)
    # Not ephemeral: already in the channel, so nothing to share.
    actions = [action for action, _ in buttons(reply.message)]
    assert actions == [ACTION_REFRESH, ACTION_WATCH, ACTION_HISTORY]


async def test_a_card_in_a_channel_that_watches_it_offers_unwatch() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        await parts.watch.subscriptions.subscribe("C1", ORDERS, "orders", "U1")
        watched = await parts.chat.lookups.card(ORDERS, ephemeral=False, channel="C1")
        elsewhere = await parts.chat.lookups.card(ORDERS, ephemeral=False, channel="C2")
    assert (ACTION_UNWATCH, ORDERS) in buttons(watched.message)
    assert (ACTION_WATCH, ORDERS) in buttons(elsewhere.message)


async def test_an_ambiguous_name_gets_a_shortlist_with_show_buttons() -> None:
    async with chat_parts(
        healthy(ORDERS, "orders-mysql"), failing(BILLING, "orders-pg"), healthy(GONE, "billing")
    ) as parts:
        reply = await parts.chat.lookups.card("orders", ephemeral=True)
    text = text_of(reply.message)
    assert "matches 2 connections" in text
    assert "orders-mysql" in text and "orders-pg" in text and "billing" not in text
    # FAILED first: the one to look at during an incident is at the top.
    assert buttons(reply.message) == [(ACTION_SHOW, BILLING), (ACTION_SHOW, ORDERS)]


async def test_two_connections_with_the_same_name_are_a_shortlist_too() -> None:
    async with chat_parts(healthy(ORDERS, "dup"), healthy(BILLING, "dup")) as parts:
        reply = await parts.chat.lookups.card("dup", ephemeral=True)
    assert {value for _, value in buttons(reply.message)} == {ORDERS, BILLING}


@pytest.mark.parametrize("target", [GONE, "no-such-name"])
async def test_not_found_names_what_was_asked_with_dli_request_id(target: str) -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        reply = await parts.chat.lookups.card(target, ephemeral=True)
    assert not reply.shareable
    text = text_of(reply.message)
    assert f"No connection {target} was found" in text
    assert "DLI request id req-1" in text
    assert buttons(reply.message) == []


@pytest.mark.parametrize("target", [GONE, "no-such-name"])
async def test_not_found_where_asked_names_the_project_dli_could_not_be_asked_for(
    target: str,
) -> None:
    # two_projects(): `default` served from MockDli, `other` failing.
    async with chat_parts(healthy(ORDERS, "orders"), unreachable=THROTTLED) as parts:
        reply = await parts.chat.lookups.card(target, ephemeral=True)
        # What the project that answered has is still found.
        found = await parts.chat.lookups.card(ORDERS, ephemeral=True)
    assert not reply.shareable
    assert text_of(reply.message).splitlines()[:2] == [
        f"🔍 No connection {target} was found.",
        "Not found in default; other could not be asked (DLI is throttling requests), so it may "
        "be there. Try again soon.",
    ]
    assert found.shareable and "orders" in text_of(found.message)
    # The aliases are code: an `_` in one (allowed) can make nothing italic.
    styles = {
        e["text"]: e.get("style", {}) for e in rich_elements(reply.message.blocks) if "text" in e
    }
    assert styles["default"] == {"code": True} and styles["other"] == {"code": True}


@pytest.mark.parametrize(
    ("failure", "headline", "hint"),
    [
        (THROTTLED, "DLI is throttling requests", "Try again in a minute if nothing arrives."),
        (UNAVAILABLE, "DLI is unreachable right now.", "Try again in a minute."),
        (AUTH_FAILED, "DLI rejected the bot's credentials.", "Check the AK/SK"),
    ],
)
@pytest.mark.parametrize("target", [ORDERS, "orders"])
async def test_dli_errors_are_explained_with_a_hint_and_the_request_id(
    failure: Failure, headline: str, hint: str, target: str
) -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        parts.dli.fail(failure, request_id="req-upstream-7")
        reply = await parts.chat.lookups.card(target, ephemeral=True)
    assert not reply.shareable
    text = text_of(reply.message)
    assert headline in text
    assert hint in text
    assert "DLI request id req-upstream-7" in text
    assert buttons(reply.message) == []


async def test_while_dli_is_down_the_last_good_copy_is_shown_marked_stale() -> None:
    async with chat_parts(failing(ORDERS, "orders")) as parts:
        await parts.chat.lookups.card("orders", ephemeral=True)
        parts.clock.advance(parts.settings.dliconn_cache_ttl + 1)
        parts.dli.fail(UNAVAILABLE, request_id="req-down")
        reply = await parts.chat.lookups.card(ORDERS, ephemeral=True)
        # The name was resolved before the outage, so it still reaches that copy.
        by_name = await parts.chat.lookups.card("orders", ephemeral=True)
    for stale in (reply, by_name):
        text = text_of(stale.message)
        assert "Stale (DLI is unreachable)" in text
        assert "route table quota exceeded" in text
        assert stale.shareable


async def test_refresh_asks_dli_again_even_while_the_copy_is_fresh() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        await parts.chat.lookups.card(ORDERS, ephemeral=True)
        parts.dli.put(failing(ORDERS, "orders"))
        cached = await parts.chat.lookups.card(ORDERS, ephemeral=True)
        forced = await parts.chat.lookups.card(ORDERS, ephemeral=True, force=True)
    assert "route table quota exceeded" not in text_of(cached.message)
    assert "Cached" in text_of(cached.message)
    assert "route table quota exceeded" in text_of(forced.message)


LISTED = [
    failing(ORDERS, "orders-failing"),
    healthy(BILLING, "billing-fine"),
    healthy(GONE, "old-deleted", status="DELETED", available_queue_info=[]),
]


@pytest.mark.parametrize(
    ("which", "shown"),
    [
        ("all", {"orders-failing", "billing-fine", "old-deleted"}),
        ("failed", {"orders-failing"}),
        ("active", {"orders-failing", "billing-fine"}),
        ("deleted", {"old-deleted"}),
    ],
)
async def test_list_filters(which: ListFilter, shown: set[str]) -> None:
    async with chat_parts(*LISTED) as parts:
        reply = await parts.chat.lookups.listing(which)
    assert reply.shareable
    text = text_of(reply.message)
    assert {c["name"] for c in LISTED if c["name"] in text} == shown
    assert f"{len(shown)} connection" in text


async def test_a_list_dli_cannot_give_is_explained() -> None:
    async with chat_parts(*LISTED) as parts:
        parts.dli.fail(THROTTLED, request_id="req-list")
        reply = await parts.chat.lookups.listing("all")
    assert not reply.shareable
    assert "DLI is throttling requests" in text_of(reply.message)
    assert "req-list" in text_of(reply.message)


async def test_mentions_get_a_card_per_id_and_known_name() -> None:
    async with chat_parts(failing(ORDERS, "orders"), healthy(BILLING, "billing")) as parts:
        cards = await parts.chat.lookups.mention_cards(
            f"<@UBOT> is {ORDERS} down? and billing?", with_names=True, channel="C1"
        )
        ids_only = await parts.chat.lookups.mention_cards(
            f"{ORDERS} is down, billing too", with_names=False, channel="C1"
        )
    assert len(cards) == 2
    assert "route table quota exceeded" in text_of(cards[0])
    assert "billing" in text_of(cards[1])
    # Incident channels scan ids only: every word that happens to be a name is not a request.
    assert len(ids_only) == 1


async def test_a_name_pasted_with_its_id_gets_one_card() -> None:
    async with chat_parts(failing(ORDERS, "orders")) as parts:
        cards = await parts.chat.lookups.mention_cards(
            f"orders ({ORDERS}) again", with_names=True, channel="C1"
        )
    assert len(cards) == 1


async def test_past_five_full_cards_the_rest_is_one_compact_list() -> None:
    many = [healthy(connection_id(n), f"conn-number-{n}") for n in range(10, 17)]
    async with chat_parts(*many) as parts:
        cards = await parts.chat.lookups.mention_cards(
            " ".join(c["id"] for c in many), with_names=True, channel="C1"
        )
    assert len(cards) == MAX_FULL_CARDS + 1
    for card, connection in zip(cards[:MAX_FULL_CARDS], many, strict=False):
        assert connection["name"] in text_of(card)
        assert (ACTION_REFRESH, connection["id"]) in buttons(card)
    rest = text_of(cards[-1])
    assert "also mentioned" in rest
    assert "conn-number-15" in rest and "conn-number-16" in rest
    assert "conn-number-10" not in rest


async def test_text_without_ids_or_names_gets_no_cards() -> None:
    async with chat_parts(healthy(ORDERS, "orders")) as parts:
        cards = await parts.chat.lookups.mention_cards("<@UBOT> hi", with_names=True, channel="C")
    assert cards == []


async def test_ids_in_a_mention_are_answered_while_names_cannot_be_listed() -> None:
    async with chat_parts(failing(ORDERS, "orders")) as parts:
        await parts.lookup.lookup(ORDERS)  # cached, so the card needs no DLI call
        parts.dli.fail(UNAVAILABLE, request_id="req-down")
        cards = await parts.chat.lookups.mention_cards(
            f"{ORDERS} and orders", with_names=True, channel="C1"
        )
    assert len(cards) == 1
    assert "route table quota exceeded" in text_of(cards[0])


async def test_lookup_many_keeps_found_missing_and_unreadable_apart() -> None:
    async with chat_parts(healthy(ORDERS, "orders"), healthy(BILLING, "billing")) as parts:
        parts.dli.fail(UNAVAILABLE, request_id="req-b", connection_id=BILLING)
        found = await lookup_many(parts.directory, [ORDERS, BILLING, GONE])
    assert list(found) == [ORDERS, BILLING, GONE]
    orders = found[ORDERS]
    assert orders is not None and not isinstance(orders, Exception)
    assert orders.connection.name == "orders"
    assert isinstance(found[BILLING], Unavailable)
    assert found[GONE] is None


async def test_an_interaction_without_a_channel_sees_no_project() -> None:
    async with chat_parts(failing(ORDERS, "orders-mysql")) as parts:
        reply = await parts.chat.lookups.card(ORDERS, ephemeral=True, channel="")
    text = text_of(reply.message)
    assert not reply.shareable and "orders-mysql" not in text and "No connection" in text
