"""GET /healthz and GET /metrics for serve and for watch (DLICONN_METRICS_PORT): the checks and
the handlers, free of Bolt so a process that only watches can serve them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from aiohttp import web

from bot.services import Services

_READY: Final = web.AppKey("ready", asyncio.Event)

Checks = Callable[[], Awaitable[dict[str, str]]]


def build_probe_app(services: Services, checks: Checks) -> web.Application:
    """/healthz and /metrics alone: what `watch` serves on DLICONN_METRICS_PORT."""
    web_app = web.Application()
    add_probes(web_app, services, checks)
    return web_app


def add_probes(web_app: web.Application, services: Services, checks: Checks) -> None:
    """GET /healthz (200 once marked ready, 503 before and after, with `checks`) and GET
    /metrics (the process's own registry) on `web_app`."""
    ready = asyncio.Event()
    web_app[_READY] = ready

    async def healthz(_: web.Request) -> web.Response:
        # Redis and DLI outages are reported but keep 200: the bot still answers without them
        # (direct fetches, stale copies), and pulling every replica out of the load balancer
        # would turn a degraded answer into no answer. 503 means "not serving yet / any more".
        states = await checks()
        status = 200 if ready.is_set() else 503
        body = {"status": "ok" if status == 200 else "unavailable", "checks": states}
        return web.json_response(body, status=status, dumps=json.dumps)

    async def metrics(_: web.Request) -> web.Response:
        await _watch_state(services)  # brings the reset figures up to date
        return web.Response(
            body=services.metrics.render(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)


async def serving_checks(services: Services) -> dict[str, str]:
    """The checks of serve's /healthz: Redis, DLI (what is set up) and the watcher state."""
    return {
        "redis": _redis_state(services),
        "dli": "demo" if services.demo else "configured",
        # A reset (Redis came back empty) is said here, and stays 200: serving goes on.
        "watch_state": await _watch_state(services),
    }


def mark_ready(web_app: web.Application, ready: bool = True) -> None:
    if ready:
        web_app[_READY].set()
    else:
        web_app[_READY].clear()


async def _watch_state(services: Services) -> str:
    """Each project's watcher state ("ok", or the reset it saw); one word when they agree."""
    return per_project([(p.alias, await p.watch.state_health()) for p in services.projects])


def per_project(states: Sequence[tuple[str, str]]) -> str:
    """Projects' states as one: the state alone when they all agree, else `alias: state; …`."""
    if len({state for _, state in states}) == 1:
        return states[0][1]
    return "; ".join(f"{alias}: {state}" for alias, state in states)


def _redis_state(services: Services) -> str:
    if services.settings.redis_dsn is None:
        return "not configured (in memory)"
    return "ok" if services.store.healthy else "down (degraded: no shared cache)"
