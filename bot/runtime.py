"""Process lifecycles: the HTTP server, Socket Mode, and graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from dataclasses import replace
from typing import Self

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Deployment, Settings
from bot.policy import offers
from bot.services import Services, build_services
from bot.slack.client import make_slack_client
from bot.watch.runner import WatchedProject, WatchOptions, run_watch_projects
from bot.watch.transitions import Policy

# The Slack app (Bolt) and its web surface are imported where serve and socket build them:
# `watch` needs neither, and importing them would cost it memory and startup time.

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0


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

    async def start(self, host: str = "0.0.0.0", port: int | None = None) -> int:  # noqa: S104
        from bot.web import mark_ready

        await self._runner.setup()
        site = web.TCPSite(self._runner, host, self.settings.port if port is None else port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        if self.settings.redis_dsn is None:
            # Without Redis, subscriptions live in this process's memory: a separate worker
            # could never see them, so the watcher runs here.
            log.info("no REDIS_URL: running the watcher inside this process")
            self._watcher = EmbeddedWatcher(self.services, watcher_client(self.settings))
        mark_ready(self._web_app)
        log.info("listening on %s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        from bot.web import mark_ready

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
    """`watch`: the worker process; SIGTERM lets the current cycle and posts finish.
    `deployment`: the one the command line read (else dliconn.toml is read here)."""
    services = await build_services(settings, deployment=deployment)
    stop = asyncio.Event()
    watcher = asyncio.create_task(run_watcher(services, watcher_client(settings), stop=stop))
    signalled = asyncio.create_task(wait_for_signal())
    try:
        await asyncio.wait([watcher, signalled], return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
        stop.set()
        try:
            await watcher
        finally:
            # Even when the watcher died of a bug (re-raised above), the clients get closed.
            await services.aclose()


async def run_watcher(
    services: Services,
    slack: AsyncWebClient,
    *,
    stop: asyncio.Event,
    options: WatchOptions | None = None,
) -> None:
    """`python -m bot watch` (and the embedded watcher): run until `stop` is set, on the
    services' shared watch backends, so mutes, acknowledgements and subscriptions made through
    Slack are seen here even without Redis. Every configured project is watched, each on its
    own lease; several replicas share the projects between them."""
    settings = services.settings
    options = options or WatchOptions(
        policy=Policy(stuck_after=settings.dliconn_watch_stuck_after),
        history=settings.dliconn_watch_history,
    )
    deployment = services.deployment
    await run_watch_projects(
        [WatchedProject(p.dli, p.watch, p.ref) for p in services.projects],
        slack,
        stop=stop,
        interval=settings.dliconn_watch_interval,
        # Alerts offer the test where cards do; pressing it asks the guardrails (handlers/).
        options=replace(
            options,
            can_test=lambda channel: offers(deployment.channel(channel), "test"),
            locale_of=lambda channel: deployment.post_locale(channel, settings.dliconn_locale),
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
