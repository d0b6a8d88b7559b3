"""The watcher over several projects, end to end: two fake DLI gateways (two projects, two
regions, their own AK/SK), real Redis, the Slack stand-in, and `python -m bot watch` reading a
dliconn.toml. Routes (explicit, watch_all, watch_tags), scopes, a held project beside a healthy
one, two replicas sharing the projects with a kill -9 between, and the upgrade from the
single-project watcher's state. Deadlines only fail hangs; nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
import redis.asyncio as aioredis

from bot.config import load_deployment, load_settings
from bot.local.fake_dli import FakeDli, Fault
from bot.local.fake_slack import FakeSlackApi, SlackCall
from bot.runtime import run_watcher, watcher_client
from bot.services import build_services
from bot.watch.backend import build_watch_backends
from bot.watch.routes import ProjectRoutes
from bot.watch.runner import WatchedProject, WatchOptions, run_watch_projects
from bot.watch.state import RedisWatchStore
from bot.watch.subscriptions import RedisSubscriptionStore
from tests.conftest import REDIS_URL
from tests.fakes.chat import text_of
from tests.fakes.dli import HeldSleep, list_calls, list_requests, running_fake
from tests.fakes.slack_stack import BOT_TOKEN, is_alert_in
from tests.helpers import until
from tests.integration.test_watch_worker import worker, worker_env

PROD_ID: Final = "0123456789abcdef0123456789abcdef"
SG_ID: Final = "fedcba9876543210fedcba9876543210"
PROD_AK, PROD_SK = "PRODAK-TEST-ONLY", "prod-secret-not-real-123"
SG_AK, SG_SK = "SGAK-TEST-ONLY", "sg-secret-not-real-456"
ORDERS: Final = "11111111-1111-4111-8111-111111111111"  # prod, untagged
BILLING: Final = "22222222-2222-4222-8222-222222222222"  # prod, team=payments
PAYMENTS: Final = "33333333-3333-4333-8333-333333333333"  # sg, team=payments
LEDGER: Final = "44444444-4444-4444-8444-444444444444"  # sg, untagged
C_ALL: Final = "CPRODALL"  # projects = ["prod"], watch_all
C_TAGS: Final = "CPAYTEAM"  # every project, watch_tags team=payments
C_EXPLICIT: Final = "CLEDGER"  # every project, /dliconn watch LEDGER
C_PROD_ONLY: Final = "CPRODONLY"  # projects = ["prod"], a watch of LEDGER made before
PROD_LABEL, SG_LABEL = "prod · cn-north-4", "sg · ap-southeast-3"


pytestmark = pytest.mark.usefixtures("isolated")


def connection(connection_id: str, name: str, queue: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": connection_id,
        "name": name,
        "status": "ACTIVE",
        "available_queue_info": [{"name": queue, "status": "ACTIVE", "err_msg": ""}],
        **fields,
    }


PAYMENTS_TAG: Final = [{"key": "team", "value": "payments"}]


def write_config(directory: Path, prod: FakeDli, sg: FakeDli, *, channels: bool = True) -> Path:
    """prod's secret literally (the file is 0600), sg's from the environment."""
    path = directory / "dliconn.toml"
    text = f"""
[projects.prod]
region = "cn-north-4"
project_id = "{PROD_ID}"
endpoint = "{prod.url}"
ak = "{PROD_AK}"
sk = "{PROD_SK}"

[projects.sg]
region = "ap-southeast-3"
project_id = "{SG_ID}"
endpoint = "{sg.url}"
ak = "{SG_AK}"
sk = "${{SG_SK}}"
"""
    if channels:
        text += f"""
[channels.{C_ALL}]
projects = ["prod"]
watch_all = true

[channels.{C_TAGS}]
watch_tags = {{ team = "payments" }}

[channels.{C_PROD_ONLY}]
projects = ["prod"]
"""
    path.touch(mode=0o600)
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class World:
    prod: FakeDli
    sg: FakeDli
    slack: FakeSlackApi
    config: Path
    prefix: str
    redis: aioredis.Redis
    sg_gate: HeldSleep
    subscriptions: RedisSubscriptionStore = field(init=False)

    def __post_init__(self) -> None:
        self.subscriptions = RedisSubscriptionStore(self.redis, prefix=self.prefix)

    def env(self, home: Path) -> dict[str, str]:
        return worker_env(
            home,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_API_URL=self.slack.url,
            REDIS_URL=REDIS_URL,
            DLICONN_REDIS_PREFIX=self.prefix,
            DLICONN_WATCH_INTERVAL="0.1",
            DLICONN_LOG_FORMAT="text",
            DLICONN_CONFIG=str(self.config),
            SG_SK=SG_SK,
        )

    async def idle(self) -> bool:
        """Both projects polled since, and neither has anything left to post."""
        for project_id in (PROD_ID, SG_ID):
            if await RedisWatchStore(self.redis, project_id, prefix=self.prefix).pending():
                return False
        return True


@pytest.fixture
async def world(
    tmp_path: Path, key_prefix: str, redis_client: aioredis.Redis
) -> AsyncIterator[World]:
    sg_gate = HeldSleep()
    async with AsyncExitStack() as stack:
        prod = await stack.enter_async_context(
            running_fake(
                [
                    connection(ORDERS, "orders", "q_orders"),
                    connection(BILLING, "billing", "q_billing", tags=PAYMENTS_TAG),
                ],
                project_id=PROD_ID,
                credentials={PROD_AK: PROD_SK},
            )
        )
        sg = await stack.enter_async_context(
            running_fake(
                [
                    connection(PAYMENTS, "payments", "q_payments", tags=PAYMENTS_TAG),
                    connection(LEDGER, "ledger", "q_ledger"),
                ],
                project_id=SG_ID,
                credentials={SG_AK: SG_SK},
                sleep=sg_gate,
            )
        )
        slack = await stack.enter_async_context(FakeSlackApi())
        try:
            yield World(
                prod, sg, slack, write_config(tmp_path, prod, sg), key_prefix, redis_client,
                sg_gate,
            )  # fmt: skip
        finally:
            sg_gate.release()


def posts(slack: FakeSlackApi, channel: str) -> list[SlackCall]:
    return [c for c in slack.calls_to("chat.postMessage") if c.channel == channel]


async def polled_again(world: World, rounds: int = 3) -> None:
    """Each project listed a few more times, and nothing left in either outbox."""
    targets = list_calls(world.prod) + rounds, list_calls(world.sg) + rounds

    async def settled() -> bool:
        return (
            list_calls(world.prod) >= targets[0]
            and list_calls(world.sg) >= targets[1]
            and await world.idle()
        )

    await until(settled)


async def alert_in(slack: FakeSlackApi, channel: str, name: str) -> SlackCall:
    [call] = await slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: is_alert_in(channel)(c) and name in text_of(c),
        timeout=10,
    )
    return call


async def test_routes_and_scopes_send_each_alert_where_it_belongs_naming_its_project(
    world: World, tmp_path: Path
) -> None:
    await world.subscriptions.subscribe(C_EXPLICIT, LEDGER, "ledger", "U0WATCHER1")
    await world.subscriptions.subscribe(C_PROD_ONLY, LEDGER, "ledger", "U0WATCHER1")
    async with worker(world.env(tmp_path), tmp_path) as process:
        await polled_again(world)
        world.prod.set_queue(ORDERS, "q_orders", "FAILED", "peering lost")
        world.prod.set_queue(BILLING, "q_billing", "FAILED", "no route")
        world.sg.set_queue(PAYMENTS, "q_payments", "FAILED", "dns")
        world.sg.set_queue(LEDGER, "q_ledger", "FAILED", "<!channel> down")
        orders = await alert_in(world.slack, C_ALL, "orders")
        billing = await alert_in(world.slack, C_ALL, "billing")
        billing_tagged = await alert_in(world.slack, C_TAGS, "billing")
        payments = await alert_in(world.slack, C_TAGS, "payments")
        ledger = await alert_in(world.slack, C_EXPLICIT, "ledger")
        await polled_again(world)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(5):
            _, stderr = await process.communicate()

    for call in (orders, billing, billing_tagged):
        assert PROD_LABEL in text_of(call) and SG_LABEL not in text_of(call)
    for call in (payments, ledger):
        assert SG_LABEL in text_of(call) and PROD_LABEL not in text_of(call)
    assert "<!channel> down" in text_of(ledger)  # DLI's text exactly, and inert (rich_text)
    # watch_all covers only its project; tag routes only the tagged connections.
    assert sorted(text_of(c).count("sg") > 0 for c in posts(world.slack, C_ALL)) == [False, False]
    assert len(posts(world.slack, C_TAGS)) == 2
    [explicit] = posts(world.slack, C_EXPLICIT)  # one alert, for the connection watched there
    assert explicit.channel == C_EXPLICIT
    # Its scope leaves sg out: the watch made there before gets nothing.
    assert posts(world.slack, C_PROD_ONLY) == []
    # One list per project per interval, plus one per tag set (each project has one).
    for fake in (world.prod, world.sg):
        queries = [r.query for r in list_requests(fake)]
        tagged = [q for q in queries if "tags=" in q]
        assert tagged and all("team" in q and "payments" in q for q in tagged)
        assert abs(len(tagged) - (len(queries) - len(tagged))) <= 2  # one tag list per poll
    assert process.returncode == 0 and "Traceback" not in stderr.decode()
    assert PROD_SK not in stderr.decode() and SG_SK not in stderr.decode()


async def test_a_held_project_does_not_delay_the_other_projects_alert(
    world: World, tmp_path: Path
) -> None:
    async with worker(world.env(tmp_path), tmp_path):
        await polled_again(world)
        # sg's every list now hangs on the gate, which the test holds throughout.
        world.sg.inject(Fault.latency(3600, operation="list"))
        await world.sg_gate.holding()
        world.prod.set_queue(ORDERS, "q_orders", "FAILED", "peering lost")
        alert = await alert_in(world.slack, C_ALL, "orders")
        assert world.sg_gate.held  # the alert came while sg's list was still hanging
    assert PROD_LABEL in text_of(alert)


class Logs:
    """A worker's stderr, read as it comes, and which project leases it holds by its own say."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.lines: list[str] = []
        assert process.stderr is not None
        self._task = asyncio.create_task(self._read(process.stderr))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.lines.append(line.decode(errors="replace"))

    def holds(self) -> set[str]:
        held: set[str] = set()
        for line in self.lines:
            for alias in ("prod", "sg"):
                if f"lease for project {alias} taken" in line:
                    held.add(alias)
                elif f"lease for project {alias} lost" in line:
                    held.discard(alias)
        return held

    async def aclose(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_two_replicas_share_the_projects_and_a_survivor_takes_over_after_kill_9(
    world: World, tmp_path: Path
) -> None:
    env = world.env(tmp_path)
    async with worker(env, tmp_path) as first, worker(env, tmp_path) as second:
        logs = {first.pid: Logs(first), second.pid: Logs(second)}
        try:

            async def shared() -> bool:
                # Each holds one project: the first to start gave one back to the other.
                held = [logs[p.pid].holds() for p in (first, second)]
                return sorted(map(len, held)) == [1, 1] and held[0] != held[1]

            await until(shared, deadline=20)
            victim = first if "prod" in logs[first.pid].holds() else second
            survivor = second if victim is first else first
            os.kill(victim.pid, signal.SIGKILL)
            await victim.wait()
            world.prod.set_queue(ORDERS, "q_orders", "FAILED", "peering lost")
            world.sg.set_queue(PAYMENTS, "q_payments", "FAILED", "dns")
            await alert_in(world.slack, C_ALL, "orders")
            await alert_in(world.slack, C_TAGS, "payments")
            assert logs[survivor.pid].holds() == {"prod", "sg"}
        finally:
            for log in logs.values():
                await log.aclose()
    orders = [c for c in posts(world.slack, C_ALL) if is_alert_in(C_ALL)(c)]
    assert len(orders) == 1 and PROD_LABEL in text_of(orders[0])


async def test_upgrade_from_single_project_state_re_alerts_nothing_and_keeps_open_alerts(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The single-project watcher as it ran before: prod from the environment, no project.
    [old] = build_watch_backends(
        REDIS_URL, [(PROD_ID, ProjectRoutes("default"))], prefix=world.prefix
    )
    await old.subscriptions.subscribe(C_EXPLICIT, ORDERS, "orders", "U0WATCHER1")
    world.prod.set_queue(ORDERS, "q_orders", "FAILED", "peering lost")
    prod_client = await _client(world, monkeypatch, tmp_path, single=True)
    stop = asyncio.Event()
    options = WatchOptions(lease_ttl=1.0)
    loop = asyncio.create_task(
        run_watch_projects([WatchedProject(prod_client.main.dli, old)],
                           watcher_client(prod_client.settings), stop=stop, interval=0.05,
                           options=options)
    )  # fmt: skip
    alert = await alert_in(world.slack, C_EXPLICIT, "orders")
    assert isinstance(alert.response, dict)
    alert_ts = alert.response["ts"]
    await until(lambda: _empty(old))
    stop.set()
    await loop
    await old.aclose()
    await prod_client.aclose()
    await _as_recorded_before(world)

    # Now a deployment whose first project is prod (same project id, same keys).
    services = await _client(world, monkeypatch, tmp_path, single=False)
    stop = asyncio.Event()
    watcher = asyncio.create_task(
        run_watcher(services, watcher_client(services.settings), stop=stop, options=options)
    )
    try:
        await polled_again(world)
        world.prod.set_queue(ORDERS, "q_orders", "ACTIVE")
        [reply] = await world.slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: c.channel == C_EXPLICIT and "thread_ts" in c.body,
            timeout=10,
        )
        await world.slack.wait_for("chat.update", predicate=lambda c: c.body.get("ts") == alert_ts)
        await polled_again(world)
    finally:
        stop.set()
        await watcher
        await services.aclose()
    assert posts(world.slack, C_ALL) == []  # the open incident was adopted, not re-alerted
    assert reply.body["thread_ts"] == alert_ts
    assert [c for c in posts(world.slack, C_EXPLICIT) if is_alert_in(C_EXPLICIT)(c)] == [alert]


async def _empty(backend: Any) -> bool:
    return not await backend.state.pending()


async def _as_recorded_before(world: World) -> None:
    """Strip what the multi-project watcher adds to stored incidents (`alerted`): the records
    then read as the single-project watcher wrote them."""
    base = f"{world.prefix}watch:v1:{PROD_ID}:"
    for connection_id, raw in (await world.redis.hgetall(base + "state")).items():
        state = json.loads(raw)
        for incident in state.get("incidents", {}).values():
            incident.pop("alerted", None)
        await world.redis.hset(base + "state", connection_id, json.dumps(state))
    async for key in world.redis.scan_iter(match=base + "incident:*"):
        incident = json.loads(await world.redis.get(key) or "{}")
        incident.pop("alerted", None)
        await world.redis.set(key, json.dumps(incident))


async def _client(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, single: bool
) -> Any:
    for name, value in world.env(tmp_path).items():
        monkeypatch.setenv(name, value)
    if single:
        monkeypatch.delenv("DLICONN_CONFIG")
        monkeypatch.setenv("HUAWEICLOUD_SDK_AK", PROD_AK)
        monkeypatch.setenv("HUAWEICLOUD_SDK_SK", PROD_SK)
        monkeypatch.setenv("DLI_PROJECT_ID", PROD_ID)
        monkeypatch.setenv("DLI_ENDPOINT", world.prod.url)
    else:
        for name in ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "DLI_PROJECT_ID", "DLI_ENDPOINT"):
            monkeypatch.delenv(name)
    settings = load_settings()
    return await build_services(settings, deployment=load_deployment(settings))
