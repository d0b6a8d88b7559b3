"""Which language a reply is in: the reader's Slack locale (users.info, cached), else the
channel's `locale`, else DLICONN_LOCALE; and sentences with values in them (`phrase`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.text import code, phrase, words
from bot.config import ChannelConfig, Deployment, ProjectConfig
from bot.local.fake_slack import FakeSlackApi
from bot.slack.facts import LOCALE_FAILURE_TTL, LOCALE_TTL, Asking, SlackFacts
from bot.slack.languages import Languages
from tests.fakes.cache import FakeClock
from tests.fakes.dli import HeldSleep

ZH_TEAM, PLAIN = "C0ZHTEAM", "C0PLAIN"
ZH_READER, EN_READER, UNSET = "U0ZH", "U0EN", "U0UNSET"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(locales={ZH_READER: "zh-CN", EN_READER: "en-GB"}) as fake:
        yield fake


def deployment() -> Deployment:
    return Deployment(
        projects=(ProjectConfig(alias="default", project_id="0" * 32),),
        channels={ZH_TEAM: ChannelConfig(locale="zh-CN")},
    )


def facts(slack: FakeSlackApi, clock: FakeClock) -> SlackFacts:
    return SlackFacts(AsyncWebClient(token="xoxb-t", base_url=slack.url), clock=clock.monotonic)


async def test_a_reply_follows_the_readers_slack_locale_wherever_they_ask(
    slack: FakeSlackApi,
) -> None:
    languages = Languages(deployment(), "en", facts(slack, FakeClock()))
    assert await languages.of_reader(Asking(PLAIN, ZH_READER)) == "zh-CN"
    assert await languages.of_reader(Asking(ZH_TEAM, EN_READER)) == "en"
    # A locale that is neither (users.info says en-US for anyone the fake does not know).
    assert await languages.of_reader(Asking(ZH_TEAM, UNSET)) == "en"


async def test_a_post_uses_the_channels_locale_else_the_deployments_default() -> None:
    assert Languages(deployment(), "en").of_channel(ZH_TEAM) == "zh-CN"
    assert Languages(deployment(), "en").of_channel(PLAIN) == "en"
    assert Languages(deployment(), "zh-CN").of_channel(PLAIN) == "zh-CN"
    assert Languages(None, "zh-CN").of_channel(PLAIN) == "zh-CN"
    assert Languages().of_channel(ZH_TEAM) == "en"


async def test_when_slack_will_not_say_the_reply_is_in_the_channels_language(
    slack: FakeSlackApi,
) -> None:
    slack.fail("users.info", "missing_scope", times=None)
    languages = Languages(deployment(), "en", facts(slack, FakeClock()))
    assert await languages.of_reader(Asking(ZH_TEAM, ZH_READER)) == "zh-CN"
    assert await languages.of_reader(Asking(PLAIN, ZH_READER)) == "en"
    # Without Slack to ask at all (the CLI's own lookups), the channel decides too.
    assert await Languages(deployment()).of_reader(Asking(ZH_TEAM, ZH_READER)) == "zh-CN"


async def test_a_persons_locale_is_asked_once_per_ttl_and_a_refusal_less_often(
    slack: FakeSlackApi,
) -> None:
    clock = FakeClock()
    cached = facts(slack, clock)
    for _ in range(3):
        assert await cached.user_locale(ZH_READER) == "zh-CN"
    assert len(slack.calls_to("users.info")) == 1
    clock.advance(LOCALE_TTL + 1)
    assert await cached.user_locale(ZH_READER) == "zh-CN"
    assert len(slack.calls_to("users.info")) == 2

    slack.fail("users.info", "ratelimited", times=1)
    assert await cached.user_locale(EN_READER) is None
    assert await cached.user_locale(EN_READER) is None  # remembered: not asked again yet
    assert len(slack.calls_to("users.info")) == 3
    clock.advance(LOCALE_FAILURE_TTL + 1)
    assert await cached.user_locale(EN_READER) == "en-GB"


async def test_concurrent_replies_to_one_new_person_ask_slack_once(slack: FakeSlackApi) -> None:
    cached = facts(slack, FakeClock())
    found = await asyncio.gather(*(cached.user_locale(ZH_READER) for _ in range(5)))
    assert found == ["zh-CN"] * 5
    assert len(slack.calls_to("users.info")) == 1


def test_a_phrase_puts_each_value_where_the_translation_says() -> None:
    name = code("orders_<!channel>")
    english = phrase("Queue {name} turned {status}", name=name, status="FAILED")
    reordered = phrase("{status}：队列 {name}", name=name, status="FAILED")
    assert english == [words("Queue "), *name, words(" turned FAILED")]
    assert reordered == [words("FAILED：队列 "), *name]
    # Literal braces are the translation's own words.
    assert phrase("{{x}} {n}", n=words("1", bold=True)) == [words("{x} "), words("1", bold=True)]


async def test_a_reply_that_stops_waiting_still_leaves_the_answer_for_the_next() -> None:
    held = HeldSleep()
    async with FakeSlackApi(locales={ZH_READER: "zh-CN"}, sleep=held) as slack:
        slack.latency("users.info", 30.0, times=1)
        cached = facts(slack, FakeClock())
        # users.info is held; the reply gives up (as Kit's deadline makes it) ...
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await cached.user_locale(ZH_READER)
        await held.holding()
        held.release()
        # ... and nobody waits for the call any more. Once it is answered, it is remembered.
        await asyncio.gather(*cached._asking.values())
        assert await cached.user_locale(ZH_READER) == "zh-CN"
        assert len(slack.calls_to("users.info")) == 1
