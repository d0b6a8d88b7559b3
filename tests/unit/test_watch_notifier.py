"""The outbox sender and the watcher loops survive bugs and store blips: a job that keeps
failing is dropped without holding up the others, and a post is recorded despite a Redis blip."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.dli.models import ListedConnection
from bot.errors import StoreUnavailable
from bot.local.fake_slack import FakeSlackApi
from bot.metrics import Metrics
from bot.retry import RetryPolicy
from bot.watch.backend import WatchBackend
from bot.watch.jobs import Job
from bot.watch.notifier import MAX_UNEXPECTED_FAILURES, Notifier
from bot.watch.runner import WatchedProject, WatchOptions, run_watch_projects
from bot.watch.state import MemoryWatchStore
from bot.watch.subscriptions import MemorySubscriptionStore
from tests.unit.test_watch_runner import CID, HEALTHY

TOKEN: Final = "xoxb-notifier-test"
BAD: Final = "CBAD"
GOOD: Final = "CGOOD"
FAST: Final = WatchOptions(
    per_channel_gap=0.0, claim_ttl=0.2, send_backoff=RetryPolicy(attempts=1000, base=0.01, cap=0.02)
)
QUICK_RECORD: Final = RetryPolicy(attempts=5, base=0.01, cap=0.01)


def notice(job_id: str, channel: str) -> Job:
    return Job(id=job_id, channel=channel, kind="notice", text=f"notice {job_id}")


class BuggyForOneChannel(AsyncWebClient):
    """A Slack client with a bug that shows only when posting in `channel`."""

    def __init__(self, url: str, channel: str | None) -> None:
        super().__init__(token=TOKEN, base_url=url)
        self.channel = channel
        self.raised = 0

    async def chat_postMessage(self, *, channel: str, **kwargs: Any) -> AsyncSlackResponse:
        if channel == self.channel:
            self.raised += 1
            raise RuntimeError("a bug in the Slack client")
        return await super().chat_postMessage(channel=channel, **kwargs)


class WithoutTs(AsyncWebClient):
    """Slack accepts the post, but the answer lacks the message ts."""

    async def chat_postMessage(self, **kwargs: Any) -> AsyncSlackResponse:
        response = await super().chat_postMessage(**kwargs)
        assert isinstance(response.data, dict)
        del response.data["ts"]
        return response


class FlakyFinish(MemoryWatchStore):
    """Redis drops the connection on the first `failures` attempts to record a finished job."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.finish_calls = 0

    async def finish(self, job: Job, *, posted_ts: str | None = None) -> None:
        self.finish_calls += 1
        if self.finish_calls <= self.failures:
            raise StoreUnavailable("connection reset") from RedisConnectionError("reset")
        await super().finish(job, posted_ts=posted_ts)


class NothingListed:
    async def iter_listed(self, *, page_size: int = 0) -> AsyncIterator[ListedConnection]:
        return
        yield  # an async generator that lists nothing


class BuggyThenHealthy:
    """A DLI source whose first `bugs` calls raise something the watcher does not expect."""

    def __init__(self, bugs: int, calls: int) -> None:
        self.bugs = bugs
        self.calls = 0
        self.enough = asyncio.Event()
        self._wanted = calls

    async def iter_listed(self, *, page_size: int = 0) -> AsyncIterator[ListedConnection]:
        self.calls += 1
        if self.calls >= self._wanted:
            self.enough.set()
        if self.calls <= self.bugs:
            raise RuntimeError("a bug while listing")
        yield HEALTHY


async def empty_outbox(store: MemoryWatchStore, deadline: float = 5.0) -> None:
    async with asyncio.timeout(deadline):
        while await store.pending():  # noqa: ASYNC110 - the store has no event to wait on
            await asyncio.sleep(0.01)


def backend(store: MemoryWatchStore | None = None) -> WatchBackend:
    return WatchBackend(MemorySubscriptionStore(), store or MemoryWatchStore())


async def test_a_job_that_keeps_raising_is_dropped_and_the_others_still_go_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.watch")
    async with FakeSlackApi() as fake:
        slack = BuggyForOneChannel(fake.url, BAD)
        watch = backend()
        state = watch.state
        assert isinstance(state, MemoryWatchStore)
        await state.enqueue([notice("poison", BAD), notice("fine", GOOD)])
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_watch_projects(
                [WatchedProject(NothingListed(), watch)],
                slack,
                stop=stop,
                interval=0.05,
                options=FAST,
            )
        )
        try:
            [fine] = await fake.wait_for("chat.postMessage")
            assert fine.channel == GOOD
            await empty_outbox(state)
            assert slack.raised == MAX_UNEXPECTED_FAILURES
            # The sender is alive: a later job goes out, in the channel that failed too.
            slack.channel = None
            await state.enqueue([notice("later", BAD)])
            await fake.wait_for("chat.postMessage", count=2)
            assert not loop.done()
        finally:
            stop.set()
            await loop
    assert slack.raised == MAX_UNEXPECTED_FAILURES
    failures = [r for r in caplog.records if "poison" in r.getMessage()]
    assert sum(r.exc_info is not None for r in failures) == MAX_UNEXPECTED_FAILURES
    assert any(r.levelno == logging.ERROR and "dropped" in r.getMessage() for r in failures)


async def test_the_poll_loop_logs_a_bug_and_keeps_polling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = backend()
    await watch.subscriptions.subscribe("C1", CID, "orders", "U1")
    source = BuggyThenHealthy(bugs=2, calls=4)
    stop = asyncio.Event()
    slack = AsyncWebClient(token=TOKEN, base_url="http://127.0.0.1:9/")  # nothing to post
    loop = asyncio.create_task(
        run_watch_projects([WatchedProject(source, watch)], slack, stop=stop, interval=0.01)
    )
    try:
        async with asyncio.timeout(5):
            await source.enough.wait()
        assert not loop.done()
    finally:
        stop.set()
        await loop
    logged = [r for r in caplog.records if r.exc_info is not None]
    assert len(logged) == 2
    assert all("a bug while listing" in str(r.exc_info[1]) for r in logged if r.exc_info)
    assert (await watch.state.load()).states.keys() == {CID}


async def test_a_post_is_recorded_despite_a_redis_blip_and_sent_once() -> None:
    store = FlakyFinish(failures=2)
    async with FakeSlackApi() as fake:
        slack = AsyncWebClient(token=TOKEN, base_url=fake.url)
        notifier = Notifier(slack, store, MemorySubscriptionStore(), record_retry=QUICK_RECORD)
        await store.enqueue([notice("n1", GOOD)])
        await notifier.drain()
        assert await store.pending() == []
        await notifier.drain()
        assert len(fake.calls_to("chat.postMessage")) == 1
    assert store.finish_calls == 3


async def test_a_post_that_cannot_be_recorded_is_reported_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyFinish(failures=QUICK_RECORD.attempts)
    async with FakeSlackApi() as fake:
        slack = AsyncWebClient(token=TOKEN, base_url=fake.url)
        notifier = Notifier(slack, store, MemorySubscriptionStore(), record_retry=QUICK_RECORD)
        await store.enqueue([notice("n1", GOOD)])
        with pytest.raises(StoreUnavailable):
            await notifier.drain()
        assert len(fake.calls_to("chat.postMessage")) == 1
    assert store.finish_calls == QUICK_RECORD.attempts
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "n1" in record.getMessage() and "posted again" in record.getMessage()


async def test_a_post_answered_without_ts_is_not_sent_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryWatchStore()
    async with FakeSlackApi() as fake:
        slack = WithoutTs(token=TOKEN, base_url=fake.url)
        notifier = Notifier(slack, store, MemorySubscriptionStore(), backoff=FAST.send_backoff)
        await store.enqueue([notice("n1", GOOD)])
        await notifier.drain()
        assert await store.pending() == []
        assert len(fake.calls_to("chat.postMessage")) == 1
    assert any(r.levelno == logging.ERROR and "n1" in r.getMessage() for r in caplog.records)


def dropped(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "dliconn_watch_posts_dropped_total", {"reason": reason}
    )


async def test_every_post_given_up_on_is_counted_by_why() -> None:
    store, metrics = MemoryWatchStore(), Metrics()
    async with FakeSlackApi() as fake:
        slack = BuggyForOneChannel(fake.url, BAD)
        notifier = Notifier(
            slack, store, MemorySubscriptionStore(), backoff=FAST.send_backoff, metrics=metrics
        )
        fake.fail("chat.postMessage", "invalid_blocks", channel=GOOD)
        fake.fail("chat.postMessage", "channel_not_found", channel="CGONE")
        await store.enqueue(
            [
                notice("refused", GOOD),
                notice("gone-1", "CGONE"),
                notice("gone-2", "CGONE"),
                notice("poison", BAD),
                notice("fine", GOOD),
            ]
        )
        while await store.pending():
            await notifier.drain()
        [ok] = [c for c in fake.calls_to("chat.postMessage") if c.ok]
    assert ok.channel == GOOD and ok.body["text"] == "notice fine"
    assert dropped(metrics, "refused") == 1
    assert dropped(metrics, "channel") == 2  # the failed post and the one waiting behind it
    assert dropped(metrics, "unexpected") == 1


async def test_a_guardrails_check_that_fails_posts_rather_than_stopping_every_channel() -> None:
    store, metrics = MemoryWatchStore(), Metrics()

    async def refuses(channel: str) -> str | None:
        if channel == BAD:
            raise OSError("a bug while asking about one channel")
        return "guardrails.external_channels" if channel == "CSHARED" else None

    async with FakeSlackApi() as fake:
        slack = AsyncWebClient(token=TOKEN, base_url=fake.url)
        notifier = Notifier(
            slack, store, MemorySubscriptionStore(), refuses=refuses, metrics=metrics
        )
        await store.enqueue([notice("n1", BAD), notice("n2", "CSHARED"), notice("n3", GOOD)])
        while await store.pending():
            await notifier.drain()
        posted = {c.channel for c in fake.calls_to("chat.postMessage") if c.ok}
    assert posted == {BAD, GOOD}  # asking failed: posted; refused: not
    assert dropped(metrics, "guardrails") == 1
