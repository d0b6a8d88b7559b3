"""The watcher's process wiring: `python -m bot watch` as a real process, and the console's own.

The worker runs as a subprocess against FakeDli, FakeSlackApi and a real Redis (under the test's
key prefix), with a subscription stored the way the Slack app stores it. The console test runs
the console with its embedded watcher on the demo data. Polling has deadlines; nothing sleeps
to wait.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Final

import pytest
import redis.asyncio as aioredis

from bot.config import Settings
from bot.local.console import Console
from bot.local.fake_dli import FakeDli
from bot.local.fake_slack import FakeSlackApi
from bot.runtime import EmbeddedWatcher
from bot.services import build_services
from bot.watch.backend import WatchBackend, build_watch_backends
from bot.watch.routes import ProjectRoutes
from tests.conftest import REDIS_URL
from tests.fakes.chat import text_of
from tests.fakes.dli import WITHVPC, list_calls, running_fake
from tests.fakes.processes import bot_process
from tests.fakes.slack_stack import ACCESS_KEY, BOT_TOKEN, PROJECT_ID, SECRET_KEY, is_alert_in
from tests.helpers import until

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
ALERTS: Final = "CALERTS"
QUEUE: Final = "resource_mode_1"  # withvpc's only queue, ACTIVE in the demo data
#: A stopped worker may finish its cycle and posts, but not dawdle.
STOP_DEADLINE: Final = 5.0


pytestmark = pytest.mark.usefixtures("isolated")


def worker_env(home: Path, **settings: str) -> dict[str, str]:
    """Only what a worker needs: nothing from the developer's shell leaks into its Settings."""
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    return {**base, **settings}


def configured_env(home: Path, dli: FakeDli, slack: FakeSlackApi, prefix: str) -> dict[str, str]:
    return worker_env(
        home,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=slack.url,
        HUAWEICLOUD_SDK_AK=ACCESS_KEY,
        HUAWEICLOUD_SDK_SK=SECRET_KEY,
        DLI_PROJECT_ID=PROJECT_ID,
        DLI_ENDPOINT=dli.url,
        REDIS_URL=REDIS_URL,
        DLICONN_REDIS_PREFIX=prefix,
        DLICONN_WATCH_INTERVAL="0.1",
        DLICONN_LOG_FORMAT="text",
    )


def worker(env: dict[str, str], cwd: Path) -> AbstractAsyncContextManager[Process]:
    """`python -m bot watch` running; killed on the way out if a test left it running."""
    return bot_process("watch", env, cwd)


@pytest.fixture
async def backend(key_prefix: str, redis_client: aioredis.Redis) -> AsyncIterator[WatchBackend]:
    """The stores as the Slack app builds them, on the test's key prefix."""
    [built] = build_watch_backends(
        REDIS_URL, [(PROJECT_ID, ProjectRoutes("default"))], prefix=key_prefix
    )
    yield built
    await built.aclose()


async def test_the_worker_alerts_once_and_stops_cleanly_on_sigterm(
    backend: WatchBackend, key_prefix: str, tmp_path: Path
) -> None:
    await backend.subscriptions.subscribe(ALERTS, WITHVPC, "withvpc", "U0WATCHER1")
    async with (
        running_fake(project_id=PROJECT_ID, credentials={ACCESS_KEY: SECRET_KEY}) as dli,
        FakeSlackApi() as slack,
        worker(configured_env(tmp_path, dli, slack, key_prefix), tmp_path) as process,
    ):

        async def polled() -> bool:
            return list_calls(dli) > 0

        await until(polled)
        dli.set_queue(WITHVPC, QUEUE, "FAILED", "peering lost")
        [alert] = await slack.wait_for(
            "chat.postMessage", predicate=is_alert_in(ALERTS), timeout=10
        )
        target = list_calls(dli) + 3

        async def settled() -> bool:
            return list_calls(dli) >= target and not await backend.state.pending()

        await until(settled)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_DEADLINE):
            _, stderr = await process.communicate()

    text = text_of(alert)
    assert "1 queue FAILED: withvpc" in text and QUEUE in text and "peering lost" in text
    assert slack.calls_to("chat.postMessage", is_alert_in(ALERTS)) == [alert]
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert BOT_TOKEN not in stderr.decode() and SECRET_KEY not in stderr.decode()


def test_the_worker_without_a_bot_token_names_it_and_exits_2(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "bot", "watch"],
        cwd=tmp_path,
        env=worker_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    [line] = finished.stderr.strip().splitlines()
    assert finished.returncode == 2
    assert "SLACK_BOT_TOKEN" in line


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    """The console on the demo data, with its embedded watcher on a tiny interval."""
    settings = Settings(_env_file=None, DLICONN_WATCH_INTERVAL=0.05)
    services = await build_services(settings)
    try:
        async with FakeSlackApi() as slack:
            console = Console(settings, services, slack)
            watcher = EmbeddedWatcher(services, console.client)
            try:
                yield console
            finally:
                await watcher.stop()
    finally:
        await services.aclose()


async def watch_until_alerted(console: Console) -> str:
    """`/dliconn watch orders-mysql-peering`, then everything shown up to the alert it causes."""
    seen = [await console.say("/dliconn watch orders-mysql-peering")]

    async def alerted() -> bool:
        seen.append(console.news())
        return "queues FAILED: orders-mysql-peering" in "".join(seen)

    await until(alerted, deadline=5.0)
    return "\n".join(seen)


async def test_the_console_shows_the_alert_for_what_it_watches(console: Console) -> None:
    shown = await watch_until_alerted(console)

    assert "Watching orders-mysql-peering in this channel" in shown
    assert "4 of its queues and pools are FAILED right now" in shown
    for queue in ("sql_prod", "sql_batch", "spark_jobs", "flink_cdc"):
        assert queue in shown
    assert "Acknowledge" in console.buttons[-1].label


async def test_refresh_on_a_console_alert_answers_in_its_thread(console: Console) -> None:
    await watch_until_alerted(console)
    labels = [b.label for b in console.buttons]
    refreshed = await console.say(f"!{labels.index('Refresh') + 1}")

    # As in Slack: a fresh card under the alert, which stays as it was.
    assert refreshed.startswith("── dliconn (in thread)")
    assert "4 of 5 queues FAILED" in refreshed
    assert "only visible to you" not in refreshed and "message updated" not in refreshed
