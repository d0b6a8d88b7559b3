"""History end to end: a real watcher records what FakeDli's connections go through, and
`/dliconn history` (and the card's History button) shows it through the real Bolt app; two
`python -m bot watch` processes, one killed with SIGKILL, record each transition once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import redis.asyncio as aioredis

from bot.blocks.actions import ACTION_HISTORY
from bot.local.fake_slack import FakeSlackApi
from bot.runtime import watcher_client
from bot.services import Services
from bot.watch.history import HistoryRecord
from bot.watch.runner import WatchedProject, WatchOptions, run_watch_projects
from bot.watch.state import RedisWatchStore, WatchStore
from tests.fakes.chat import text_of
from tests.fakes.dli import IN_PROD, IN_SG, WITHVPC, running_fake
from tests.fakes.slack_stack import ACCESS_KEY, PROJECT_ID, SECRET_KEY
from tests.helpers import until
from tests.integration import test_projects_slack as projects
from tests.integration.test_projects_slack import PAYMENTS, PLATFORM, Two, ask
from tests.integration.test_watch_projects import Logs
from tests.integration.test_watch_worker import QUEUE, configured_env, worker

two = projects.two  # the same two-project stack (a fixture, found by its name here)
WEEK: Final = 7 * 86400.0


async def records(state: WatchStore, connection_id: str) -> list[HistoryRecord]:
    """Every record of the last week, oldest first."""
    found: list[HistoryRecord] = []
    before = None
    while True:
        page = await state.history(connection_id, since=time.time() - WEEK, before=before)
        found += page.records
        if not page.more:
            return found[::-1]
        before = page.records[-1].id


@asynccontextmanager
async def watching(services: Services) -> AsyncIterator[None]:
    """The watcher over every project of `services`, polling every 50 ms."""
    stop = asyncio.Event()
    loop = asyncio.create_task(
        run_watch_projects(
            [WatchedProject(p.dli, p.watch, p.ref) for p in services.projects],
            watcher_client(services.settings),
            stop=stop,
            interval=0.05,
            options=WatchOptions(lease_ttl=1.0),
        )
    )
    try:
        yield
    finally:
        stop.set()
        await loop


async def test_history_through_the_bolt_app_and_the_card_button(two: Two) -> None:
    services = two.stack.services
    prod = services.projects[0].watch.state
    before = await ask(two, "history orders", PAYMENTS)
    assert "the watcher has not run for project prod · cn-north-4 yet" in before

    async with watching(services):
        await until(lambda: _count(prod, IN_PROD, 0))
        two.stack.dli.set_queue(IN_PROD, "orders_queue", "FAILED", "peering lost <!here>")
        await until(lambda: _count(prod, IN_PROD, 1))
        two.stack.dli.set_queue(IN_PROD, "orders_queue", "ACTIVE", "")
        await until(lambda: _count(prod, IN_PROD, 2))

    reply = await ask(two, "history orders 24h", PAYMENTS)
    assert "Last 24h: 1 failure · down" in reply and "mean time to recover" in reply
    assert "queue orders_queue ACTIVE → 🔴 FAILED · down" in reply
    assert "peering lost <!here>" in reply
    assert "FAILED → 🟢 ACTIVE · recovered after" in reply
    assert "Project prod · cn-north-4" in reply
    # sg's connection is out of this channel's scope: not found, its history never read.
    hidden = await ask(two, f"history {IN_SG}", PAYMENTS)
    assert "was found" in hidden and "payments-sg" not in hidden
    # Seen FAILED on the first poll: recorded, and still going on.
    sg = await ask(two, f"history {IN_SG}", PLATFORM)
    assert "first seen 🔴 FAILED · still FAILED" in sg and "is still FAILED, for" in sg

    _, reply_to = await two.stack.click(ACTION_HISTORY, IN_PROD)
    [clicked] = await two.stack.replies(reply_to)
    assert clicked.body.get("response_type") == "ephemeral"
    assert "Last 7d: 1 failure" in text_of(clicked)


async def _count(state: WatchStore, connection_id: str, wanted: int) -> bool:
    page = await state.history(connection_id, since=time.time() - WEEK)
    return page.recorded and page.totals.entries >= wanted


async def test_two_watchers_and_a_kill_9_record_each_transition_once(
    key_prefix: str, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    state = RedisWatchStore(redis_client, PROJECT_ID, prefix=key_prefix)
    flips = ["FAILED", "ACTIVE"] * 3
    async with (
        running_fake(project_id=PROJECT_ID, credentials={ACCESS_KEY: SECRET_KEY}) as dli,
        FakeSlackApi() as slack,
    ):
        env = configured_env(tmp_path, dli, slack, key_prefix)
        async with worker(env, tmp_path) as first, worker(env, tmp_path) as second:
            logs = {first.pid: Logs(first), second.pid: Logs(second)}
            try:
                await until(lambda: _count(state, WITHVPC, 0), deadline=20)
                for n, status in enumerate(flips):
                    if n == 2:  # the holder dies with one failure and recovery recorded
                        os.kill(_holder(logs, first, second).pid, signal.SIGKILL)
                    dli.set_queue(WITHVPC, QUEUE, status, f"flip {n}" if status == "FAILED" else "")
                    await until(lambda n=n: _count(state, WITHVPC, n + 1), deadline=20)  # type: ignore[misc]
            finally:
                for log in logs.values():
                    await log.aclose()
    recorded = await records(state, WITHVPC)
    assert [(r.entry.old, r.entry.status) for r in recorded] == [
        ("ACTIVE", "FAILED"), ("FAILED", "ACTIVE")
    ] * 3  # fmt: skip
    assert [r.entry.err_msg for r in recorded if r.entry.failed] == ["flip 0", "flip 2", "flip 4"]
    assert recorded[-1].tally.failures == 3 and recorded[-1].tally.recoveries == 3


def _holder(
    logs: dict[int, Logs], *processes: asyncio.subprocess.Process
) -> asyncio.subprocess.Process:
    for process in processes:
        lines = logs[process.pid].lines
        taken = [i for i, line in enumerate(lines) if "lease for project default taken" in line]
        lost = [i for i, line in enumerate(lines) if "lease for project default lost" in line]
        if taken and (not lost or lost[-1] < taken[-1]):
            return process
    raise AssertionError("no watcher says it holds the lease")
