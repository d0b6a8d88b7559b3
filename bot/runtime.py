"""Process lifecycles: serve, socket, the watcher and its probes; graceful SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Final, Self

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Deployment, Settings
from bot.dli.client import DliClient
from bot.dli.models import ListedConnection
from bot.errors import ConfigError
from bot.policy import offers
from bot.probes import build_probe_app, mark_ready, per_project, serving_checks
from bot.services import Services, build_services
from bot.slack.client import make_slack_client
from bot.slack.facts import Guard, SlackFacts
from bot.watch.runner import ConnectionSource, WatchedProject, WatchOptions, run_watch_projects
from bot.watch.transitions import Policy

# The Slack app (Bolt) and its web surface are imported where serve and socket build them:
# `watch` needs neither, and importing them would cost it memory and startup time.

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0
#: Where serve and the watcher's probes listen: every interface, as a platform's router needs.
ALL_INTERFACES: Final = "0.0.0.0"  # noqa: S104


class HttpServer:
    """`serve`: the Slack endpoint, /healthz and /metrics; stops without dropping replies."""

    def __init__(self, settings: Settings, services: Services) -> None:
        from bot.slack.app import build_app
        from bot.web import build_web_app

        self.settings = settings
        self.services = services
        self.app = build_app(settings, services)
        self._web_app = build_web_app(self.app, services)
        self._runner = web.AppRunner(self._web_app, access_log=None)
        self._watcher: EmbeddedWatcher | None = None
        self.port = 0

    @classmethod
    async def create(cls, settings: Settings, deployment: Deployment | None = None) -> Self:
        return cls(settings, await build_services(settings, deployment=deployment))

    async def start(self, host: str = ALL_INTERFACES, port: int | None = None) -> int:
        self.port = await listen(
            self._runner, host, self.settings.port if port is None else port, "PORT"
        )
        if self.settings.redis_dsn is None:
            # Without Redis, subscriptions live in this process's memory: a separate worker
            # could never see them, so the watcher runs here.
            log.info("no REDIS_URL: running the watcher inside this process")
            self._watcher = EmbeddedWatcher(self.services, watcher_client(self.settings))
        mark_ready(self._web_app)
        log.info("listening on %s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        # Report unready first so a load balancer stops sending, then let in-flight work end.
        # The listener stays open meanwhile: /healthz answers 503 rather than refusing the
        # connection, which a load balancer may read as a crash, and whatever it still sends
        # is served.
        mark_ready(self._web_app, False)
        if self._watcher is not None:
            await self._watcher.stop()
        drained = await drain(self.services)
        await self._runner.cleanup()
        if drained:
            await drain(self.services)  # replies acked after the first drain, before the close
        await self.services.aclose()
        log.info("stopped")


async def listen(runner: web.AppRunner, host: str, port: int, setting: str) -> int:
    """Serve `runner` on host:port and return the port bound (0: one the system picked).

    A port that cannot be bound (taken, privileged) is a ConfigError naming `setting`: one
    line at start-up, as for any other bad setting, rather than a traceback.
    """
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        # asyncio's message repeats the address: the system's words for the errno suffice.
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(f"{setting}: cannot listen on {host}:{port}: {why}") from None
    return int(runner.addresses[0][1])


def watcher_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return make_slack_client(token, settings.slack_api_url, retry_rate_limits=False)


class EmbeddedWatcher:
    """The watcher as a task of another process (serve or socket without Redis, the console)."""

    def __init__(self, services: Services, slack: AsyncWebClient) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            run_watcher(services, slack, stop=self._stop), name="dliconn-watcher"
        )

    async def stop(self) -> None:
        self._stop.set()
        try:
            await self._task
        except Exception:  # broad: whatever the watcher died of, the host must still stop
            # Reported, not raised: the process hosting it must still shut down cleanly.
            log.exception("the embedded watcher had stopped with an error")


async def watch(settings: Settings, deployment: Deployment | None = None) -> None:
    """`watch`: the worker process; SIGTERM lets the current cycle and posts finish. With
    DLICONN_METRICS_PORT it serves /metrics and /healthz there while it watches.
    `deployment`: the one the command line read (else dliconn.toml is read here)."""
    services = await build_services(settings, deployment=deployment)
    async with contextlib.AsyncExitStack() as stack:
        # Closed last, even when the watcher died of a bug (re-raised below).
        stack.push_async_callback(services.aclose)
        probes = None
        if settings.dliconn_metrics_port is not None:
            probes = WatcherProbes(services)
            # Before the first poll: a port that cannot be bound stops start-up, not the scrape.
            await probes.start(settings.dliconn_metrics_port)
            stack.push_async_callback(probes.stop)
        stop = asyncio.Event()
        polls = probes.polls if probes is not None else None
        watcher = asyncio.create_task(
            run_watcher(services, watcher_client(settings), stop=stop, polls=polls)
        )
        if probes is not None:
            probes.watching(watcher)
        signalled = asyncio.create_task(wait_for_signal())
        try:
            await asyncio.wait([watcher, signalled], return_when=asyncio.FIRST_COMPLETED)
        finally:
            signalled.cancel()
            if probes is not None:
                # 503 while the last cycle and posts finish; the listener closes after them.
                probes.stopping()
            stop.set()
            await watcher


class WatcherProbes:
    """`watch`'s GET /healthz and /metrics on DLICONN_METRICS_PORT: serve's handlers
    (bot.probes) with the checks of a process that only watches.

    They run on the watcher's event loop but only read what it keeps in memory, or Redis
    under its short timeouts: a scrape, however slow its client, holds no poll or post up.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.polls = PollTimes()
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._web_app = build_probe_app(services, self._checks)
        self._runner = web.AppRunner(self._web_app, access_log=None)
        self.port = 0

    async def start(self, port: int, host: str = ALL_INTERFACES) -> int:
        self.port = await listen(self._runner, host, port, "DLICONN_METRICS_PORT")
        log.info("metrics and health checks on %s:%s", host, self.port)
        return self.port

    def watching(self, watcher: asyncio.Task[None]) -> None:
        """Healthy from now on, for as long as `watcher` runs."""
        self._watcher = watcher
        watcher.add_done_callback(lambda _: mark_ready(self._web_app, False))
        mark_ready(self._web_app)

    def stopping(self) -> None:
        self._stopping = True
        mark_ready(self._web_app, False)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _checks(self) -> dict[str, str]:
        # serve's `redis` check reads what its lookups saw; this process looks nothing up, so
        # one read (of a key nothing writes) tells whether Redis answers now.
        await self.services.store.get(PROBE_KEY)
        polls = [(p.alias, self.polls.describe(p.alias)) for p in self.services.projects]
        return {
            **await serving_checks(self.services),
            "watcher": self._state(),
            "polls": per_project(polls),
        }

    def _state(self) -> str:
        if self._watcher is None:
            return "starting"
        if self._watcher.done():
            return "stopped"
        return "stopping" if self._stopping else "running"


#: What the worker's /healthz reads to see whether Redis answers (under DLICONN_REDIS_PREFIX).
PROBE_KEY: Final = "healthz"


class PollTimes:
    """When the watcher last began to list each project's connections, for /healthz."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started: dict[str, float] = {}

    def source(self, alias: str, dli: DliClient) -> ConnectionSource:
        """`dli`'s list for the watcher, noting when each list starts."""
        return _NotedSource(dli, lambda: self._note(alias))

    def _note(self, alias: str) -> None:
        self._started[alias] = self._clock()

    def describe(self, alias: str) -> str:
        started = self._started.get(alias)
        if started is None:
            return "none yet (starting, or another replica holds the lease)"
        return f"last list began {self._clock() - started:.0f} s ago"


@dataclass(frozen=True)
class _NotedSource:
    """A DLI list that calls `note` as it starts. What the list yields is passed on as it is,
    not re-yielded, so a poll pays one clock read per list, however many connections."""

    dli: DliClient
    note: Callable[[], None]

    def iter_listed(
        self, *, page_size: int = 100, tags: Mapping[str, str] | None = None
    ) -> AsyncIterator[ListedConnection]:
        self.note()
        return self.dli.iter_listed(page_size=page_size, tags=tags)


async def run_watcher(
    services: Services,
    slack: AsyncWebClient,
    *,
    stop: asyncio.Event,
    options: WatchOptions | None = None,
    polls: PollTimes | None = None,
) -> None:
    """`python -m bot watch` (and the embedded watcher): run until `stop` is set, on the
    services' shared watch backends, so mutes, acknowledgements and subscriptions made through
    Slack are seen here even without Redis. Every configured project is watched, each on its
    own lease; several replicas share the projects between them. `polls`: where to note when
    each project's lists begin (the worker's /healthz)."""
    settings = services.settings
    options = options or WatchOptions(
        policy=Policy(stuck_after=settings.dliconn_watch_stuck_after),
        history=settings.dliconn_watch_history,
    )
    deployment = services.deployment
    await run_watch_projects(
        [
            WatchedProject(p.dli if polls is None else polls.source(p.alias, p.dli), p.watch, p.ref)
            for p in services.projects
        ],
        slack,
        stop=stop,
        interval=settings.dliconn_watch_interval,
        # Alerts offer the test where cards do; pressing it asks the guardrails (handlers/).
        options=replace(
            options,
            can_test=lambda channel: offers(deployment.channel(channel), "test"),
            locale_of=lambda channel: deployment.post_locale(channel, settings.dliconn_locale),
            # No connection data into a channel that became Slack Connect under "deny".
            refuses_posts=Guard(deployment, SlackFacts(slack, services.metrics)).refuses_posts,
        ),
        metrics=services.metrics,
    )


async def drain(services: Services) -> bool:
    """Let replies that were acked but not yet sent go out before the clients close.

    False when some were still in flight after DRAIN_SECONDS (and the stop goes on anyway).
    """
    if not await services.inflight.wait_idle(DRAIN_SECONDS):
        log.warning("%d replies still in flight after %.0f s; stopping anyway",
                    services.inflight.count, DRAIN_SECONDS)  # fmt: skip
        return False
    return True


async def wait_for_signal() -> None:
    """Return on SIGTERM or SIGINT (the platform's stop, or Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stop signal received; finishing in-flight work")


def settle_heap() -> None:
    """Exempt everything built at startup (modules, the app, clients) from garbage collection.

    A full collection walks every object: with Bolt, slack_sdk and pydantic loaded that is a
    35 ms pause, which queues every Slack request behind it. Startup objects live until exit,
    so walking them again finds nothing; later collections then only walk objects made since.
    """
    gc.collect()
    gc.freeze()


async def serve(settings: Settings, deployment: Deployment | None = None) -> None:
    server = await HttpServer.create(settings, deployment)
    settle_heap()  # before listening, so no request waits for it
    try:
        await server.start()
    except BaseException:  # broad, and re-raised: on any failure, cancellation too, close up
        # e.g. the port is taken: nothing was served, but the clients still need closing.
        await server.services.aclose()
        raise
    try:
        await wait_for_signal()
    finally:
        await server.stop()


async def socket_mode(settings: Settings, deployment: Deployment | None = None) -> None:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    from bot.slack.app import build_app

    assert settings.slack_app_token is not None
    services = await build_services(settings, deployment=deployment)
    try:
        app = build_app(settings, services)
        handler = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value())
        await handler.connect_async()  # type: ignore[no-untyped-call]
    except BaseException:  # broad, and re-raised: on any failure, cancellation too, close up
        await services.aclose()
        raise
    log.info("connected to Slack in Socket Mode")
    # As in serve: without Redis no other process could see this one's subscriptions.
    watcher = (
        EmbeddedWatcher(services, watcher_client(settings)) if not settings.redis_dsn else None
    )
    settle_heap()
    try:
        await wait_for_signal()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        if watcher is not None:
            await watcher.stop()
        await drain(services)
        await services.aclose()
