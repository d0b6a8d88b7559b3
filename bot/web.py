"""The HTTP server of `serve`: /slack/events (Bolt), /healthz and /metrics on one aiohttp app."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Final

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.services import Services

log = logging.getLogger(__name__)

EVENTS_PATH: Final = "/slack/events"
_READY: Final = web.AppKey("ready", asyncio.Event)


def build_web_app(app: AsyncApp, services: Services) -> web.Application:
    web_app = web.Application(client_max_size=1024**2)
    ready = asyncio.Event()
    web_app[_READY] = ready

    async def slack_events(request: web.Request) -> web.Response:
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        # Redis and DLI outages are reported but keep 200: the bot still answers without them
        # (direct fetches, stale copies), and pulling every replica out of the load balancer
        # would turn a degraded answer into no answer. 503 means "not serving yet / any more".
        checks = {
            "redis": _redis_state(services),
            "dli": "demo" if services.demo else "configured",
            # A reset (Redis came back empty) is said here, and stays 200: serving goes on.
            "watch_state": await services.watch.state_health(),
        }
        status = 200 if ready.is_set() else 503
        body = {"status": "ok" if status == 200 else "unavailable", "checks": checks}
        return web.json_response(body, status=status, dumps=json.dumps)

    async def metrics(_: web.Request) -> web.Response:
        await services.watch.state_health()  # brings the reset figures up to date
        return web.Response(
            body=services.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    return web_app


def mark_ready(web_app: web.Application, ready: bool = True) -> None:
    if ready:
        web_app[_READY].set()
    else:
        web_app[_READY].clear()


def _redis_state(services: Services) -> str:
    if services.settings.redis_dsn is None:
        return "not configured (in memory)"
    return "ok" if services.store.healthy else "down (degraded: no shared cache)"
