"""The watcher's process wiring: `python -m bot watch` as a real process (with and without its
/metrics and /healthz on DLICONN_METRICS_PORT), and the console's own.

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

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from bot.local.console import Console
from bot.local.fake_dli import FakeDli, Fault
from bot.local.fake_slack import FakeSlackApi
from bot.runtime import EmbeddedWatcher, WatcherProbes
from bot.services import build_services
from bot.watch.backend import WatchBackend, build_watch_backends
from bot.watch.routes import ProjectRoutes
from tests.conftest import REDIS_URL
from tests.fakes.chat import text_of
from tests.fakes.dli import WITHVPC, list_calls, running_fake
from tests.fakes.processes import bot_process
from tests.fakes.slack_stack import ACCESS_KEY, BOT_TOKEN, PROJECT_ID, SECRET_KEY, is_alert_in
from tests.helpers import free_port, listening_ports, until

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
ALERTS: Final = "CALERTS"
PARTNER: Final = "CPARTNER"
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
    # Watched, then shared with another organisation: under the default "deny" it gets nothing.
    await backend.subscriptions.subscribe(PARTNER, WITHVPC, "withvpc", "U0WATCHER1")
    async with (
        running_fake(project_id=PROJECT_ID, credentials={ACCESS_KEY: SECRET_KEY}) as dli,
        FakeSlackApi() as slack,
    ):
        slack.share_externally(PARTNER)
        async with worker(configured_env(tmp_path, dli, slack, key_prefix), tmp_path) as process:

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
    assert slack.calls_to("chat.postMessage", lambda c: c.channel == PARTNER) == []
    assert await backend.subscriptions.paused() == {}
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert BOT_TOKEN not in stderr.decode() and SECRET_KEY not in stderr.decode()


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """One sample of a /metrics text, or None when it has none by that name and labels."""
    for family in text_string_to_metric_families(metrics):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


async def answering(http: httpx.AsyncClient) -> bool:
    """Whether the worker's /healthz says it is watching (refused: not listening yet)."""
    try:
        return (await http.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_the_worker_serves_its_own_counters_and_health_on_dliconn_metrics_port(
    backend: WatchBackend, key_prefix: str, tmp_path: Path
) -> None:
    await backend.subscriptions.subscribe(ALERTS, WITHVPC, "withvpc", "U0WATCHER1")
    port = free_port()
    async with (
        running_fake(project_id=PROJECT_ID, credentials={ACCESS_KEY: SECRET_KEY}) as dli,
        FakeSlackApi() as slack,
        worker(
            {**configured_env(tmp_path, dli, slack, key_prefix), "DLICONN_METRICS_PORT": str(port)},
            tmp_path,
        ) as process,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http,
    ):
        # The bot was removed from the channel: its alert is given up on, and counted.
        slack.fail("chat.postMessage", "channel_not_found", times=None, channel=ALERTS)
        await until(lambda: answering(http), deadline=20)
        # A scraper that sends half a request and hangs on: the watcher goes on without it.
        _, stalled = await asyncio.open_connection("127.0.0.1", port)
        stalled.write(b"GET /metrics HTTP/1.1\r\nHost: worker\r\n")
        await stalled.drain()
        before = (await http.get("/metrics")).text
        dli.inject(Fault.malformed(operation="list", times=1))
        dli.set_queue(WITHVPC, QUEUE, "FAILED", "peering lost")

        async def dropped() -> bool:
            metrics = (await http.get("/metrics")).text
            return sample(metrics, "dliconn_watch_posts_dropped_total", reason="channel") == 1

        await until(dropped)
        after = (await http.get("/metrics")).text
        health = await http.get("/healthz")
        ports = listening_ports(process.pid)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_DEADLINE):
            _, stderr = await process.communicate()
        stalled.close()
        with pytest.raises(httpx.ConnectError):
            await http.get("/healthz")

    assert ports == {port}
    assert health.status_code == 200
    checks = health.json()["checks"]
    assert str(checks.pop("polls")).startswith("last list began ")
    assert checks == {
        "redis": "ok", "dli": "configured", "watch_state": "ok", "watcher": "running",
    }  # fmt: skip
    failed_list = {"kind": "bad_response"}
    lost_channel = {"method": "chat.postMessage", "error": "channel_not_found"}
    assert sample(before, "dliconn_dli_errors_total", **failed_list) is None
    assert sample(after, "dliconn_dli_errors_total", **failed_list) == 1
    assert sample(after, "dliconn_slack_api_errors_total", **lost_channel) == 1
    assert sample(after, "dliconn_watch_state_resets_total") == 0
    assert process.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()


@pytest.mark.usefixtures("redis_client")
async def test_without_dliconn_metrics_port_the_worker_listens_on_nothing(
    key_prefix: str, tmp_path: Path
) -> None:
    # PORT is serve's: set, it still opens nothing in the worker.
    async with (
        running_fake(project_id=PROJECT_ID, credentials={ACCESS_KEY: SECRET_KEY}) as dli,
        FakeSlackApi() as slack,
        worker(
            {**configured_env(tmp_path, dli, slack, key_prefix), "PORT": str(free_port())},
            tmp_path,
        ) as process,
    ):

        async def polled() -> bool:
            return list_calls(dli) > 0

        await until(polled)
        ports = listening_ports(process.pid)

    assert ports == set()


def run_worker(home: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot watch` run to its end (one that cannot start)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "watch"],
        cwd=home,
        env=worker_env(home, **settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_worker_without_a_bot_token_names_it_and_exits_2(tmp_path: Path) -> None:
    finished = run_worker(tmp_path)

    [line] = finished.stderr.strip().splitlines()
    assert finished.returncode == 2
    assert "SLACK_BOT_TOKEN" in line


def test_the_worker_refuses_a_metrics_port_out_of_range_at_start_up(tmp_path: Path) -> None:
    finished = run_worker(tmp_path, SLACK_BOT_TOKEN=BOT_TOKEN, DLICONN_METRICS_PORT="65536")

    [line] = finished.stderr.strip().splitlines()
    assert finished.returncode == 2
    assert line.startswith("dliconn: configuration error: DLICONN_METRICS_PORT: ")
    assert "65535" in line


@pytest.mark.parametrize("signalled", [True, False], ids=["sigterm", "watcher-died"])
async def test_the_probes_answer_503_once_the_watcher_stops_and_close_after_it(
    signalled: bool,
) -> None:
    services = await build_services(Settings(_env_file=None))
    released = asyncio.Event()

    async def watching() -> None:
        await released.wait()

    probes = WatcherProbes(services)
    try:
        port = await probes.start(0, host="127.0.0.1")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            starting = await http.get("/healthz")
            watcher = asyncio.create_task(watching())
            probes.watching(watcher)
            running = await http.get("/healthz")
            if signalled:
                probes.stopping()
                stopping = await http.get("/healthz")
                assert [stopping.status_code, stopping.json()["checks"]["watcher"]] == [
                    503,
                    "stopping",
                ]
            released.set()  # the last cycle and posts done, or the watcher died of a bug
            await watcher
            stopped = await http.get("/healthz")
            await probes.stop()
            with pytest.raises(httpx.ConnectError):
                await http.get("/healthz")
    finally:
        await services.aclose()

    assert [starting.status_code, starting.json()["checks"]["watcher"]] == [503, "starting"]
    assert running.status_code == 200 and running.json()["status"] == "ok"
    assert running.json()["checks"]["polls"].startswith("none yet")
    assert stopped.status_code == 503 and stopped.json()["status"] == "unavailable"
    assert stopped.json()["checks"]["watcher"] == "stopped"


async def test_the_probes_say_when_redis_does_not_answer() -> None:
    # A port nothing listens on: every Redis call is refused.
    refused = f"redis://127.0.0.1:{free_port()}/0"
    services = await build_services(Settings(_env_file=None, REDIS_URL=refused))
    probes = WatcherProbes(services)
    try:
        port = await probes.start(0, host="127.0.0.1")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            health = await http.get("/healthz")
        await probes.stop()
    finally:
        await services.aclose()

    checks = health.json()["checks"]
    # Not ready (no watcher), but what it says of Redis is read now, not remembered.
    assert checks["redis"] == "down (degraded: no shared cache)"
    assert checks["watch_state"] == "unknown (Redis unreachable)"


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
