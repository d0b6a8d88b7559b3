"""The watcher writes each channel's posts in that channel's language: a zh-CN channel and an
en one get Chinese and English in the same cycle (alerts, their updates on acknowledge and on
resolve, thread replies, notices, the notice every channel shares, the reset summary), and the
outbox job ids do not depend on the language."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Final

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.message import Message
from bot.blocks.render import render_text
from bot.dli.models import ListedConnection, ListedQueue
from bot.errors import TIMEOUT, Unavailable, dli_problem
from bot.i18n import Locale, speaking
from bot.local.fake_slack import FakeSlackApi, SlackCall
from bot.watch import messages
from bot.watch.backend import WatchBackend
from bot.watch.jobs import Job, plan_jobs
from bot.watch.notifier import Notifier
from bot.watch.runner import Watcher
from bot.watch.state import MemoryWatchStore
from bot.watch.subscriptions import MemorySubscriptionStore
from bot.watch.transitions import (
    DliReachable,
    DliUnreachable,
    Event,
    Failed,
    Flapping,
    Flipped,
    Gone,
    Policy,
    Recovered,
    Resolved,
    Stabilised,
    Stuck,
)
from tests.helpers import chinese
from tests.slack_limits import assert_within_slack_limits
from tests.unit.test_watch_messages import CID, incident

ZH: Final = "CZH"
EN: Final = "CEN"
EN_TOO: Final = "CEN2"
CHANNELS: Final = (ZH, EN, EN_TOO)
ERR: Final = "peering lost"
HEALTHY: Final = ListedConnection(
    id=CID, name="orders", status="ACTIVE", available_queue_info=(ListedQueue("q1", "ACTIVE"),)
)
FAILING: Final = ListedConnection(
    id=CID,
    name="orders",
    status="ACTIVE",
    available_queue_info=(ListedQueue("q1", "FAILED", ERR),),
)


def by_channel(channel: str) -> Locale:
    return "zh-CN" if channel == ZH else "en"


def english(channel: str) -> Locale:
    return "en"


def shown(text: str, blocks: object) -> str:
    return text + json.dumps(blocks, ensure_ascii=False)


# --------------------------------------------------------------------------- planning


def every_event() -> list[Event]:
    open_ = incident(err_msg=ERR)
    done = open_.model_copy(update={"resolved_at": 1_700_003_600.0, "down_for": 3540.0})
    return [
        Failed("e1", open_, first_sight=False),
        Flapping("e2", open_.model_copy(update={"kind": "flapping", "flips": 5})),
        Recovered("e3", open_.id, CID, "q0", "queue", "ACTIVE", "orders", 90.0),
        Flipped("e4", open_.id, CID, "q0", "queue", "FAILED", ERR),
        Stabilised("e5", open_.id, CID, "q0", "queue", "ACTIVE", 1800.0),
        Resolved("e6", done),
        Gone("e7", CID, "orders", deleted=True),
        Stuck("e8", CID, "orders", "q0", "pool", 1_700_000_000.0),
        DliUnreachable("e9", 1_700_000_000.0, "timeout"),
        DliReachable("e10", 600.0),
    ]


def planned(locale_of: Callable[[str], Locale]) -> list[Job]:
    return plan_jobs(
        every_event(),
        subscribers=lambda connection_id: CHANNELS,
        every_channel=CHANNELS,
        muted=lambda connection_id, channel: False,
        locale_of=locale_of,
    )


def test_planned_posts_are_in_each_channels_language_with_the_same_job_ids() -> None:
    jobs = planned(by_channel)

    assert [j.id for j in jobs] == [j.id for j in planned(english)]
    carried = [j for j in jobs if j.kind in ("reply", "notice")]
    assert {j.channel for j in carried} == set(CHANNELS)
    for job in carried:
        assert chinese(shown(job.text, job.blocks)) == (job.channel == ZH), job
        assert_within_slack_limits(Message(job.text, job.blocks))
    # Alerts and their updates carry nothing yet: the notifier renders them when it sends.
    assert all(not j.text and not j.blocks for j in jobs if j.kind in ("alert", "refresh"))


def test_the_notice_every_channel_shares_is_rendered_once_per_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered: list[str] = []
    unreachable = messages.unreachable_notice

    def counted(event: DliUnreachable, project: object = None) -> Message:
        rendered.append(event.event_id)
        return unreachable(event)

    monkeypatch.setattr(messages, "unreachable_notice", counted)
    jobs = planned(by_channel)

    notices = [j for j in jobs if j.id.startswith("e9:")]
    assert [j.channel for j in notices] == sorted(CHANNELS)
    assert rendered == ["e9", "e9"]  # three channels, two languages
    [zh] = [j for j in notices if j.channel == ZH]
    assert "无法访问 DLI" in shown(zh.text, zh.blocks)
    assert all("Cannot reach DLI" in shown(j.text, j.blocks) for j in notices if j.channel != ZH)


# --------------------------------------------------------------------------- a whole watch


class Script:
    """DLI's list as the test sets it before each cycle: some connections, or an outage."""

    def __init__(self) -> None:
        self.listed: list[ListedConnection] | None = [HEALTHY]

    async def iter_listed(self, *, page_size: int = 0) -> AsyncIterator[ListedConnection]:
        if self.listed is None:
            raise Unavailable(
                "DLI is unavailable (HTTP 503): DLI is down",
                detail="DLI is down",
                request_id="req-9",
            )
        for connection in self.listed:
            yield connection


class Run:
    """One watcher and its sender on one in-memory backend, posting to the Slack stand-in."""

    def __init__(self, slack: AsyncWebClient, locale_of: Callable[[str], Locale]) -> None:
        self.now = 1_700_000_000.0
        self.dli = Script()
        self.backend = WatchBackend(MemorySubscriptionStore(), MemoryWatchStore())
        self.watcher = Watcher(
            self.dli,
            self.backend,
            policy=Policy(outage_after=1),
            clock=lambda: self.now,
            locale_of=locale_of,
        )
        self.notifier = Notifier(
            slack,
            self.backend.state,
            self.backend.subscriptions,
            per_channel_gap=0.0,
            wall_clock=lambda: self.now,
            locale_of=locale_of,
        )
        self.job_ids: list[str] = []

    async def subscribe(self) -> None:
        for channel in CHANNELS:
            await self.backend.subscriptions.subscribe(channel, CID, "orders", "U0WATCHER")

    async def send(self) -> None:
        """Everything pending, into Slack (one job per channel per drain)."""
        while pending := await self.backend.state.pending():
            self.job_ids += [j.id for j in pending if j.id not in self.job_ids]
            await self.notifier.drain()

    async def cycle(self, listed: list[ListedConnection] | None) -> None:
        self.now += 60.0
        self.dli.listed = listed
        assert (await self.watcher.cycle(None)).committed or listed == [HEALTHY]
        await self.send()

    async def watch(self) -> None:
        """A queue fails, is acknowledged in the Chinese channel, DLI goes away and comes
        back, and the queue has recovered."""
        await self.subscribe()
        await self.cycle([HEALTHY])
        await self.cycle([FAILING])
        assert await self.backend.state.acknowledge(CID, ZH, "U0ACKER")
        await self.send()
        await self.cycle(None)
        await self.cycle([HEALTHY])


def job_ids_without_nonces(ids: list[str]) -> list[str]:
    # An acknowledgement's update has a random nonce of its own (bot.watch.state._ack_jobs).
    return [re.sub(r"^ack:[0-9a-f]+:", "ack:", i) for i in ids]


async def watched(locale_of: Callable[[str], Locale]) -> tuple[list[str], list[SlackCall]]:
    async with FakeSlackApi() as fake:
        run = Run(AsyncWebClient(token="xoxb-languages", base_url=fake.url), locale_of)
        await run.watch()
        calls = [c for c in fake.calls if c.method in ("chat.postMessage", "chat.update")]
    return job_ids_without_nonces(run.job_ids), calls


def posts(calls: list[SlackCall], channel: str) -> list[tuple[str, str]]:
    return [
        (c.method, shown(str(c.body.get("text", "")), c.body.get("blocks")))
        for c in calls
        if c.body.get("channel") == channel
    ]


async def test_one_watch_speaks_chinese_in_the_zh_channel_and_english_in_the_others() -> None:
    ids, calls = await watched(by_channel)

    zh, en = posts(calls, ZH), posts(calls, EN)
    # The alert, its update on acknowledge (only where acknowledged), the outage notice, the
    # notice of its end, the recovery reply and the resolved update.
    assert [m for m, _ in zh] == [
        "chat.postMessage",
        "chat.update",
        "chat.postMessage",
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
    ]
    assert [m for m, _ in en] == [m for m, _ in zh if m != "chat.update"] + ["chat.update"]
    assert all(chinese(text) for _, text in zh)
    assert not any(chinese(text) for _, text in posts(calls, EN) + posts(calls, EN_TOO))
    alert, acked, down, up, recovered, resolved = (text for _, text in zh)
    assert "认领" in alert and "Acknowledge" not in alert and ERR in alert and "FAILED" in alert
    assert "已由 <@U0ACKER> 认领" in acked
    assert "无法访问 DLI" in down and "DLI is down" in down  # DLI's own words stay as they are
    with speaking("zh-CN"):
        assert f"{dli_problem('unavailable')}（" in down  # the kind in our words, then DLI's
    [en_down] = [text for _, text in en if "Cannot reach DLI" in text]
    assert "DLI is unreachable (" in en_down and "DLI is down req-9" in en_down
    assert "HTTP 503" not in en_down  # our own summary is not DLI's words
    assert "DLI 已恢复可达" in up
    assert "恢复为" in recovered and "ACTIVE" in recovered
    assert "已解决" in resolved and "<@U0ACKER>" in resolved
    [en_resolved] = [text for method, text in en if method == "chat.update"]
    assert "Resolved" in en_resolved and "Acknowledged" not in en_resolved
    # The same jobs, by the same ids, whatever the channels' languages.
    english_ids, _ = await watched(english)
    assert ids == english_ids
    assert any(i.startswith("ack:") for i in ids)


async def test_after_a_reset_each_channel_gets_its_summary_in_its_language() -> None:
    subscriptions = MemorySubscriptionStore(static_channels=CHANNELS)
    before = WatchBackend(subscriptions, MemoryWatchStore())
    watcher = Watcher(Script(), before, locale_of=by_channel)
    await watcher.cycle(None)
    after = WatchBackend(subscriptions, MemoryWatchStore(), resets=before.resets)
    dli = Script()
    dli.listed = [FAILING]
    await Watcher(dli, after, locale_of=by_channel).cycle(None)

    summaries = {j.channel: j for j in await after.state.pending()}
    assert set(summaries) == set(CHANNELS)
    epoch = await after.state.epoch()
    assert epoch is not None
    for channel, job in summaries.items():
        assert job.id == f"reset:{epoch.id}:{channel}"
        text = shown(job.text, job.blocks)
        assert chinese(text) == (channel == ZH)
        assert "orders" in text and "q1" in text and "FAILED" in text
    assert "机器人的记忆已重置" in summaries[ZH].text
    assert "memory was reset" in summaries[EN].text


def test_a_list_that_took_too_long_is_named_as_such_in_the_notice() -> None:
    event = DliUnreachable("e1", 1_700_000_000.0, "30 s", TIMEOUT)
    english = messages.unreachable_notice(event)
    with speaking("zh-CN"):
        chinese_notice = messages.unreachable_notice(event)
        took_too_long = dli_problem(TIMEOUT)
    assert "DLI did not answer in time (" in render_text(english) and "30 s" in render_text(english)
    assert f"{took_too_long}（" in render_text(chinese_notice)
