"""Redis coming back empty while `serve` and `watch` run: noticed, summarised, not re-alerted.

A private redis-server without persistence (`--save "" --appendonly no`) on a free port is
SIGKILLed and started again on the same port, as a restart without persistence or a failover
to an empty replica would leave it. `python -m bot serve` and `python -m bot watch` run as
processes against it, the fake DLI and the Slack stand-in. Polling has deadlines; nothing
sleeps to wait.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import redis.asyncio as aioredis

from bot.blocks.actions import ACTION_ACK
from bot.errors import StoreUnavailable
from bot.local.fake_slack import FakeSlackApi, SlackCall
from bot.watch.backend import build_watch_backends
from bot.watch.routes import ProjectRoutes
from tests.fakes.dli import running_fake
from tests.fakes.processes import bot_process
from tests.fakes.slack_stack import ACCESS_KEY, PROJECT_ID, SECRET_KEY, SIGNING_SECRET
from tests.integration.test_watch_worker import configured_env, until

ORDERS: Final = "a1b2c3d4-0000-4000-8000-00000000000a"
BILLING: Final = "a1b2c3d4-0000-4000-8000-00000000000b"
STATIC: Final = "CSTATIC"  # DLICONN_WATCH_ALL_CHANNELS: configuration, not Redis
EXPLICIT: Final = "CEXPLICIT"  # /dliconn watch: lives in Redis, lost with it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


def connection(cid: str, name: str, **queues: str) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "status": "ACTIVE",
        "create_time": 1_700_000_000_000,
        "available_queue_info": [
            {
                "name": q,
                "status": s,
                "peer_id": f"p-{q}",
                "err_msg": "peering lost" * (s == "FAILED"),
            }
            for q, s in queues.items()
        ],
        "elastic_resource_pools": [],
    }


def top_level_in(channel: str) -> Any:
    return lambda call: call.ok and call.channel == channel and "thread_ts" not in call.body


def is_alert(call: SlackCall) -> bool:
    blocks = call.body.get("blocks") or []
    return any(e.get("action_id") == ACTION_ACK for b in blocks for e in b.get("elements", []))


def shown(call: SlackCall) -> str:
    return json.dumps(call.body.get("blocks", [])) + str(call.body.get("text", ""))


async def test_redis_restarted_empty_is_noticed_summarised_and_not_realerted(
    private_redis: PrivateRedis, key_prefix: str, tmp_path: Path
) -> None:
    await private_redis.start()
    port = free_port()
    async with AsyncExitStack() as stack:
        dli = await stack.enter_async_context(
            running_fake(
                [connection(ORDERS, "orders", q1="FAILED", q2="ACTIVE"),
                 connection(BILLING, "billing", q9="ACTIVE")],
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
            predicate=lambda c: top_level_in(STATIC)(c) and "memory was reset" in shown(c),
            timeout=30,
        )
        # Alerts still work after the reset: a new failure is alerted as usual...
        dli.set_queue(BILLING, "q9", "FAILED", "route lost")
        [fresh] = await slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: top_level_in(STATIC)(c) and "billing" in shown(c),
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
    assert "orders" in shown(summary) and ORDERS in shown(summary) and "q1" in shown(summary)
    assert "billing" not in shown(summary)
    assert not is_alert(summary) and is_alert(fresh)
    assert [c for c in after_reset if c.ok] == [summary, fresh]
    # The explicit subscription died with Redis; the configured channel did not.
    assert not [c for c in after_reset if c.channel == EXPLICIT]
    assert "dliconn_watch_state_resets_total 1.0" in metrics
    assert "dliconn_watch_state_last_reset_timestamp_seconds 0.0" not in metrics
