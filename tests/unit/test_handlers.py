"""Each listener in handlers/, called directly with a Kit of real features: what goes where.

Replies to a `response_url` are recorded by a Responder that sends nothing; Web API calls go to
the local Slack stand-in. Request bodies are the ones bot.local.wire builds, as Slack sends them.
Kit.on's event dedupe is tested through Bolt's own dispatch, which is what calls it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl

import pytest
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.actions import (
    ACTION_ACK,
    ACTION_MUTE,
    ACTION_REFRESH,
    ACTION_SHARE,
    ACTION_SHOW,
    ACTION_UNWATCH,
    ACTION_WATCH,
    ALERT_ACTIONS,
)
from bot.blocks.message import Message
from bot.config import ChannelConfig, Deployment, Settings, load_deployment
from bot.local.fake_slack import BOT_ID, BOT_USER_ID, FakeSlackApi, SlackCall
from bot.local.wire import (
    FORM_CONTENT_TYPE,
    Event,
    app_home_opened_event,
    app_mention_event,
    block_action_body,
    event_body,
    message_event,
    slash_command_body,
)
from bot.slack.client import Responder
from bot.slack.dedupe import EventDedupe
from bot.slack.facts import Guard, SlackFacts
from bot.slack.inflight import InFlight
from bot.slack.kit import Kit
from bot.store import MemoryStore
from handlers import actions, commands, home, mentions
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
    text_of,
)
from tests.slack_limits import assert_home_view_within_limits

ORDERS = connection_id(1)
BILLING = connection_id(2)
GONE = connection_id(3)
INCIDENT = "C0INCIDENT"
CHANNEL = "C0TEAM"
USER = "U0ALICE"
RESPONSE_URL = "http://127.0.0.1:9/response_url/recorded"
CONNECTIONS = (failing(ORDERS, "orders"), healthy(BILLING, "billing"))


@dataclass(frozen=True)
class Sent:
    """One reply a listener sent to a response_url."""

    url: str
    message: Message | None
    response_type: str | None
    replace_original: bool | None
    delete_original: bool | None


class RecordingResponder(Responder):
    """A Responder that records each reply instead of posting it; answers `ok`."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []
        self.ok = True

    async def __call__(
        self,
        response_url: str,
        message: Message | None = None,
        *,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
    ) -> bool:
        self.sent.append(
            Sent(response_url, message, response_type, replace_original, delete_original)
        )
        return self.ok


@dataclass
class Harness:
    kit: Kit
    parts: ChatParts
    responder: RecordingResponder
    slack: FakeSlackApi
    client: AsyncWebClient

    def only_reply(self) -> tuple[Sent, str]:
        """The one reply sent, and its text as a reader sees it."""
        [sent] = self.responder.sent
        assert sent.message is not None
        return sent, text_of(sent.message)

    def posts(self) -> list[SlackCall]:
        return self.slack.calls_to("chat.postMessage")

    def bolt(self, dedupe: EventDedupe) -> tuple[Kit, AsyncApp]:
        """A Kit of these features on `dedupe`, and a Bolt app to register its listeners on
        (it takes deliveries unsigned and runs each listener before answering)."""
        kit = Kit(self.parts.chat, self.parts.settings, self.responder, self.kit.inflight, dedupe,
                  self.parts.metrics)  # fmt: skip
        app = AsyncApp(
            client=self.client, signing_secret="", request_verification_enabled=False,
            process_before_response=True,
        )  # fmt: skip
        return kit, app


@asynccontextmanager
async def harness(
    settings: Settings | None = None, deployment: Deployment | None = None
) -> AsyncIterator[Harness]:
    settings = settings or chat_settings(dliconn_incident_channels=INCIDENT)
    async with (
        chat_parts(*CONNECTIONS, settings=settings, deployment=deployment) as parts,
        FakeSlackApi(member_of={USER: [CHANNEL]}) as slack,
    ):
        responder = RecordingResponder()
        client = AsyncWebClient(token="xoxb-handler-tests", base_url=slack.url)
        kit = Kit(
            parts.chat,
            settings,
            responder,
            InFlight(),
            EventDedupe(MemoryStore(), metrics=parts.metrics),
            parts.metrics,
            guard=Guard(parts.services.deployment, SlackFacts(client, parts.metrics)),
        )
        yield Harness(kit, parts, responder, slack, client)


def command(text: str, *, channel: str = CHANNEL) -> dict[str, Any]:
    body = slash_command_body(text, channel_id=channel, user_id=USER, response_url=RESPONSE_URL)
    return dict(parse_qsl(body))


def click(
    action_id: str, value: str, *, ephemeral: bool = False, message: Event | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (action, body) Bolt hands a listener for a button click in CHANNEL."""
    form = block_action_body(
        action_id, value, user_id=USER, channel_id=CHANNEL, response_url=RESPONSE_URL,
        ephemeral=ephemeral, message=message,
    )  # fmt: skip
    body: dict[str, Any] = json.loads(parse_qs(form)["payload"][0])
    return body["actions"][0], body


def alert_message(ts: str, *, thread_ts: str | None = None) -> Event:
    """An alert as Slack echoes it back on a click: its buttons' block carries ALERT_ACTIONS."""
    message: Event = {
        "type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": "alert", "ts": ts,
        "blocks": [{"type": "actions", "block_id": ALERT_ACTIONS, "elements": []}],
    }  # fmt: skip
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    return message


# --------------------------------------------------------------------------- /dliconn


async def test_answer_replies_privately_by_default() -> None:
    async with harness() as h:
        await commands.answer(h.kit, command(ORDERS))
        sent, text = h.only_reply()
    assert (sent.url, sent.response_type, sent.replace_original) == (
        RESPONSE_URL,
        "ephemeral",
        None,
    )
    assert "orders" in text and "route table quota exceeded" in text
    assert sent.message is not None and (ACTION_SHARE, ORDERS) in buttons(sent.message)


async def test_answer_in_channel_when_configured_but_help_and_errors_stay_private() -> None:
    settings = chat_settings(dliconn_response_type="in_channel")
    async with harness(settings) as h:
        await commands.answer(h.kit, command("billing"))
        await commands.answer(h.kit, command("help"))
        await commands.answer(h.kit, command(GONE))
        card, help_, missing = h.responder.sent
    assert card.response_type == "in_channel"
    assert card.message is not None and ACTION_SHARE not in dict(buttons(card.message))
    assert help_.response_type == "ephemeral"
    assert missing.response_type == "ephemeral"
    assert missing.message is not None and "No connection" in text_of(missing.message)


async def test_answer_watches_in_the_channel_typed_in() -> None:
    async with harness() as h:
        await commands.answer(h.kit, command("watch orders", channel=INCIDENT))
        assert await h.parts.watch.subscriptions.watches(INCIDENT, ORDERS)
        assert not await h.parts.watch.subscriptions.watches(CHANNEL, ORDERS)
        [subscription] = await h.parts.watch.subscriptions.channel_subscriptions(INCIDENT)
    assert subscription.user == USER


# --------------------------------------------------------------------------- mentions


async def test_on_mention_replies_in_the_messages_thread() -> None:
    async with harness() as h:
        event = app_mention_event(f"is {ORDERS} ok? and billing?", channel=CHANNEL)
        in_thread = app_mention_event("and orders?", channel=CHANNEL, thread_ts="1700000000.1")
        await mentions.on_mention(h.kit, event, h.client)
        await mentions.on_mention(h.kit, in_thread, h.client)
        first, second, threaded = h.posts()
    assert h.responder.sent == []
    for call in (first, second):
        assert (call.channel, call.body["thread_ts"]) == (CHANNEL, event["ts"])
    assert "route table quota exceeded" in text_of(first)
    assert "billing" in text_of(second)
    assert threaded.body["thread_ts"] == "1700000000.1"


async def test_on_mention_without_anything_known_answers_with_help_in_thread() -> None:
    async with harness() as h:
        event = app_mention_event("hello there", channel=CHANNEL)
        await mentions.on_mention(h.kit, event, h.client)
        [call] = h.posts()
    assert call.body["thread_ts"] == event["ts"]
    assert "did not see a connection id" in text_of(call)


async def test_on_message_answers_ids_in_incident_channels_only() -> None:
    context = AsyncBoltContext(bot_user_id=BOT_USER_ID)
    ignored = [
        message_event(f"{ORDERS} is down", channel=CHANNEL),  # not an incident channel
        message_event(f"{ORDERS} is down", channel=INCIDENT, bot_id=BOT_ID, user=None),
        message_event(f"{ORDERS} is down", channel=INCIDENT, subtype="message_changed"),
        message_event(f"<@{BOT_USER_ID}> {ORDERS}", channel=INCIDENT),  # on_mention's
        message_event("orders is down", channel=INCIDENT),  # names are not scanned here
    ]
    async with harness() as h:
        for event in ignored:
            await mentions.on_message(h.kit, event, h.client, context)
        assert h.posts() == []
        event = message_event(f"seeing errors on {ORDERS}", channel=INCIDENT)
        await mentions.on_message(h.kit, event, h.client, context)
        [call] = h.posts()
    assert (call.channel, call.body["thread_ts"]) == (INCIDENT, event["ts"])
    assert "route table quota exceeded" in text_of(call)


# --------------------------------------------------------------------------- buttons


async def test_refresh_on_a_card_replaces_it_with_a_fresh_one() -> None:
    async with harness() as h:
        await h.parts.lookup.lookup(BILLING)  # a fresh cached copy that Refresh must skip
        h.parts.dli.put(failing(BILLING, "billing"))
        action, body = click(ACTION_REFRESH, BILLING, ephemeral=True)
        await actions.refresh(h.kit, action, body, h.client)
        sent, text = h.only_reply()
        assert h.posts() == []
    assert (sent.url, sent.replace_original, sent.response_type) == (RESPONSE_URL, True, None)
    assert "route table quota exceeded" in text and "Live from DLI" in text
    assert sent.message is not None and (ACTION_SHARE, BILLING) in buttons(sent.message)


async def test_refresh_on_an_alert_posts_the_card_in_its_thread_and_keeps_the_alert() -> None:
    async with harness() as h:
        action, body = click(ACTION_REFRESH, ORDERS, message=alert_message("1700000000.5"))
        await actions.refresh(h.kit, action, body, h.client)
        reply_in_thread = click(
            ACTION_REFRESH, ORDERS, message=alert_message("1700000000.9", thread_ts="1700000000.5")
        )
        await actions.refresh(h.kit, *reply_in_thread, h.client)
        first, second = h.posts()
    assert h.responder.sent == []
    assert (first.channel, first.body["thread_ts"]) == (CHANNEL, "1700000000.5")
    assert second.body["thread_ts"] == "1700000000.5"
    assert "route table quota exceeded" in text_of(first)


async def test_refresh_on_an_alert_that_fails_tells_only_the_clicker() -> None:
    async with harness() as h:
        h.parts.dli.fail(UNAVAILABLE, request_id="req-down")
        action, body = click(ACTION_REFRESH, ORDERS, message=alert_message("1700000000.5"))
        await actions.refresh(h.kit, action, body, h.client)
        sent, text = h.only_reply()
        assert h.posts() == []
    assert (sent.response_type, sent.replace_original) == ("ephemeral", False)
    assert "DLI is unreachable" in text and "req-down" in text


async def test_show_replaces_the_shortlist_with_the_chosen_card() -> None:
    async with harness() as h:
        action, body = click(ACTION_SHOW, BILLING, ephemeral=True)
        await actions.show(h.kit, action, body)
        sent, text = h.only_reply()
    assert (sent.url, sent.replace_original) == (RESPONSE_URL, True)
    assert "billing" in text
    assert sent.message is not None and (ACTION_SHARE, BILLING) in buttons(sent.message)


async def test_share_posts_the_card_in_channel_then_removes_the_private_copy() -> None:
    async with harness() as h:
        action, body = click(ACTION_SHARE, ORDERS, ephemeral=True)
        await actions.share(h.kit, action, body)
        shared, removed = h.responder.sent
        h.responder.sent.clear()
        h.responder.ok = False  # Slack refused the in-channel post: keep the private copy
        await actions.share(h.kit, action, body)
        [refused] = h.responder.sent
    assert (shared.response_type, shared.replace_original) == ("in_channel", False)
    assert shared.message is not None and "orders" in text_of(shared.message)
    assert ACTION_SHARE not in dict(buttons(shared.message))
    assert (removed.url, removed.delete_original, removed.message) == (RESPONSE_URL, True, None)
    assert refused.response_type == "in_channel"


async def test_share_of_what_cannot_be_shown_tells_only_the_clicker() -> None:
    async with harness() as h:
        action, body = click(ACTION_SHARE, GONE, ephemeral=True)
        await actions.share(h.kit, action, body)
        sent, text = h.only_reply()
    assert (sent.response_type, sent.replace_original, sent.delete_original) == (
        "ephemeral",
        False,
        None,
    )
    assert "No connection" in text


async def test_watch_subscribes_the_clicks_channel_and_tells_the_clicker() -> None:
    async with harness() as h:
        action, body = click(ACTION_WATCH, ORDERS)
        await actions.watch(h.kit, action, body)
        [subscription] = await h.parts.watch.subscriptions.channel_subscriptions(CHANNEL)
        sent, text = h.only_reply()
    assert (subscription.connection_id, subscription.user) == (ORDERS, USER)
    assert (sent.response_type, sent.replace_original) == ("ephemeral", False)
    assert "Watching orders in this channel" in text


async def test_unwatch_removes_the_channels_subscription() -> None:
    async with harness() as h:
        await h.parts.watch.subscriptions.subscribe(CHANNEL, ORDERS, "orders", USER)
        action, body = click(ACTION_UNWATCH, ORDERS)
        await actions.unwatch(h.kit, action, body)
        assert await h.parts.watch.subscriptions.channel_subscriptions(CHANNEL) == []
        sent, text = h.only_reply()
    assert (sent.response_type, sent.replace_original) == ("ephemeral", False)
    assert "Stopped watching orders" in text


@pytest.mark.parametrize(
    ("value", "hours"),
    [(f"{ORDERS}|24", 24), (ORDERS, 1), (f"{ORDERS}|²", 1), (f"{ORDERS}|8760", 1)],
)
async def test_mute_stores_the_mute_for_the_hours_on_the_button(value: str, hours: int) -> None:
    async with harness() as h:
        action, body = click(f"{ACTION_MUTE}_{hours}h", value, message=alert_message("1.2"))
        await actions.mute(h.kit, action, body)
        mutes = await h.parts.watch.state.mutes(now=0.0)
        sent, text = h.only_reply()
    assert list(mutes) == [(ORDERS, CHANNEL)] and mutes[(ORDERS, CHANNEL)].user == USER
    assert (sent.response_type, sent.replace_original) == ("ephemeral", False)
    assert f"muted here for {hours} h" in text


async def test_acknowledge_records_the_clicker_on_the_open_alert() -> None:
    async with harness() as h:
        incident = await open_alert(h.parts.watch.state, ORDERS, CHANNEL)
        action, body = click(ACTION_ACK, ORDERS, message=alert_message("1700000000.000100"))
        await actions.acknowledge(h.kit, action, body)
        assert await h.parts.watch.state.acknowledged_by(incident, CHANNEL) == USER
        sent, text = h.only_reply()
    assert (sent.response_type, sent.replace_original) == ("ephemeral", False)
    assert f"Acknowledged by @{USER}" in text


# --------------------------------------------------------------------------- Home tab


async def test_on_home_opened_publishes_what_the_users_channels_watch() -> None:
    async with harness() as h:
        await h.parts.watch.subscriptions.subscribe(CHANNEL, ORDERS, "orders", USER)
        await h.parts.watch.subscriptions.subscribe("C0OTHERS", BILLING, "billing", "U2")
        await home.on_home_opened(h.kit, app_home_opened_event(USER), h.client)
        await home.on_home_opened(h.kit, app_home_opened_event(USER, tab="messages"), h.client)
        [call] = h.slack.calls_to("views.publish")
        h.slack.fail("users.conversations", "missing_scope")
        await home.on_home_opened(h.kit, app_home_opened_event(USER), h.client)
        _, closed = h.slack.calls_to("views.publish")
    assert call.body["user_id"] == USER
    shown = text_of(call.body["view"])
    assert "orders" in shown and "billing" not in shown
    # Slack would not say which channels: nothing is shown rather than everything.
    assert closed.body["user_id"] == USER
    assert "orders" not in text_of(closed.body["view"])
    assert "would not say which channels" in text_of(closed.body["view"])


async def test_a_refused_home_tab_shows_a_refused_commands_words_and_rule() -> None:
    dm = "D0ALICE"
    settings = chat_settings(dliconn_incident_channels=INCIDENT)
    deployment = load_deployment(settings).model_copy(
        update={"channels": {dm: ChannelConfig(allow=["lookup"])}}
    )
    async with harness(settings, deployment) as h:
        await h.parts.watch.subscriptions.subscribe(CHANNEL, ORDERS, "orders", USER)
        await home.on_home_opened(h.kit, app_home_opened_event(USER, channel=dm), h.client)
        await commands.answer(h.kit, command("list", channel=dm))
        [call] = h.slack.calls_to("views.publish")
        sent, said = h.only_reply()
    view = call.body["view"]
    assert_home_view_within_limits(view)
    assert sent.message is not None
    # The command's refusal blocks, as they are, under the tab's title: the same words, and the
    # rule as the same code-styled key.
    assert view["blocks"][1:] == sent.message.blocks
    rule = {"type": "text", "text": f"channels.{dm}.allow", "style": {"code": True}}
    assert rule in sent.message.blocks[0]["elements"][0]["elements"]
    assert said in text_of(view) and "orders" not in text_of(view)


# --------------------------------------------------------------------------- Kit.on


class TimelineStore:
    """A MemoryStore whose writes are noted in a shared timeline."""

    def __init__(self, timeline: list[str]) -> None:
        self.inner = MemoryStore()
        self.timeline = timeline

    async def get(self, key: str) -> bytes | None:
        return await self.inner.get(key)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self.timeline.append(f"set {value.decode()}")
        await self.inner.set(key, value, ttl=ttl)

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        claimed = await self.inner.set_if_absent(key, value, ttl=ttl)
        self.timeline.append(f"claim {value.decode()} {'won' if claimed else 'lost'}")
        return claimed

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_kit_on_runs_an_events_work_once_and_finishes_it_after_the_work() -> None:
    timeline: list[str] = []
    gate, started = asyncio.Event(), asyncio.Event()
    async with harness() as h:
        kit, app = h.bolt(EventDedupe(TimelineStore(timeline), metrics=h.parts.metrics))

        async def work(kit: Kit, event: dict[str, Any]) -> None:
            started.set()
            await gate.wait()
            timeline.append(f"work {event['text']}")

        kit.on(app.event("app_mention"), work)
        delivery = event_body(app_mention_event("hi", channel=CHANNEL), event_id="Ev0DUPLICATE")

        async def deliver() -> int:
            headers: dict[str, str | Sequence[str]] = {"content-type": "application/json"}
            response = await app.async_dispatch(AsyncBoltRequest(body=delivery, headers=headers))
            return response.status

        assert await deliver() == 200
        await started.wait()
        assert await deliver() == 200  # Slack's retry while the first is still working
        assert kit.inflight.count == 1
        gate.set()
        assert await kit.inflight.wait_idle(5.0)
        assert await deliver() == 200  # a retry after the answer went out
        assert kit.inflight.count == 0
    assert timeline == [
        "claim processing won",
        "claim processing lost",
        f"work <@{BOT_USER_ID}> hi",
        "set done",
        "claim processing lost",
    ]
    assert h.parts.metrics.registry.get_sample_value("dliconn_events_deduplicated_total") == 2


async def test_kit_on_work_that_fails_tells_the_user_and_leaves_the_event_unfinished(
    caplog: pytest.LogCaptureFixture,
) -> None:
    timeline: list[str] = []
    async with harness() as h:
        kit, app = h.bolt(EventDedupe(TimelineStore(timeline)))

        async def broken(kit: Kit) -> None:
            raise RuntimeError("a bug")

        kit.on(app.event("app_mention"), broken)
        kit.on(app.command(commands.COMMAND), broken)
        event = event_body(app_mention_event("hi", channel=CHANNEL), event_id="Ev0BROKEN")
        form = slash_command_body("help", channel_id=CHANNEL, response_url=RESPONSE_URL)
        for body, content_type in ((event, "application/json"), (form, FORM_CONTENT_TYPE)):
            request = AsyncBoltRequest(body=body, headers={"content-type": content_type})
            assert (await app.async_dispatch(request)).status == 200
        assert await kit.inflight.wait_idle(5.0)
        # The event has no response_url: nobody to tell, and no "done" either, so Slack's
        # later retry is answered once the lease runs out.
        assert timeline == ["claim processing won"]
        sent, text = h.only_reply()
    assert (sent.url, sent.response_type, sent.replace_original) == (
        RESPONSE_URL,
        "ephemeral",
        False,
    )
    assert "Something went wrong on the bot's side" in text
    refs = [r.getMessage() for r in caplog.records if "unexpected error [ref" in r.getMessage()]
    assert len(refs) == 2
    assert any(ref.split("[ref ")[1].split("]")[0] in text for ref in refs)
