"""Process lifecycles: the HTTP server, Socket Mode, and graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Self

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bot.app import build_app
from bot.config import Settings
from bot.services import Services, build_services
from bot.web import build_web_app, mark_ready

log = logging.getLogger(__name__)

DRAIN_SECONDS = 10.0
# What an aiohttp server runs per client connection. Idle keep-alive connections of an in-process
# server (the demo DLI) only end when that server stops, after the drain: they are not replies.
_SERVER_CONNECTION = RequestHandler.start.__code__


class HttpServer:
    """`serve`: the Slack endpoint, /healthz and /metrics; stops without dropping replies."""

    def __init__(self, settings: Settings, services: Services) -> None:
        self.settings = settings
        self.services = services
        self.app = build_app(settings, services)
        self._web_app = build_web_app(self.app, services)
        self._runner = web.AppRunner(self._web_app, access_log=None)
        self.port = 0

    @classmethod
    async def create(cls, settings: Settings) -> Self:
        return cls(settings, await build_services(settings))

    async def start(self, host: str = "0.0.0.0", port: int | None = None) -> int:  # noqa: S104
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, self.settings.port if port is None else port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        mark_ready(self._web_app)
        log.info("listening on %s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        # Report unready first so a load balancer stops sending, then let in-flight work end.
        mark_ready(self._web_app, False)
        await self._runner.cleanup()
        await drain_background_tasks(DRAIN_SECONDS)
        await self.services.aclose()
        log.info("stopped")


async def drain_background_tasks(seconds: float) -> None:
    """Wait for listener tasks Bolt started after acking (a reply still being composed)."""
    current = asyncio.current_task()
    pending = [
        t
        for t in asyncio.all_tasks()
        if t is not current and not t.done() and not _serves_a_connection(t)
    ]
    if not pending:
        return
    _, still_running = await asyncio.wait(pending, timeout=seconds)
    if still_running:
        log.warning("%d tasks still running after %.0f s; stopping anyway", len(still_running),
                    seconds)  # fmt: skip


def _serves_a_connection(task: asyncio.Task[object]) -> bool:
    return getattr(task.get_coro(), "cr_code", None) is _SERVER_CONNECTION


async def wait_for_signal() -> None:
    """Return on SIGTERM or SIGINT (the platform's stop, or Ctrl-C)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stop signal received; finishing in-flight work")


async def serve(settings: Settings) -> None:
    server = await HttpServer.create(settings)
    await server.start()
    try:
        await wait_for_signal()
    finally:
        await server.stop()


async def socket_mode(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    assert settings.slack_app_token is not None
    services = await build_services(settings)
    app = build_app(settings, services)
    handler = AsyncSocketModeHandler(app, settings.slack_app_token.get_secret_value())
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("connected to Slack in Socket Mode")
    try:
        await wait_for_signal()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
        await drain_background_tasks(DRAIN_SECONDS)
        await services.aclose()
