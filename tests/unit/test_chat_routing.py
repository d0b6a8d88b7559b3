"""`/dliconn route` over the real parts: which channels a connection's alerts would reach and why
(explicit watches, watch_all, watch_tags, scopes, pauses, mutes), DLI in-process."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.blocks.actions import ACTION_SHOW
from bot.chat.parsing import parse_command
from bot.config import ChannelConfig
from tests.fakes.chat import (
    THROTTLED,
    UNAVAILABLE,
    ChatParts,
    buttons,
    chat_parts,
    connection_id,
    failing,
    healthy,
    text_of,
    two_projects,
)

ORDERS = connection_id(1)
BILLING = connection_id(2)
UNKNOWN = connection_id(9)
ASKING = "C0ASKING"  # not in the file: sees every project, routes nothing by itself
EVERYTHING = "C0EVERYTHING"  # watch_all
PAYMENTS = "C0PAYMENTS"  # watch_tags team=payments
ELSEWHERE = "C0ELSEWHERE"  # sees only the other project
ALICE, BOB = "U0ALICE", "U0BOB"
DEPLOYMENT = two_projects(
    {
        EVERYTHING: ChannelConfig(watch_all=True),
        PAYMENTS: ChannelConfig(watch_tags={"team": "payments"}),
        # Its watch_all is for the project it sees: this one's alerts never go there.
        ELSEWHERE: ChannelConfig(projects=["other"], watch_all=True),
    }
)


def tagged(team: str) -> dict[str, Any]:
    return {"tags": [{"key": "team", "value": team}, {"key": "tier", "value": "gold"}]}


@asynccontextmanager
async def routed(*connections: dict[str, Any]) -> AsyncIterator[ChatParts]:
    async with chat_parts(*connections, deployment=DEPLOYMENT) as parts:
        yield parts


def lines(text: str) -> list[str]:
    """The route's lines, one per channel reason (each opens with its channel)."""
    return [line for line in text.splitlines() if re.match(r"\S+ #C0", line)]


async def test_every_reason_is_a_line_and_only_alerted_channels_are_counted() -> None:
    async with routed(failing(ORDERS, "orders", **tagged("payments"))) as parts:
        await parts.watch.subscriptions.subscribe(ASKING, ORDERS, "orders", ALICE)
        # Watched there before the channel's scope left this project out.
        await parts.watch.subscriptions.subscribe(ELSEWHERE, ORDERS, "orders", BOB)
        reply = await parts.chat.routing.route("orders", channel=ASKING)
    assert not reply.shareable  # it names who watched where: for the asker only
    text = text_of(reply.message)
    assert "orders would alert 3 channels" in text
    shown = lines(text)
    assert [line.split(" — ")[0] for line in shown] == [
        f"👀 #{ASKING}",
        f"🚫 #{ELSEWHERE}",
        f"📡 #{EVERYTHING}",
        f"🏷️ #{PAYMENTS}",
    ]
    assert shown[0].startswith(f"👀 #{ASKING} — watched by @{ALICE} since 20")
    assert shown[1].endswith("; gets nothing: its scope leaves this project out")
    assert f"@{BOB}" in shown[1]
    assert shown[2].endswith("every connection of the project (watch_all)")
    assert shown[3].endswith("connections tagged team=payments (watch_tags)")
    assert reply.message.text == "orders: alerts reach 3 channels"


async def test_a_tag_route_follows_the_tags_dli_lists_the_connection_with() -> None:
    async with routed(healthy(ORDERS, "orders", **tagged("search"))) as parts:
        other_team = text_of((await parts.chat.routing.route(ORDERS, channel=ASKING)).message)
        parts.dli.put(healthy(ORDERS, "orders", **tagged("payments")))
        payments = text_of((await parts.chat.routing.route(ORDERS, channel=ASKING)).message)
        # The tag route is one list call with the route's tags as DLI's filter.
        [listed] = {r.url.params["tags"] for r in parts.dli.requests if "tags" in r.url.params}
    assert f"#{PAYMENTS}" not in other_team and "would alert 1 channel" in other_team
    assert f"#{PAYMENTS}" in payments and "would alert 2 channels" in payments
    assert listed == "team=payments"


async def test_a_paused_channel_is_shown_but_not_counted_and_a_muted_one_still_is() -> None:
    async with routed(healthy(ORDERS, "orders")) as parts:
        await parts.watch.subscriptions.subscribe(ASKING, ORDERS, "orders", ALICE)
        await parts.watch.subscriptions.pause(ASKING, "not_in_channel")
        until = time.time() + 4 * 3600
        await parts.watch.state.mute(ORDERS, EVERYTHING, until, BOB)
        # A mute of another connection, or of this one elsewhere, is not this line's.
        await parts.watch.state.mute(BILLING, ASKING, until, BOB)
        reply = await parts.chat.routing.route(ORDERS, channel=ASKING)
    text = text_of(reply.message)
    assert "orders would alert 1 channel" in text
    watched, everything = lines(text)
    assert watched.endswith("; paused: the bot could not post there")
    assert "muted" not in watched
    assert "; muted until 20" in everything and "paused" not in everything


async def test_a_connection_only_a_hidden_channel_watches_alerts_no_channel() -> None:
    scoped_only = DEPLOYMENT.model_copy(
        update={"channels": {ELSEWHERE: ChannelConfig(projects=["other"])}}
    )
    async with chat_parts(
        healthy(ORDERS, "orders"), healthy(BILLING, "billing"), deployment=scoped_only
    ) as parts:
        await parts.watch.subscriptions.subscribe(ELSEWHERE, ORDERS, "orders", BOB)
        # Another connection's watch is not this one's route.
        await parts.watch.subscriptions.subscribe(ASKING, BILLING, "billing", ALICE)
        reply = await parts.chat.routing.route(ORDERS, channel=ASKING)
    assert not reply.shareable
    text = text_of(reply.message)
    assert "orders would alert no channel. Watch it here with /dliconn watch" in text
    [hidden] = lines(text)
    assert hidden.startswith(f"🚫 #{ELSEWHERE} — watched by @{BOB}")
    assert reply.message.text == "orders: alerts reach 0 channels"


async def test_a_channel_several_routes_lead_to_is_one_channel_with_its_first_reason() -> None:
    # The watcher posts one alert to a channel however many routes lead there.
    both = DEPLOYMENT.model_copy(
        update={
            "channels": {
                **DEPLOYMENT.channels,
                PAYMENTS: ChannelConfig(watch_all=True, watch_tags={"team": "payments"}),
            }
        }
    )
    async with chat_parts(
        healthy(ORDERS, "orders", **tagged("payments")), deployment=both
    ) as parts:
        # Watched explicitly in a watch_all channel too.
        await parts.watch.subscriptions.subscribe(EVERYTHING, ORDERS, "orders", ALICE)
        reply = await parts.chat.routing.route(ORDERS, channel=ASKING)
    text = text_of(reply.message)
    assert "orders would alert 2 channels" in text
    assert reply.message.text == "orders: alerts reach 2 channels"
    everything, payments = lines(text)
    assert everything.startswith(f"👀 #{EVERYTHING} — watched by @{ALICE}")
    assert payments == f"📡 #{PAYMENTS} — every connection of the project (watch_all)"


async def test_an_unknown_id_is_not_found_and_an_ambiguous_name_asks_which() -> None:
    async with routed(healthy(ORDERS, "orders-a"), healthy(BILLING, "orders-b")) as parts:
        unknown = await parts.chat.routing.route(UNKNOWN, channel=ASKING)
        ambiguous = await parts.chat.routing.route("orders", channel=ASKING)
    assert not unknown.shareable
    assert f"No connection {UNKNOWN} was found" in text_of(unknown.message)
    assert "Alert routes" not in text_of(ambiguous.message)
    shown = {value for action, value in buttons(ambiguous.message) if action == ACTION_SHOW}
    assert shown == {ORDERS, BILLING}


async def test_a_connection_out_of_the_channels_scope_reads_exactly_as_an_unknown_id() -> None:
    async with routed(failing(ORDERS, "orders", **tagged("payments"))) as parts:
        await parts.watch.subscriptions.subscribe(ELSEWHERE, ORDERS, "orders", BOB)
        hidden = await parts.chat.routing.route(ORDERS, channel=ELSEWHERE)
        unknown = await parts.chat.routing.route(UNKNOWN, channel=ELSEWHERE)
        by_name = await parts.chat.routing.route("orders", channel=ELSEWHERE)
        # The channel sees no project of this deployment that has it: DLI is never asked.
        assert parts.dli.requests == []
    assert not hidden.shareable
    assert text_of(hidden.message).replace(ORDERS, "<id>") == text_of(unknown.message).replace(
        UNKNOWN, "<id>"
    )
    for reply in (hidden, by_name):
        text = text_of(reply.message)
        assert "No connection" in text
        assert "orders would alert" not in text and f"#{EVERYTHING}" not in text


async def test_dli_down_is_explained_not_raised() -> None:
    async with routed(healthy(ORDERS, "orders")) as parts:
        parts.dli.fail(UNAVAILABLE, request_id="req-down")
        reply = await parts.chat.routing.route(ORDERS, channel=ASKING)
    assert not reply.shareable
    assert "DLI is unreachable" in text_of(reply.message)
    assert "req-down" in text_of(reply.message)


async def test_tag_routes_dli_cannot_list_are_marked_and_every_other_route_is_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with routed(healthy(ORDERS, "orders", **tagged("payments"))) as parts:
        await parts.watch.subscriptions.subscribe(ASKING, ORDERS, "orders", ALICE)
        parts.dli.fail(THROTTLED, operation="list", request_id="req-slow")
        with caplog.at_level(logging.INFO, logger="bot.chat.routing"):
            reply = await parts.chat.routing.route(ORDERS, channel=ASKING)
        parts.dli.heal()
        healed = text_of((await parts.chat.routing.route(ORDERS, channel=ASKING)).message)
    assert not reply.shareable
    text = text_of(reply.message)
    # The channels known without DLI's list count; the tag route's may or may not be alerted.
    assert (
        "orders would alert at least 2 channels; some tag routes could not be checked (below), "
        "try again soon"
    ) in text
    watched, everything, payments = lines(text)
    assert watched.startswith(f"👀 #{ASKING} — watched by @{ALICE}")
    assert everything == f"📡 #{EVERYTHING} — every connection of the project (watch_all)"
    assert payments == (
        f"❔ #{PAYMENTS} — connections tagged team=payments (watch_tags); "
        "not checked: DLI is throttling requests"
    )
    assert reply.message.text == "orders: alerts reach at least 2 channels"
    # A DLI failure, logged as every other place logs one.
    [logged] = [r for r in caplog.records if r.name == "bot.chat.routing"]
    assert logged.levelname == "WARNING" and "req-slow" in logged.getMessage()
    assert "would alert 3 channels" in healed and "❔" not in healed


async def test_every_tag_route_is_listed_at_once_so_a_slow_dli_costs_one_wait() -> None:
    # DLI down makes each list run its whole retry cycle: one after another, minutes.
    teams = {f"C0TEAM{n}": ChannelConfig(watch_tags={"team": f"team-{n}"}) for n in range(3)}
    deployment = DEPLOYMENT.model_copy(update={"channels": teams})
    async with chat_parts(
        healthy(ORDERS, "orders", **tagged("team-1")), deployment=deployment
    ) as parts:
        await parts.chat.routing.route(ORDERS, channel=ASKING)  # the connection is cached now
        asked = len(parts.dli.requests)
        parts.dli.hold()
        answer = asyncio.create_task(parts.chat.routing.route(ORDERS, channel=ASKING))
        await parts.dli.holding(count=3)  # every list is in flight, none answered yet
        in_flight = [r.url.params["tags"] for r in parts.dli.requests[asked:]]
        parts.dli.release()
        reply = await answer
    assert sorted(in_flight) == ["team=team-0", "team=team-1", "team=team-2"]
    assert lines(text_of(reply.message)) == [
        "🏷️ #C0TEAM1 — connections tagged team=team-1 (watch_tags)"
    ]


async def test_an_unchecked_tag_route_to_a_channel_alerted_anyway_leaves_no_doubt() -> None:
    both = DEPLOYMENT.model_copy(
        update={
            "channels": {
                **DEPLOYMENT.channels,
                PAYMENTS: ChannelConfig(watch_all=True, watch_tags={"team": "payments"}),
            }
        }
    )
    only_tags = DEPLOYMENT.model_copy(
        update={"channels": {PAYMENTS: ChannelConfig(watch_tags={"team": "payments"})}}
    )
    orders = healthy(ORDERS, "orders", **tagged("payments"))
    async with chat_parts(orders, deployment=both) as parts:
        parts.dli.fail(UNAVAILABLE, operation="list", request_id="req-down")
        known = await parts.chat.routing.route(ORDERS, channel=ASKING)
    async with chat_parts(orders, deployment=only_tags) as parts:
        parts.dli.fail(UNAVAILABLE, operation="list", request_id="req-down")
        unknown = await parts.chat.routing.route(ORDERS, channel=ASKING)
    # Every channel the tag route leads to is alerted anyway (watch_all): nothing is in doubt.
    assert "orders would alert 2 channels" in text_of(known.message)
    assert "❔" not in text_of(known.message)
    text = text_of(unknown.message)
    assert (
        "orders would alert no channel for sure; some tag routes could not be checked (below)"
    ) in text
    assert "Watch it here" not in text
    assert lines(text) == [
        f"❔ #{PAYMENTS} — connections tagged team=payments (watch_tags); "
        "not checked: DLI is unreachable"
    ]
    assert unknown.message.text == "orders: alerts reach no channel for sure"


async def test_the_command_routes_through_the_same_feature() -> None:
    async with routed(healthy(ORDERS, "orders")) as parts:
        reply = await parts.chat.command(
            parse_command(f"route {ORDERS.upper()}"), ephemeral=True, channel=ASKING, user=ALICE
        )
    assert not reply.shareable
    assert f"#{EVERYTHING} — every connection of the project (watch_all)" in text_of(reply.message)
