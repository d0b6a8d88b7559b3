"""Each reader in their own language, end to end: a zh-CN and an en-US person in one channel,
and alerts in a channel whose `locale` is zh-CN, through the real Bolt app over HTTP.

The fake Slack answers users.info (with include_locale) from `FakeSlackApi.locales`, as Slack
does from each person's language setting; nobody configures anything per user. Held on a gate,
users.info makes a reply, or a modal's input errors, go out in the fallback language first.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from bot.blocks.actions import TEST_ADDRESS_INPUT
from bot.chat.conntest import Origin
from bot.i18n import _, speaking
from bot.local.demo import demo_uuid
from bot.local.fake_slack import SlackCall
from bot.local.wire import (
    app_home_opened_event,
    app_mention_event,
    message_event,
    new_ts,
    view_submission_body,
)
from tests.fakes.chat import address_modal, message_of, text_of
from tests.fakes.dli import FAILING, HeldSleep
from tests.fakes.slack_stack import SlackStack, is_alert_in, slack_stack
from tests.helpers import chinese
from tests.slack_limits import (
    assert_home_view_within_limits,
    assert_within_slack_limits,
    rich_elements,
)

ZH_USER: Final = "U0ZHREADER"
EN_USER: Final = "U0ENREADER"
SHARED: Final = "C0SHARED"  # no locale of its own
ZH_CHANNEL: Final = "C0ZHTEAM"  # locale = "zh-CN"
EN_CHANNEL: Final = "C0ENTEAM"
#: kafka-stream-pools: exactly one FAILED binding (the elastic resource pool pool_stream_b).
POOLS: Final = demo_uuid("connection/kafka-stream-pools")


pytestmark = pytest.mark.usefixtures("isolated")


def _config(tmp_path: Path) -> str:
    path = tmp_path / "dliconn.toml"
    path.write_text(f'[channels.{ZH_CHANNEL}]\nlocale = "zh-CN"\n', encoding="utf-8")
    os.chmod(path, 0o600)
    return str(path)


@asynccontextmanager
async def readers_stack(
    key_prefix: str, tmp_path: Path, held: HeldSleep, **settings: Any
) -> AsyncIterator[SlackStack]:
    """`serve` with its watcher inside (no REDIS_URL), a zh-CN channel that is also an
    incident channel, two readers; the Slack stand-in's latency faults wait on `held`."""
    async with slack_stack(
        key_prefix,
        slack_options={"sleep": held},
        REDIS_URL=None,
        DLICONN_WATCH_INTERVAL="0.05",
        DLICONN_CONFIG=_config(tmp_path),
        DLICONN_INCIDENT_CHANNELS=ZH_CHANNEL,
        **settings,
    ) as running:
        running.slack.locales.update({ZH_USER: "zh-CN", EN_USER: "en-US"})
        try:
            yield running
        finally:
            held.release()  # before the stand-in stops, which waits for its held answers


@pytest.fixture
def held() -> HeldSleep:
    return HeldSleep()


@pytest.fixture
async def stack(key_prefix: str, tmp_path: Path, held: HeldSleep) -> AsyncIterator[SlackStack]:
    async with readers_stack(key_prefix, tmp_path, held) as running:
        yield running


def zh(message: str) -> str:
    with speaking("zh-CN"):
        return _(message)


def preformatted(body: dict[str, Any]) -> list[str]:
    """The err_msg blocks' exact texts."""
    elements = rich_elements(body.get("blocks") or [], kinds=("rich_text_preformatted",))
    return [element["text"] for element in elements if element.get("type") == "text"]


def published_for(user: str) -> Callable[[SlackCall], bool]:
    return lambda c: c.body.get("user_id") == user


def card_labels(locale_text: Callable[[str], str]) -> list[str]:
    return [locale_text(label) for label in ("Status", "Hosts", "Routes", "Subnet")]


async def command_reply(stack: SlackStack, text: str, user: str, channel: str) -> dict[str, Any]:
    ack, reply_to = await stack.command(text, channel=channel, user=user)
    assert ack.status_code == 200
    [reply] = await stack.replies(reply_to)
    return reply.body


async def test_a_chinese_and_an_english_reader_each_get_the_card_in_their_language(
    stack: SlackStack,
) -> None:
    zh_card = await command_reply(stack, FAILING, ZH_USER, SHARED)
    en_card = await command_reply(stack, FAILING, EN_USER, SHARED)
    again = await command_reply(stack, FAILING, ZH_USER, SHARED)

    zh_text, en_text = text_of(zh_card), text_of(en_card)
    assert all(label in zh_text for label in card_labels(zh))
    assert not any(f"{label}:" in zh_text for label in card_labels(str))
    assert all(f"{label}:" in en_text for label in card_labels(str))
    assert not chinese(en_text)
    # DLI's words are the same bytes in both.
    assert preformatted(zh_card) == preformatted(en_card) != []
    assert_within_slack_limits(message_of(zh_card))
    assert all(label in text_of(again) for label in card_labels(zh))
    # One users.info per person, with include_locale; the second command used the cache.
    asked = stack.slack.calls_to("users.info")
    assert sorted(c.body["user"] for c in asked) == [EN_USER, ZH_USER]
    assert {str(c.body.get("include_locale")).lower() for c in asked} <= {"true", "1"}


async def test_a_mention_is_answered_in_the_language_of_who_mentioned(stack: SlackStack) -> None:
    replies: dict[str, str] = {}
    for user in (ZH_USER, EN_USER):
        ts = new_ts()
        await stack.event(app_mention_event(FAILING, user=user, channel=SHARED, ts=ts))
        [reply] = await stack.thread(ts)
        replies[user] = text_of(reply.body)

    assert all(label in replies[ZH_USER] for label in card_labels(zh))
    assert all(f"{label}:" in replies[EN_USER] for label in card_labels(str))
    assert not chinese(replies[EN_USER])


async def test_the_home_tab_is_in_the_language_of_whoever_opens_it(stack: SlackStack) -> None:
    views: dict[str, dict[str, Any]] = {}
    for user in (ZH_USER, EN_USER):
        await stack.event(app_home_opened_event(user))
        [published] = await stack.slack.wait_for("views.publish", predicate=published_for(user))
        views[user] = published.body["view"]

    zh_home, en_home = text_of(views[ZH_USER]), text_of(views[EN_USER])
    assert chinese(zh_home) and not chinese(en_home)
    assert_home_view_within_limits(views[ZH_USER])


async def test_an_alert_is_in_the_channels_language_whoever_asked_to_watch(
    stack: SlackStack,
) -> None:
    # An English reader sets the watch up in the Chinese team's channel: the confirmation is
    # theirs (English), the alert is the channel's (Chinese). Another channel gets English.
    confirmed = await command_reply(stack, f"watch {POOLS}", EN_USER, ZH_CHANNEL)
    await command_reply(stack, f"watch {POOLS}", ZH_USER, EN_CHANNEL)
    [zh_alert] = await stack.slack.wait_for("chat.postMessage", predicate=is_alert_in(ZH_CHANNEL))
    [en_alert] = await stack.slack.wait_for("chat.postMessage", predicate=is_alert_in(EN_CHANNEL))

    assert not chinese(text_of(confirmed))
    assert chinese(text_of(zh_alert.body)) and chinese(zh_alert.body["text"])
    assert not chinese(text_of(en_alert.body))
    assert "pool_stream_b" in text_of(zh_alert.body)
    assert preformatted(zh_alert.body) == preformatted(en_alert.body) != []
    assert_within_slack_limits(message_of(zh_alert))


async def test_without_users_read_a_reply_falls_back_to_the_channels_language(
    stack: SlackStack,
) -> None:
    stack.slack.fail("users.info", "missing_scope", times=None)
    in_zh_channel = await command_reply(stack, FAILING, EN_USER, ZH_CHANNEL)
    elsewhere = await command_reply(stack, FAILING, ZH_USER, SHARED)

    assert all(label in text_of(in_zh_channel) for label in card_labels(zh))
    assert not chinese(text_of(elsewhere))


async def test_an_incident_channel_answers_in_its_language_and_asks_nobodys(
    stack: SlackStack,
) -> None:
    # Most messages in a channel are never answered: none of them costs a users.info call.
    await stack.event(message_event("lunch at noon?", user=EN_USER, channel=ZH_CHANNEL))
    ts = new_ts()
    await stack.event(message_event(f"is {FAILING} down?", user=EN_USER, channel=ZH_CHANNEL, ts=ts))
    [card] = await stack.thread(ts)

    assert all(label in text_of(card.body) for label in card_labels(zh))
    await stack.stop()  # every reply composed: nothing else is still asking
    assert stack.slack.calls_to("users.info") == []


# --------------------------------------------------------------------------- users.info is slow


async def test_a_reply_goes_out_in_the_channels_language_while_users_info_is_held(
    stack: SlackStack, held: HeldSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The English reader's users.info is held until release(): past the reply's deadline, which
    # is shortened so that the test need not sit through it (the gate, not the clock, decides).
    stack.slack.latency("users.info", 60.0, times=1)
    monkeypatch.setattr("bot.slack.kit.READER_LANGUAGE_WAIT", 0.05)
    in_the_meantime = await command_reply(stack, FAILING, EN_USER, ZH_CHANNEL)
    await held.holding()
    # Replied while Slack still had not said: the answer is recorded only once it is sent.
    assert held.held and stack.slack.calls_to("users.info") == []
    held.release()
    [answered] = await stack.slack.wait_for("users.info")
    # Longer than the real 2 s: the answer is in, so no deadline can matter.
    monkeypatch.setattr("bot.slack.kit.READER_LANGUAGE_WAIT", 5.0)
    # The first of these may still share the held request's answer on its way; the second,
    # once that request is over, has it only if it was kept.
    afterwards = [await command_reply(stack, FAILING, EN_USER, ZH_CHANNEL) for _ in range(2)]
    await stack.stop()

    assert all(label in text_of(in_the_meantime) for label in card_labels(zh))
    for reply in afterwards:
        assert all(f"{label}:" in text_of(reply) for label in card_labels(str))
        assert not chinese(text_of(reply))
    # The answer the first reply stopped waiting for is the one the next were written in.
    assert stack.slack.calls_to("users.info") == [answered]


async def test_the_channels_facts_are_asked_for_while_the_readers_language_is(
    stack: SlackStack, held: HeldSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    # users.info held, and no deadline before the test releases it: conversations.info (the
    # guardrails' first question) is answered meanwhile, so the two calls do not add up.
    stack.slack.latency("users.info", 60.0, times=1)
    monkeypatch.setattr("bot.slack.kit.READER_LANGUAGE_WAIT", 60.0)
    ack, reply_to = await stack.command(FAILING, channel=ZH_CHANNEL, user=EN_USER)
    await held.holding()
    [facts] = await stack.slack.wait_for(
        "conversations.info", predicate=lambda c: c.body.get("channel") == ZH_CHANNEL
    )
    assert held.held and stack.slack.calls_to("users.info") == []  # still waiting on it
    held.release()
    [reply] = await stack.replies(reply_to)
    await stack.stop()

    assert ack.status_code == 200 and facts.ok
    assert all(f"{label}:" in text_of(reply.body) for label in card_labels(str))  # en-US
    assert len(stack.slack.calls_to("conversations.info")) == 1  # the check used that answer


PORT_EN: Final = "The port must be a number from 1 to 65535."
PORT_ZH: Final = "端口必须是 1 到 65535 之间的数字。"


def bad_port_submission(user: str) -> str:
    """A connectivity-test modal opened from ZH_CHANNEL, submitted with port 0."""
    modal = address_modal(Origin(ZH_CHANNEL, POOLS))
    return view_submission_body(modal, {TEST_ADDRESS_INPUT: "db:0"}, user_id=user)


def port_error(ack: httpx.Response) -> str:
    assert ack.status_code == 200
    answered = json.loads(ack.text)
    assert answered["response_action"] == "errors"
    return str(answered["errors"][TEST_ADDRESS_INPUT])


async def test_a_modals_input_errors_do_not_wait_for_users_info_past_the_acks_deadline(
    key_prefix: str, tmp_path: Path, held: HeldSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A submission names no channel: without the reader's language its errors are in
    # DLICONN_LOCALE's (Chinese here, as the channel the modal came from).
    async with readers_stack(key_prefix, tmp_path, held, DLICONN_LOCALE="zh-CN") as stack:
        stack.slack.latency("users.info", 60.0, times=1)
        monkeypatch.setattr("bot.slack.kit.ACK_LANGUAGE_WAIT", 0.05)
        in_the_meantime = await stack.post(bad_port_submission(EN_USER))
        await held.holding()
        assert held.held and stack.slack.calls_to("users.info") == []
        held.release()
        [answered] = await stack.slack.wait_for("users.info")
        # Longer than the real half second, as for replies.
        monkeypatch.setattr("bot.slack.kit.ACK_LANGUAGE_WAIT", 5.0)
        # As for replies: the second has the answer only if it was kept.
        afterwards = [await stack.post(bad_port_submission(EN_USER)) for _ in range(2)]
        await stack.stop()

    assert port_error(in_the_meantime) == PORT_ZH
    assert [port_error(ack) for ack in afterwards] == [PORT_EN, PORT_EN]
    assert stack.slack.calls_to("users.info") == [answered]
