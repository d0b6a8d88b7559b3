"""Redis coming back empty while `serve` and `watch` run: noticed, summarised, not re-alerted.

A private redis-server without persistence (`--save "" --appendonly no`) on a free port is
SIGKILLed and started again on the same port, as a restart without persistence or a failover
to an empty replica would leave it. `python -m bot serve` and `python -m bot watch` run as
processes against it, the fake DLI and the Slack stand-in. Polling has deadlines; nothing
sleeps to wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import redis.asyncio as aioredis

from bot.errors import StoreUnavailable
from bot.local.fake_slack import FakeSlackApi
from bot.watch.backend import build_watch_backends
from bot.watch.routes import ProjectRoutes
from tests.fakes.dli import queued, running_fake
from tests.fakes.processes import bot_process
from tests.fakes.slack_stack import (
    ACCESS_KEY,
    PROJECT_ID,
    SECRET_KEY,
    SIGNING_SECRET,
    is_alert_in,
    markup_of,
)
from tests.helpers import free_port, until
from tests.integration.test_watch_worker import configured_env

ORDERS: Final = "a1b2c3d4-0000-4000-8000-00000000000a"
BILLING: Final = "a1b2c3d4-0000-4000-8000-00000000000b"
STATIC: Final = "CSTATIC"  # DLICONN_WATCH_ALL_CHANNELS: configuration, not Redis
EXPLICIT: Final = "CEXPLICIT"  # /dliconn watch: lives in Redis, lost with it


class PrivateRedis:
    """redis-server on a port of its own, with nothing kept on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(self._workdir),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = aioredis.Redis.from_url(self.url)
        try:

            async def answers() -> bool:
                try:
                    return bool(await client.ping())
                except (OSError, aioredis.ConnectionError):
                    return False

            await until(answers)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self._process is not None:
            self._process.kill()  # SIGKILL: no shutdown save, whatever the configuration
            await self._process.wait()
            self._process = None


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    yield server
    await server.kill()


def top_level_in(channel: str) -> Any:
    return lambda call: call.ok and call.channel == channel and "thread_ts" not in call.body


async def test_redis_restarted_empty_is_noticed_summarised_and_not_realerted(
    private_redis: PrivateRedis, key_prefix: str, tmp_path: Path
) -> None:
    await private_redis.start()
    port = free_port()
    async with AsyncExitStack() as stack:
        dli = await stack.enter_async_context(
            running_fake(
                [queued(ORDERS, "orders", q1="FAILED", q2="ACTIVE"),
                 queued(BILLING, "billing", q9="ACTIVE")],
                project_id=PROJECT_ID, credentials={ACCESS_KEY: SECRET_KEY},
            )
        )  # fmt: skip
        slack = await stack.enter_async_context(FakeSlackApi())
        [backend] = build_watch_backends(
            private_redis.url, [(PROJECT_ID, ProjectRoutes("default"))], prefix=key_prefix
        )
        stack.push_async_callback(backend.aclose)
        await backend.subscriptions.subscribe(EXPLICIT, ORDERS, "orders", "U0WATCHER1")
        env = {
            **configured_env(tmp_path, dli, slack, key_prefix),
            "REDIS_URL": private_redis.url,
            "DLICONN_WATCH_ALL_CHANNELS": STATIC,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "PORT": str(port),
        }
        await stack.enter_async_context(bot_process("watch", env, tmp_path))
        await stack.enter_async_context(bot_process("serve", env, tmp_path))
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0)
        )

        # Before: the open failure is alerted once in each channel, as usual.
        await slack.wait_for("chat.postMessage", predicate=top_level_in(STATIC), timeout=20)
        await slack.wait_for("chat.postMessage", predicate=top_level_in(EXPLICIT), timeout=20)

        async def serving() -> bool:
            try:
                return (await http.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await until(serving, deadline=20)

        async def settled() -> bool:
            try:
                return await backend.state.epoch() is not None and not await backend.state.pending()
            except StoreUnavailable:  # this test's own connection, cut by the restart
                return False

        await until(settled)
        before = (await http.get("/healthz")).json()["checks"]["watch_state"]
        posts_before = len(slack.calls_to("chat.postMessage"))

        await private_redis.kill()
        await private_redis.start()  # the same port, nothing in it

        [summary] = await slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: top_level_in(STATIC)(c) and "memory was reset" in markup_of(c),
            timeout=30,
        )
        # Alerts still work after the reset: a new failure is alerted as usual...
        dli.set_queue(BILLING, "q9", "FAILED", "route lost")
        [fresh] = await slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: top_level_in(STATIC)(c) and "billing" in markup_of(c),
            timeout=20,
        )

        async def reported() -> bool:
            health = (await http.get("/healthz")).json()["checks"]["watch_state"]
            return str(health).startswith("reset at")

        await until(reported)
        metrics = (await http.get("/metrics")).text
        await until(settled)
        after_reset = slack.calls_to("chat.postMessage")[posts_before:]

    assert before == "ok"
    # ...and the one post for the old failure is the summary, naming it: no fresh alert.
    said = markup_of(summary)
    assert "orders" in said and ORDERS in said and "q1" in said
    assert "billing" not in said
    assert not is_alert_in(STATIC)(summary) and is_alert_in(STATIC)(fresh)
    assert [c for c in after_reset if c.ok] == [summary, fresh]
    # The explicit subscription died with Redis; the configured channel did not.
    assert not [c for c in after_reset if c.channel == EXPLICIT]
    assert "dliconn_watch_state_resets_total 1.0" in metrics
    assert "dliconn_watch_state_last_reset_timestamp_seconds 0.0" not in metrics
