"""The watch surface in Slack end to end: watch/unwatch/watches, card and alert buttons, App Home.

Each test starts its own `serve` stack (tests/fakes/slack_stack.py) over real HTTP: FakeDli with
the demo data, FakeSlackApi and a real Redis under the test's key prefix. The alert tests run
`serve` without REDIS_URL, so its embedded watcher posts the alerts, on a tiny interval.
The watcher engine itself is covered by test_watcher.py; here it is what people see and press.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest
import redis.asyncio as aioredis

from bot.blocks.actions import ACTION_ACK, ACTION_REFRESH, ACTION_UNWATCH, ACTION_WATCH
from bot.local.demo import demo_uuid
from bot.local.fake_dli import Fault
from bot.local.fake_slack import FakeSlackApi, SlackCall
from bot.local.wire import app_home_opened_event, block_action_body, slash_command_body
from bot.runtime import HttpServer
from tests.fakes.chat import text_of
from tests.fakes.dli import FAILING, WITHVPC, dli_requests, list_calls
from tests.fakes.slack_stack import SlackStack, is_alert_in, posted_ts, slack_stack
from tests.helpers import free_port, until

BILLING: Final = demo_uuid("connection/rds-postgres-billing")
DELETED: Final = demo_uuid("connection/legacy-oracle-link")
#: kafka-stream-pools: exactly one FAILED binding (the elastic resource pool pool_stream_b).
POOLS: Final = demo_uuid("connection/kafka-stream-pools")
POOL: Final = "pool_stream_b"
UNKNOWN: Final = "00000000-0000-4000-8000-000000000000"
ALERTS: Final = "CALERTS"
CONTROL: Final = "CCONTROL"
EVERYTHING: Final = "CEVERYTHING"
WATCH_INTERVAL: Final = "0.05"
STORAGE_DOWN: Final = "storage (Redis) is unreachable"
#: Shaped like a real Slack user id: alerts only turn user-id-shaped names into mentions.
PRESSER: Final = "U0PRESSER1"


pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
async def watching_stack(key_prefix: str) -> AsyncIterator[SlackStack]:
    """`serve` without REDIS_URL: subscriptions in memory and the watcher inside the server."""
    async with slack_stack(
        key_prefix, REDIS_URL=None, DLICONN_WATCH_INTERVAL=WATCH_INTERVAL
    ) as running:
        yield running


# --------------------------------------------------------------------------- helpers


def action_ids(message: dict[str, Any]) -> list[str]:
    return [
        element.get("action_id", "")
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements", [])
    ]


async def ask(
    stack: SlackStack, text: str, *, channel: str = "C1", server: HttpServer | None = None
) -> SlackCall:
    """`/dliconn text` in `channel` (on `server`, default the first replica): its one reply."""
    url = stack.slack.response_url()
    body = slash_command_body(text, channel_id=channel, response_url=url)
    ack = await stack.post(body, server=server)
    assert ack.status_code == 200
    [reply] = await stack.replies(url.rsplit("/", 1)[1])
    return reply


async def press(
    stack: SlackStack,
    action_id: str,
    value: str,
    *,
    channel: str = "C1",
    message: dict[str, Any] | None = None,
) -> str:
    """A click on a button in `channel`, on `message` (an alert) or on a private card.

    Returns the name of the click's response_url.
    """
    url = stack.slack.response_url()
    body = block_action_body(
        action_id, value, user_id=PRESSER, channel_id=channel, response_url=url,
        message=message, ephemeral=message is None,
    )  # fmt: skip
    ack = await stack.post(body)
    assert ack.status_code == 200
    return url.rsplit("/", 1)[1]


async def answer_to(stack: SlackStack, action_id: str, value: str, **where: Any) -> SlackCall:
    [reply] = await stack.replies(await press(stack, action_id, value, **where))
    return reply


async def watched_in(stack: SlackStack, channel: str = "C1") -> set[str]:
    subscriptions = await stack.services.main.watch.subscriptions.channel_subscriptions(channel)
    return {s.connection_id for s in subscriptions}


def alert_posts(slack: FakeSlackApi, channel: str) -> list[SlackCall]:
    return slack.calls_to("chat.postMessage", is_alert_in(channel))


async def next_alert(slack: FakeSlackApi, channel: str, count: int = 1) -> SlackCall:
    """The `count`-th alert in `channel`, once it has arrived."""
    alerts = await slack.wait_for("chat.postMessage", count, predicate=is_alert_in(channel))
    return alerts[count - 1]


async def settled(stack: SlackStack, cycles: int = 3) -> None:
    """Return once the watcher has listed DLI's connections `cycles` more times and every post
    it planned has gone out (its outbox is empty), so "nothing else was posted" holds."""
    target = list_calls(stack.dli) + cycles

    async def done() -> bool:
        return (
            list_calls(stack.dli) >= target and not await stack.services.main.watch.state.pending()
        )

    await until(done)


# --------------------------------------------------------------------------- /dliconn watch


async def test_watch_confirms_privately_and_another_replica_sees_it(stack: SlackStack) -> None:
    confirmed = await ask(stack, f"watch {WITHVPC}")
    replica = await stack.add_replica()
    listed = await ask(stack, "watches", server=replica)
    again = await ask(stack, f"watch {WITHVPC}", server=replica)

    assert "Watching withvpc in this channel" in text_of(confirmed)
    assert confirmed.body["response_type"] == "ephemeral"
    assert "1 connection" in text_of(listed) and "withvpc" in text_of(listed)
    assert "withvpc is already watched in this channel" in text_of(again)
    assert await watched_in(stack) == {WITHVPC}


async def test_watch_by_name_says_what_is_failing_now(stack: SlackStack) -> None:
    reply = await ask(stack, "watch orders-mysql-peering")

    assert "Watching orders-mysql-peering in this channel" in text_of(reply)
    assert "4 of its queues and pools are FAILED right now" in text_of(reply)
    assert await watched_in(stack) == {FAILING}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (UNKNOWN, f"No connection {UNKNOWN} was found"),
        (DELETED, "legacy-oracle-link is DELETED; there is nothing left to watch"),
        ("ing", "matches 2 connections"),  # orders-mysql-peering, rds-postgres-billing
    ],
    ids=["unknown-id", "deleted", "ambiguous-name"],
)
async def test_watch_refuses_what_it_cannot_watch_and_stores_nothing(
    stack: SlackStack, target: str, expected: str
) -> None:
    reply = await ask(stack, f"watch {target}")

    assert expected in text_of(reply)
    assert await stack.services.main.watch.subscriptions.all_watched() == {}


async def test_redis_down_is_explained_not_crashed(key_prefix: str) -> None:
    async with slack_stack(key_prefix, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as stack:
        asked = (f"watch {WITHVPC}", "watches", f"unwatch {WITHVPC}")
        replies = [await ask(stack, text) for text in asked]

    for reply in replies:
        assert STORAGE_DOWN in text_of(reply)
        assert "went wrong" not in text_of(reply) and "Traceback" not in text_of(reply)


# --------------------------------------------------------------------------- /dliconn watches


async def test_watches_lists_failed_first_and_flags_vanished_connections(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    # No cache: the listing must notice at once that DLI no longer has a connection.
    async with slack_stack(key_prefix, DLICONN_CACHE_TTL=0) as stack:
        for target in ("withvpc", "rds-postgres-billing", "orders-mysql-peering"):
            await ask(stack, f"watch {target}")
        stack.dli.remove(BILLING)
        listed = text_of(await ask(stack, "watches"))
        elsewhere = text_of(await ask(stack, "watches", channel="C2"))

    assert "3 connections" in listed and "1 with FAILED queues" in listed
    assert listed.index("orders-mysql-peering") < listed.index("withvpc")
    billing = next(line for line in listed.splitlines() if "rds-postgres-billing" in line)
    assert "not found in DLI" in billing
    assert "Nothing is watched here yet" in elsewhere


async def test_watches_still_lists_the_subscriptions_while_dli_is_down(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    async with slack_stack(key_prefix, DLICONN_CACHE_TTL=0, DLICONN_STALE_HORIZON=0) as stack:
        await ask(stack, "watch withvpc")
        await ask(stack, "watch orders-mysql-peering")
        stack.dli.inject(Fault.drop())
        listed = text_of(await ask(stack, "watches"))

    assert "2 connections" in listed
    for name in ("withvpc", "orders-mysql-peering"):
        line = next(line for line in listed.splitlines() if name in line)
        assert "health unknown" in line


async def test_a_watch_everything_channel_is_told_so(
    key_prefix: str, redis_client: aioredis.Redis
) -> None:
    async with slack_stack(key_prefix, DLICONN_WATCH_ALL_CHANNELS=EVERYTHING) as stack:
        everything = text_of(await ask(stack, "watches", channel=EVERYTHING))
        ordinary = text_of(await ask(stack, "watches", channel="C1"))

    assert "receives alerts for every connection" in everything.replace("*", "")
    assert "every connection" not in ordinary.replace("*", "")


# --------------------------------------------------------------------------- /dliconn unwatch


async def test_unwatch_by_id_and_name_needs_no_dli(stack: SlackStack) -> None:
    await ask(stack, f"watch {WITHVPC}")
    await ask(stack, f"watch {FAILING}")
    stack.dli.inject(Fault.drop())
    asked_before = len(dli_requests(stack.dli))

    by_id = await ask(stack, f"unwatch {WITHVPC}")
    by_name = await ask(stack, "unwatch ORDERS-mysql-peering")
    not_watched = await ask(stack, "unwatch withvpc")

    assert "Stopped watching withvpc here" in text_of(by_id)
    assert "Stopped watching orders-mysql-peering here" in text_of(by_name)
    assert "withvpc is not watched in this channel" in text_of(not_watched)
    assert await watched_in(stack) == set()
    assert len(dli_requests(stack.dli)) == asked_before


# --------------------------------------------------------------------------- cards and buttons


async def test_cards_offer_unwatch_only_where_the_connection_is_watched(stack: SlackStack) -> None:
    before = await ask(stack, WITHVPC)
    await ask(stack, f"watch {WITHVPC}")
    here = await ask(stack, WITHVPC)
    elsewhere = await ask(stack, WITHVPC, channel="C2")

    assert ACTION_WATCH in action_ids(before.body)
    assert ACTION_UNWATCH not in action_ids(before.body)
    assert ACTION_UNWATCH in action_ids(here.body)
    assert ACTION_WATCH not in action_ids(here.body)
    assert ACTION_WATCH in action_ids(elsewhere.body)


async def test_watch_and_unwatch_buttons_do_what_the_commands_do(stack: SlackStack) -> None:
    watched = await answer_to(stack, ACTION_WATCH, FAILING, channel="C7")
    subscribed = await watched_in(stack, "C7")
    unwatched = await answer_to(stack, ACTION_UNWATCH, FAILING, channel="C7")
    again = await answer_to(stack, ACTION_UNWATCH, FAILING, channel="C7")

    assert "Watching orders-mysql-peering in this channel" in text_of(watched)
    assert subscribed == {FAILING}
    assert "Stopped watching orders-mysql-peering here" in text_of(unwatched)
    assert "is not watched in this channel" in text_of(again)
    for reply in (watched, unwatched):
        assert reply.body["response_type"] == "ephemeral"
        assert reply.body["replace_original"] is False
    assert await watched_in(stack, "C7") == set()


# --------------------------------------------------------------------------- alerts (embedded)


async def test_serve_without_redis_alerts_and_the_alert_buttons_work(
    watching_stack: SlackStack,
) -> None:
    stack, slack = watching_stack, watching_stack.slack
    confirmed = await ask(stack, f"watch {POOLS}", channel=ALERTS)
    alert = await next_alert(slack, ALERTS)
    ts = posted_ts(alert)
    on_alert = slack.message(ALERTS, ts)
    assert on_alert is not None

    acked = await answer_to(stack, ACTION_ACK, POOLS, channel=ALERTS, message=on_alert)
    [ack_update] = await slack.wait_for(
        "chat.update", predicate=lambda c: "Acknowledged by" in text_of(c)
    )
    refresh_to = await press(stack, ACTION_REFRESH, POOLS, channel=ALERTS, message=on_alert)
    [card] = await stack.thread(ts)

    assert "1 of its queues and pools are FAILED right now" in text_of(confirmed)
    assert {"dliconn_mute_1h", "dliconn_mute_4h", "dliconn_mute_24h", ACTION_ACK} <= set(
        action_ids(alert.body)
    )
    assert POOL in text_of(alert)
    assert "Acknowledged" in text_of(acked) and acked.body["response_type"] == "ephemeral"
    assert (ack_update.channel, ack_update.body["ts"]) == (ALERTS, ts)
    assert f"Acknowledged by <@{PRESSER}>" in json.dumps(ack_update.body["blocks"])
    # Refresh on an alert answers in its thread; the alert itself stays an alert.
    assert "kafka-stream-pools" in text_of(card) and ACTION_REFRESH in action_ids(card.body)
    assert stack.replies_so_far(refresh_to) == []
    assert ACTION_ACK in action_ids(slack.message(ALERTS, ts) or {})

    stack.dli.set_queue(POOLS, POOL, "ACTIVE")
    [recovery] = await slack.wait_for(
        "chat.postMessage", predicate=lambda c: c.body.get("thread_ts") == ts
        and "ACTIVE again" in text_of(c)
    )  # fmt: skip
    await slack.wait_for("chat.update", predicate=lambda c: "Resolved" in text_of(c))
    await settled(stack)

    assert POOL in text_of(recovery)
    recoveries = [c for c in stack.thread_so_far(ts) if "ACTIVE again" in text_of(c)]
    assert recoveries == [recovery]
    assert len(alert_posts(slack, ALERTS)) == 1
    resolved = slack.message(ALERTS, ts) or {}
    assert "Resolved" in text_of(resolved) and ACTION_ACK not in action_ids(resolved)


async def test_a_muted_channel_misses_the_next_failure_and_others_do_not(
    watching_stack: SlackStack,
) -> None:
    stack, slack = watching_stack, watching_stack.slack
    for channel in (ALERTS, CONTROL):
        await ask(stack, f"watch {POOLS}", channel=channel)
    alert = await next_alert(slack, ALERTS)
    await next_alert(slack, CONTROL)

    muted = await answer_to(
        stack, "dliconn_mute_4h", f"{POOLS}|4", channel=ALERTS,
        message=slack.message(ALERTS, posted_ts(alert)),
    )  # fmt: skip
    stack.dli.set_queue(POOLS, POOL, "ACTIVE")
    await slack.wait_for("chat.update", 2, predicate=lambda c: "Resolved" in text_of(c))
    stack.dli.set_queue(POOLS, POOL, "FAILED", "the pool failed again")
    await next_alert(slack, CONTROL, 2)
    await settled(stack)

    assert "muted here for 4 h" in text_of(muted) and muted.body["response_type"] == "ephemeral"
    assert len(alert_posts(slack, ALERTS)) == 1


# --------------------------------------------------------------------------- App Home


async def _home_of(stack: SlackStack, user: str) -> dict[str, Any]:
    await stack.event(app_home_opened_event(user))
    [published] = await stack.slack.wait_for(
        "views.publish", predicate=lambda c: c.body.get("user_id") == user
    )
    view = published.body["view"]
    assert isinstance(view, dict)
    return view


async def test_home_lists_connections_watched_in_the_users_channels(
    monkeypatch: pytest.MonkeyPatch, key_prefix: str, redis_client: aioredis.Redis
) -> None:
    async with slack_stack(key_prefix) as stack:
        stack.slack.member_of.update({"U1": ["C1", "C2"], "U2": ["C3"]})
        await ask(stack, f"watch {WITHVPC}", channel="C1")
        await ask(stack, f"watch {FAILING}", channel="C2")
        await ask(stack, f"watch {BILLING}", channel="C3")
        view = await _home_of(stack, "U1")

    text = text_of(view)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert "2 connections watched" in text and "1 with FAILED queues" in text
    assert text.index("orders-mysql-peering") < text.index("withvpc")
    assert "rds-postgres-billing" not in text
    assert "Slack would not say" not in text
    assert stack.slack.home_view("U1") is not None


async def test_home_shows_nothing_when_slack_will_not_say_which_channels_are_yours(
    monkeypatch: pytest.MonkeyPatch, key_prefix: str, redis_client: aioredis.Redis
) -> None:
    async with slack_stack(key_prefix) as stack:
        stack.slack.member_of.update({"U9": ["C1"]})
        stack.slack.fail("users.conversations", "missing_scope")
        await ask(stack, f"watch {WITHVPC}", channel="C1")
        await ask(stack, f"watch {FAILING}", channel="C2")
        view = await _home_of(stack, "U9")

    text = text_of(view)
    # Failing closed: other channels' (maybe private) subscriptions are not shown to anyone.
    assert "Slack would not say which channels you are in" in text
    assert "withvpc" not in text
    assert "orders-mysql-peering" not in text
    [refused] = stack.slack.calls_to("users.conversations")
    assert refused.response == {"ok": False, "error": "missing_scope"}


async def test_the_messages_tab_publishes_nothing(stack: SlackStack) -> None:
    await stack.event(app_home_opened_event("U1", tab="messages"))
    await stack.stop()  # waits for every reply still being composed

    assert stack.slack.calls_to("views.publish") == []


async def test_home_is_published_while_dli_is_down(stack: SlackStack) -> None:
    stack.slack.member_of["U1"] = ["C1"]
    await ask(stack, f"watch {WITHVPC}")  # looked up, so cached
    # Never looked up by this replica: DLI has to be asked, and cannot be.
    subscriptions = stack.services.main.watch.subscriptions
    await subscriptions.subscribe("C1", FAILING, "orders-mysql-peering", "U1")
    stack.dli.inject(Fault.drop())
    view = await _home_of(stack, "U1")

    text = text_of(view)
    assert "withvpc" in text and "orders-mysql-peering" not in text
    assert "DLI could not be asked about 1 of the watched connections" in text
