"""The watcher end to end: FakeDli over HTTP, a real Redis, the fake Slack Web API.

Every test runs real watcher loops (tasks, or processes for the kill -9 takeover) with tiny
intervals, changes queues on the fake DLI, and waits (with timeouts) for what Slack receives.
"Exactly once" is checked after the watchers have run further cycles and drained the outbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Final

import pytest
import redis.asyncio as aioredis
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Deployment, ProjectConfig
from bot.dli.client import DliClient
from bot.dli.models import ListedQueue, QueueInfo
from bot.local.demo import demo_connections
from bot.local.fake_dli import FakeDli, Fault
from bot.local.fake_slack import FakeSlackApi, SlackCall
from bot.retry import RetryPolicy
from bot.slack.facts import Guard, SlackFacts
from bot.watch.backend import WatchBackend
from bot.watch.runner import WatchedProject, WatchOptions, run_watch_projects
from bot.watch.state import RedisWatchStore
from bot.watch.subscriptions import RedisSubscriptionStore
from bot.watch.transitions import Policy
from tests.conftest import REDIS_URL
from tests.fakes.dli import client_for, list_calls, queued, running_fake
from tests.fakes.slack_stack import markup_of, posted_ts
from tests.slack_limits import assert_shows, text_objects

CID: Final = "a1b2c3d4-0000-4000-8000-000000000001"
CID2: Final = "a1b2c3d4-0000-4000-8000-000000000002"
ALERTS: Final = "CALERTS"
OTHER: Final = "COTHER"
TOKEN: Final = "xoxb-watcher-test-token"
INTERVAL: Final = 0.05
OPTIONS: Final = WatchOptions(
    policy=Policy(flap_threshold=1000, stuck_after=3600.0, outage_after=3),
    lease_ttl=0.5,
    cycle_timeout=2.0,
    per_channel_gap=0.01,
    claim_ttl=0.5,
    send_backoff=RetryPolicy(attempts=1000, base=0.02, cap=0.1),
)


def top_level(call: SlackCall) -> bool:
    return call.ok and "thread_ts" not in call.body


def in_thread(ts: str) -> Callable[[SlackCall], bool]:
    return lambda call: call.ok and call.body.get("thread_ts") == ts


@dataclass
class Rig:
    dli: FakeDli
    slack: FakeSlackApi
    client: DliClient
    redis: aioredis.Redis
    prefix: str
    exits: AsyncExitStack
    tasks: list[tuple[asyncio.Task[None], asyncio.Event]] = field(default_factory=list)

    def backend(self, static: Iterable[str] = ()) -> WatchBackend:
        return WatchBackend(
            RedisSubscriptionStore(self.redis, prefix=self.prefix, static_channels=static),
            RedisWatchStore(self.redis, self.dli.project_id, prefix=self.prefix),
        )

    async def start(
        self, backend: WatchBackend | None = None, options: WatchOptions = OPTIONS
    ) -> asyncio.Task[None]:
        """A watcher with clients of its own, as a separate replica would have."""
        web = AsyncWebClient(token=TOKEN, base_url=self.slack.url)
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_watch_projects(
                [WatchedProject(self.client, backend or self.backend())],
                web,
                stop=stop,
                interval=INTERVAL,
                options=options,
            )
        )
        self.tasks.append((task, stop))
        return task

    def list_calls(self) -> int:
        return list_calls(self.dli)

    async def cycles(
        self, count: int = 3, deadline: float = 5.0, *, pending_ok: bool = False
    ) -> None:
        """Wait until the watchers have listed connections `count` more times and the outbox
        is empty: everything they were going to post is posted (`pending_ok`: a job may stay
        held, as by an hour's Retry-After)."""
        target = self.list_calls() + count
        store = self.backend().state

        async def busy() -> bool:
            return self.list_calls() < target or (not pending_ok and bool(await store.pending()))

        async with asyncio.timeout(deadline):
            # Polling: neither the fake's request log nor Redis has an event to wait on.
            while await busy():  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    async def subscribe(self, channel: str, cid: str = CID) -> None:
        await self.backend().subscriptions.subscribe(channel, cid, "orders", "U1")


@pytest.fixture
async def rig(redis_client: aioredis.Redis, key_prefix: str) -> AsyncIterator[Rig]:
    async with AsyncExitStack() as exits:
        dli = await exits.enter_async_context(
            running_fake([queued(CID, "orders", q1="ACTIVE", q2="ACTIVE", q3="ACTIVE")])
        )
        slack = await exits.enter_async_context(FakeSlackApi())
        client = await exits.enter_async_context(client_for(dli))
        rig = Rig(dli, slack, client, redis_client, key_prefix, exits)
        yield rig
        for _, stop in rig.tasks:
            stop.set()
        for task, _ in rig.tasks:
            try:
                async with asyncio.timeout(3):
                    await task
            except asyncio.CancelledError:
                pass


async def test_failure_alerts_once_recovery_replies_in_thread_and_resolves(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    await rig.start()
    await rig.cycles()
    rig.dli.set_queue(CID, "q1", "FAILED", "<!channel> peering *broke* <http://evil|x>")
    [alert] = await rig.slack.wait_for("chat.postMessage", predicate=top_level)
    await rig.cycles()
    assert len(rig.slack.calls_to("chat.postMessage")) == 1
    assert alert.channel == ALERTS
    body = markup_of(alert)
    assert "q1" in body and CID in body and "peering" in body
    # The err_msg arrives exactly, in a code block Slack does not parse; nothing it parses has it.
    assert_shows(alert.body["blocks"], "<!channel> peering *broke* <http://evil|x>")
    parsed = [alert.body["text"]] + [
        t["text"] for t in text_objects(alert.body["blocks"]) if t["type"] == "mrkdwn"
    ]
    assert not any("<!channel>" in t or "<http://evil" in t for t in parsed)
    actions = next(b for b in alert.body["blocks"] if b["type"] == "actions")["elements"]
    ids = {(e["action_id"], e["value"]) for e in actions}
    assert ("dliconn_refresh", CID) in ids and ("dliconn_ack", CID) in ids
    assert ("dliconn_mute_4h", f"{CID}|4") in ids

    rig.dli.set_queue(CID, "q1", "ACTIVE")
    ts = posted_ts(alert)
    [reply] = await rig.slack.wait_for("chat.postMessage", predicate=in_thread(ts))
    [update] = await rig.slack.wait_for("chat.update")
    await rig.cycles()
    assert "ACTIVE again" in markup_of(reply)
    assert update.body["ts"] == ts
    assert "Resolved" in json.dumps(rig.slack.message(ALERTS, ts))
    assert len(rig.slack.calls_to("chat.postMessage")) == 2
    assert len(rig.slack.calls_to("chat.update")) == 1


async def test_queues_failing_in_one_cycle_make_one_alert(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    await rig.start()
    await rig.cycles()
    rig.dli.set_queue(CID, "q1", "FAILED", "first")
    rig.dli.set_queue(CID, "q2", "FAILED", "second")
    [alert] = await rig.slack.wait_for("chat.postMessage")
    await rig.cycles()
    assert len(rig.slack.calls_to("chat.postMessage")) == 1
    assert "first" in markup_of(alert) and "second" in markup_of(alert)


async def test_first_sight_of_a_failed_queue_alerts_once(rig: Rig) -> None:
    rig.dli.set_queue(CID, "q2", "FAILED", "was broken before")
    await rig.subscribe(ALERTS)
    await rig.start()
    await rig.slack.wait_for("chat.postMessage")
    await rig.cycles()
    assert len(rig.slack.calls_to("chat.postMessage")) == 1


async def test_killing_and_restarting_at_any_moment_loses_and_doubles_nothing(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    rng = random.Random(7)
    rounds = 6
    for n in range(rounds):
        status = "FAILED" if n % 2 == 0 else "ACTIVE"
        rig.dli.set_queue(CID, "q1", status, "down")
        # A few abrupt kills at random moments while this transition is being handled...
        for _ in range(3):
            task = await rig.start()
            await asyncio.sleep(rng.uniform(0.0, 0.12))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        # ...then one that stays until the transition has reached Slack.
        task = await rig.start()
        method = "chat.postMessage"
        await rig.slack.wait_for(method, count=n + 1, timeout=10)
        await rig.cycles()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    posts = rig.slack.calls_to("chat.postMessage", lambda c: c.ok)
    alerts = [c for c in posts if "thread_ts" not in c.body]
    replies = [c for c in posts if "thread_ts" in c.body]
    assert len(alerts) == rounds // 2
    assert len(replies) == rounds // 2
    assert {r.body["thread_ts"] for r in replies} == {posted_ts(a) for a in alerts}
    assert len(rig.slack.calls_to("chat.update", lambda c: c.ok)) == rounds // 2


async def test_two_watchers_at_once_post_each_transition_once(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    other_redis = aioredis.Redis.from_url(REDIS_URL)
    rig.exits.push_async_callback(other_redis.aclose)
    second = WatchBackend(
        RedisSubscriptionStore(other_redis, prefix=rig.prefix),
        RedisWatchStore(other_redis, rig.dli.project_id, prefix=rig.prefix),
    )
    first = await rig.start()
    await rig.start(second)
    await rig.cycles()
    for status in ("FAILED", "ACTIVE", "FAILED"):
        rig.dli.set_queue(CID, "q1", status, "x")
        await rig.cycles(6)
    assert len(rig.slack.calls_to("chat.postMessage", top_level)) == 2
    assert len(rig.slack.calls_to("chat.postMessage")) == 3
    # Whichever held the lease, losing the first replica leaves the second doing the work.
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    rig.dli.set_queue(CID, "q1", "ACTIVE")
    await rig.slack.wait_for("chat.postMessage", count=4)
    await rig.cycles()
    assert len(rig.slack.calls_to("chat.postMessage")) == 4


WATCHER_PROCESS: Final = """
import asyncio, sys
from slack_sdk.web.async_client import AsyncWebClient
from bot.dli.client import DliClient
from bot.local.demo import demo_connections
from bot.local.demo import DEMO_ACCESS_KEY, DEMO_SECRET_KEY
from bot.dli.auth import AkSkAuth
from bot.retry import RetryPolicy
from bot.watch.backend import build_watch_backends
from bot.watch.routes import ProjectRoutes
from bot.watch.runner import WatchedProject, WatchOptions, run_watch_projects
from bot.watch.transitions import Policy

dli_url, slack_url, redis_url, prefix, project = sys.argv[1:6]

async def main():
    dli = DliClient(dli_url, project, auth=AkSkAuth(DEMO_ACCESS_KEY, DEMO_SECRET_KEY),
                    retry=RetryPolicy(attempts=1))
    [backend] = build_watch_backends(redis_url, [(project, ProjectRoutes("default"))],
                                     prefix=prefix)
    options = WatchOptions(policy=Policy(flap_threshold=1000), lease_ttl=0.5,
                           per_channel_gap=0.01, claim_ttl=0.5)
    await run_watch_projects([WatchedProject(dli, backend)],
                             AsyncWebClient(token="xoxb-p", base_url=slack_url),
                             stop=asyncio.Event(), interval=0.05, options=options)

asyncio.run(main())
"""


async def test_standby_process_takes_over_when_the_holder_is_killed(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    args = [rig.dli.url, rig.slack.url, REDIS_URL, rig.prefix, rig.dli.project_id]
    env = {**os.environ, "PYTHONPATH": os.getcwd()}

    def spawn() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-c", WATCHER_PROCESS, *args], env=env)
        rig.exits.callback(process.wait)
        rig.exits.callback(process.kill)  # exit callbacks run last first: kill, then reap
        return process

    holder = spawn()
    rig.dli.set_queue(CID, "q1", "FAILED", "x")
    [alert] = await rig.slack.wait_for("chat.postMessage", timeout=15)
    standby = spawn()
    await rig.cycles(10, deadline=15)  # the standby is up and polling nothing meanwhile
    lease_key = RedisWatchStore(rig.redis, rig.dli.project_id, prefix=rig.prefix).lease(1).key
    dead_token = await rig.redis.get(lease_key)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    listed_at_kill = rig.list_calls()
    rig.dli.set_queue(CID, "q1", "ACTIVE")
    ts = alert.response["ts"]  # type: ignore[index]
    # The dead holder's lease lapses by itself and the standby's token replaces it.
    async with asyncio.timeout(15):
        # Polling: a lease changing hands announces nothing.
        while await rig.redis.get(lease_key) in (dead_token, None):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    listed_at_reply: list[int] = []

    def the_reply(call: SlackCall) -> bool:
        if in_thread(ts)(call):
            listed_at_reply.append(rig.list_calls())
            return True
        return False

    [reply] = await rig.slack.wait_for("chat.postMessage", predicate=the_reply, timeout=15)
    # Nobody polled under the dead holder's lease, and the standby posted from its first polls
    # as holder (each poll is one list call). How soon after the lapse is a timing: bench/.
    assert "ACTIVE again" in markup_of(reply)
    assert dead_token is not None
    assert 1 <= listed_at_reply[0] - listed_at_kill <= 3
    await rig.cycles()
    assert len(rig.slack.calls_to("chat.postMessage")) == 2
    assert standby.poll() is None


async def test_slack_429_is_posted_after_retry_after(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    await rig.start()
    await rig.cycles()
    # Enforced, as on Slack: a post sooner than Retry-After would be refused with another 429.
    rig.slack.rate_limit("chat.postMessage", retry_after=1, times=1, enforce=True)
    rig.dli.set_queue(CID, "q1", "FAILED", "x")
    [posted] = await rig.slack.wait_for("chat.postMessage", predicate=lambda c: c.ok)
    limited, ok = rig.slack.calls_to("chat.postMessage")
    assert limited.status == 429 and ok is posted


async def test_a_rate_limited_channel_does_not_hold_up_the_others(rig: Rig) -> None:
    # The rig's client has no rate-limit retry handler (as the watcher's must not): a 429 is
    # the notifier's to handle, holding that channel only.
    await rig.subscribe(ALERTS)
    await rig.subscribe(OTHER)
    await rig.start()
    await rig.cycles()
    # An hour's Retry-After holds ALERTS for longer than the test lasts: OTHER arriving at all
    # proves it was not held up.
    rig.slack.rate_limit("chat.postMessage", retry_after=3600, times=1, channel=ALERTS)
    rig.dli.set_queue(CID, "q1", "FAILED", "x")
    [other] = await rig.slack.wait_for(
        "chat.postMessage", predicate=lambda c: c.ok and c.channel == OTHER
    )
    await rig.cycles(pending_ok=True)
    limited, *after = rig.slack.calls_to("chat.postMessage", lambda c: c.channel == ALERTS)
    assert limited.status == 429
    assert rig.slack.calls.index(limited) < rig.slack.calls.index(other)
    assert after == []  # ALERTS waits out its Retry-After (test_slack_429_is_posted_after_…)
    assert rig.slack.calls_to("chat.postMessage", lambda c: c.channel == OTHER) == [other]


def guarded(rig: Rig) -> WatchOptions:
    """The watcher's options with the guardrails of a default deployment (deny) asked."""
    facts = SlackFacts(AsyncWebClient(token=TOKEN, base_url=rig.slack.url))
    deny = Deployment(projects=(ProjectConfig(alias="default", project_id=rig.dli.project_id),))
    return replace(OPTIONS, refuses_posts=Guard(deny, facts).refuses_posts)


async def test_a_channel_that_became_slack_connect_gets_no_alert_and_nothing_is_paused(
    rig: Rig,
) -> None:
    await rig.subscribe(ALERTS)
    await rig.subscribe(OTHER)
    rig.slack.share_externally(ALERTS)  # after it was watched
    await rig.start(options=guarded(rig))
    await rig.cycles()
    rig.dli.set_queue(CID, "q1", "FAILED", "route table quota exceeded")
    await rig.cycles()
    assert [c.channel for c in rig.slack.calls_to("chat.postMessage") if c.ok] == [OTHER]
    # Nothing sticks: once unshared, or under other guardrails, its next alert goes out.
    assert await rig.backend().subscriptions.paused() == {}


@pytest.mark.parametrize("error", ["missing_scope", "ratelimited"])
async def test_a_channel_slack_will_not_describe_still_gets_its_alert(rig: Rig, error: str) -> None:
    await rig.subscribe(ALERTS)
    rig.slack.fail("conversations.info", error, times=None)
    await rig.start(options=guarded(rig))
    await rig.cycles()
    rig.dli.set_queue(CID, "q1", "FAILED", "route table quota exceeded")
    await rig.cycles()
    assert [c.channel for c in rig.slack.calls_to("chat.postMessage") if c.ok] == [ALERTS]


async def test_a_channel_the_bot_left_is_paused_not_retried(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    await rig.subscribe(OTHER)
    rig.slack.fail("chat.postMessage", "channel_not_found", times=None, channel=ALERTS)
    await rig.start()
    await rig.cycles()
    for status in ("FAILED", "ACTIVE", "FAILED"):
        rig.dli.set_queue(CID, "q1", status, "x")
        await rig.cycles()
    to_alerts = rig.slack.calls_to("chat.postMessage", lambda c: c.channel == ALERTS)
    to_other = rig.slack.calls_to("chat.postMessage", lambda c: c.channel == OTHER)
    assert len(to_alerts) == 1
    assert len(to_other) == 3
    assert await rig.backend().subscriptions.paused() == {ALERTS: "channel_not_found"}
    # Watching again from that channel (the bot was re-invited) resumes it.
    rig.slack.clear_faults()
    await rig.subscribe(ALERTS)
    rig.dli.set_queue(CID, "q2", "FAILED", "y")
    await rig.slack.wait_for("chat.postMessage", count=2, predicate=lambda c: c.channel == ALERTS)


async def test_dli_outage_is_announced_once_per_channel(rig: Rig) -> None:
    rig.dli.put(queued(CID2, "billing", q9="ACTIVE"))
    await rig.subscribe(ALERTS, CID)
    await rig.subscribe(ALERTS, CID2)
    await rig.subscribe(OTHER, CID)
    await rig.start()
    await rig.cycles()
    rig.dli.inject(Fault.server_error(operation="list"))  # until cleared
    down = await rig.slack.wait_for("chat.postMessage", count=2)
    await rig.cycles(6)
    assert sorted(str(c.channel) for c in rig.slack.calls_to("chat.postMessage")) == [ALERTS, OTHER]
    assert all("Cannot reach DLI" in markup_of(c) for c in down)
    rig.dli.clear_faults()
    up = await rig.slack.wait_for("chat.postMessage", count=4)
    await rig.cycles()
    assert len(rig.slack.calls_to("chat.postMessage")) == 4
    assert sum("reachable again" in markup_of(c) for c in up) == 2


async def test_flapping_alerts_once_then_replies_in_its_thread(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    options = WatchOptions(
        policy=Policy(flap_threshold=2, flap_window=60.0, flap_quiet=60.0),
        lease_ttl=0.5,
        per_channel_gap=0.01,
        claim_ttl=0.5,
    )
    await rig.start(options=options)
    await rig.cycles()
    for count, status in enumerate(["FAILED", "ACTIVE", "FAILED", "ACTIVE", "FAILED"], 1):
        rig.dli.set_queue(CID, "q1", status, "flaky")
        await rig.slack.wait_for("chat.postMessage", count=count)
        await rig.cycles()
    alerts = rig.slack.calls_to("chat.postMessage", top_level)
    assert len(alerts) == 2
    flapping = alerts[1]
    assert "Flapping" in markup_of(flapping)
    ts = posted_ts(flapping)
    assert len(rig.slack.calls_to("chat.postMessage", in_thread(ts))) == 2


async def test_deleted_and_disappeared_connections_are_reported_once(rig: Rig) -> None:
    rig.dli.put(queued(CID2, "billing", q9="ACTIVE"))
    await rig.subscribe(ALERTS, CID)
    await rig.subscribe(ALERTS, CID2)
    await rig.start()
    await rig.cycles()
    rig.dli.put({**queued(CID, "orders"), "status": "DELETED"})
    rig.dli.remove(CID2)
    notices = await rig.slack.wait_for("chat.postMessage", count=2)
    await rig.cycles()
    assert len(rig.slack.calls_to("chat.postMessage")) == 2
    texts = sorted(markup_of(c) for c in notices)
    assert any("was deleted" in t for t in texts)
    assert any("no longer listed" in t for t in texts)


async def test_a_queue_stuck_creating_is_reported_once(rig: Rig) -> None:
    rig.dli.set_queue(CID, "q3", "CREATING")
    await rig.subscribe(ALERTS)
    options = WatchOptions(policy=Policy(stuck_after=0.3), lease_ttl=0.5, per_channel_gap=0.01)
    await rig.start(options=options)
    [notice] = await rig.slack.wait_for("chat.postMessage")
    await rig.cycles()
    assert "CREATING" in markup_of(notice) and "q3" in markup_of(notice)
    assert len(rig.slack.calls_to("chat.postMessage")) == 1


async def test_acknowledge_shows_who_and_mute_silences_the_channel(rig: Rig) -> None:
    await rig.subscribe(ALERTS)
    await rig.subscribe(OTHER)
    backend = rig.backend()
    await rig.start()
    await rig.cycles()
    rig.dli.set_queue(CID, "q1", "FAILED", "x")
    await rig.slack.wait_for("chat.postMessage", count=2)
    assert await backend.state.acknowledge(CID, ALERTS, "U0ACKER") != []
    [update] = await rig.slack.wait_for("chat.update")
    assert update.channel == ALERTS and "<@U0ACKER>" in markup_of(update)

    await backend.state.mute(CID, ALERTS, time.time() + 3600, "U0MUTER")
    rig.dli.set_queue(CID, "q2", "FAILED", "y")
    await rig.slack.wait_for("chat.postMessage", count=3)
    await rig.cycles()
    assert len(rig.slack.calls_to("chat.postMessage", lambda c: c.channel == ALERTS)) == 1
    assert len(rig.slack.calls_to("chat.postMessage", lambda c: c.channel == OTHER)) == 2


async def test_static_channels_get_every_connection(rig: Rig) -> None:
    await rig.start(rig.backend(static=["CSTATIC"]))
    await rig.cycles()
    rig.dli.set_queue(CID, "q1", "FAILED", "x")
    [alert] = await rig.slack.wait_for("chat.postMessage")
    assert alert.channel == "CSTATIC"


async def test_the_watchers_list_reads_what_the_full_list_reads() -> None:
    # The demo data (many queues, pools, errors, update times) plus DLI's nulls and extras.
    sparse = {**queued(CID2, "sparse"), "name": None, "available_queue_info": None}
    sparse["elastic_resource_pools"] = [{"name": "pool", "status": None, "update_time": 0}]
    async with running_fake([*demo_connections(), sparse]) as fake, client_for(fake) as client:
        full = [c async for c in client.iter_connections(page_size=0)]
        before = len(fake.requests)
        listed = [c async for c in client.iter_listed(page_size=0)]
        assert len(fake.requests) == before + 1
        paged = [c.id async for c in client.iter_listed(page_size=3)]

    def bindings(queues: Iterable[QueueInfo | ListedQueue]) -> list[tuple[str, str, str, object]]:
        return [(q.name, q.status, q.err_msg, q.update_time) for q in queues]

    assert [(c.id, c.name, c.status, c.is_deleted) for c in listed] == [
        (c.id, c.name, c.status, c.is_deleted) for c in full
    ]
    assert [bindings(c.available_queue_info) for c in listed] == [
        bindings(c.available_queue_info) for c in full
    ]
    assert [bindings(c.elastic_resource_pools) for c in listed] == [
        bindings(c.elastic_resource_pools) for c in full
    ]
    assert paged == [c.id for c in full]
    [nulls] = [c for c in listed if c.id == CID2]
    assert nulls.name == "" and nulls.available_queue_info == ()
    assert nulls.elastic_resource_pools[0].status == ""
